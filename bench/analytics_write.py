"""Benchmark: what one message's analytics write costs, with the analytics handler against a no-op handler in
the same run (the write path only; `./scripts/bench analytics` also times the reports).

    ./scripts/bench analytics_write [--events 300] [--singles 300] [--database sf_bench_analytics] [--json]

On the history of bench/analytics.py (its database, reused; generated with --leads/--days/--seed when missing):
(1) the listener's drain of --events inbound messages (message.received) through the real handler
    (analytics_facts.inbound_touchpoint), through a no-op handler, and through a handler making the same RPC
    with nothing to write (the floor of any handler writing through the database), the same engine settings as
    bench/analytics.py (c); reported as events/s, the ratio (target >= 80 %) and the analytics cost per event
    (1/rate_analytics - 1/rate_noop).
(2) the SQL alone: --singles single-row inserts into analytics_touchpoints (one statement and transaction each,
    on existing leads, alternating inbound and outbound, some out of time order), timed with the analytics
    triggers and with them standing aside (salesflow.analytics_bulk = on, as a rebuild does); per insert p50 and
    mean. The rows added are removed afterwards (the rollups follow through the triggers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analytics as bench


async def drain_round_trip(url: str, n: int, batch: int, concurrency: int) -> float:
    """The drain with a handler that makes the analytics handler's RPC call with nothing to write: the floor of
    any handler that writes through the database (one round trip, no rows)."""
    from salesflow.events.context import HandlerContext
    from salesflow.events.ports import Event
    from salesflow.events.registry import Registry

    registry = Registry()

    @registry.handles("message.received", name="bench.round_trip")
    async def round_trip(event: Event, context: HandlerContext) -> None:
        await context.data.rpc("analytics_record", {"p_tenant_id": str(context.tenant_id), "p_touchpoints": []})

    tag = "roundtrip"
    await asyncio.to_thread(bench.add_inbound, url, n, tag)
    transport = bench.open_postgres(url)
    engine = bench.Engine(transport.store, transport.data, registry,
                          bench.EngineSettings(poll_interval=0.5, batch=batch, concurrency=concurrency),
                          wakeup=transport.wakeup)
    began = time.perf_counter()
    task = asyncio.create_task(engine.run())
    try:
        while await asyncio.to_thread(bench.pending, url, tag) > 0:
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - began
    finally:
        engine.stop()
        await asyncio.wait_for(task, 60)
        await transport.close()
    return n / elapsed


def single_inserts(url: str, n: int, triggers: bool) -> list[float]:
    """n single-row touchpoint inserts, each its own transaction; the time of each in ms."""
    times: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        leads = conn.execute(
            "select l.id from public.leads l where l.tenant_id = %s and exists (select 1 from "
            "public.analytics_touchpoints t where t.tenant_id = l.tenant_id and t.lead_id = l.id) "
            "order by l.id limit %s", (bench.ACME, n)).fetchall()
        for i in range(n):
            lead = leads[i % len(leads)][0]
            direction = "in" if i % 2 else "out"
            offset = "- interval '3 days'" if i % 5 == 0 else ""
            began = time.perf_counter()
            with conn.transaction():
                if not triggers:
                    conn.execute("select set_config('salesflow.analytics_bulk', 'on', true)")
                conn.execute(
                    "insert into public.analytics_touchpoints (tenant_id, lead_id, message_id, channel, direction, "
                    f"actor, occurred_at, handler) values (%s, %s, gen_random_uuid(), 'email', %s, %s, now() {offset}, "
                    "'bench.analytics_write')",
                    (bench.ACME, lead, direction, "lead" if direction == "in" else "human"))
            times.append((time.perf_counter() - began) * 1000)
    return times


def remove_singles(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("delete from public.analytics_touchpoints where tenant_id = %s and handler = "
                     "'bench.analytics_write'", (bench.ACME,))


def main(args: argparse.Namespace) -> dict[str, Any]:
    url = bench.prepare_database(args.database)
    history = bench.ensure_history(url, args.leads, args.days, args.seed)
    load = os.getloadavg()
    print(f"history: {history.get('leads'):,} leads, {history.get('touchpoints'):,} touchpoints; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    results: dict[str, Any] = {"history": history, "load_average": [round(x, 2) for x in load]}
    try:
        noop_rate = asyncio.run(bench.drain(url, args.events, False, args.batch, args.concurrency))
        round_trip_rate = asyncio.run(drain_round_trip(url, args.events, args.batch, args.concurrency))
        analytics_rate = asyncio.run(bench.drain(url, args.events, True, args.batch, args.concurrency))
    finally:
        bench.remove_inbound(url)
    cost = (1 / analytics_rate - 1 / noop_rate) * 1000
    results["drain"] = {"events": args.events, "noop_per_s": round(noop_rate), "analytics_per_s": round(analytics_rate),
                        "round_trip_per_s": round(round_trip_rate), "ratio": round(analytics_rate / noop_rate, 3),
                        "ratio_to_round_trip": round(analytics_rate / round_trip_rate, 3),
                        "analytics_ms_per_event": round(cost, 2)}
    print(f"(1) drain {args.events} message.received: no-op {noop_rate:.0f}/s, analytics {analytics_rate:.0f}/s "
          f"({analytics_rate / noop_rate:.0%}, target >= 80 %); analytics costs {cost:.1f} ms per event; "
          f"an empty analytics_record round trip {round_trip_rate:.0f}/s (analytics at "
          f"{analytics_rate / round_trip_rate:.0%} of it)", flush=True)
    try:
        with_triggers = single_inserts(url, args.singles, True)
        without = single_inserts(url, args.singles, False)
    finally:
        remove_singles(url)
    row = {"with_triggers_ms": {"p50": round(statistics.median(with_triggers), 2),
                                "mean": round(statistics.fmean(with_triggers), 2)},
           "triggers_aside_ms": {"p50": round(statistics.median(without), 2),
                                 "mean": round(statistics.fmean(without), 2)}}
    results["single_inserts"] = row
    print(f"(2) {args.singles} single touchpoint inserts: with the analytics triggers p50 "
          f"{row['with_triggers_ms']['p50']} ms (mean {row['with_triggers_ms']['mean']}), triggers aside p50 "
          f"{row['triggers_aside_ms']['p50']} ms (mean {row['triggers_aside_ms']['mean']})", flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database", default="sf_bench_analytics", help="Database name on BENCH_POSTGRES_URL.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = main(args)
    if args.json:
        print(json.dumps(out, indent=2))
