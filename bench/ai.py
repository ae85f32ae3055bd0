"""Benchmark: the AI orchestrator's own overhead, on the local provider, against a real Postgres.

    ./scripts/bench ai [--calls 2000] [--rounds 30] [--concurrency 100] [--loop asyncio|uvloop] [--json]

The loop defaults to the listener's (uvloop when installed).

(a) overhead per call: prompt from the cache, render, local answer, validate, and the usage row written
    (one `ai_track_usage` round trip) — sequential calls, median / p95 / p99;
    plus the same calls against an in-memory store, which isolates the Python part from the database;
(b) concurrency: `--concurrency` calls started together, wall time (median of `--rounds`), against one
    call's median latency; and the same with the tracker's group commit switched off (every call writes
    its own row), the baseline that shows what batching the writes buys.
Targets (issue #5): median overhead <= 2 ms; 100 concurrent calls < 10x one call.
A scratch database is created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salesflow.ai import AIRuntime  # noqa: E402
from salesflow.ai.orchestrator import Orchestrator  # noqa: E402
from salesflow.ai.store_postgres import PostgresAIStore  # noqa: E402
from salesflow.ai.tracker import UsageTracker  # noqa: E402
from salesflow.db import migrations  # noqa: E402
from salesflow.db.locate import with_database  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "11111111-1111-4111-8111-111111111111"
INPUT = {"lead": {"name": "Julia Becker", "email": "julia@example.de", "company": "Becker Logistik",
                  "status": "qualified", "source_channel": "referral", "notes": "Fragt nach einem Angebot"}}


class CountingStore:
    """Wraps a store and counts `ai_track_usage` round trips (how many batches the tracker wrote)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches = 0
        self.rows = 0

    async def resolve_prompt(self, *args: Any) -> Any:
        return await self.inner.resolve_prompt(*args)

    async def lead_context(self, *args: Any) -> Any:
        return await self.inner.lead_context(*args)

    async def reserve_budget(self, *args: Any) -> Any:
        return await self.inner.reserve_budget(*args)

    async def settle_budget(self, *args: Any) -> Any:
        return await self.inner.settle_budget(*args)

    async def track_usage(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        self.batches += 1
        self.rows += len(rows)
        return await self.inner.track_usage(rows)  # type: ignore[no-any-return]


class MemoryStore(CountingStore):
    """Prompts from a real store once, usage rows kept in memory: isolates the orchestrator's Python."""

    async def track_usage(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        self.batches += 1
        self.rows += len(rows)
        return [{"id": r["id"], "cost_usd": 0} for r in rows]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(orchestrator: Orchestrator, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await orchestrator.run("lead_scoring", tenant_id=TENANT, input=INPUT)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def concurrent(orchestrator: Orchestrator, n: int, rounds: int) -> list[float]:
    walls = []
    for _ in range(rounds):
        started = time.perf_counter()
        await asyncio.gather(*[orchestrator.run("lead_scoring", tenant_id=TENANT, input=INPUT) for _ in range(n)])
        walls.append((time.perf_counter() - started) * 1000)
    return walls


async def measure(url: str, calls: int, rounds: int, n: int) -> dict[str, Any]:
    runtime = AIRuntime(prompt_ttl_seconds=3600)
    store = PostgresAIStore(url, max_size=8)
    try:
        db = CountingStore(store)
        orchestrator = runtime.orchestrator(db)
        await sequential(orchestrator, 50)  # warm: pool connections, prompt cache, prepared statements
        one = await sequential(orchestrator, calls)
        memory = await sequential(runtime.orchestrator(MemoryStore(store)), calls)

        db.batches = db.rows = 0
        grouped = await concurrent(orchestrator, n, rounds)
        rows_per_batch = db.rows / max(1, db.batches)

        # Baseline: no group commit, every call's row is its own round trip through the same pool.
        serial = runtime.orchestrator(db)
        serial.tracker = UsageTracker(db, max_batch=1)
        ungrouped = await concurrent(serial, n, max(3, rounds // 3))
        one_after = await sequential(orchestrator, max(200, calls // 5))  # re-check under the same load
    finally:
        await store.close()
    one_median = statistics.median(one + one_after)
    grouped_median = statistics.median(grouped)
    return {
        "overhead_ms": {"median": statistics.median(one), "p95": pct(one, 0.95), "p99": pct(one, 0.99),
                        "calls": calls},
        "python_only_ms": {"median": statistics.median(memory), "p99": pct(memory, 0.99)},
        "concurrency": {
            "n": n, "rounds": rounds, "one_call_median_ms": one_median,
            "wall_median_ms": grouped_median, "wall_p95_ms": pct(grouped, 0.95),
            "ratio": grouped_median / one_median, "rows_per_tracker_write": rows_per_batch,
            "without_group_commit_wall_median_ms": statistics.median(ungrouped),
            "without_group_commit_ratio": statistics.median(ungrouped) / one_median,
        },
    }


def _listener_loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default=_listener_loop(),
                        help="Event loop (default: what `salesflow listen` runs, uvloop when installed).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name in ("calls", "rounds", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")

    dbname = f"sf_bench_ai_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = with_database(SERVER, dbname)
    try:
        migrations.prepare(url)
        coro = measure(url, args.calls, args.rounds, args.concurrency)
        if args.loop == "uvloop":
            import uvloop

            result = uvloop.run(coro)
        else:
            result = asyncio.run(coro)
        result["loop"] = args.loop
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))

    if args.json:
        print(json.dumps(result, indent=2))
        return
    o, p, c = result["overhead_ms"], result["python_only_ms"], result["concurrency"]
    print(f"AI orchestrator, local provider, scenario lead_scoring, {o['calls']} sequential calls "
          f"({result['loop']} loop)")
    print(f"  overhead per call (cache, render, answer, validate, usage row written): median {o['median']:.3f} ms, "
          f"p95 {o['p95']:.3f} ms, p99 {o['p99']:.3f} ms   [target: median <= 2 ms: "
          f"{'met' if o['median'] <= 2 else 'NOT met'}]")
    print(f"  of which Python (usage rows kept in memory): median {p['median']:.3f} ms, p99 {p['p99']:.3f} ms")
    print(f"{c['n']} concurrent calls, median of {c['rounds']} rounds")
    print(f"  wall {c['wall_median_ms']:.2f} ms (p95 {c['wall_p95_ms']:.2f}) vs one call "
          f"{c['one_call_median_ms']:.3f} ms = {c['ratio']:.1f}x   "
          f"[target: < 10x: {'met' if c['ratio'] < 10 else 'NOT met'}]")
    print(f"  usage rows per tracker write: {c['rows_per_tracker_write']:.1f} (group commit)")
    print(f"  without group commit: wall {c['without_group_commit_wall_median_ms']:.2f} ms = "
          f"{c['without_group_commit_ratio']:.1f}x one call")


if __name__ == "__main__":
    main()
