"""An interested lead with the autopilot in assist mode: the inbox handler marks the conversation as needing a
person and the inbox shows the autopilot's draft waiting for approval (one engine runs both handlers, as a
listener does); a decided draft is no longer shown."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg

import salesflow.handlers.autopilot  # registers the handler
import salesflow.handlers.inbox  # noqa: F401
from salesflow.autopilot import decide
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry, registry
from salesflow.transports import open_postgres
from salesflow.transports.postgres_data import PostgresTenantDataFactory
from tests.autopilot.helpers import known_lead, offline_ai, set_settings
from tests.conversations.inbound import ACME, handled, receive
from tests.engines import FAST
from tests.polling import wait_until

Conn = psycopg.Connection[Any]


def both() -> Registry:
    only = Registry()
    for handler in registry.handlers_for("message.received"):
        if handler.name in ("autopilot.draft_reply", "inbox.read_signals"):
            only.handles(handler.event_type, name=handler.name)(handler.run)
    assert len(only.all()) == 2
    return only


def inbox_row(db: Conn, conversation: str) -> dict[str, Any]:
    cur = db.execute("select * from public.inbox(p_tenant_id => %s)", (ACME,))
    columns = [c.name for c in cur.description or []]
    rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    db.commit()
    return next(r for r in rows if str(r["conversation_id"]) == conversation)


async def test_an_interested_lead_needs_a_person_and_the_inbox_shows_the_draft(db: Conn, database: str) -> None:
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    set_settings(db, mode="assist")
    lead = known_lead(db)
    transport = open_postgres(database)
    engine = Engine(transport.store, transport.data, both(), EngineSettings(**{**FAST, "poll_interval": 0.2}),
                    wakeup=transport.wakeup, services={"ai": offline_ai})
    task = asyncio.create_task(engine.run())
    try:
        message = receive(db, lead, "Klingt gut, ich bin interessiert. Wann können wir sprechen?")
        await wait_until(lambda: handled(db, message.message_id), in_thread=True, timeout=90)
    finally:
        engine.stop()
        await asyncio.wait_for(task, 30)
        await transport.close()
    row = inbox_row(db, message.conversation_id)
    assert row["inbox_status"] == "needs_human_attention"
    assert row["draft_action_id"] is not None and row["draft_text"]
    assert "a draft waits for approval" in row["reasons"]
    factory = PostgresTenantDataFactory(database, pool_size=2)
    try:
        await decide(factory.for_tenant(uuid.UUID(ACME)), row["draft_action_id"], "rejected")
    finally:
        await factory.close()
    after = inbox_row(db, message.conversation_id)
    assert after["draft_action_id"] is None and "a draft waits for approval" not in after["reasons"]
