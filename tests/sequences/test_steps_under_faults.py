"""`kill -9` of listeners while they run sequence steps: every step of every enrollment queues exactly one
message and publishes exactly one `sequence.step_executed`, however often its event is redelivered."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.events.engine_helpers import Listener, listener_factory  # noqa: F401  (the fixture)
from tests.polling import wait_until_sync
from tests.sequences.conftest import Conn, create_sequence, enroll, make_leads

ENROLLMENTS = 500
LISTENERS = 3


def one(db: Conn, query: str) -> Any:
    row = db.execute(query).fetchone()
    db.commit()
    assert row is not None
    return row[0]


@pytest.mark.timeout(900)
def test_killed_listeners_send_exactly_one_message_per_step(
    seq_db: Conn, database: str, listener_factory: Callable[..., Listener]  # noqa: F811
) -> None:
    rng = random.Random()
    # Every moment is inside the window, so the steps run on the real clock as soon as they are due.
    sequence = create_sequence(seq_db, [{}, {"template": "Zweite Nachricht an {{first_name}}"}],
                               send_days="{1,2,3,4,5,6,7}", send_from="00:00", send_until="23:59:59")
    leads = make_leads(seq_db, ENROLLMENTS)
    assert enroll(seq_db, sequence, leads)["enrolled"] == ENROLLMENTS

    def worker() -> Listener:
        return listener_factory(database, "--lease", "4", "--concurrency", "8", "--batch", "16",
                                "--poll-interval", "1", "--retry-base", "0.05", "--shutdown-timeout", "5",
                                handlers=("salesflow.handlers.sequences",)).start()

    def completed() -> int:
        return int(one(seq_db, f"select count(*) from public.sequence_enrollments where sequence_id = '{sequence}' "
                               "and state = 'completed'"))

    workers = [worker() for _ in range(LISTENERS)]
    kills = 0
    started = time.monotonic()
    while completed() < ENROLLMENTS and time.monotonic() - started < 300:
        time.sleep(rng.uniform(0.3, 1.5))
        if kills < 6:
            slot = rng.randrange(LISTENERS)
            workers[slot].kill9()
            kills += 1
            workers[slot] = worker()
    wait_until_sync(lambda: completed() == ENROLLMENTS, timeout=300, every=0.5, what="every enrollment completed")
    for w in workers:
        w.terminate(timeout=60)

    messages = one(seq_db, "select count(*) from public.messages where sent_by = 'sequence'")
    keys = one(seq_db, "select count(distinct idempotency_key) from public.messages where sent_by = 'sequence'")
    per_lead = one(seq_db, "select count(*) from (select lead_id from public.messages where sent_by = 'sequence' "
                           "group by lead_id having count(*) <> 2) x")
    sent_runs = one(seq_db, "select count(*) from public.sequence_step_runs where status = 'sent' "
                            "and message_id is not null")
    executed = one(seq_db, "select count(*) from public.events where type = 'sequence.step_executed'")
    executed_runs = one(seq_db, "select count(distinct payload ->> 'run_id') from public.events "
                                "where type = 'sequence.step_executed'")
    print(f"faults: {kills} listeners killed; {messages} messages for {ENROLLMENTS} enrollments x 2 steps")
    assert kills >= 1
    assert (messages, keys, per_lead) == (2 * ENROLLMENTS, 2 * ENROLLMENTS, 0)
    assert (sent_runs, executed, executed_runs) == (2 * ENROLLMENTS,) * 3
