"""The inbox handler on message.received and lead.opted_out, through the real engine: interest needs a person,
a delay request snoozes the conversation 14 days and pauses the lead's sequences, an out-of-office does not
count, a redelivered event changes nothing, and an opt-out unsubscribes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg

import salesflow.handlers.inbox  # noqa: F401  (registers the handlers)
from salesflow.events.engine import Engine
from salesflow.events.registry import Registry, registry
from salesflow.transports import open_postgres
from tests.conversations.inbound import ACME, event_of, new_lead, receive, scalar
from tests.engines import engine_running
from tests.polling import wait_until
from tests.sequences.conftest import create_sequence, enroll

Conn = psycopg.Connection[Any]
HANDLERS = ("inbox.read_signals", "inbox.mark_unsubscribed", "inbox.end_delay")


def inbox_handlers() -> Registry:
    only = Registry()
    for event_type in ("message.received", "lead.opted_out", "inbox.delay_over"):
        for handler in registry.handlers_for(event_type):
            if handler.name in HANDLERS:
                only.handles(handler.event_type, name=handler.name)(handler.run)
    assert {h.name for h in only.all()} == set(HANDLERS)
    return only


@contextlib.asynccontextmanager
async def inbox_engine(url: str) -> AsyncIterator[Engine]:
    async with engine_running(open_postgres(url), inbox_handlers(), poll_interval=0.2) as running:
        yield running


def processed(db: Conn, event_id: str) -> bool:
    return scalar(db, "select status from public.events where id = %s", (event_id,)) == "processed"


def conversation(db: Conn, conversation_id: str) -> dict[str, Any]:
    row = db.execute("select to_jsonb(c) from public.conversations c where id = %s", (conversation_id,)).fetchone()
    db.commit()
    assert row is not None
    return dict(row[0])


def quiet(db: Conn) -> None:
    db.execute("update public.events set status = 'processed', processed_at = now() where status = 'pending'")
    db.commit()


async def test_interest_needs_a_person_and_a_redelivery_changes_nothing(db: Conn, database: str) -> None:
    quiet(db)
    lead = new_lead(db)
    message = receive(db, lead, "Klingt gut! Was kostet das Paket?")
    async with inbox_engine(database):
        await wait_until(lambda: processed(db, event_of(db, message.message_id)), in_thread=True)
        row = conversation(db, message.conversation_id)
        assert (row["inbox_status"], row["sentiment"]) == ("needs_human_attention", "positive")
        assert row["interest_at"] is not None
        # A member answers; a redelivered event must not put it back to needs_human_attention.
        db.execute("insert into public.messages (conversation_id, direction, body, sent_by) "
                   "values (%s, 'out', 'Gern, das Paket kostet 49 €.', 'inbox')", (message.conversation_id,))
        db.commit()
        db.execute("select public.replay_event(%s, true)", (event_of(db, message.message_id),))
        db.commit()
        await wait_until(lambda: processed(db, event_of(db, message.message_id)), in_thread=True)
    assert conversation(db, message.conversation_id)["inbox_status"] == "dm_initiated_no_response"


async def test_a_delay_request_snoozes_14_days_and_pauses_the_leads_sequences(db: Conn, database: str) -> None:
    quiet(db)
    lead = new_lead(db, email="kim@example.test")
    sequence = create_sequence(db, [{"delay_hours": 48}], on_reply="pause")
    enroll(db, sequence, [lead])
    quiet(db)
    message = receive(db, lead, "Bitte melden Sie sich nächsten Monat wieder")
    async with inbox_engine(database):
        await wait_until(lambda: processed(db, event_of(db, message.message_id)), in_thread=True)
    row = conversation(db, message.conversation_id)
    received = scalar(db, "select received_at from public.messages where id = %s", (message.message_id,))
    assert (row["inbox_status"], row["status"]) == ("delay_requested", "snoozed")
    until = scalar(db, "select snoozed_until from public.conversations where id = %s", (message.conversation_id,))
    assert until == received + timedelta(days=14)
    state = db.execute("select state, pause_reason from public.sequence_enrollments where lead_id = %s",
                       (lead,)).fetchall()
    db.commit()
    assert state == [("paused", "delay_requested")]
    over = db.execute("select id, run_after, payload from public.events where type = 'inbox.delay_over'").fetchall()
    db.commit()
    assert [(r[1], r[2]["conversation_id"]) for r in over] == [(until, message.conversation_id)]
    # Fourteen days pass: the delayed event becomes due.
    db.execute("update public.events set run_after = now() where id = %s", (over[0][0],))
    db.commit()
    async with inbox_engine(database):
        await wait_until(lambda: scalar(db, "select status from public.events where id = %s", (over[0][0],))
                         in ("processed", "failed"), in_thread=True)
    assert scalar(db, "select coalesce(last_error, status) from public.events where id = %s", (over[0][0],)) \
        == "processed"
    row = conversation(db, message.conversation_id)
    assert (row["inbox_status"], row["status"]) == ("needs_human_attention", "open")
    state = db.execute("select state from public.sequence_enrollments where lead_id = %s", (lead,)).fetchall()
    db.commit()
    assert state == [("active",)]


async def test_a_delay_over_event_after_a_new_request_changes_nothing(db: Conn, database: str) -> None:
    quiet(db)
    lead = new_lead(db)
    first = receive(db, lead, "Not now, maybe next month")
    async with inbox_engine(database):
        await wait_until(lambda: processed(db, event_of(db, first.message_id)), in_thread=True)
        second = receive(db, lead, "Sorry, after the holidays please")
        await wait_until(lambda: processed(db, event_of(db, second.message_id)), in_thread=True)
        db.execute("update public.events set run_after = now() where type = 'inbox.delay_over' "
                   "and payload->>'message_id' = %s", (first.message_id,))
        db.commit()
        await wait_until(lambda: scalar(db, "select status from public.events where type = 'inbox.delay_over' "
                                            "and payload->>'message_id' = %s", (first.message_id,)) == "processed",
                         in_thread=True)
    assert conversation(db, first.conversation_id)["inbox_status"] == "delay_requested"


async def test_an_out_of_office_reply_is_not_a_delay_request(db: Conn, database: str) -> None:
    quiet(db)
    lead = new_lead(db)
    message = receive(db, lead, "Abwesenheitsnotiz: Ich bin bis nächsten Monat im Urlaub.")
    async with inbox_engine(database):
        await wait_until(lambda: processed(db, event_of(db, message.message_id)), in_thread=True)
    row = conversation(db, message.conversation_id)
    assert (row["inbox_status"], row["snoozed_until"]) == ("replied", None)


async def test_an_older_message_handled_late_does_not_override_the_newer_one(db: Conn, database: str) -> None:
    quiet(db)
    lead = new_lead(db)
    older = receive(db, lead, "Ich bin interessiert")
    newer = receive(db, lead, "Ach nein, kein Interesse mehr")
    async with inbox_engine(database):
        await wait_until(lambda: processed(db, event_of(db, older.message_id))
                         and processed(db, event_of(db, newer.message_id)), in_thread=True)
    row = conversation(db, older.conversation_id)
    assert (row["inbox_status"], row["sentiment"], row["interest_at"]) == ("replied", "negative", None)


async def test_an_opt_out_unsubscribes_a_conversation_started_after_it(db: Conn, database: str) -> None:
    quiet(db)
    lead = new_lead(db, email="ola@example.test")
    db.execute("select public.record_opt_out(%s, %s, 'email', 'email_unsubscribe')", (ACME, lead))
    db.commit()
    opted = scalar(db, "select id from public.events where type = 'lead.opted_out' and payload->>'lead_id' = %s",
                   (lead,))
    late = scalar(db, "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'email') "
                      "returning id", (ACME, lead))
    assert conversation(db, str(late))["inbox_status"] == "new"
    async with inbox_engine(database):
        await wait_until(lambda: processed(db, str(opted)), in_thread=True)
    assert conversation(db, str(late))["inbox_status"] == "unsubscribed"
