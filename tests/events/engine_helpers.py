"""Helpers for the event engine tests: publish events, run an engine in-process, run a real listener.

Imported by module name (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from salesflow.events.engine import Engine
from salesflow.events.registry import Registry
from salesflow.transports import open_postgres
from tests.engines import engine_running
from tests.polling import wait_until as wait_until  # the suite's one poll-until helper, for the tests here
from tests.polling import wait_until_sync as wait_until_sync

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def emit(
    conn: psycopg.Connection[Any],
    event_type: str,
    payload: dict[str, Any] | None = None,
    tenant: str = ACME,
    ordering_key: str | None = None,
    run_after_seconds: float = 0.0,
    max_attempts: int = 5,
) -> str:
    """Publish one event the way triggers do (private.emit_event); returns its id."""
    row = conn.execute(
        "select private.emit_event(%s, %s, %s::jsonb, %s, 'test', now() + make_interval(secs => %s), "
        "null, null, %s)",
        (tenant, event_type, json.dumps(payload or {}), ordering_key, run_after_seconds, max_attempts),
    ).fetchone()
    conn.commit()
    assert row is not None
    return str(row[0])


def statuses(conn: psycopg.Connection[Any], ids: list[str] | None = None) -> dict[str, int]:
    """Counts per status (of `ids`, or of every event)."""
    rows = conn.execute(
        "select status, count(*) from public.events where %s::uuid[] is null or id = any(%s::uuid[]) group by 1",
        (ids, ids),
    ).fetchall()
    conn.commit()
    return {s: n for s, n in rows}


def running_engine(
    url: str, registry: Registry, listen: bool = True, **settings: Any
) -> contextlib.AbstractAsyncContextManager[Engine]:
    """An engine on the postgres transport, running in this event loop; stopped (gracefully) on exit."""
    return engine_running(open_postgres(url, listen=listen), registry, **{"poll_interval": 0.5, **settings})


class Listener:
    """`salesflow listen` as a real subprocess (the promises about processes are tested on processes)."""

    def __init__(self, url: str, *args: str, handlers: tuple[str, ...] = ("salesflow.handlers",),
                 env: dict[str, str] | None = None) -> None:
        self.url = url
        self.args = list(args)
        self.handlers = handlers
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sf-listener-{os.getpid()}-{id(self)}.log"

    def start(self) -> Listener:
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "SALESFLOW_LOG_FORMAT": "json", **self.env}
        env.pop("DATABASE_URL", None)
        cmd = [sys.executable, "-m", "salesflow.cli.main", "listen", "--database-url", self.url,
               "--log-level", "INFO", *self.args]
        for h in self.handlers:
            cmd += ["--handlers", h]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def logs(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
        return entries

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()


@pytest.fixture
def listener_factory() -> Iterator[Callable[..., Listener]]:
    """Make `Listener`s; every one still running is killed after the test."""
    made: list[Listener] = []

    def make(url: str, *args: str, handlers: tuple[str, ...] = ("salesflow.handlers",),
             env: dict[str, str] | None = None) -> Listener:
        listener = Listener(url, *args, handlers=handlers, env=env)
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.stop()
