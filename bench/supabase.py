"""Benchmark: the Supabase path (local stack + `supabase` transport), with the postgres transport as the
baseline in the same invocation.

    ./scripts/bench supabase [--latency-inserts 300] [--events 20000] [--select-seconds 10]

(a) insert-through-PostgREST to handler start: a signed-in user inserts leads one at a time through
    /rest/v1; the clock starts before the HTTP request and stops when the engine (supabase transport,
    woken by Realtime, claiming through RPC) starts the handler. Targets: p50 <= 25 ms, p99 <= 100 ms.
(b) drain of N pending no-op events on the supabase transport vs the postgres transport (each on its own
    scratch database, the same engine settings: --batch 100 --concurrency 100 as in bench/events.py).
    Target: supabase >= 25% of postgres's rate.
(c) a 100-row filtered select (`/rest/v1/leads?status=eq.new&order=created_at.desc&limit=100` as a
    signed-in user, so RLS applies) with 8 concurrent connections for --select-seconds, measured with
    `wrk` (Debian package `wrk`; without it, an httpx load generator in another process). Target: >= 500
    requests/s.

The local stack runs as `salesflow dev` in its own process, the way `./scripts/run` starts it; the engine
and the HTTP clients run in this process. Scratch databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
# This file is bench/supabase.py: its folder must not shadow the `supabase` package on sys.path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from salesflow.db import migrations  # noqa: E402
from salesflow.db.locate import with_database  # noqa: E402
from salesflow.devstack.keys import api_keys  # noqa: E402
from salesflow.events.context import HandlerContext  # noqa: E402
from salesflow.events.engine import Engine, EngineSettings  # noqa: E402
from salesflow.events.ports import Event  # noqa: E402
from salesflow.events.registry import Registry  # noqa: E402
from salesflow.settings import settings  # noqa: E402
from salesflow.transports import Transport, open_postgres  # noqa: E402
from salesflow.transports.supabase import open_supabase  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACME = "11111111-1111-4111-8111-111111111111"
PASSWORD = "salesflow-dev"


def scratch_database() -> str:
    name = f"sf_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = with_database(SERVER, name)
    migrations.prepare(url)
    return url


def drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(str(name))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StackProcess:
    """`salesflow dev` on a scratch database, in its own process."""

    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        keys = api_keys(settings().SUPABASE_JWT_SECRET)
        self.anon, self.service = keys.anon, keys.service_role
        self.log = tempfile.NamedTemporaryFile(prefix="sf-bench-dev-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "SALESFLOW_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "salesflow.cli.main", "dev", "--port", str(self.port), "--database-url",
             database_url], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/auth/v1/health", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"salesflow dev did not start: {Path(self.log.name).read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def sign_in(stack: StackProcess, email: str) -> str:
    response = httpx.post(f"{stack.url}/auth/v1/token", params={"grant_type": "password"},
                          json={"email": email, "password": PASSWORD}, headers={"apikey": stack.anon})
    response.raise_for_status()
    return str(response.json()["access_token"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_engine(transport: Transport, registry: Registry, **overrides: Any) -> tuple[Engine, asyncio.Task[None]]:
    engine = Engine(transport.store, transport.data, registry,
                    EngineSettings(**{"poll_interval": 5.0, **overrides}), wakeup=transport.wakeup)
    return engine, asyncio.create_task(engine.run())


async def stop_engine(engine: Engine, task: asyncio.Task[None], transport: Transport) -> None:
    engine.stop()
    await asyncio.wait_for(task, 60)
    await transport.close()


async def insert_to_handler_latency(stack: StackProcess, inserts: int) -> list[float]:
    registry = Registry()
    started: dict[str, float] = {}
    arrived = asyncio.Event()

    @registry.handles("lead.created", name="bench.handler_start")
    async def handler_start(event: Event, context: HandlerContext) -> None:
        started[str(event.payload.get("name"))] = time.perf_counter()
        arrived.set()

    transport = open_supabase(stack.url, stack.service)
    engine, task = await start_engine(transport, registry, poll_interval=30.0)
    token = sign_in(stack, "anna@acme.test")
    headers = {"apikey": stack.anon, "Authorization": f"Bearer {token}", "Prefer": "return=minimal"}
    latencies: list[float] = []
    try:
        assert transport.wakeup is not None
        deadline = time.monotonic() + 30
        while not transport.wakeup.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the seed's own events drain first
        async with httpx.AsyncClient(base_url=stack.url) as http:
            for i in range(inserts):
                name = f"bench-latency-{i}"
                arrived.clear()
                sent = time.perf_counter()
                response = await http.post("/rest/v1/leads", json={"name": name}, headers=headers)
                response.raise_for_status()
                while name not in started:
                    await asyncio.wait_for(arrived.wait(), 10)
                    arrived.clear()
                latencies.append((started[name] - sent) * 1000)
                await asyncio.sleep(0.005)
    finally:
        await stop_engine(engine, task, transport)
    return latencies


def emit_pending(url: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("select private.emit_event(%s, 'bench.drain', '{}'::jsonb, null, 'bench') "
                     "from generate_series(1, %s)", (ACME, n))


def processed(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from public.events where type = 'bench.drain' "
                           "and status = 'processed'").fetchone()
    return int(row[0]) if row else 0


async def drain(transport: Transport, url: str, n: int, batch: int, concurrency: int) -> float:
    """Events per second for draining `n` pending no-op events (same engine settings on both transports)."""
    registry = Registry()

    @registry.handles("bench.drain", name="bench.noop")
    async def noop(event: Event, context: HandlerContext) -> None:
        return None

    emit_pending(url, n)
    began = time.perf_counter()
    engine, task = await start_engine(transport, registry, poll_interval=0.5, batch=batch, concurrency=concurrency)
    try:
        while await asyncio.to_thread(processed, url) < n:
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - began
    finally:
        await stop_engine(engine, task, transport)
    return n / elapsed


def seed_select_rows(url: str, rows: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("insert into public.leads (tenant_id, name, status, score, tags) "
                     "select %s, 'Bench lead ' || g, 'new', g %% 100, '{bench}' from generate_series(1, %s) g",
                     (ACME, rows))


def select_throughput(stack: StackProcess, seconds: int, connections: int = 8) -> tuple[float, str]:
    token = sign_in(stack, "anna@acme.test")
    path = "/rest/v1/leads?select=*&status=eq.new&order=created_at.desc&limit=100"
    check = httpx.get(stack.url + path, headers={"apikey": stack.anon, "Authorization": f"Bearer {token}"})
    check.raise_for_status()
    if len(check.json()) != 100:
        raise RuntimeError(f"the filtered select returned {len(check.json())} rows, not 100")
    wrk = shutil.which("wrk")
    if wrk:
        done = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"apikey: {stack.anon}",
             "-H", f"Authorization: Bearer {token}", stack.url + path],
            capture_output=True, text=True, check=True)
        match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
        if not match or non2xx:
            raise RuntimeError(f"wrk: {done.stdout}")
        return float(match[1]), f"wrk 2 threads, {connections} connections, {seconds}s"
    code = (
        "import asyncio, httpx, sys, time\n"
        "async def main(url, headers, seconds, n):\n"
        "    count = 0\n"
        "    end = time.perf_counter() + seconds\n"
        "    async def worker():\n"
        "        nonlocal count\n"
        "        async with httpx.AsyncClient() as c:\n"
        "            while time.perf_counter() < end:\n"
        "                (await c.get(url, headers=headers)).raise_for_status(); count += 1\n"
        "    began = time.perf_counter()\n"
        "    await asyncio.gather(*(worker() for _ in range(n)))\n"
        "    print(count / (time.perf_counter() - began))\n"
        "asyncio.run(main(sys.argv[1], {'apikey': sys.argv[2], 'Authorization': 'Bearer ' + sys.argv[3]},"
        " float(sys.argv[4]), int(sys.argv[5])))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, stack.url + path, stack.anon, token, str(seconds),
                           str(connections)], capture_output=True, text=True, check=True)
    return float(done.stdout.strip()), f"httpx load generator ({connections} concurrent clients, {seconds}s)"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    stack_db = scratch_database()
    baseline_db = scratch_database()
    stack = StackProcess(stack_db)
    try:
        latencies = await insert_to_handler_latency(stack, args.latency_inserts)
        results["latency_ms"] = {"p50": round(statistics.median(latencies), 2),
                                 "p99": round(percentile(latencies, 0.99), 2),
                                 "max": round(max(latencies), 2), "n": len(latencies)}
        print(f"(a) insert through PostgREST -> handler start, supabase transport, n={len(latencies)}: "
              f"p50 {results['latency_ms']['p50']} ms (target <= 25), p99 {results['latency_ms']['p99']} ms "
              f"(target <= 100)", flush=True)

        supabase_rate = await drain(open_supabase(stack.url, stack.service), stack_db, args.events, args.batch,
                                    args.concurrency)
        postgres_rate = await drain(open_postgres(baseline_db), baseline_db, args.events, args.batch,
                                    args.concurrency)
        ratio = supabase_rate / postgres_rate
        results["drain_events_per_s"] = {"supabase": round(supabase_rate), "postgres": round(postgres_rate),
                                         "ratio": round(ratio, 3), "events": args.events}
        print(f"(b) drain {args.events} events (batch {args.batch}, concurrency {args.concurrency}): "
              f"supabase {supabase_rate:.0f}/s, postgres {postgres_rate:.0f}/s, ratio {ratio:.0%} (target >= 25%)",
              flush=True)

        seed_select_rows(stack_db, 1000)
        rate, tool = select_throughput(stack, args.select_seconds)
        results["select_100_rows_req_per_s"] = {"rate": round(rate), "tool": tool}
        print(f"(c) 100-row filtered select through /rest/v1 (RLS, signed-in user): {rate:.0f} req/s "
              f"with {tool} (target >= 500)", flush=True)
    finally:
        stack.stop()
        drop_database(stack_db)
        drop_database(baseline_db)
    results["targets_met"] = {
        "latency_p50": results["latency_ms"]["p50"] <= 25, "latency_p99": results["latency_ms"]["p99"] <= 100,
        "drain_ratio": results["drain_events_per_s"]["ratio"] >= 0.25,
        "select_rate": results["select_100_rows_req_per_s"]["rate"] >= 500,
    }
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-inserts", type=int, default=300)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--select-seconds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100, help="Engine claim batch for the drain (both transports).")
    parser.add_argument("--concurrency", type=int, default=100, help="Engine handler slots for the drain.")
    parser.add_argument("--json", action="store_true", help="Also print the results as one JSON object.")
    options = parser.parse_args()
    for name in ("latency_inserts", "events", "select_seconds", "batch", "concurrency"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1")
    try:
        import uvloop  # as bench/events.py runs its workers
    except ImportError:
        outcome = asyncio.run(main(options))
    else:
        outcome = uvloop.run(main(options))
    if options.json:
        print(json.dumps(outcome))
    sys.exit(0 if all(outcome["targets_met"].values()) else 1)
