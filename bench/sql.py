"""Benchmark: two SQL changes of issue 9, each against the schema just before it, in one invocation.

    ./scripts/bench sql [--insert-rows 10000] [--insert-rounds 11] [--select-rows 100000] [--select-rounds 5]

(a) the outbox's wake-up trigger: one 10,000-row INSERT statement into `events` (and its commit), with the
    per-row NOTIFY of a unique payload that 20261125100100_events_outbox.sql installed against the one NOTIFY
    per statement of 20261201100300_events_notify_once_per_statement.sql. Both run in one database migrated
    with everything up to that migration, the old row trigger re-created beside the new one, and each round
    enables one of them: two databases differ in layout and cache by more than the trigger costs here. A
    connection LISTENs on the channel and drains what arrives, as the listener would; each round waits until
    it is drained, and only the INSERT and its commit are timed.
(b) RLS policies: a member of one tenant selects all 100,000 of its leads (another 100,000 of a second tenant
    are there to be filtered out), with policies calling private.tenant_id() (migrations before
    20261201100100_rls_policies_evaluate_helpers_once) against `(select private.tenant_id())` (with it); once
    with the plan the planner picks (an index scan on tenant_id: Postgres evaluates a stable function in an
    index condition once per scan, so both sides should be alike) and once with a sequential scan, the plan of
    a table without a tenant index or of a policy condition that cannot be an index condition, where the
    function runs once per row.
Every measurement runs in its own fresh scratch database migrated up to the point it needs (dropped
afterwards); rounds alternate between the two sides so background load hits both alike, and the median and
the best round of each side are compared. Prints rows/s (a) or milliseconds (b) for each side and the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salesflow.db import migrations  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"
ANNA = "a0000000-0000-4000-8000-000000000001"  # owner of Acme in the seed
NOTIFY_ONCE = "20261201100300"
POLICIES_ONCE = "20261201100100"


def as_url(server: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(server)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


@contextmanager
def scratch_database(upto: str, including: bool) -> Iterator[str]:
    """A fresh, seeded database with the migrations before `upto` (and `upto` itself if `including`)."""
    if upto not in {m.version for m in migrations.discover()}:
        raise SystemExit(f"migration {upto} is missing from {migrations.MIGRATIONS_DIR}")
    name = f"sf_bench_sql_{uuid.uuid4().hex[:10]}"
    url = as_url(SERVER, name)
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for m in migrations.discover():
                if m.version < upto or (including and m.version == upto):
                    shutil.copy(m.path, Path(tmp) / m.path.name)
            with psycopg.connect(url) as conn:
                migrations.bootstrap(conn)
                migrations.migrate(conn, Path(tmp))
                migrations.seed(conn)
        yield url
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


class Listener:
    """A LISTEN-ing connection in a thread that drains notifications, like the listener's wake-up."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("listen salesflow_events")
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in self.conn.notifies(timeout=0.2):
                self.received += 1

    def wait_drained(self, quiet: float = 0.1) -> None:
        """Return once nothing has arrived for `quiet` seconds, so one side's notifications are not drained
        (by this process, on a 2-core machine) while the other side is being timed."""
        seen = -1
        while seen != self.received:
            seen = self.received
            time.sleep(quiet)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.conn.close()


# The outbox's wake-up as 20261125100100_events_outbox.sql had it, under another name.
PER_ROW_NOTIFY = """
create or replace function private.bench_notify_event_per_row() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('salesflow_events', new.id::text);
  return null;
end
$$;
create trigger events_notify_per_row after insert on public.events
  for each row execute function private.bench_notify_event_per_row();
alter table public.events disable trigger events_notify_per_row;
"""


def insert_round(url: str, rows: int, per_row: bool) -> float:
    """Seconds for one `rows`-row INSERT into events and its commit, starting from an empty outbox, with the
    per-row NOTIFY trigger or the per-statement one enabled."""
    with psycopg.connect(url, autocommit=True) as conn:
        on, off = ("events_notify_per_row", "events_notify") if per_row else ("events_notify", "events_notify_per_row")
        conn.execute(sql.SQL("alter table public.events enable trigger {}, disable trigger {}").format(
            sql.Identifier(on), sql.Identifier(off)))
        conn.execute("truncate public.events cascade")
        conn.execute("vacuum analyze public.events")
    with psycopg.connect(url) as conn:
        statement = ("insert into public.events (tenant_id, type, payload, ordering_key) "
                     "select %s, 'lead.updated', jsonb_build_object('n', i), 'key-' || (i %% 100) "
                     "from generate_series(1, %s) as i")
        start = time.perf_counter()
        conn.execute(statement, (ACME, rows))
        conn.commit()
        return time.perf_counter() - start


def fill_leads(url: str, rows: int) -> None:
    """`rows` leads for Acme and as many for Nordlicht, written without their triggers (no events)."""
    with psycopg.connect(url) as conn:
        conn.execute("set session_replication_role = replica")
        for tenant in (ACME, NORDLICHT):
            conn.execute("insert into public.leads (tenant_id, name, email) "
                         "select %s, 'Lead ' || i, 'lead' || i || '@example.com' from generate_series(1, %s) as i",
                         (tenant, rows))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.leads")


def select_round(url: str, expect: int, sequential: bool = False) -> float:
    """Seconds for Anna (member of Acme, as PostgREST would run her request) to read all of Acme's leads.

    `sequential` takes index scans away from the planner: the plan for a table without an index on tenant_id,
    or for a policy whose condition cannot be an index condition (an OR, a role check).
    """
    with psycopg.connect(url) as conn:
        conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                     (f'{{"sub":"{ANNA}","role":"authenticated","tenant_id":"{ACME}"}}',))
        if sequential:
            conn.execute("set local enable_indexscan = off")
            conn.execute("set local enable_bitmapscan = off")
        start = time.perf_counter()
        rows = conn.execute("select id, name, status from public.leads").fetchall()
        elapsed = time.perf_counter() - start
        conn.rollback()
    if len(rows) < expect:
        raise SystemExit(f"the member saw {len(rows)} leads, expected at least {expect}")
    return elapsed


def compare(label: str, rounds: int, before: Any, after: Any,
            settle: Any = lambda: None) -> tuple[list[float], list[float]]:
    times: dict[str, list[float]] = {"before": [], "after": []}
    for i in range(rounds):
        order = [("before", before), ("after", after)] if i % 2 == 0 else [("after", after), ("before", before)]
        for side, run in order:
            times[side].append(run())
            settle()
    print(f"{label}: before {', '.join(f'{t * 1000:.1f}' for t in times['before'])} ms; "
          f"after {', '.join(f'{t * 1000:.1f}' for t in times['after'])} ms", flush=True)
    return times["before"], times["after"]


def ratios(before: list[float], after: list[float]) -> str:
    """How many times faster `after` is, by median and by best round."""
    return (f"{statistics.median(before) / statistics.median(after):.2f}x by median, "
            f"{min(before) / min(after):.2f}x by best (of {len(before)} rounds each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--insert-rows", type=int, default=10_000, help="Rows in the one INSERT statement.")
    parser.add_argument("--select-rows", type=int, default=100_000, help="Leads the member reads.")
    parser.add_argument("--insert-rounds", type=int, default=11, help="INSERT rounds per side.")
    parser.add_argument("--select-rounds", type=int, default=5, help="Select rounds per side and plan.")
    args = parser.parse_args()
    for name in ("insert_rows", "select_rows", "insert_rounds", "select_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1")

    with scratch_database(NOTIFY_ONCE, including=True) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(PER_ROW_NOTIFY.encode())  # type: ignore[arg-type]
        listener = Listener(url)
        try:
            for per_row in (True, False):  # warm-up: caches, first-touch of the relation files
                insert_round(url, args.insert_rows, per_row)
            listener.wait_drained()
            before, after = compare(f"(a) {args.insert_rows}-row INSERT into events", args.insert_rounds,
                                    lambda: insert_round(url, args.insert_rows, True),
                                    lambda: insert_round(url, args.insert_rows, False),
                                    settle=listener.wait_drained)
            notified = listener.received
        finally:
            listener.close()
        rows = args.insert_rows
        print(f"(a) per-row NOTIFY (unique payload): median {rows / statistics.median(before):,.0f} rows/s, best "
              f"{rows / min(before):,.0f}; one NOTIFY per statement: median {rows / statistics.median(after):,.0f} "
              f"rows/s, best {rows / min(after):,.0f}; ratio {ratios(before, after)}; notifications received "
              f"{notified:,} in all ({args.insert_rounds + 1} rounds per side, warm-up included)", flush=True)

    with scratch_database(POLICIES_ONCE, including=False) as old, \
            scratch_database(POLICIES_ONCE, including=True) as new:
        for url in (old, new):
            fill_leads(url, args.select_rows)
            select_round(url, args.select_rows)  # warm-up
        for sequential, plan in ((False, "the planner's choice, an index scan on tenant_id"),
                                 (True, "a sequential scan")):
            before, after = compare(f"(b) member selects {args.select_rows} leads, {plan}", args.select_rounds,
                                    lambda s=sequential: select_round(old, args.select_rows, s),
                                    lambda s=sequential: select_round(new, args.select_rows, s))
            print(f"(b) {plan}: private.tenant_id() in the policy median {statistics.median(before) * 1000:,.1f} ms; "
                  f"(select private.tenant_id()) median {statistics.median(after) * 1000:,.1f} ms; "
                  f"speed-up {ratios(before, after)}", flush=True)


if __name__ == "__main__":
    main()
