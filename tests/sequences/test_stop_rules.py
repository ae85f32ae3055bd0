"""Stop rules, checked when a step runs and by the handlers of the lead's events: a reply stops (or pauses) the
lead's sequences, an out-of-office answer does not, an opt-out and a won or lost deal stop everything, and a
redelivered step event never sends a second message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salesflow.events import types as t
from salesflow.events.registry import Registry
from salesflow.handlers import sequences as handlers
from tests.polling import wait_until
from tests.sequences.conftest import (
    ACME,
    WAIT,
    Clock,
    Conn,
    create_sequence,
    due_now,
    enroll,
    enrollments,
    inbound,
    make_leads,
    parse,
    pending_due,
    runs,
    sequence_messages,
    sequences_running,
)

MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # 10:00 in Vienna
TUESDAY = MONDAY + timedelta(days=1)
TWO_STEPS: list[dict[str, Any]] = [{}, {"delay_hours": 24, "template": "Noch Interesse, {{first_name}}?"}]


def steps_only() -> Registry:
    """The step handler alone: the stop rule is then only the re-check when the step runs."""
    registry = Registry()
    registry.handles(t.SEQUENCE_STEP_DUE, name="sequences.run_due_step")(handlers.run_due_step)
    return registry


def on_step(db: Conn, sequence: str, step: int) -> list[dict[str, Any]] | None:
    found = enrollments(db, sequence)
    return found if found and all(e["current_step"] == step and e["next_due_at"] and
                                  parse(e["next_due_at"]) == TUESDAY for e in found) else None


def state_of(db: Conn, sequence: str, state: str) -> list[dict[str, Any]] | None:
    found = enrollments(db, sequence)
    return found if found and all(e["state"] == state for e in found) else None


@pytest.fixture
def first_step_sent(seq_db: Conn) -> tuple[str, str]:
    sequence = create_sequence(seq_db, TWO_STEPS, timezone="Europe/Vienna")
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    return sequence, lead


@pytest.mark.parametrize(("body", "detail", "stops"), [
    ("Danke, wir sind nicht interessiert.", None, True),
    ("Abwesenheitsnotiz: Ich bin bis zum 8. März nicht im Büro.", None, False),
    ("I will be back on Monday.", {"subject": "Automatic reply: Follow-up"}, False),
    ("Thanks!", {"auto_submitted": "auto-replied"}, False),
])
async def test_a_reply_between_scheduling_and_execution_stops_the_step_an_auto_reply_does_not(
    seq_db: Conn, database: str, clock: Clock, first_step_sent: tuple[str, str], body: str,
    detail: dict[str, Any] | None, stops: bool,
) -> None:
    sequence, lead = first_step_sent
    clock.now = MONDAY
    async with sequences_running(database, clock, registry=steps_only()):
        await wait_until(lambda: on_step(seq_db, sequence, 2), in_thread=True, timeout=WAIT, what="step 2 planned")
        inbound(seq_db, lead, body, MONDAY + timedelta(hours=2), detail)
        clock.now = TUESDAY
        due_now(seq_db)
        final = "stopped" if stops else "completed"
        [enrollment] = await wait_until(lambda: state_of(seq_db, sequence, final), in_thread=True, timeout=WAIT,
                                        what=f"enrollment {final}")
    assert len(sequence_messages(seq_db)) == (1 if stops else 2)
    if stops:
        assert enrollment["stop_reason"] == "replied"


async def test_a_reply_stops_the_leads_sequences_at_once_and_pauses_where_the_sequence_says_so(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    stopping = create_sequence(seq_db, TWO_STEPS, name="stops", timezone="Europe/Vienna")
    pausing = create_sequence(seq_db, TWO_STEPS, name="pauses", on_reply="pause", timezone="Europe/Vienna")
    [lead, other] = make_leads(seq_db, 2, timezone="Europe/Vienna")
    enroll(seq_db, stopping, [lead, other])
    enroll(seq_db, pausing, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        await wait_until(lambda: on_step(seq_db, stopping, 2) and on_step(seq_db, pausing, 2), in_thread=True,
                         timeout=WAIT, what="step 2 planned in both")
        inbound(seq_db, lead, "Out of office until March 8", MONDAY + timedelta(hours=1))
        inbound(seq_db, lead, "Bitte rufen Sie mich an.", MONDAY + timedelta(hours=2))
        await wait_until(lambda: pending_due(seq_db) == 0, in_thread=True, timeout=WAIT, what="reply handled")
    by_lead = {e["lead_id"]: e for e in enrollments(seq_db, stopping)}
    assert (by_lead[lead]["state"], by_lead[lead]["stop_reason"]) == ("stopped", "replied")
    assert by_lead[other]["state"] == "active"  # another lead's reply is not this lead's
    [paused] = enrollments(seq_db, pausing)
    assert (paused["state"], paused["pause_reason"]) == ("paused", "reply")


@pytest.mark.parametrize("close", ["opt_out", "won", "lost"])
async def test_an_opt_out_or_a_closed_deal_stops_every_sequence_of_the_lead(
    seq_db: Conn, database: str, clock: Clock, close: str
) -> None:
    first = create_sequence(seq_db, TWO_STEPS, name="one", timezone="Europe/Vienna")
    second = create_sequence(seq_db, TWO_STEPS, name="two", timezone="Europe/Vienna")
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, first, [lead])
    enroll(seq_db, second, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        await wait_until(lambda: on_step(seq_db, first, 2) and on_step(seq_db, second, 2), in_thread=True,
                         timeout=WAIT, what="step 2 planned")
        if close == "opt_out":
            seq_db.execute("insert into public.consents (tenant_id, lead_id, channel, status, method, evidence) "
                           "values (%s, %s, 'sms', 'opted_out', 'inbound_keyword', 'STOP')", (ACME, lead))
        else:
            seq_db.execute("update public.leads set status = %s where id = %s", (close, lead))
        seq_db.commit()
        reason = "opted_out" if close == "opt_out" else close
        await wait_until(lambda: state_of(seq_db, first, "stopped") and state_of(seq_db, second, "stopped"),
                         in_thread=True, timeout=WAIT, what="both stopped")
        clock.now = TUESDAY
        due_now(seq_db)
        await wait_until(lambda: pending_due(seq_db) == 0, in_thread=True, timeout=WAIT, what="due steps handled")
    assert {e["stop_reason"] for e in enrollments(seq_db, first) + enrollments(seq_db, second)} == {reason}
    assert len(sequence_messages(seq_db)) == 2  # step 1 of each, nothing after


async def test_a_redelivered_step_event_sends_nothing_twice(
    seq_db: Conn, database: str, clock: Clock, first_step_sent: tuple[str, str]
) -> None:
    sequence, lead = first_step_sent
    clock.now = MONDAY
    async with sequences_running(database, clock):
        await wait_until(lambda: on_step(seq_db, sequence, 2), in_thread=True, timeout=WAIT, what="step 2 planned")
        # The engine delivers at least once: the processed step 1 event comes again (a replay, a lost verdict).
        seq_db.execute("update public.events set status = 'pending', attempts = 0, run_after = now(), "
                       "processed_at = null where type = 'sequence.step_due' and (payload ->> 'step')::int = 1")
        seq_db.commit()
        await wait_until(lambda: pending_due(seq_db) == 0, in_thread=True, timeout=WAIT, what="redelivery handled")
    assert len(sequence_messages(seq_db, lead)) == 1
    assert [r["status"] for r in runs(seq_db)] == ["sent"]
    row = seq_db.execute("select count(*) from public.events where type = 'sequence.step_executed'").fetchone()
    assert row is not None and row[0] == 1


async def test_a_step_interrupted_after_taking_its_run_sends_one_message_when_it_runs_again(
    seq_db: Conn, database: str, clock: Clock, first_step_sent: tuple[str, str]
) -> None:
    sequence, lead = first_step_sent
    [enrollment] = enrollments(seq_db, sequence)
    step = seq_db.execute("select id from public.sequence_steps where sequence_id = %s and position = 1",
                          (sequence,)).fetchone()
    assert step is not None
    # A crashed handler took the run (and even queued the message) but never recorded it as sent.
    seq_db.execute("select public.sequence_claim_step(%s, %s, %s, %s)", (ACME, enrollment["id"], step[0], MONDAY))
    seq_db.execute(
        "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'email');"
        , (ACME, lead))
    seq_db.execute(
        "insert into public.messages (tenant_id, conversation_id, direction, body, sent_by, idempotency_key) "
        "select %s, id, 'out', 'Hallo Lea, kurze Nachfrage.', 'sequence', %s from public.conversations "
        "where lead_id = %s", (ACME, f"seq:{enrollment['id']}:1", lead))
    seq_db.commit()
    clock.now = MONDAY
    async with sequences_running(database, clock):
        await wait_until(lambda: on_step(seq_db, sequence, 2), in_thread=True, timeout=WAIT, what="step 2 planned")
    assert len(sequence_messages(seq_db, lead)) == 1
    [run] = runs(seq_db)
    assert run["status"] == "sent" and run["message_id"] == sequence_messages(seq_db, lead)[0]["id"]
