"""The step kinds: an AI-personalised message (the followup_message scenario, offline provider), a task that
pauses the enrollment until a member completes it, then the next message; and a condition that skips a step."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.polling import wait_until
from tests.sequences.conftest import (
    ACME,
    WAIT,
    Clock,
    Conn,
    create_sequence,
    enroll,
    enrollments,
    inbound,
    make_leads,
    runs,
    sequence_messages,
    sequences_running,
)

MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def test_an_ai_step_then_a_task_that_waits_for_a_member_then_the_last_message(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    sequence = create_sequence(seq_db, [
        {"kind": "ai_message", "template": None},
        {"kind": "task", "task": "Lea anrufen", "channel": None},
        {"template": "Danke für das Gespräch, {{first_name}}."},
    ])
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        [waiting] = await wait_until(
            lambda: (e := enrollments(seq_db, sequence)) and e[0]["state"] == "paused" and e,
            in_thread=True, timeout=WAIT, what="the enrollment waits for the task")
        assert waiting["pause_reason"] == "task"
        [ai_message] = sequence_messages(seq_db)
        assert "Lea" in ai_message["body"] and "{{" not in ai_message["body"]
        seq_db.execute("select public.complete_sequence_task(%s, %s)", (waiting["id"], ACME))
        seq_db.commit()
        await wait_until(lambda: (e := enrollments(seq_db, sequence)) and e[0]["state"] == "completed",
                         in_thread=True, timeout=WAIT, what="the last step sent after the task")
    assert [m["body"] for m in sequence_messages(seq_db)][1] == "Danke für das Gespräch, Lea."
    assert [(r["kind"], r["status"], r["ai_personalised"]) for r in runs(seq_db)] == [
        ("ai_message", "sent", True), ("task", "task_done", False), ("message", "sent", False)]
    row = seq_db.execute("select array_agg((payload ->> 'ai_personalized')::boolean "
                         "order by (payload ->> 'step')::int) from public.events "
                         "where type = 'sequence.step_executed'").fetchone()
    assert row is not None and row[0] == [True, False]


async def test_an_engaged_only_step_is_skipped_for_a_lead_who_never_answered(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    sequence = create_sequence(seq_db, [{"condition": "engaged"}, {"template": "Letzte Nachricht"}],
                               on_reply="pause")
    [quiet, talker] = make_leads(seq_db, 2, timezone="Europe/Vienna")
    enroll(seq_db, sequence, [quiet, talker])
    inbound(seq_db, talker, "Ich melde mich nächste Woche.", MONDAY.replace(hour=1))
    # The lead wrote before the step was planned: engaged, and not a reply since the step was scheduled.
    seq_db.execute("update public.sequence_enrollments set step_since = %s, enrolled_at = now() - interval '1 day'",
                   (MONDAY.replace(hour=2),))
    # Its message.received was handled back then (a reply before the step was planned pauses nothing now).
    seq_db.execute("update public.events set status = 'processed', processed_at = now() "
                   "where type = 'message.received'")
    seq_db.commit()
    clock.now = MONDAY
    async with sequences_running(database, clock):
        await wait_until(lambda: all(e["state"] == "completed" for e in enrollments(seq_db, sequence)),
                         in_thread=True, timeout=WAIT, what="both completed")
    assert [m["body"] for m in sequence_messages(seq_db, quiet)] == ["Letzte Nachricht"]
    assert len(sequence_messages(seq_db, talker)) == 2
    skipped = [r for r in runs(seq_db) if r["status"] == "skipped"]
    assert [(r["lead_id"], r["position"]) for r in skipped] == [(quiet, 1)]
    assert "engaged" in skipped[0]["skip_reason"]
