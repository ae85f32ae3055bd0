"""Conversation history written straight in SQL for the memory, summary and forget tests: a lead, its
conversation and messages, inserted as the database owner (the triggers publish events as for any writer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]


def add_lead(conn: Conn, tenant: str, name: str, *, email: str | None = None, phone: str | None = None,
             locale: str | None = None, company: str | None = None) -> str:
    row = conn.execute(
        "insert into public.leads (tenant_id, name, email, phone, whatsapp, locale, company, source_channel) "
        "values (%s, %s, %s, %s, %s, %s, %s, 'whatsapp') returning id::text",
        (tenant, name, email, phone, phone, locale, company),
    ).fetchone()
    assert row is not None
    conn.commit()
    return str(row[0])


def add_conversation(conn: Conn, tenant: str, lead: str, channel: str = "whatsapp",
                     address: str | None = None) -> str:
    if address is not None:
        conn.execute("insert into public.channel_identities (tenant_id, lead_id, channel, address) "
                     "values (%s, %s, %s, %s)", (tenant, lead, channel, address))
    row = conn.execute(
        "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, %s) returning id::text",
        (tenant, lead, channel),
    ).fetchone()
    assert row is not None
    conn.commit()
    return str(row[0])


def add_messages(conn: Conn, conversation: str, texts: Sequence[tuple[str, str]], *,
                 start: datetime | None = None, step: timedelta = timedelta(minutes=1)) -> list[str]:
    """(direction, body) pairs, `step` apart from `start` (default: after the conversation's newest message,
    or ending now): inbound as received, outbound as sent."""
    if start is None:
        latest = conn.execute("select max(created_at) from public.messages where conversation_id = %s",
                              (conversation,)).fetchone()
        start = latest[0] + step if latest and latest[0] else datetime.now(UTC) - step * len(texts)
    rows = [{"direction": d, "body": b, "at": (start + step * i).isoformat()} for i, (d, b) in enumerate(texts)]
    ids = conn.execute(
        "insert into public.messages (conversation_id, direction, body, status, sent_by, received_at, queued_at, "
        "sent_at, created_at, provider_message_id) "
        "select %s, r.direction, r.body, case r.direction when 'in' then 'received' else 'sent' end, "
        "case r.direction when 'out' then 'user' end, case r.direction when 'in' then r.at end, "
        "case r.direction when 'out' then r.at end, case r.direction when 'out' then r.at end, r.at, "
        "'wamid.' || gen_random_uuid() "
        "from jsonb_to_recordset(%s) as r(direction text, body text, at timestamptz) "
        "returning id::text",
        (conversation, Jsonb(rows)),
    ).fetchall()
    conn.commit()
    return [str(r[0]) for r in ids]
