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
    """How many of `results` were finished (finish_events answers the ids it could not finish)."""
    row = db.execute("select public.finish_events(%s, %s::jsonb, %s)", (worker, json.dumps(results), base)).fetchone()
    db.commit()
    assert row is not None
    return len(results) - len(row[0])



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
                                  "select * from public.hold_events('browser', 10, 30)",
                                  "select public.settle_events('browser', 1, '[]', '{}', 30, 1)",
                                  "select public.prune_events(86400, 10)"])
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


# -- claim windows: hold_events, then settle_events -------------------------------------------------------


def hold(db: Conn, worker: str = "w1", batch: int = 100, seconds: float = 30) -> list[tuple[Any, ...]]:
    """Open a window: the hold is committed at once (nothing stays locked). Rows: id, attempts,
    succeeded_handlers, hold_id."""
    rows = db.execute("select id::text, attempts, succeeded_handlers, hold_id from public.hold_events(%s, %s, %s)",
                      (worker, batch, seconds)).fetchall()
    db.commit()
    return rows


def settle(db: Conn, hold_id: int, results: list[dict[str, Any]], lease_ids: list[str] | None = None,
           worker: str = "w1", base: float = 1.0) -> set[str]:
    """Close window `hold_id`; returns the ids it could not settle."""
    row = db.execute("select public.settle_events(%s, %s, %s::jsonb, %s::uuid[], 30, %s)",
                     (worker, hold_id, json.dumps(results), lease_ids or [], base)).fetchone()
    db.commit()
    assert row is not None
    return {str(i) for i in row[0]}


def holds(db: Conn) -> list[tuple[Any, ...]]:
    rows = db.execute("select i::text, h.worker from private.event_holds h, unnest(h.event_ids) i "
                      "order by 1").fetchall()
    db.commit()
    return rows


def test_a_window_finishes_done_events_and_leases_running_ones_and_nobody_else_claims_them_meanwhile(
    outbox: Conn, database: str
) -> None:
    done, running = emit(outbox, "lead.updated"), emit(outbox, "lead.updated")
    window = hold(outbox)
    assert [(r[0], r[1]) for r in window] == [(done, 1), (running, 1)]  # attempts: the one about to run
    with psycopg.connect(database) as other:
        # Held and committed: no claim of any kind takes them, and they are still pending, uncharged.
        assert hold(other, "w2") == []
        assert claim(other, "w2") == []
        assert statuses(other, [done, running]) == {"pending": 2}
        delivered = [{"handler": "h.one", "status": "succeeded", "duration_ms": 2.5}]
        assert settle(outbox, window[0][3], [{"id": done, "outcome": "processed", "deliveries": delivered}],
                      [running]) == set()
        rows = other.execute(
            "select id::text, status, attempts, locked_by from public.events where id = any(%s::uuid[])",
            ([done, running],)).fetchall()
        assert {r[0]: r[1:] for r in rows} == {done: ("processed", 1, None), running: ("processing", 1, "w1")}
        assert other.execute("select handler, status, attempts from public.event_deliveries where event_id = %s",
                             (done,)).fetchall() == [("h.one", "succeeded", 1)]
    assert holds(outbox) == []
    # The leased one finishes like any claimed event.
    assert finish(outbox, [{"id": running, "outcome": "processed", "deliveries": []}]) == 1


def test_a_window_whose_connection_is_killed_keeps_its_events_for_its_worker(outbox: Conn, database: str) -> None:
    eid = emit(outbox, "lead.updated", ordering_key="lead-a")
    follower = emit(outbox, "lead.updated", ordering_key="lead-a")
    with psycopg.connect(database, autocommit=True) as window:
        assert [r[0] for r in hold(window)] == [eid]
        outbox.execute("select pg_terminate_backend(%s)", (window.info.backend_pid,))
        outbox.commit()
    # The handler may still be running in the worker: neither the event nor its key's next one is claimable.
    assert hold(outbox, "w2") == [] and claim(outbox, "w2") == []
    assert holds(outbox) == [(eid, "w1")]
    # The worker finishes it later over any connection; the attempt is charged then.
    assert finish(outbox, [{"id": eid, "outcome": "processed"}], worker="w1") == 1
    assert outbox.execute("select status, attempts from public.events where id = %s", (eid,)).fetchone() == (
        "processed", 1)
    outbox.commit()
    assert [r[0] for r in claim(outbox, "w2")] == [follower]


def test_settle_and_finish_name_the_events_the_worker_no_longer_holds(outbox: Conn) -> None:
    theirs, leased = emit(outbox, "lead.updated"), emit(outbox, "lead.updated")
    window = hold(outbox, "w2", batch=1)
    assert [r[0] for r in window] == [theirs]
    claim(outbox, "w3", batch=1)  # leased, to another worker
    assert settle(outbox, window[0][3], [{"id": theirs, "outcome": "processed"}], [leased],
                  worker="w1") == {theirs, leased}
    assert statuses(outbox, [theirs, leased]) == {"pending": 1, "processing": 1}
    assert finish(outbox, [{"id": theirs, "outcome": "processed"}, {"id": leased, "outcome": "processed"}]) == 0


def test_an_expired_hold_is_charged_counted_and_its_event_runs_again(outbox: Conn) -> None:
    eid = emit(outbox, "lead.updated", max_attempts=2)
    hold(outbox, "crashed-worker", seconds=0.01)
    time.sleep(0.05)
    assert outbox.execute("select public.recover_expired_leases()").fetchone() == (1,)
    outbox.commit()
    assert outbox.execute("select status, attempts, lease_expiries from public.events where id = %s",
                          (eid,)).fetchone() == ("pending", 1, 1)
    outbox.commit()
    assert finish(outbox, [{"id": eid, "outcome": "processed"}], worker="crashed-worker") == 0
    # The last attempt's hold expiring fails the event (an event that kills its worker ends in `failed`).
    assert [(r[0], r[1]) for r in hold(outbox, "w2", seconds=0.01)] == [(eid, 2)]
    time.sleep(0.05)
    outbox.execute("select public.recover_expired_leases()")
    outbox.commit()
    row = outbox.execute("select status, attempts, last_error from public.events where id = %s", (eid,)).fetchone()
    assert row is not None and row[:2] == ("failed", 2) and "the hold of worker w2 expired" in row[2]
    outbox.commit()


def test_a_retry_settled_in_a_window_is_charged_backs_off_and_dead_letters_on_the_last_attempt(
    outbox: Conn
) -> None:
    eid = emit(outbox, "lead.updated", max_attempts=2)
    failed = [{"handler": "h.one", "status": "failed", "duration_ms": 1.0, "error": "h.one: boom"}]
    window = hold(outbox)
    assert settle(outbox, window[0][3], [{"id": eid, "outcome": "retry", "error": "h.one: boom",
                                         "deliveries": failed}]) == set()
    row = outbox.execute("select status, attempts, last_error, run_after > now() + interval '0.5 s' "
                         "from public.events where id = %s", (eid,)).fetchone()
    assert row == ("pending", 1, "h.one: boom", True)  # backoff base 1 s, jitter 0.75-1.25
    outbox.execute("update public.events set run_after = now() where id = %s", (eid,))
    outbox.commit()
    window = hold(outbox)
    assert [(r[0], r[1]) for r in window] == [(eid, 2)]
    settle(outbox, window[0][3], [{"id": eid, "outcome": "retry", "error": "h.one: boom again",
                                   "deliveries": failed}])
    row = outbox.execute("select status, attempts, last_error, failed_at is not null from public.events "
                         "where id = %s", (eid,)).fetchone()
    assert row == ("failed", 2, "h.one: boom again", True)
    assert outbox.execute("select attempts from public.event_deliveries where event_id = %s",
                          (eid,)).fetchone() == (2,)
    outbox.commit()


def test_a_held_event_keeps_its_key_busy_even_for_an_earlier_event_that_becomes_due(outbox: Conn) -> None:
    later_scheduled = emit(outbox, "lead.updated", ordering_key="lead-a", run_after_seconds=3600)
    now_due = emit(outbox, "lead.updated", ordering_key="lead-a")
    # An earlier event that is only scheduled for later does not block its key (see claim_events) ...
    window = hold(outbox)
    assert [r[0] for r in window] == [now_due]
    outbox.execute("update public.events set run_after = now() where id = %s", (later_scheduled,))
    outbox.commit()
    # ... but once due it waits while the key's held event runs: one event of a key in flight.
    assert hold(outbox, "w2") == [] and claim(outbox, "w2") == []
    settle(outbox, window[0][3], [{"id": now_due, "outcome": "processed"}])
    assert [r[0] for r in hold(outbox, "w2")] == [later_scheduled]


def test_a_workers_own_calls_and_other_windows_never_wait_on_locked_rows(outbox: Conn, database: str) -> None:
    head, follower = emit(outbox, "lead.updated", ordering_key="k"), emit(outbox, "lead.updated", ordering_key="k")
    assert [r[0] for r in hold(outbox, "w1")] == [head]
    hold(outbox, "w2")  # passes over the follower and holds it back
    assert outbox.execute("select held_back from public.events where id = %s", (follower,)).fetchone() == (True,)
    outbox.commit()
    with psycopg.connect(database) as locker, psycopg.connect(database) as worker:
        # Another transaction has both rows locked (standing for any other call in flight).
        locker.execute("select 1 from public.events where id = any(%s::uuid[]) for update", ([head, follower],))
        worker.execute("set lock_timeout = '2s'")  # a wait would fail the call instead of hanging the test
        still = worker.execute("select public.extend_lease('w1', %s::uuid[], 30)", ([head],)).fetchall()
        assert [str(r[0]) for r in still] == [head]  # extended where it could be, still reported as held
        worker.commit()
        locker.rollback()
        locker.execute("select 1 from public.events where id = %s for update", (follower,))
        # Finishing the head puts the follower back in line, but the follower is locked: skipped, not waited for.
        lost = worker.execute("select public.finish_events('w1', %s::jsonb)",
                              (json.dumps([{"id": head, "outcome": "processed"}]),)).fetchone()
        worker.commit()
        assert lost == ([],)
        locker.rollback()
    # The maintenance sweep puts it back in line.
    outbox.execute("select public.recover_expired_leases()")
    outbox.commit()
    assert [r[0] for r in hold(outbox, "w2")] == [follower]


@pytest.mark.parametrize(("call", "message"), [
    ("select * from public.hold_events('w', 0)", "hold_events.p_batch: must be between 1 and 1000"),
    ("select * from public.hold_events('', 10)", "hold_events.p_worker: name the worker"),
    ("select * from public.hold_events('w', 10, 0)", "hold_events.p_hold_seconds: must be > 0"),
    ("select public.settle_events('', 1, '[]')", "settle_events.p_worker: name the worker"),
    ("select public.settle_events('w', 1, '[]', '{}', 0)", "settle_events.p_lease_seconds: must be > 0"),
    ("select public.settle_events('w', 1, '{}')", "settle_events.p_results: must be a JSON array"),
    ("""select public.settle_events('w', 1, '[{"outcome": "done"}]')""",
     "outcome must be processed, retry or failed"),
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


def test_a_follower_left_out_of_line_while_its_key_is_free_is_put_back_by_maintenance_not_by_claims(
    outbox: Conn
) -> None:
    # A claim and a finish of one key can race so that a follower stays held back after its key's event
    # finished. recover_expired_leases (every listener's maintenance) puts it back; claims do not sweep (an
    # idle worker's every poll walked all held-back events).
    b1 = emit(outbox, "lead.updated", ordering_key="lead-b")
    outbox.execute("update public.events set held_back = true where id = %s", (b1,))
    outbox.commit()
    assert claim(outbox) == []
    assert held_back(outbox, [b1]) == [True]
    outbox.execute("select public.recover_expired_leases()")
    outbox.commit()
    assert held_back(outbox, [b1]) == [False]
    assert [r[0] for r in claim(outbox)] == [b1]
