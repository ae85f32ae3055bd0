"""Fixtures of the alerting tests: a webhook receiver on 127.0.0.1 that keeps what it gets, real `salesflow
listen` processes, and helpers to publish failing events and read alerts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import ACME

ROOT = Path(__file__).resolve().parents[2]
Conn = psycopg.Connection[Any]


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class WebhookReceiver:
    """Records every POST; answers with the next status of `statuses` (then 200)."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, n: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {n} webhook deliveries within {timeout}s, got {len(self.received)}")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    box = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with box.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                box.received.append(Received(time.monotonic(), self.path, headers, body))
                status = box.statuses.pop(0) if box.statuses else 200
            if box.delay:
                time.sleep(box.delay)
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default backlog of 5 resets connections when 4 senders post at once

    server = Server(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def quiet_db(db: Conn) -> Conn:
    """The test database with the seed's events processed, so only a test's own events can alert."""
    db.execute("update public.events set status = 'processed', processed_at = now(), failed_at = null")
    db.commit()
    return db


def add_webhook_target(db: Conn, url: str, tenant: str = ACME, name: str = "ops-webhook") -> tuple[str, str]:
    """A webhook target; returns (id, its whsec_ secret)."""
    row = db.execute("insert into public.notification_targets (tenant_id, name, kind, url)"
                     " values (%s, %s, 'webhook', %s) returning id", (tenant, name, url)).fetchone()
    db.commit()
    assert row is not None
    # The secret is made by an after-insert trigger: read it once the row is in.
    secret = db.execute("select public.notification_target_secret(%s)", (row[0],)).fetchone()
    assert secret is not None
    return str(row[0]), str(secret[0])


def fail_event(db: Conn, tenant: str = ACME) -> str:
    """A failed event, as the engine leaves a dead letter."""
    row = db.execute("select private.emit_event(%s, 'test.alert_fail', '{}'::jsonb, null, 'test', now(), null,"
                     " null, 1)", (tenant,)).fetchone()
    assert row is not None
    db.execute("update public.events set status = 'failed', attempts = 1, failed_at = now(), last_error = 'boom'"
               " where id = %s", (row[0],))
    db.commit()
    return str(row[0])


def evaluate(db: Conn, worker: str = "test-evaluator") -> dict[str, Any]:
    row = db.execute("select public.evaluate_alerts(%s, 0)", (worker,)).fetchone()
    db.execute("select public.listener_heartbeat(%s, true)", (worker,))  # not a listener: never 'missing'
    db.commit()
    assert row is not None
    return dict(row[0])


def alerts(db: Conn, tenant: str = ACME) -> list[dict[str, Any]]:
    cur = db.execute("select id, metric, dedup_key, status, count, event_ids, severity, resolved_at from public.alerts"
                     " where tenant_id = %s order by first_seen_at", (tenant,))
    names = [d.name for d in cur.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    db.commit()
    return rows


def notifications(db: Conn, tenant: str = ACME) -> list[dict[str, Any]]:
    cur = db.execute("select id, alert_id, transition, status, attempts, last_error, response_status, next_attempt_at"
                     " from public.alert_notifications where tenant_id = %s order by created_at", (tenant,))
    names = [d.name for d in cur.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    db.commit()
    return rows


class Listener:
    """`salesflow listen` as a real subprocess."""

    def __init__(self, url: str, env: dict[str, str], *args: str) -> None:
        self.url, self.env, self.args = url, env, list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sf-alerts-listener-{os.getpid()}-{id(self)}.log"

    def start(self) -> Listener:
        env = {**os.environ, "SALESFLOW_LOG_FORMAT": "json", **self.env}
        env.pop("DATABASE_URL", None)
        cmd = [sys.executable, "-m", "salesflow.cli.main", "listen", "--database-url", self.url, "--log-level", "INFO",
               "--handlers", "tests.alerts.alert_test_handlers", *self.args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)
        return self

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.stop()
