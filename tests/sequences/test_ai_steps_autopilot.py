"""AI-personalised steps respect the autopilot: in assist mode (or auto with a guard) the step's text becomes a
draft in the approval queue and the enrollment waits; approving it sends one message and publishes
sequence.step_executed, rejecting it skips the step; auto mode sends; mode off sends as before; a capped AI step
asks the AI nothing (real Postgres, real engine, the offline AI provider)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.autopilot.helpers import set_settings
from tests.polling import wait_until
from tests.sequences.conftest import (
    ACME,
    WAIT,
    Clock,
    Conn,
    create_sequence,
    enroll,
    enrollments,
    make_leads,
    runs,
    sequence_messages,
    sequences_running,
)

MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
# A template first (the lead has had a message: no first-contact guard), then the AI step.
STEPS: list[dict[str, Any]] = [{"template": "Hallo {{first_name}}, kurze Nachfrage."},
                               {"kind": "ai_message", "template": None}]


def actions(db: Conn) -> list[dict[str, Any]]:
    rows = db.execute("select to_jsonb(a) from public.autopilot_actions a order by created_at").fetchall()
    db.commit()
    return [dict(r[0]) for r in rows]


def autopilot_messages(db: Conn) -> list[dict[str, Any]]:
    rows = db.execute("select jsonb_build_object('id', id, 'body', body, 'idempotency_key', idempotency_key) "
                      "from public.messages where sent_by = 'autopilot' order by created_at").fetchall()
    db.commit()
    return [dict(r[0]) for r in rows]


def step_executed(db: Conn) -> list[dict[str, Any]]:
    rows = db.execute("select payload from public.events where type = 'sequence.step_executed' "
                      "order by (payload ->> 'step')::int").fetchall()
    db.commit()
    return [dict(r[0]) for r in rows]


def ai_calls(db: Conn) -> int:
    row = db.execute("select count(*) from public.ai_usage where tenant_id = %s", (ACME,)).fetchone()
    db.commit()
    assert row is not None
    return int(row[0])


async def _drafted(db: Conn, sequence: str) -> dict[str, Any]:
    [waiting] = await wait_until(
        lambda: (e := enrollments(db, sequence)) and e[0]["state"] == "paused" and e,
        in_thread=True, timeout=WAIT, what="the enrollment waits for the draft")
    assert waiting["pause_reason"] == "approval"
    [action] = actions(db)
    assert action["status"] == "queued_for_approval" and action["scenario"] == "followup_message"
    assert action["trigger_message_id"] is None and "Lea" in action["draft"]
    run = runs(db)[1]
    assert (run["status"], run["autopilot_action_id"], run["message_id"]) == ("drafted", action["id"], None)
    assert len(sequence_messages(db)) == 1 and autopilot_messages(db) == []  # the AI step sent nothing
    assert [e["step"] for e in step_executed(db)] == [1]
    return action


async def test_assist_mode_drafts_the_ai_step_and_approving_sends_it_once(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    set_settings(seq_db, mode="assist")
    sequence = create_sequence(seq_db, STEPS)
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        action = await _drafted(seq_db, sequence)
        assert "assist mode: a member approves every draft" in action["reasons"]
        seq_db.execute("select public.autopilot_decide(%s, 'approved', null, %s)", (action["id"], ACME))
        seq_db.commit()
        await wait_until(lambda: (e := enrollments(seq_db, sequence)) and e[0]["state"] == "completed",
                         in_thread=True, timeout=WAIT, what="the enrollment completes after the approval")
    [sent] = autopilot_messages(seq_db)
    assert sent["idempotency_key"] == f"autopilot:{action['id']}" and sent["body"] == action["draft"]
    run = runs(seq_db)[1]
    assert (run["status"], run["message_id"], run["body"]) == ("sent", sent["id"], action["draft"])
    executed = step_executed(seq_db)
    assert [(e["step"], e["ai_personalized"]) for e in executed] == [(1, False), (2, True)]
    assert executed[1]["message_id"] == sent["id"] and executed[1]["autopilot_action_id"] == action["id"]


async def test_a_rejected_draft_skips_the_step_and_the_sequence_moves_on(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    set_settings(seq_db, mode="one_click")
    sequence = create_sequence(seq_db, [*STEPS, {"template": "Letzte Nachricht"}])
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        action = await _drafted(seq_db, sequence)
        seq_db.execute("select public.autopilot_decide(%s, 'rejected', null, %s)", (action["id"], ACME))
        seq_db.commit()
        await wait_until(lambda: (e := enrollments(seq_db, sequence)) and e[0]["state"] == "completed",
                         in_thread=True, timeout=WAIT, what="the last step after the rejection")
    assert autopilot_messages(seq_db) == []
    assert [m["body"] for m in sequence_messages(seq_db)][1] == "Letzte Nachricht"
    assert [(r["status"], r["skip_reason"]) for r in runs(seq_db)] == [
        ("sent", None), ("skipped", "autopilot draft rejected"), ("sent", None)]
    assert [e["step"] for e in step_executed(seq_db)] == [1, 3]


@pytest.mark.parametrize(("settings", "drafted", "guard"), [
    ({"mode": "auto"}, False, None),
    ({"mode": "auto", "min_confidence": 0.95}, True, "low_confidence"),
    ({"mode": "off"}, False, None),
])
async def test_auto_mode_sends_unless_a_guard_trips_and_off_sends_as_before(
    seq_db: Conn, database: str, clock: Clock, settings: dict[str, Any], drafted: bool, guard: str | None
) -> None:
    set_settings(seq_db, **settings)
    sequence = create_sequence(seq_db, STEPS)
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        if drafted:
            action = await _drafted(seq_db, sequence)
            assert guard in action["guards"]
            return
        await wait_until(lambda: (e := enrollments(seq_db, sequence)) and e[0]["state"] == "completed",
                         in_thread=True, timeout=WAIT, what="the AI step sent")
    assert actions(seq_db) == []
    [_, ai_message] = sequence_messages(seq_db)
    assert "Lea" in ai_message["body"]
    assert [(r["status"], r["ai_personalised"]) for r in runs(seq_db)] == [("sent", False), ("sent", True)]


async def test_a_capped_ai_step_asks_the_ai_nothing(seq_db: Conn, database: str, clock: Clock) -> None:
    sequence = create_sequence(seq_db, [{"kind": "ai_message", "template": None}], daily_cap_tenant=1)
    [first, *later] = make_leads(seq_db, 3, timezone="Europe/Vienna")
    clock.now = MONDAY

    def moved_past_the_day() -> int:
        return sum(1 for e in enrollments(seq_db, sequence) if e["state"] == "active" and e["next_due_at"]
                   and datetime.fromisoformat(e["next_due_at"]) > MONDAY.replace(hour=23))

    async with sequences_running(database, clock):
        enroll(seq_db, sequence, [first])
        await wait_until(lambda: len(sequence_messages(seq_db)) == 1, in_thread=True, timeout=WAIT,
                         what="the first AI step sent (the day's cap)")
        assert ai_calls(seq_db) == 1
        enroll(seq_db, sequence, later)
        await wait_until(lambda: moved_past_the_day() == 2, in_thread=True, timeout=WAIT,
                         what="two capped steps moved past the day")
    assert len(sequence_messages(seq_db)) == 1
    assert ai_calls(seq_db) == 1  # the capped steps spent no AI call


async def test_an_expired_draft_never_sends_and_skips_the_step(seq_db: Conn, database: str, clock: Clock) -> None:
    set_settings(seq_db, mode="assist")
    sequence = create_sequence(seq_db, STEPS)
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        action = await _drafted(seq_db, sequence)
        seq_db.execute("update public.autopilot_actions set expires_at = now() - interval '1 minute' where id = %s",
                       (action["id"],))
        row = seq_db.execute("select public.autopilot_decide(%s, 'approved', null, %s) ->> 'status'",
                             (action["id"], ACME)).fetchone()
        seq_db.commit()
        assert row == ("expired",)
        await wait_until(lambda: (e := enrollments(seq_db, sequence)) and e[0]["state"] == "completed",
                         in_thread=True, timeout=WAIT, what="the enrollment moves on past the expired draft")
    assert autopilot_messages(seq_db) == []
    assert [(r["status"], r["skip_reason"]) for r in runs(seq_db)][1] == ("skipped", "autopilot draft expired")


async def test_a_waiting_draft_is_withdrawn_when_its_enrollment_stops(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    """The lead is won while the AI step's draft waits: the draft expires with the reason, approving it is
    refused and nothing is sent."""
    set_settings(seq_db, mode="assist")
    sequence = create_sequence(seq_db, STEPS)
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        action = await _drafted(seq_db, sequence)
        seq_db.execute("select public.set_enrollment_state('stop', p_lead_id => %s, p_reason => 'won', "
                       "p_tenant_id => %s)", (lead, ACME))
        seq_db.commit()
        [withdrawn] = actions(seq_db)
        assert withdrawn["status"] == "expired"
        assert "withdrawn: the enrollment stopped (won)" in withdrawn["reasons"]
        with pytest.raises(psycopg.errors.CheckViolation, match="is expired"):
            seq_db.execute("select public.autopilot_decide(%s, 'approved', null, %s)", (action["id"], ACME))
        seq_db.rollback()
    assert autopilot_messages(seq_db) == []
    assert [(r["status"], r["skip_reason"]) for r in runs(seq_db)][1] == ("skipped", "autopilot draft expired")
    [stopped] = enrollments(seq_db, sequence)
    assert (stopped["state"], stopped["stop_reason"]) == ("stopped", "won")

