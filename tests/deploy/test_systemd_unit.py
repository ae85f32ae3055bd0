"""deploy/salesflow-listener.service: systemd accepts it, it restarts on failure, stops with SIGTERM and waits
longer than the listener's graceful shutdown, and its readiness check passes once the listener it starts is up."""

from __future__ import annotations

import inspect
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from salesflow.cli.listen import listen
from tests.deploy.conftest import DEPLOY, REPO, clean_env, free_port, local_argv, output

UNIT = DEPLOY / "salesflow-listener.service"
UNIT_METRICS_PORT = "9464"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each key with all its values in order (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    """A systemd time span like 30, 30s, 1min 30s, 2m."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "ms": 0.001, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


def option_value(argv: list[str], option: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == option:
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text())


def default_shutdown_timeout() -> float:
    option = inspect.signature(listen).parameters["shutdown_timeout"].default
    return float(option.default)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit with /opt/salesflow pointing at this checkout (so the executables it
    names exist); a misspelt key or an unparsable value is printed as a warning, so any output fails."""
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/opt/salesflow", str(REPO)))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_stop_waits_longer_than_the_graceful_shutdown(unit: dict[str, dict[str, list[str]]]) -> None:
    service = unit["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[1:2] == ["listen"]
    given = option_value(argv, "--shutdown-timeout")
    shutdown = float(given) if given is not None else default_shutdown_timeout()
    stop = seconds(service["TimeoutStopSec"][0])
    assert stop >= shutdown + 5, f"TimeoutStopSec={stop} leaves no time after --shutdown-timeout {shutdown}"
    assert stop >= default_shutdown_timeout()
    assert "Install" in unit and unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_unit_starts_a_ready_listener_and_stops_it_in_time(
    unit: dict[str, dict[str, list[str]]], database: str, spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """What systemd would do: ExecStart, then ExecStartPost (the readiness check) must pass; SIGTERM stops the
    listener before TimeoutStopSec."""
    service = unit["Service"]
    port = str(free_port())
    ports = {UNIT_METRICS_PORT: port}
    environment = dict(pair.split("=", 1) for line in service["Environment"] for pair in shlex.split(line))
    environment = {k: v.replace(UNIT_METRICS_PORT, port) for k, v in environment.items()}
    listener = spawn(local_argv(shlex.split(service["ExecStart"][0]), ports),
                     clean_env(DATABASE_URL=database, **environment))
    ready = subprocess.run(local_argv(shlex.split(service["ExecStartPost"][0]), ports),
                           env=clean_env(**environment), capture_output=True, text=True,
                           timeout=seconds(service["TimeoutStartSec"][0]))
    assert ready.returncode == 0, (ready.stderr, output(listener))
    assert listener.poll() is None
    started = time.monotonic()
    listener.send_signal(signal.SIGTERM)
    assert listener.wait(seconds(service["TimeoutStopSec"][0])) == 0, output(listener)
    assert time.monotonic() - started < seconds(service["TimeoutStopSec"][0])


def test_the_readiness_check_fails_when_the_listener_never_comes_up(unit: dict[str, dict[str, list[str]]]) -> None:
    argv = local_argv(shlex.split(unit["Service"]["ExecStartPost"][0]))
    argv[argv.index("--wait") + 1] = "1"
    result = subprocess.run(argv, env=clean_env(HEALTHCHECK_URL=f"http://127.0.0.1:{free_port()}/health"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "unhealthy" in result.stderr
