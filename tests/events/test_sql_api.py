"""The SQL API keeps every promise about event state by itself: both transports only call it."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from engine_helpers import ACME, NORDLICHT, emit, statuses

Conn = psycopg.Connection[Any]


def claim(db: Conn, worker: str = "w1", batch: int = 100, lease: float = 30) -> list[tuple[Any, ...]]:
    rows = db.execute(
        "select id::text, type, ordering_key, attempts, succeeded_handlers from public.claim_events(%s, %s, %s)",
        (worker, batch, lease),
    ).fetchall()
    db.commit()
    return rows


def finish(db: Conn, results: list[dict[str, Any]], worker: str = "w1", base: float = 1.0) -> int:
    row = db.execute("select public.finish_events(%s, %s::jsonb, %s)", (worker, json.dumps(results), base)).fetchone()
    db.commit()
    assert row is not None
    return int(row[0])



def test_claim_leases_due_events_oldest_first_and_never_twice(outbox: Conn) -> None:
    ids = [emit(outbox, "lead.updated", {"n": i}) for i in range(5)]
    later = emit(outbox, "lead.updated", run_after_seconds=3600)
    first = claim(outbox, "w1", batch=3)
    second = claim(outbox, "w2", batch=10)
    assert [r[0] for r in first] == ids[:3]
    assert [r[0] for r in second] == ids[3:]
    assert later not in {r[0] for r in first + second}
    assert all(r[3] == 1 for r in first + second)  # attempts counts the current attempt


def test_one_event_per_ordering_key_in_flight_oldest_first(outbox: Conn) -> None:
    a1, a2 = emit(outbox, "lead.updated", ordering_key="lead-a"), emit(outbox, "lead.updated", ordering_key="lead-a")
    b1 = emit(outbox, "lead.updated", ordering_key="lead-b")
    assert {r[0] for r in claim(outbox, "w1")} == {a1, b1}
    assert claim(outbox, "w2") == []  # a2 waits while a1 is in flight
    finish(outbox, [{"id": a1, "outcome": "processed", "deliveries": []}])
    assert [r[0] for r in claim(outbox, "w2")] == [a2]


def test_a_retrying_event_keeps_later_events_of_its_key_waiting(outbox: Conn) -> None:
    first, second = emit(outbox, "lead.updated", ordering_key="k"), emit(outbox, "lead.updated", ordering_key="k")
    claim(outbox)
    finish(outbox, [{"id": first, "outcome": "retry", "error": "boom", "retry_in_seconds": 3600, "deliveries": []}])
    assert claim(outbox, "w2") == []
    assert statuses_of(outbox, [first, second]) == {first: "pending", second: "pending"}


def statuses_of(db: Conn, ids: list[str]) -> dict[str, str]:
    rows = db.execute("select id::text, status from public.events where id = any(%s::uuid[])", (ids,)).fetchall()
    db.commit()
    return dict(rows)


def test_retries_back_off_exponentially_then_dead_letter_with_the_last_error(outbox: Conn) -> None:
    eid = emit(outbox, "lead.updated", max_attempts=3)
    delays = []
    for attempt in range(1, 4):
        outbox.execute("update public.events set run_after = now() where id = %s", (eid,))
        outbox.commit()
        assert [r[0] for r in claim(outbox)] == [eid]
        finish(outbox, [{"id": eid, "outcome": "retry", "error": f"boom {attempt}", "deliveries": [
            {"handler": "h", "status": "failed", "duration_ms": 1.0, "error": f"boom {attempt}"}]}], base=10)
        row = outbox.execute(
            "select status, extract(epoch from run_after - now()), last_error from public.events where id = %s", (eid,)
        ).fetchone()
        outbox.commit()
        assert row is not None
        delays.append(row[1])
    status, _, last_error = row
    assert status == "failed" and last_error == "boom 3"
    assert 7.5 <= delays[0] <= 12.5 and 15 <= delays[1] <= 25  # 10 s then 20 s, +-25 % jitter
    delivery = outbox.execute(
        "select status, attempts from public.event_deliveries where event_id = %s", (eid,)
    ).fetchone()
    assert delivery == ("failed", 3)


def test_replay_reruns_only_handlers_that_did_not_succeed_unless_all_are_asked_for(outbox: Conn) -> None:
    eid = emit(outbox, "lead.updated", max_attempts=1)
    claim(outbox)
    finish(outbox, [{"id": eid, "outcome": "failed", "error": "b broke", "deliveries": [
        {"handler": "a", "status": "succeeded", "duration_ms": 1}, {"handler": "b", "status": "failed",
                                                                    "duration_ms": 1, "error": "b broke"}]}])
    outbox.execute("select public.replay_event(%s)", (eid,))
    outbox.commit()
    assert claim(outbox)[0][4] == ["a"]  # a succeeded before: the engine skips it
    finish(outbox, [{"id": eid, "outcome": "processed", "deliveries": [{"handler": "b", "status": "succeeded",
                                                                       "duration_ms": 1}]}])
    outbox.execute("select public.replay_event(%s, true)", (eid,))
    outbox.commit()
    assert claim(outbox)[0][4] == []


def test_replay_refuses_events_that_are_still_pending(outbox: Conn) -> None:
    eid = emit(outbox, "lead.updated")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="only processed or failed"):
        outbox.execute("select public.replay_event(%s)", (eid,))


def test_expired_leases_are_recovered_and_counted(outbox: Conn) -> None:
    eid = emit(outbox, "lead.updated")
    claim(outbox, "crashed-worker", lease=0.01)
    time.sleep(0.05)
    row = outbox.execute("select public.recover_expired_leases()").fetchone()
    outbox.commit()
    assert row == (1,)
    assert finish(outbox, [{"id": eid, "outcome": "processed", "deliveries": []}], worker="crashed-worker") == 0
    assert [r[0] for r in claim(outbox, "w2")] == [eid]
    report = outbox.execute("select public.event_status_report()").fetchone()
    assert report is not None and report[0]["lease_expiries_total"] == 1


@pytest.mark.parametrize("call", ["select * from public.claim_events('browser', 10, 30)",
                                  "select * from public.lock_events(10)",
                                  "select public.settle_events('browser', '[]', '{}', 30, 1)"])
def test_only_the_service_role_may_call_the_engine_api(db: Conn, as_claims: Any, call: str) -> None:
    anna = {"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated", "tenant_id": ACME}
    for claims in ({"role": "anon"}, anna):
        conn = as_claims(claims)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(call)
        db.rollback()
    conn = as_claims({"role": "service_role"})
    conn.execute(call)
    db.rollback()


# -- claim windows: lock_events and settle_events in one transaction -----------------------------------


def lock(db: Conn, batch: int = 100) -> list[tuple[Any, ...]]:
    """Open a window (the transaction stays open until the caller commits or rolls back)."""
    return db.execute("select id::text, attempts, succeeded_handlers from public.lock_events(%s)", (batch,)).fetchall()


def settle(db: Conn, results: list[dict[str, Any]], lease_ids: list[str] | None = None, worker: str = "w1",
           base: float = 1.0) -> int:
    row = db.execute("select public.settle_events(%s, %s::jsonb, %s::uuid[], 30, %s)",
                     (worker, json.dumps(results), lease_ids or [], base)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_window_finishes_done_events_and_leases_running_ones_in_one_transaction(
    outbox: Conn, database: str
) -> None:
    done, running = emit(outbox, "lead.updated"), emit(outbox, "lead.updated")
    assert [(r[0], r[1]) for r in lock(outbox)] == [(done, 1), (running, 1)]  # attempts: the one about to run
    with psycopg.connect(database) as other:
        # Locked, not written: another worker skips them, and sees them still pending.
        assert other.execute("select count(*) from public.lock_events(100)").fetchone() == (0,)
        assert claim(other, "w2") == []
        assert statuses(other, [done, running]) == {"pending": 2}
        other.rollback()
        delivered = [{"handler": "h.one", "status": "succeeded", "duration_ms": 2.5}]
        assert settle(outbox, [{"id": done, "outcome": "processed", "deliveries": delivered}], [running]) == 2
        outbox.commit()
        rows = other.execute(
            "select id::text, status, attempts, locked_by from public.events where id = any(%s::uuid[])",
            ([done, running],)).fetchall()
        assert {r[0]: r[1:] for r in rows} == {done: ("processed", 1, None), running: ("processing", 1, "w1")}
        assert other.execute("select handler, status, attempts from public.event_deliveries where event_id = %s",
                             (done,)).fetchall() == [("h.one", "succeeded", 1)]
    # The leased one finishes like any claimed event.
    assert finish(outbox, [{"id": running, "outcome": "processed", "deliveries": []}]) == 1


def test_settle_touches_only_events_its_own_transaction_locked(outbox: Conn, database: str) -> None:
    eid = emit(outbox, "lead.updated")
    with psycopg.connect(database) as other:
        assert [r[0] for r in lock(other)] == [eid]
        # This transaction holds no lock on it: nothing is finished or leased (not even by waiting).
        assert settle(outbox, [{"id": eid, "outcome": "processed", "deliveries": []}], [eid]) == 0
        outbox.commit()
        other.rollback()
    assert statuses(outbox, [eid]) == {"pending": 1}
    # Nor may an event leased to a worker be settled by a window: finish_events is its way out.
    claim(outbox, "w1")
    assert lock(outbox) == []
    assert settle(outbox, [{"id": eid, "outcome": "processed"}], [eid]) == 0
    outbox.commit()
    assert statuses(outbox, [eid]) == {"processing": 1}


def test_a_window_that_rolls_back_leaves_its_events_pending_and_uncharged(outbox: Conn) -> None:
    eid = emit(outbox, "lead.updated")
    assert [r[0] for r in lock(outbox)] == [eid]
    settle(outbox, [{"id": eid, "outcome": "processed", "deliveries": [
        {"handler": "h.one", "status": "succeeded", "duration_ms": 1.0}]}])
    outbox.rollback()  # the worker died before its commit
    row = outbox.execute("select status, attempts from public.events where id = %s", (eid,)).fetchone()
    assert row == ("pending", 0)
    assert outbox.execute("select count(*) from public.event_deliveries where event_id = %s",
                          (eid,)).fetchone() == (0,)
    assert [(r[0], r[3]) for r in claim(outbox)] == [(eid, 1)]


def test_a_retry_settled_in_a_window_is_charged_backs_off_and_dead_letters_on_the_last_attempt(
    outbox: Conn
) -> None:
    eid = emit(outbox, "lead.updated", max_attempts=2)
    failed = [{"handler": "h.one", "status": "failed", "duration_ms": 1.0, "error": "h.one: boom"}]
    lock(outbox)
    assert settle(outbox, [{"id": eid, "outcome": "retry", "error": "h.one: boom", "deliveries": failed}]) == 1
    outbox.commit()
    row = outbox.execute("select status, attempts, last_error, run_after > now() + interval '0.5 s' "
                         "from public.events where id = %s", (eid,)).fetchone()
    assert row == ("pending", 1, "h.one: boom", True)  # backoff base 1 s, jitter 0.75-1.25
    outbox.execute("update public.events set run_after = now() where id = %s", (eid,))
    assert [(r[0], r[1]) for r in lock(outbox)] == [(eid, 2)]
    settle(outbox, [{"id": eid, "outcome": "retry", "error": "h.one: boom again", "deliveries": failed}])
    outbox.commit()
    row = outbox.execute("select status, attempts, last_error, failed_at is not null from public.events "
                         "where id = %s", (eid,)).fetchone()
    assert row == ("failed", 2, "h.one: boom again", True)
    assert outbox.execute("select attempts from public.event_deliveries where event_id = %s",
                          (eid,)).fetchone() == (2,)


def test_lock_events_keeps_one_event_per_ordering_key_in_flight(outbox: Conn, database: str) -> None:
    a1, a2 = emit(outbox, "lead.updated", ordering_key="lead-a"), emit(outbox, "lead.updated", ordering_key="lead-a")
    assert [r[0] for r in lock(outbox)] == [a1]
    with psycopg.connect(database) as other:
        assert lock(other) == []  # a2 waits: a1 is earlier and still pending (locked in a window)
        other.rollback()
        settle(outbox, [{"id": a1, "outcome": "processed"}])
        outbox.commit()
        assert [r[0] for r in lock(other)] == [a2]
        other.rollback()


@pytest.mark.parametrize(("call", "message"), [
    ("select * from public.lock_events(0)", "lock_events.p_batch: must be between 1 and 1000"),
    ("select public.settle_events('', '[]')", "settle_events.p_worker: name the worker"),
    ("select public.settle_events('w', '[]', '{}', 0)", "settle_events.p_lease_seconds: must be > 0"),
    ("select public.settle_events('w', '{}')", "settle_events.p_results: must be a JSON array"),
    ("""select public.settle_events('w', '[{"outcome": "done"}]')""", "outcome must be processed, retry or failed"),
])
def test_window_calls_refuse_bad_input_naming_the_parameter(outbox: Conn, call: str, message: str) -> None:
    with pytest.raises(psycopg.Error, match=message):
        outbox.execute(call)
    outbox.rollback()


@pytest.mark.parametrize(
    ("tenant", "event_type", "payload", "message"),
    [
        ("99999999-9999-4999-8999-999999999999", "lead.created", "{}", "publish_event.tenant_id: no tenant"),
        (ACME, "lead.exploded", "{}", "publish_event.type: unknown event type"),
        (ACME, "lead.created", "[1, 2]", "publish_event.payload: must be a JSON object"),
        (ACME, "lead.created", json.dumps({"blob": "x" * 300_000}), "over the limit of 262144 bytes"),
    ],
)
def test_publish_refuses_bad_input_naming_the_field(db: Conn, tenant: str, event_type: str, payload: str,
                                                    message: str) -> None:
    with pytest.raises(psycopg.Error, match=message):
        db.execute("select public.publish_event(%s, %s, %s::jsonb)", (tenant, event_type, payload))


def test_deliveries_carry_their_events_tenant_and_go_with_the_event_and_the_tenant(outbox: Conn) -> None:
    # event_deliveries has no foreign key to tenants: the SQL API copies the event's tenant, and the
    # cascade from events removes a tenant's deliveries with its events.
    acme_event, nord_event = emit(outbox, "lead.updated"), emit(outbox, "lead.updated", tenant=NORDLICHT)
    claim(outbox)
    delivered = [{"handler": "h.one", "status": "succeeded", "duration_ms": 1.0}]
    assert finish(outbox, [{"id": e, "outcome": "processed", "deliveries": delivered}
                           for e in (acme_event, nord_event)]) == 2
    rows = outbox.execute(
        "select d.event_id::text, d.tenant_id::text = e.tenant_id::text from public.event_deliveries d "
        "join public.events e on e.id = d.event_id where d.event_id = any(%s::uuid[]) order by 1",
        ([acme_event, nord_event],),
    ).fetchall()
    assert rows == sorted([(acme_event, True), (nord_event, True)])
    outbox.execute("delete from public.events where id = %s", (acme_event,))
    outbox.execute("delete from public.tenants where id = %s", (NORDLICHT,))
    left = outbox.execute(
        "select count(*) from public.event_deliveries where event_id = any(%s::uuid[])", ([acme_event, nord_event],)
    ).fetchone()
    assert left == (0,)


# -- followers of a busy key leave the claim line --------------------------------------------------------


def held_back(db: Conn, ids: list[str]) -> list[bool]:
    rows = dict(db.execute("select id::text, held_back from public.events where id = any(%s::uuid[])",
                           (ids,)).fetchall())
    db.commit()
    return [rows[i] for i in ids]


def test_followers_a_claim_passed_over_wait_out_of_line_and_come_back_one_by_one(outbox: Conn) -> None:
    a1, a2, a3 = (emit(outbox, "lead.updated", ordering_key="lead-a") for _ in range(3))
    loose = emit(outbox, "lead.updated")
    assert [r[0] for r in claim(outbox, "w1")] == [a1, loose]  # short: the claim walked past a2 and a3
    assert held_back(outbox, [a2, a3]) == [True, True]
    backlog = outbox.execute("select pending from public.event_backlog()").fetchone()
    assert backlog == (2,)  # held-back events are still pending, and counted
    finish(outbox, [{"id": a1, "outcome": "processed"}])
    assert held_back(outbox, [a2, a3]) == [False, True]  # the next one is back in line, the rest still wait
    assert [r[0] for r in claim(outbox, "w1")] == [a2]
    finish(outbox, [{"id": a2, "outcome": "failed", "error": "gave up"}])  # dead letter frees the key too
    assert [r[0] for r in claim(outbox, "w1")] == [a3]


def test_a_retrying_head_keeps_its_followers_waiting(outbox: Conn) -> None:
    a1, a2 = emit(outbox, "lead.updated", ordering_key="lead-a"), emit(outbox, "lead.updated", ordering_key="lead-a")
    claim(outbox)
    finish(outbox, [{"id": a1, "outcome": "retry", "error": "later", "retry_in_seconds": 0}])
    assert [r[0] for r in claim(outbox)] == [a1]
    assert held_back(outbox, [a2]) == [True]


def test_a_follower_left_out_of_line_while_its_key_is_free_is_put_back(outbox: Conn) -> None:
    # A claim and a finish of one key can race so that a follower stays held back after its key's event
    # finished. A claim that finds the line empty puts it back and takes it; while the line is not empty,
    # recover_expired_leases (every listener's maintenance) does.
    a1 = emit(outbox, "lead.updated", ordering_key="lead-a")
    outbox.execute("update public.events set held_back = true where id = %s", (a1,))
    outbox.commit()
    assert [r[0] for r in claim(outbox)] == [a1]
    finish(outbox, [{"id": a1, "outcome": "processed"}])

    b1 = emit(outbox, "lead.updated", ordering_key="lead-b")
    loose = emit(outbox, "lead.updated")
    outbox.execute("update public.events set held_back = true where id = %s", (b1,))
    outbox.commit()
    assert [r[0] for r in claim(outbox, batch=1)] == [loose]  # the line was not empty: no sweep
    assert held_back(outbox, [b1]) == [True]
    outbox.execute("select public.recover_expired_leases()")
    outbox.commit()
    assert held_back(outbox, [b1]) == [False]
    assert [r[0] for r in claim(outbox)] == [b1]
