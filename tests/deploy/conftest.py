"""Fixtures of the deployment tests: the command lines of deploy/ run here as processes against the test
database, with the paths of the image (/app, /opt/venv) or the systemd unit (/opt/salesflow) mapped to this
checkout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent
SALESFLOW = VENV_BIN / "salesflow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_argv(argv: list[str], ports: dict[str, str] | None = None) -> list[str]:
    """A deploy command line for this machine: `salesflow` and `python` from this venv, /app and
    /opt/salesflow as this checkout, and each port in `ports` replaced (parallel tests cannot share 9464)."""
    mapped = []
    for arg in argv:
        for old, new in (ports or {}).items():
            arg = arg.replace(old, new)
        if arg in ("salesflow", "/opt/venv/bin/salesflow", "/opt/salesflow/.venv/bin/salesflow"):
            arg = str(SALESFLOW)
        elif arg in ("python", "/opt/venv/bin/python", "/opt/salesflow/.venv/bin/python"):
            arg = sys.executable
        else:
            arg = arg.replace("/opt/salesflow/", f"{REPO}/").replace("/app/", f"{REPO}/")
        mapped.append(arg)
    return mapped


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any Supabase/SalesFlow setting of the developer's shell."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUPABASE_", "SALESFLOW_", "DATABASE_URL", "HEALTHCHECK_", "OPENAI_"))}
    env.update(extra)
    return env


def wait_http(url: str, timeout: float = 30, proc: subprocess.Popen[bytes] | None = None) -> httpx.Response:
    """GET `url` until it answers 200; fails with the process's output if it died meanwhile."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode} before {url} answered:\n{output(proc)}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s (last: {last})")


_logs: dict[int, Path] = {}


def output(proc: subprocess.Popen[bytes]) -> str:
    """What a spawned process wrote so far (stdout and stderr)."""
    path = _logs.get(proc.pid)
    return path.read_text(errors="replace") if path and path.exists() else ""


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start processes (stdout+stderr to a file: a pipe nobody reads would block a chatty process); each
    still running at the end is stopped by its own pid."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = tmp_path / f"proc-{len(started)}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
        _logs[proc.pid] = log
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
