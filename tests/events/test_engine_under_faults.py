"""The engine under faults: four real `salesflow listen` workers with claim windows on 50 shared ordering
keys, while their database connections are killed (`pg_terminate_backend`) and the workers themselves are
`kill -9`'d and restarted. Every run of every event is recorded (start, end, pid) by the handler over a
connection of its own, so the test sees what a user would: an event running twice at once, two events of
one key in flight together, a key's events out of order, or an event never processed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from engine_helpers import ACME, Listener, wait_until_sync

Conn = psycopg.Connection[Any]

KEYS = 50
PER_KEY = 48  # enough work that the faults below land while events are in flight (the engine got faster)
WORKERS = 4
FAULT_SECONDS = 45.0


def one(db: Conn, query: str, *params: Any) -> Any:
    row = db.execute(query, params).fetchone()
    db.commit()
    assert row is not None
    return row[0]


@pytest.mark.timeout(600)
def test_killed_connections_and_workers_never_run_an_event_twice_at_once_or_a_key_out_of_order(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    rng = random.Random()
    outbox.execute("create table public.fault_runs (run_id bigserial primary key, event_id uuid not null, "
                   "ordering_key text, seq bigint, pid integer not null, "
                   "started_at timestamptz not null default clock_timestamp(), ended_at timestamptz)")
    outbox.execute("create table public.fault_kills (pid integer primary key, "
                   "killed_at timestamptz not null default clock_timestamp())")
    # Fast handlers (2-15 ms) mostly finish inside a window, slow ones (50-400 ms) outlive it. Seq follows i.
    outbox.execute(
        "select private.emit_event(%s, 'test.fault_run', jsonb_build_object('seconds', "
        "case when random() < 0.2 then 0.05 + random() * 0.35 else 0.002 + random() * 0.013 end), "
        "'key-' || (i %% %s), 'test', now(), null, null, 100) from generate_series(1, %s) i order by i",
        (ACME, KEYS, KEYS * PER_KEY))
    outbox.commit()
    total = KEYS * PER_KEY

    def worker(slot: int) -> Listener:
        return listener_factory(
            database, "--lease", "4", "--window-ms", "20", "--concurrency", "8", "--batch", "8",
            "--poll-interval", "1", "--retry-base", "0.05", "--shutdown-timeout", "5",
            handlers=("fault_test_handlers",),
            env={"PGAPPNAME": f"sf-fault-worker-{slot}", "SF_FAULT_RECORDER_URL": database},
        ).start()

    def processed() -> int:
        return int(one(outbox, "select count(*) from public.events where type = 'test.fault_run' "
                               "and status = 'processed'"))

    workers = [worker(slot) for slot in range(WORKERS)]
    terminated = kills = 0
    started = time.monotonic()
    rounds = 0
    while time.monotonic() - started < FAULT_SECONDS and processed() < total:
        time.sleep(rng.uniform(0.03, 0.2))
        rounds += 1
        if rounds % 15 == 5 and kills < 8:  # a worker killed every 15th round, the first early
            slot = rng.randrange(WORKERS)
            pid = workers[slot].proc.pid if workers[slot].proc else 0
            workers[slot].kill9()
            outbox.execute("insert into public.fault_kills (pid) values (%s)", (pid,))
            outbox.commit()
            kills += 1
            workers[slot] = worker(slot)
        else:
            terminated += int(one(
                outbox, "select count(pg_terminate_backend(pid)) from (select pid from pg_stat_activity "
                        "where datname = current_database() and application_name like 'sf-fault-worker-%%' "
                        "order by random() limit 1) a"))
    wait_until_sync(lambda: processed() == total, timeout=240, every=0.2)
    for w in workers:
        w.terminate(timeout=60)

    # A run of a killed worker ended when the worker died; any other run without an end never ended.
    runs = """(select r.event_id, r.ordering_key, r.seq, r.pid, r.started_at,
                      coalesce(r.ended_at, greatest(k.killed_at, r.started_at), 'infinity') as ended_at
               from public.fault_runs r left join public.fault_kills k on k.pid = r.pid)"""
    same_event = one(outbox, f"select count(*) from {runs} a join {runs} b on a.event_id = b.event_id "
                             "and (a.started_at, a.pid) < (b.started_at, b.pid) and b.started_at < a.ended_at")
    same_key = one(outbox, f"select count(*) from {runs} a join {runs} b on a.ordering_key = b.ordering_key "
                           "and a.event_id <> b.event_id and a.started_at <= b.started_at "
                           "and b.started_at < a.ended_at")
    out_of_order = one(outbox, f"select count(*) from (select seq, lag(seq) over (partition by ordering_key "
                               f"order by started_at) as previous from {runs} r) x where seq < previous")
    never_finished = one(outbox, "select count(*) from public.events e where e.type = 'test.fault_run' and not "
                                 "exists (select 1 from public.fault_runs r where r.event_id = e.id "
                                 "and r.ended_at is not null)")
    reruns = one(outbox, "select count(*) - count(distinct event_id) from public.fault_runs")
    print(f"faults: {terminated} connections terminated, {kills} workers killed; {reruns} runs again")
    assert (same_event, same_key, out_of_order) == (0, 0, 0)
    assert (processed(), never_finished) == (total, 0)
    assert terminated >= 50 and kills >= 1  # the faults really happened
