"""The default four-phase persistence sequence on the sequence engine: a task for the first contact, then trust,
clarity and pivot messages 48, 120 and 288 hours after it, while the lead has not replied; the conversation
shows in_sequence once a step wrote."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from salesflow.inbox.persistence import PHASE_HOURS, ensure_persistence_sequence
from salesflow.transports.postgres import PostgresTenantDataFactory
from tests.polling import wait_until
from tests.sequences.conftest import (
    ACME,
    WAIT,
    Clock,
    due_now,
    enroll,
    enrollments,
    make_leads,
    sequence_messages,
    sequences_running,
)

Conn = psycopg.Connection[Any]


async def _ensure(database: str, channel: str = "email", locale: str = "de") -> str:
    factory = PostgresTenantDataFactory(database, pool_size=2)
    try:
        return await ensure_persistence_sequence(factory.for_tenant(uuid.UUID(ACME)), channel, locale)
    finally:
        await factory.close()


def _step_due(db: Conn, step: int) -> datetime | None:
    row = db.execute("select run_after from public.events where type = 'sequence.step_due' and status = 'pending' "
                     "and (payload->>'step')::int = %s order by created_at desc limit 1", (step,)).fetchone()
    db.commit()
    return None if row is None else row[0]


async def test_the_persistence_sequence_has_four_phases_and_is_made_once(db: Conn, database: str) -> None:
    first = await _ensure(database)
    assert await _ensure(database) == first
    assert await _ensure(database, locale="en") != first
    steps = db.execute("select kind, delay_hours::float8, condition from public.sequence_steps "
                       "where sequence_id = %s order by position", (first,)).fetchall()
    db.commit()
    assert [s[0] for s in steps] == ["task", "message", "message", "message"]
    hours = [sum(s[1] for s in steps[: i + 1]) for i in range(len(steps))]
    assert hours == list(PHASE_HOURS) == [0, 48, 120, 288]
    assert [s[2] for s in steps[1:]] == ["no_reply"] * 3


async def test_after_the_first_contact_task_the_trust_message_follows_48_hours_later(db: Conn, database: str) -> None:
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    sequence = await _ensure(database)
    [lead] = make_leads(db, 1, timezone="Europe/Berlin")
    enroll(db, sequence, [lead])
    # The task is done at the database's now, and the next phase counts from then: the clock starts there too.
    clock = Clock(datetime.now(UTC))
    started = clock.now
    async with sequences_running(database, clock):
        [waiting] = await wait_until(lambda: (e := enrollments(db, sequence)) and e[0]["state"] == "paused" and e,
                                     in_thread=True, timeout=WAIT, what="the first contact waits for a person")
        assert waiting["pause_reason"] == "task" and sequence_messages(db) == []
        db.execute("select public.complete_sequence_task(%s, %s)", (waiting["id"], ACME))
        db.commit()
        # Planned two days on (not the immediate re-check event the completion publishes).
        trust_at = await wait_until(lambda: d if (d := _step_due(db, 2)) and d > started + timedelta(hours=24)
                                    else None, in_thread=True, timeout=WAIT, what="the trust message planned")
        clock.now = trust_at
        due_now(db)
        [trust] = await wait_until(lambda: sequence_messages(db, lead) or None, in_thread=True, timeout=WAIT,
                                   what="the trust message sent")
        clarity_at = await wait_until(lambda: d if (d := _step_due(db, 3)) and d > trust_at else None,
                                      in_thread=True, timeout=WAIT, what="the clarity message planned")
    assert trust["body"].startswith("Hallo Lea, kurz zur Einordnung")
    assert trust_at >= started + timedelta(hours=PHASE_HOURS[1])
    # 72 h after the trust message went out (the engine counts from when the step ran).
    sent = db.execute("select created_at from public.messages where id = %s", (trust["id"],)).fetchone()
    db.commit()
    assert sent is not None
    gap = timedelta(hours=PHASE_HOURS[2] - PHASE_HOURS[1])
    assert gap <= clarity_at - sent[0] < gap + timedelta(hours=48)
    status = db.execute("select inbox_status from public.conversations where lead_id = %s", (lead,)).fetchone()
    db.commit()
    assert status == ("in_sequence",)
