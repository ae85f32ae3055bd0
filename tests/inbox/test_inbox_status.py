"""The inbox status moves with what happens in the database, in the same transaction: our first message, the
lead reading it, the lead's reply, a sequence step, an opt-out, a won deal; sticky statuses stay."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from salesflow.inbox.vocabulary import INBOX_STATUSES, SENTIMENTS
from tests.conversations.inbound import ACME, new_lead, receive, scalar

Conn = psycopg.Connection[Any]


def conversation_of(db: Conn, lead: str, channel: str = "whatsapp") -> str:
    row = db.execute("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, %s) "
                     "on conflict (tenant_id, lead_id, channel) do update set updated_at = now() returning id",
                     (ACME, lead, channel)).fetchone()
    db.commit()
    assert row is not None
    return str(row[0])


def send(db: Conn, conversation: str, sent_by: str = "user", body: str = "Hallo, kurze Frage") -> str:
    row = db.execute("insert into public.messages (conversation_id, direction, body, sent_by) "
                     "values (%s, 'out', %s, %s) returning id", (conversation, body, sent_by)).fetchone()
    db.commit()
    assert row is not None
    return str(row[0])


def mark(db: Conn, message: str, *statuses: str) -> None:
    for status in statuses:
        db.execute("update public.messages set status = %s where id = %s", (status, message))
    db.commit()


def status(db: Conn, conversation: str) -> str:
    return str(scalar(db, "select inbox_status from public.conversations where id = %s", (conversation,)))


def test_the_status_list_is_the_tables_check(db: Conn) -> None:
    checks = dict(db.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = 'public.conversations'::regclass"
    ).fetchall())
    for status_name in INBOX_STATUSES:
        assert f"'{status_name}'" in checks["conversations_inbox_status_allowed"]
    assert checks["conversations_inbox_status_allowed"].count("'") == 2 * len(INBOX_STATUSES)
    assert checks["conversations_sentiment_allowed"].count("'") == 2 * len(SENTIMENTS)
    assert all(f"'{s}'" in checks["conversations_sentiment_allowed"] for s in SENTIMENTS)


def test_a_dm_we_start_waits_then_is_read_then_replied(db: Conn) -> None:
    lead = new_lead(db)
    conversation = conversation_of(db, lead)
    assert status(db, conversation) == "new"
    first = send(db, conversation)
    assert status(db, conversation) == "dm_initiated_no_response"
    mark(db, first, "sending", "sent", "delivered", "read")
    assert status(db, conversation) == "read_no_reply"
    receive(db, lead, "Wer ist da?")
    assert status(db, conversation) == "replied"
    assert scalar(db, "select array[inbound_count, outbound_count] from public.conversations where id = %s",
                  (conversation,)) == [1, 1]
    # Our answer hands it back to the lead.
    send(db, conversation, "inbox")
    assert status(db, conversation) == "dm_initiated_no_response"


def test_a_sequence_step_takes_an_unanswered_conversation_but_never_a_reply(db: Conn) -> None:
    lead = new_lead(db)
    conversation = conversation_of(db, lead)
    send(db, conversation, "sequence")
    assert status(db, conversation) == "in_sequence"
    step = send(db, conversation, "sequence")
    mark(db, step, "sending", "sent", "read")
    assert status(db, conversation) == "in_sequence", "reading a sequence step keeps it in the sequence"
    receive(db, lead, "Interessant")
    send(db, conversation, "sequence")
    assert status(db, conversation) == "replied"


def test_an_opt_out_unsubscribes_that_channels_conversation_and_later_messages_keep_it(db: Conn) -> None:
    lead = new_lead(db)
    whatsapp = conversation_of(db, lead)
    email = conversation_of(db, lead, "email")
    receive(db, lead, "Hallo")
    db.execute("select public.record_opt_out(%s, %s, 'whatsapp', 'inbound_keyword', 'STOP')", (ACME, lead))
    db.commit()
    assert status(db, whatsapp) == "unsubscribed"
    assert status(db, email) == "new", "opting out of WhatsApp is not opting out of email"
    receive(db, lead, "Doch noch eine Frage")
    assert status(db, whatsapp) == "unsubscribed"


def test_a_won_lead_converts_its_conversations_but_an_unsubscribed_one_stays(db: Conn) -> None:
    lead = new_lead(db)
    whatsapp = conversation_of(db, lead)
    email = conversation_of(db, lead, "email")
    db.execute("select public.record_opt_out(%s, %s, 'email', 'email_unsubscribe')", (ACME, lead))
    for stage in ("contacted", "qualified", "proposal", "negotiation", "won"):
        db.execute("update public.leads set status = %s where id = %s", (stage, lead))
    db.commit()
    assert (status(db, whatsapp), status(db, email)) == ("converted", "unsubscribed")
    receive(db, lead, "Danke, alles angekommen")
    assert status(db, whatsapp) == "converted"


def test_an_archived_conversation_stays_archived_and_the_status_time_moves_only_on_change(db: Conn) -> None:
    lead = new_lead(db)
    conversation = conversation_of(db, lead)
    db.execute("update public.conversations set inbox_status = 'archived' where id = %s", (conversation,))
    db.commit()
    at = scalar(db, "select inbox_status_at from public.conversations where id = %s", (conversation,))
    receive(db, lead, "Hallo?")
    send(db, conversation)
    assert status(db, conversation) == "archived"
    assert scalar(db, "select inbox_status_at from public.conversations where id = %s", (conversation,)) == at


def test_an_unknown_status_is_refused_by_the_database(db: Conn) -> None:
    conversation = conversation_of(db, new_lead(db))
    try:
        db.execute("update public.conversations set inbox_status = 'pending' where id = %s", (conversation,))
    except psycopg.errors.CheckViolation as exc:
        assert "conversations_inbox_status_allowed" in str(exc)
    else:
        raise AssertionError("inbox_status 'pending' was accepted")
    finally:
        db.rollback()
    assert uuid.UUID(conversation)
