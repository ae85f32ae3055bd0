"""Benchmark: the dashboard in headless Chromium against the local stack, with a listener running.

    ./scripts/bench dashboard [--events 1000000] [--loads 10] [--failures 10] [--drain 5000] [--plans]

(a) Events view load: from opening /dashboard/#/events (a signed-in session in the browser) to the counts
    and the failed list shown, p50/p90 of --loads loads on each of two stacks, alternating: the seeded
    database (the baseline: a dozen events) and one with --events generated events (7 days of them, 90 %
    one tenant, 0.3 % failed); the ratio says what a million events cost the view under the same machine
    load. Also the in-page part (view mounted -> rendered) and each request's p50.
(b) Live view: a handler failure (a test.dashboard_sync event whose crm_sync handler fails, max_attempts 1)
    to its row in the open Live view, p50/p90 of --failures; measured from the event's failed_at (the
    engine's commit) and from the insert, on the database's clock and the page's (one machine).
(c) What an open Live view costs the engine: the listener drains --drain no-handler events with no
    Realtime subscriber, then with two open Live views (every events change is serialized and NOTIFYed by
    the local stack's capture trigger, and RLS-checked per subscriber).
--plans prints EXPLAIN (ANALYZE, BUFFERS) of the summary's statements and the failed list with the million
events (docs/dashboard.md shows them). A scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACME = "11111111-1111-4111-8111-111111111111"
CHROMIUM = os.environ.get("SALESFLOW_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "salesflow-dev"

GENERATE = """
insert into public.events (tenant_id, type, payload, source, status, attempts, max_attempts, run_after,
                           created_at, processed_at, failed_at, last_error)
select case when i %% 10 = 0 then '22222222-2222-4222-8222-222222222222'::uuid else %(acme)s::uuid end,
       (array['lead.created', 'lead.updated', 'lead.status_changed', 'message.received', 'message.sent',
              'sequence.step_due'])[1 + i %% 6],
       jsonb_build_object('n', i), 'bench',
       case when i %% 333 = 0 then 'failed' else 'processed' end,
       case when i %% 333 = 0 then 5 else 1 end, 5,
       c, c, case when i %% 333 = 0 then null else c + interval '40 ms' end,
       case when i %% 333 = 0 then c + interval '2 s' end,
       case when i %% 333 = 0 then 'crm_sync: TimeoutError: CRM did not answer within 10 s' end
from (select i, now() - interval '1 minute' - (%(n)s - i) * (interval '7 days' / %(n)s) as c
      from generate_series(1, %(n)s) i) g
"""
GENERATE_DELIVERIES = """
insert into public.event_deliveries (event_id, handler, tenant_id, status, attempts, last_error, duration_ms,
                                     started_at, finished_at)
select e.id, h.handler, e.tenant_id, h.status, e.attempts, case when h.status = 'failed' then e.last_error end,
       12.5, e.created_at, e.failed_at
from public.events e
cross join (values ('crm_sync', 'failed'), ('touchpoint', 'succeeded')) h (handler, status)
where e.status = 'failed' and e.source = 'bench'
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.0f} ms   p90 {pct(values, 0.9) * 1000:7.0f} ms   " \
           f"(n={len(values)}, min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f}"


def create_database() -> tuple[str, str]:
    from salesflow.db import migrations

    name = f"sf_bench_dashboard_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(SERVER)
    url = f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:" \
          f"{params.get('port', 5432)}/{name}"
    migrations.prepare(url, with_seed=True)
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def generate(url: str, n: int) -> float:
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(GENERATE, {"n": n, "acme": ACME})
        conn.execute(GENERATE_DELIVERIES)
        conn.execute("vacuum analyze public.events, public.event_deliveries")
    return time.perf_counter() - start


def start_listener(url: str, fail_file: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "DASHBOARD_TEST_FAIL_FILE": fail_file, "SALESFLOW_LOG_FORMAT": "json"}
    env.pop("DATABASE_URL", None)
    cmd = [sys.executable, "-m", "salesflow.cli.main", "listen", "--database-url", url, "--poll-interval", "1",
           "--handlers", "tests.dashboard.dashboard_test_handlers"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def sign_in(context: Any, base: str, email: str) -> Any:
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/dashboard/")
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_test_id("shell-lang").select_option("en")
    page.get_by_test_id("shell-email").fill(email)
    page.get_by_test_id("shell-password").fill(PASSWORD)
    page.get_by_test_id("shell-signin-button").click()
    page.wait_for_selector("[data-testid='view-events'][data-loaded='true']")
    return page


RESOURCES = """() => performance.getEntriesByType('resource')
  .filter((r) => r.name.includes('/rest/v1/') || r.name.includes('/auth/v1/') || r.name.endsWith('.js'))
  .map((r) => [new URL(r.name).pathname.replace(/^.*\\/(rest|auth)\\/v1\\//, '$1 ').replace(/^\\/dashboard\\//, ''),
               r.responseEnd - r.startTime])"""


def events_load(context: Any, base: str, requests: dict[str, list[float]]) -> tuple[float, float]:
    """One load: wall time goto -> counts and failed list rendered, and the in-page part (view mounted ->
    rendered); each request's duration is added to `requests`."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    start = time.perf_counter()
    page.goto(f"{base}/dashboard/#/events")
    page.wait_for_selector("[data-testid='view-events'][data-loaded='true'] "
                           "[data-testid='events-count-failed-value']")
    page.wait_for_selector("[data-testid='events-list'] tbody tr")
    wall = time.perf_counter() - start
    inpage = page.evaluate("performance.getEntriesByName('events-loaded')[0]?.duration ?? -1") / 1000
    for name, duration in page.evaluate(RESOURCES):
        requests.setdefault(name, []).append(duration / 1000)
    page.close()
    return wall, inpage


COUNT_CHANGES = "document.querySelector(\"[data-testid='live-count-changes']\").textContent"
OBSERVE = """() => {
  window.__seen = {};
  new MutationObserver(() => {
    for (const tr of document.querySelectorAll("[data-testid='live-row'][data-status='failed']")) {
      const id = tr.dataset.eventId;
      if (!(id in window.__seen)) window.__seen[id] = Date.now();
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def open_live(context: Any, base: str) -> Any:
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/dashboard/#/live")
    page.wait_for_selector("[data-testid='view-live'][data-live='true']")
    page.evaluate(OBSERVE)
    return page


def live_failures(page: Any, url: str, n: int) -> tuple[list[float], list[float], list[float]]:
    """failed_at -> row, insert -> row (both on one machine's clock), and the engine's part insert -> failed_at."""
    from_failed: list[float] = []
    from_insert: list[float] = []
    engine: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(n):
            row = conn.execute("select private.emit_event(%s, 'test.dashboard_sync', jsonb_build_object('bench', %s), "
                               "null, 'bench', null, null, null, 1)::text, "
                               "extract(epoch from clock_timestamp()) * 1000", (ACME, i)).fetchone()
            assert row is not None
            event_id, inserted_ms = row[0], float(row[1])
            page.wait_for_function(f"window.__seen['{event_id}'] !== undefined", timeout=30_000)
            seen_ms = float(page.evaluate(f"window.__seen['{event_id}']"))
            failed = conn.execute("select extract(epoch from failed_at) * 1000 from public.events where id = %s",
                                  (event_id,)).fetchone()
            assert failed is not None and failed[0] is not None
            failed_ms = float(failed[0])
            from_failed.append((seen_ms - failed_ms) / 1000)
            from_insert.append((seen_ms - inserted_ms) / 1000)
            engine.append((failed_ms - inserted_ms) / 1000)
            time.sleep(0.3)
    return from_failed, from_insert, engine


def drain_seconds(url: str, n: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        tag = uuid.uuid4().hex[:8]
        start = time.perf_counter()
        conn.execute("select private.emit_event(%s, 'bench.dashboard_noop', "
                     "jsonb_build_object('run', %s::text, 'i', i)) from generate_series(1, %s) i", (ACME, tag, n))
        while True:
            row = conn.execute("select count(*) from public.events where type = 'bench.dashboard_noop' "
                               "and payload->>'run' = %s and status <> 'processed'", (tag,)).fetchone()
            if row and row[0] == 0:
                return time.perf_counter() - start
            if time.perf_counter() - start > 600:
                raise RuntimeError("drain did not finish in 600 s")
            time.sleep(0.05)


def print_plans(url: str) -> None:
    claims = ('{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated",'
              '"tenant_id":"11111111-1111-4111-8111-111111111111"}')
    statements = {
        "summary (the whole RPC, auto_explain of its statement)": None,
        "failed list (as the view asks PostgREST for it)": "select id, type, status, attempts, max_attempts, "
                       "last_error, created_at, failed_at from public.events where created_at >= now() - interval "
                       "'1 hour' and status = 'failed' and failed_at >= now() - interval '1 hour' "
                       "order by failed_at desc limit 50",
        "deliveries of the listed events": "select event_id, handler, status, attempts, last_error from "
                                           "public.event_deliveries where event_id = any(array(select id from "
                                           "public.events where status = 'failed' order by failed_at desc limit 50))",
        "live view's first rows": "select id, type, status from public.events order by created_at desc limit 20",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        # auto_explain logs every nested statement; only those that read the outbox are of interest here.
        conn.add_notice_handler(lambda d: print(d.message_primary) if "public.events" in (d.message_primary or "")
                                else None)
        conn.execute("load 'auto_explain'")
        for title, query in statements.items():
            print(f"\n-- {title}")
            with conn.transaction():
                if query is None:  # auto_explain is set up as postgres, then the statement runs as Anna
                    conn.execute("set local auto_explain.log_min_duration = 0")
                    conn.execute("set local auto_explain.log_nested_statements = on")
                    conn.execute("set local auto_explain.log_analyze = on")
                    conn.execute("set local auto_explain.log_buffers = on")
                    conn.execute("set local auto_explain.log_timing = off")
                    conn.execute("set local auto_explain.log_level = notice")
                    conn.execute("set local client_min_messages = notice")
                conn.execute("set local role authenticated")
                conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                if query is None:
                    start = time.perf_counter()
                    conn.execute("select public.dashboard_event_summary() is not null")
                    print(f"-- summary took {(time.perf_counter() - start) * 1000:.1f} ms (with auto_explain)")
                else:
                    for (line,) in conn.execute(f"explain (analyze, buffers, costs off) {query}").fetchall():
                        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--failures", type=int, default=10)
    parser.add_argument("--drain", type=int, default=5000)
    parser.add_argument("--plans", action="store_true")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from salesflow.devstack import DevStack
    from tests.dashboard.conftest import ensure_vendor

    ensure_vendor()
    # Two databases under the same machine load, loads alternating between them: the seeded one (a dozen
    # events, the baseline) and one with --events generated events; a listener runs against each.
    base_name, base_url = create_database()
    name, url = create_database()
    tmp = tempfile.mkdtemp(prefix="bench-dashboard-")
    fail_file = Path(tmp) / "crm-down"
    fail_file.touch()
    print(f"generating {args.events:,} events ...", flush=True)
    took = generate(url, args.events)
    with psycopg.connect(url) as conn:
        counts = dict(conn.execute("select status, count(*) from public.events group by status").fetchall())
    print(f"generated in {took:.1f} s: {counts}")
    base_stack = DevStack(base_url, port=0).start_in_thread()
    stack = DevStack(url, port=0).start_in_thread()
    base_listener = start_listener(base_url, str(fail_file), Path(tmp) / "base-listener.log")
    listener = start_listener(url, str(fail_file), Path(tmp) / "listener.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            base_context = browser.new_context(viewport={"width": 1280, "height": 900})
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            sign_in(base_context, base_stack.url, "anna@acme.test").close()
            sign_in(context, stack.url, "anna@acme.test").close()
            base_walls: list[float] = []
            base_inpage: list[float] = []
            big_walls: list[float] = []
            big_inpage: list[float] = []
            base_requests: dict[str, list[float]] = {}
            big_requests: dict[str, list[float]] = {}
            for _ in range(args.loads):
                wall, inpage = events_load(base_context, base_stack.url, base_requests)
                base_walls.append(wall)
                base_inpage.append(inpage)
                wall, inpage = events_load(context, stack.url, big_requests)
                big_walls.append(wall)
                big_inpage.append(inpage)

            print("\n(a) Events view: open -> counts and failed list shown (headless Chromium, signed in)")
            base_p50, big_p50 = statistics.median(base_walls), statistics.median(big_walls)
            print(f"  seeded (baseline)   {fmt(base_walls)}   in page p50 {ms(base_inpage)} ms")
            print(f"  {args.events:>9,} events {fmt(big_walls)}   in page p50 {ms(big_inpage)} ms")
            print(f"  ratio p50 {big_p50 / base_p50:.2f}x   target p50 <= 1500 ms")
            print("  requests of a load, p50 ms (seeded / generated):")
            for req in sorted(big_requests):
                print(f"    {req:40} {ms(base_requests.get(req, [0.0])):>6} / {ms(big_requests[req]):>6}")

            live = open_live(context, stack.url)
            from_failed, from_insert, engine = live_failures(live, url, args.failures)
            print("\n(b) Live view: handler failure -> row in the open Live view")
            print(f"  failed_at -> row    {fmt(from_failed)}   target p50 <= 1000 ms")
            print(f"  insert -> row       {fmt(from_insert)}")
            print(f"  (engine: insert -> failed_at p50 {statistics.median(engine) * 1000:.0f} ms)")
            live.close()

            if args.drain:
                quiet = drain_seconds(url, args.drain)
                watchers = [open_live(context, stack.url), open_live(context, stack.url)]
                watched = drain_seconds(url, args.drain)
                drained = time.perf_counter()
                # The local stack's Realtime checks RLS per change and subscriber on one task: how long the
                # open views take to show every change after the drain finished.
                caught_up = None
                for _ in range(1200):
                    seen = int(watchers[0].evaluate(COUNT_CHANGES).replace(",", "") or 0)
                    if seen >= 2 * args.drain:
                        caught_up = time.perf_counter() - drained
                        break
                    time.sleep(0.1)
                for w in watchers:
                    w.close()
                print(f"\n(c) the listener drains {args.drain:,} events")
                print(f"  no Realtime subscriber      {quiet:6.2f} s  ({args.drain / quiet:7.0f}/s)")
                print(f"  two open Live views         {watched:6.2f} s  ({args.drain / watched:7.0f}/s)   "
                      f"ratio {watched / quiet:.2f}x")
                print(f"  the open Live views showed all {2 * args.drain:,} changes (insert + processed) "
                      + (f"{caught_up:.1f} s after the drain" if caught_up is not None
                         else f"not within 120 s ({seen})"))
            browser.close()
        if args.plans:
            print_plans(url)
    finally:
        for proc in (listener, base_listener):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.stop_in_thread()
        base_stack.stop_in_thread()
        drop_database(name)
        drop_database(base_name)


if __name__ == "__main__":
    main()
