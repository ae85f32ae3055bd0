"""Helpers of the autopilot tests: settings and a lead with history written in SQL, the autopilot handler run by
the real engine in-process (postgres transport) with the offline AI (or a failing one), and what a member sees."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg

import salesflow.handlers.autopilot  # noqa: F401  (registers the handler)
from salesflow.ai import AIRuntime
from salesflow.ai.errors import AllRoutesFailed
from salesflow.ai.ports import RpcAIStore
from salesflow.events import HandlerContext
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry, registry
from salesflow.transports import open_postgres
from tests.conversations.inbound import ACME, Inbound, handled, new_lead, receive
from tests.engines import FAST
from tests.polling import wait_until

Conn = psycopg.Connection[Any]


def autopilot_only() -> Registry:
    """A registry with the autopilot handler only (other areas' handlers on message.received stay out)."""
    only = Registry()
    for handler in registry.handlers_for("message.received"):
        if handler.name == "autopilot.draft_reply":
            only.handles(handler.event_type, name=handler.name)(handler.run)
    assert [h.name for h in only.all()] == ["autopilot.draft_reply"]
    return only


def offline_ai(context: HandlerContext) -> Any:
    """The orchestrator with the local provider only, whatever the environment says."""
    return AIRuntime().orchestrator(RpcAIStore(context.data.rpc))


class FailingAI:
    """An orchestrator whose every call fails as a provider outage does (all routes failed)."""

    def __init__(self, context: HandlerContext) -> None:
        self.calls = 0

    async def run(self, scenario: str, **kwargs: Any) -> Any:
        self.calls += 1
        raise AllRoutesFailed(f"{scenario}: every route failed (test)")


@contextlib.asynccontextmanager
async def autopilot(url: str, ai: Callable[[HandlerContext], Any] = offline_ai) -> AsyncIterator[Engine]:
    """The autopilot handler running in this event loop on the real engine."""
    transport = open_postgres(url)
    engine = Engine(transport.store, transport.data, autopilot_only(), EngineSettings(**{**FAST, "poll_interval": 0.2}),
                    wakeup=transport.wakeup, services={"ai": ai})
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        engine.stop()
        await asyncio.wait_for(task, 30)
        await transport.close()


def set_settings(conn: Conn, tenant: str = ACME, *, channel: str | None = None, lead_id: str | None = None,
                 **values: Any) -> None:
    """Write one settings row (tenant-wide, or the channel's or the lead's override)."""
    cols = {"tenant_id": tenant, "channel": channel, "lead_id": lead_id, **values}
    sets = ", ".join(f"{k} = excluded.{k}" for k in values) or "mode = excluded.mode"
    conn.execute(f"insert into public.autopilot_settings ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) "
                 f"on conflict on constraint autopilot_settings_one_scope do update set {sets}", list(cols.values()))
    conn.commit()


def known_lead(conn: Conn, tenant: str = ACME, address: str | None = None, **columns: Any) -> str:
    """A lead we wrote to before (so its next message is not a first contact)."""
    lead = new_lead(conn, tenant=tenant, address=address or f"+49151{uuid.uuid4().int % 10**8:08d}",
                    name="Paula Reimann", **columns)
    conversation = conn.execute(
        "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'whatsapp') returning id",
        (tenant, lead)).fetchone()
    assert conversation is not None
    conn.execute("insert into public.messages (tenant_id, conversation_id, direction, status, body, sent_by, sent_at) "
                 "values (%s, %s, 'out', 'sent', 'Hallo Frau Reimann, danke für Ihr Interesse!', 'user', now())",
                 (tenant, conversation[0]))
    conn.commit()
    return lead


async def answered(conn: Conn, lead: str, body: str, tenant: str = ACME) -> Inbound:
    """The lead writes `body`; returns once the autopilot handled the message (an engine must be running)."""
    msg = receive(conn, lead, body, tenant=tenant)
    await wait_until(lambda: handled(conn, msg.message_id), in_thread=True, what="message.received handled")
    return msg


def action_of(conn: Conn, message_id: str) -> dict[str, Any] | None:
    """The autopilot action for a trigger message, as a member sees it."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("select * from public.autopilot_actions where trigger_message_id = %s",
                          (message_id,)).fetchone()
    conn.commit()
    return row


def autopilot_messages(conn: Conn, lead: str) -> list[tuple[Any, ...]]:
    """The lead's outbound messages sent by the autopilot: (body, status, idempotency key)."""
    rows = conn.execute("select body, status, idempotency_key from public.messages where lead_id = %s "
                        "and sent_by = 'autopilot' order by created_at", (lead,)).fetchall()
    conn.commit()
    return rows


def executed_events(conn: Conn, lead: str) -> list[dict[str, Any]]:
    """The autopilot.action_executed payloads for the lead."""
    rows = conn.execute("select payload from public.events where type = 'autopilot.action_executed' "
                        "and payload->>'lead_id' = %s order by seq", (lead,)).fetchall()
    conn.commit()
    return [r[0] for r in rows]
