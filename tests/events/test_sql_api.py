"""The SQL API keeps every promise about event state by itself: both transports only call it."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from engine_helpers import ACME, NORDLICHT, emit

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


@pytest.fixture
def outbox(db: Conn) -> Conn:
    """The test database with the seed's events already processed, so each test starts from an empty queue."""
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    return db


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


def test_only_the_service_role_may_call_the_engine_api(db: Conn, as_claims: Any) -> None:
    anna = {"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated", "tenant_id": ACME}
    for claims in ({"role": "anon"}, anna):
        conn = as_claims(claims)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from public.claim_events('browser', 10, 30)")
        db.rollback()
    conn = as_claims({"role": "service_role"})
    conn.execute("select * from public.claim_events('service', 1, 30)")
    db.rollback()


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
