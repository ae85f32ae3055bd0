"""deploy/Dockerfile cannot be built here (no Docker daemon), so what it would run is run: its ENTRYPOINT + CMD
start a listener against the test database (and, as N containers would, against one Supabase project),
its HEALTHCHECK command reports healthy, and SIGTERM (its STOPSIGNAL) stops it within the grace period."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from tests.conftest import ACME
from tests.deploy.conftest import DEPLOY, clean_env, free_port, local_argv, output, wait_http
from tests.polling import wait_until_sync

IMAGE_METRICS_PORT = "9464"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [args for kw, args in self.instructions if kw == keyword]
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile with their instructions (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            assert match, line
            stages.append(Stage(match[1], match[2]))
        else:
            assert stages, f"{line!r} before FROM"
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def exec_form(args: str) -> list[str]:
    """A JSON exec-form argument list (shell form would need a shell in the image and eat SIGTERM)."""
    parsed = json.loads(args)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), args
    return parsed


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    args = stage.last("HEALTHCHECK")
    assert args, "the runtime stage has a HEALTHCHECK"
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", args))
    command = args[args.index("CMD") + 3:].strip()
    return options, exec_form(command)


def image_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage.instructions:
        if keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                if key != "PATH":
                    env[key] = value
    return env


@pytest.fixture(scope="module")
def runtime() -> Stage:
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())[-1]


def test_the_image_is_multi_stage_and_runs_as_an_unprivileged_user(runtime: Stage) -> None:
    stages = parse_dockerfile((DEPLOY / "Dockerfile").read_text())
    assert len(stages) >= 2
    build = stages[0]
    assert build.name, "the build stage is named, so the runtime stage copies from it"
    copies = [args for kw, args in runtime.instructions if kw == "COPY"]
    assert any(f"--from={build.name}" in c for c in copies)
    # No compiler or pip install in the image that runs: only the build stage installs.
    assert not any(kw == "RUN" and "pip install" in args for kw, args in runtime.instructions)
    user = runtime.last("USER")
    assert user and user.split(":")[0] not in ("root", "0")
    keywords = [kw for kw, _ in runtime.instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    entrypoint = exec_form(runtime.last("ENTRYPOINT") or "")
    assert entrypoint == ["salesflow"], "one entrypoint: `listen` (the CMD) or `functions serve`"


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    ignored = {line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".venv", ".salesflow", ".git", "node_modules"} <= ignored
    copied = [args.split()[-2] for stage in parse_dockerfile((DEPLOY / "Dockerfile").read_text())
              for kw, args in stage.instructions if kw == "COPY" and "--from" not in args]
    assert not any(c in ignored for c in copied), copied


def _processed_in_db(url: str) -> int:
    """lead.created events processed (the seed's leads too: their events are pending when a listener starts)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from public.events where type = 'lead.created' "
                           "and status = 'processed'").fetchone()
    return int(row[0]) if row else 0


def _events_processed(url: str, n: int) -> Callable[[], bool]:
    def done() -> bool:
        with psycopg.connect(url) as conn:
            row = conn.execute("select count(*) from public.events where type = 'lead.created' "
                               "and status <> 'processed'").fetchone()
        return bool(row and row[0] == 0 and _processed_in_db(url) >= n)
    return done


def _processed_count(port: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.search(r'^salesflow_events_processed_total\{type="lead.created"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


def _insert_leads(url: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("insert into public.leads (tenant_id, name) "
                     "select %s, 'Deploy ' || i from generate_series(1, %s) i", (ACME, n))


def test_the_entrypoint_runs_the_listener_and_the_healthcheck_sees_it(
    runtime: Stage, database: str, spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    port = str(free_port())
    ports = {IMAGE_METRICS_PORT: port}
    argv = local_argv(exec_form(runtime.last("ENTRYPOINT") or "") + exec_form(runtime.last("CMD") or ""), ports)
    options, probe = healthcheck(runtime)
    probe = local_argv(probe, ports)
    health_env = clean_env(HEALTHCHECK_URL=f"http://127.0.0.1:{port}/health")
    # Before the listener runs the probe fails (exit 1: Docker counts it as unhealthy).
    assert subprocess.run(probe, env=health_env, capture_output=True, timeout=20).returncode == 1

    listener = spawn(argv, clean_env(DATABASE_URL=database, **image_env(runtime)))
    start_period = float(options.get("start-period", "30s").rstrip("s"))
    deadline = time.monotonic() + start_period
    while True:
        result = subprocess.run(probe, env=health_env, capture_output=True, text=True, timeout=20)
        if result.returncode == 0:
            break
        assert listener.poll() is None, output(listener)
        assert time.monotonic() < deadline, f"not healthy within the start period: {result.stderr}"
        time.sleep(0.3)
    assert "healthy (ok)" in result.stdout

    _insert_leads(database, 5)
    wait_until_sync(_events_processed(database, 5), timeout=30, every=0.2, what='5 events processed')
    # The counter moves once the window settles (just after the rows commit).
    processed = _processed_in_db(database)
    wait_until_sync(lambda: _processed_count(port) == processed, timeout=10, every=0.1,
                    what=f"the counter says {processed}")

    # docker stop: SIGTERM, then the grace period (docs: docker stop -t 30).
    started = time.monotonic()
    listener.send_signal(signal.SIGTERM)
    assert listener.wait(30) == 0, output(listener)
    assert time.monotonic() - started < 30
    # The image logs JSON (SALESFLOW_LOG_FORMAT=json from its ENV).
    logged = [json.loads(line) for line in output(listener).splitlines() if line.startswith("{")]
    assert logged, output(listener)
    assert subprocess.run(probe, env=health_env, capture_output=True, timeout=20).returncode == 1


def test_n_containers_share_one_supabase_project(
    runtime: Stage, database: str, spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """Three listeners started from the image's command line against one project (the local stack over the
    test database) split the work: every event processed once, each listener healthy."""
    from salesflow.devstack import DevStack

    stack = DevStack(database, port=0).start_in_thread()
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        env = clean_env(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key,
                        **image_env(runtime))
        ports = [str(free_port()) for _ in range(3)]
        base = exec_form(runtime.last("ENTRYPOINT") or "") + exec_form(runtime.last("CMD") or "")
        listeners = [spawn(local_argv(base, {IMAGE_METRICS_PORT: p}), env) for p in ports]
        for port, proc in zip(ports, listeners, strict=True):
            wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
            # 200 already while `degraded` (polling, Realtime not joined yet); `ok` once the wake-up is up.
            wait_until_sync(lambda port=port: httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok",
                            timeout=30, every=0.1, what=f"listener on {port} ok")
        _insert_leads(database, 30)
        wait_until_sync(_events_processed(database, 30), timeout=120, every=0.2, what="30 events processed")
        processed = _processed_in_db(database)
        wait_until_sync(lambda: sum(_processed_count(p) for p in ports) == processed, timeout=10, every=0.1,
                        what=f"the listeners' counters add up to {processed}")
        counts = [_processed_count(p) for p in ports]
        assert sum(counts) == processed, f"each event processed by exactly one listener: {counts}"
        assert sum(1 for c in counts if c > 0) >= 2, f"the work is shared: {counts}"
    finally:
        for proc in listeners:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc in listeners]
        stack.stop_in_thread()
    assert codes == [0, 0, 0], [output(proc) for proc in listeners]


def test_the_healthcheck_names_an_unreachable_listener() -> None:
    result = subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py"), "--url",
                             f"http://127.0.0.1:{free_port()}/health"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert "unhealthy" in result.stderr and "unreachable" in result.stderr

