"""Helpers of the inbound-processing tests: inbound messages written in SQL, the conversation handlers run
through the real engine in-process (postgres transport), and the checks a user would make afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg

import salesflow.handlers.conversations  # noqa: F401  (registers the handlers)
from salesflow.events.engine import Engine
from salesflow.events.registry import Registry, registry
from salesflow.transports import open_postgres
from tests.engines import engine_running

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"
HANDLERS = ("conversations.detect_opt_out", "conversations.extract_facts", "conversations.rescore_lead")


def conversation_handlers(*names: str) -> Registry:
    """A registry holding only this part's handlers (or `names` of them), so other areas' handlers on
    message.received do not take part in these tests."""
    wanted = names or HANDLERS
    only = Registry()
    for handler in registry.handlers_for("message.received"):
        if handler.name in wanted:
            only.handles(handler.event_type, name=handler.name)(handler.run)
    assert {h.name for h in only.all()} == set(wanted), "a conversation handler is not registered"
    return only


@contextlib.asynccontextmanager
async def engine(url: str, *names: str) -> AsyncIterator[Engine]:
    async with engine_running(open_postgres(url), conversation_handlers(*names), poll_interval=0.2) as running:
        yield running


@dataclass(frozen=True)
class Inbound:
    lead_id: str
    conversation_id: str
    message_id: str


def new_lead(conn: psycopg.Connection[Any], tenant: str = ACME, channel: str = "whatsapp",
             address: str = "+4915112345678", name: str | None = None, **columns: Any) -> str:
    """A lead with an identity on `channel`, as Zero-Input makes one (named after the address)."""
    lead_id = str(uuid.uuid4())
    cols = {"id": lead_id, "tenant_id": tenant, "name": name or address, "source": f"inbound_{channel}",
            "source_channel": channel, **columns}
    conn.execute(f"insert into public.leads ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})",
                 list(cols.values()))
    conn.execute("insert into public.channel_identities (tenant_id, lead_id, channel, address) values (%s, %s, %s, %s)",
                 (tenant, lead_id, channel, address))
    conn.commit()
    return lead_id


def receive(conn: psycopg.Connection[Any], lead_id: str, body: str, channel: str = "whatsapp",
            tenant: str = ACME) -> Inbound:
    """An inbound message from the lead (its conversation made when missing); the trigger publishes
    message.received."""
    row = conn.execute(
        "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, %s) "
        "on conflict (tenant_id, lead_id, channel) do update set status = excluded.status returning id",
        (tenant, lead_id, channel)).fetchone()
    assert row is not None
    conversation_id = str(row[0])
    message = conn.execute(
        "insert into public.messages (tenant_id, conversation_id, direction, body, provider_message_id) "
        "values (%s, %s, 'in', %s, %s) returning id", (tenant, conversation_id, body, f"wamid.{uuid.uuid4().hex}"),
    ).fetchone()
    assert message is not None
    conn.commit()
    return Inbound(lead_id, conversation_id, str(message[0]))


def event_of(conn: psycopg.Connection[Any], message_id: str) -> str:
    row = conn.execute("select id from public.events where type = 'message.received' and payload->>'message_id' = %s",
                       (message_id,)).fetchone()
    conn.commit()
    assert row is not None
    return str(row[0])


def handled(conn: psycopg.Connection[Any], message_id: str) -> bool:
    """Whether the message's message.received event is processed (every handler done)."""
    row = conn.execute("select status from public.events where type = 'message.received' "
                       "and payload->>'message_id' = %s", (message_id,)).fetchone()
    conn.commit()
    return row is not None and row[0] == "processed"


def scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    conn.commit()
    return None if row is None else row[0]
