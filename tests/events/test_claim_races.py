"""Two claims racing for one ordering key. Each claim (`hold_events` or `claim_events`) decides from its own
snapshot whether a key is free; before a claim commits, another claim's snapshot cannot see what it took. A
claim whose commit is late (a loaded machine, a slow network) is modelled here by a claim run inside an open
transaction on one connection while a second connection claims: the deterministic form of the race that
several workers hit at random, mostly when a key's earlier event was only scheduled for later and becomes
due while its later event is being taken. One key must never have two events in flight."""

from __future__ import annotations

import random
import threading
from typing import Any

import psycopg
import pytest
from engine_helpers import emit, wait_until_sync

Conn = psycopg.Connection[Any]

# The two ways to claim: a claim window's hold, and a lease.
HOLD = "select id::text from public.hold_events(%s, 10, 60)"
LEASE = "select id::text from public.claim_events(%s, 10, 60)"


def in_flight(db: Conn, key: str) -> list[str]:
    """The events of `key` that are held by a window or leased, committed state."""
    rows = db.execute(
        "select e.id::text from public.events e where e.ordering_key = %s and (e.status = 'processing' "
        "or e.id in (select unnest(h.event_ids) from private.event_holds h)) order by e.seq", (key,)).fetchall()
    db.commit()
    return [r[0] for r in rows]


@pytest.mark.parametrize(("first", "second"), [(HOLD, HOLD), (HOLD, LEASE), (LEASE, HOLD), (LEASE, LEASE)],
                         ids=["window-window", "window-lease", "lease-window", "lease-lease"])
def test_an_earlier_event_that_becomes_due_while_a_later_one_is_being_claimed_waits_for_it(
    outbox: Conn, database: str, first: str, second: str
) -> None:
    earlier = emit(outbox, "lead.updated", ordering_key="lead-a", run_after_seconds=3600)
    later = emit(outbox, "lead.updated", ordering_key="lead-a")
    with psycopg.connect(database) as slow, psycopg.connect(database, autocommit=True) as quick:
        # The first claim takes the later event (the earlier one is not due yet) and has not committed yet ...
        assert [r[0] for r in slow.execute(first, ("slow",)).fetchall()] == [later]
        # ... when the earlier event becomes due and another worker claims.
        quick.execute("update public.events set run_after = now() where id = %s", (earlier,))
        taken = [r[0] for r in quick.execute(second, ("quick",)).fetchall()]
        slow.commit()
    assert taken == []
    assert in_flight(outbox, "lead-a") == [later]
    # Once the later event is done (by hand here: held or leased, it is simply processed), the earlier one is next.
    outbox.execute("delete from private.event_holds")
    outbox.execute("update public.events set status = 'processed', locked_by = null, locked_until = null "
                   "where id = %s", (later,))
    outbox.commit()
    assert [r[0] for r in outbox.execute(HOLD, ("w3",)).fetchall()] == [earlier]
    outbox.commit()


@pytest.mark.timeout(300)
def test_many_claimers_never_take_two_events_of_one_key_when_earlier_events_fall_due_together(
    outbox: Conn, database: str
) -> None:
    """Six connections claim in a loop (windows and leases mixed) and never settle, so whatever they take stays
    in flight. Each key has three events that fall due together and a later one (higher seq) that falls due
    2 ms before them, so the claims that take its first event race. (Before claims locked their keys, 40 of 300
    keys ended with two events in flight.)"""
    keys = 300
    outbox.execute(
        "select private.emit_event('11111111-1111-4111-8111-111111111111', 'lead.updated', '{}', "
        "'key-' || k, 'test', now() + make_interval(secs => 1.5 + (k %% 20) * 0.05), null, null, 5) "
        "from generate_series(1, %s) k, generate_series(1, 3) n order by k, n", (keys,))
    outbox.execute(
        "select private.emit_event('11111111-1111-4111-8111-111111111111', 'lead.updated', '{}', "
        "'key-' || k, 'test', now() + make_interval(secs => 1.5 + (k %% 20) * 0.05 - 0.002), null, null, 5) "
        "from generate_series(1, %s) k", (keys,))
    outbox.commit()
    stop = threading.Event()
    errors: list[BaseException] = []

    def claimer(slot: int) -> None:
        rng = random.Random(slot)
        try:
            with psycopg.connect(database, autocommit=True) as conn:
                while not stop.is_set():
                    conn.execute(rng.choice([HOLD, LEASE]), (f"claimer-{slot}",)).fetchall()
        except BaseException as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(slot,)) for slot in range(6)]
    for t in threads:
        t.start()
    try:
        # Every key gets an event in flight, and then nothing else of it is claimable until that one settles.
        wait_until_sync(lambda: keys_in_flight(outbox) == keys, timeout=120, every=0.2)
        outbox.execute("select pg_sleep(1)")  # a while longer: a racing claim would take a second event of a key
        outbox.commit()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    doubled = outbox.execute(
        f"select count(*) from (select ordering_key from public.events where {IN_FLIGHT} "
        "group by ordering_key having count(*) > 1) d").fetchone()
    outbox.commit()
    assert doubled == (0,)


IN_FLIGHT = ("ordering_key like 'key-%%' and (status = 'processing' "
             "or id in (select unnest(event_ids) from private.event_holds))")


def keys_in_flight(db: Conn) -> int:
    row = db.execute(f"select count(distinct ordering_key) from public.events where {IN_FLIGHT}").fetchone()
    db.commit()
    assert row is not None
    return int(row[0])
