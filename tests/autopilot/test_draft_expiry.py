"""A draft expires on its own: a draft still waiting for approval at its expires_at is marked `expired` by the
delayed autopilot.draft_expiry event, drops out of the approval queue, and an approve afterwards is refused and
sends nothing. A draft approved in time is left alone by its expiry event."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from salesflow.autopilot import decide
from salesflow.events import types as t
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry
from salesflow.handlers import autopilot as handlers
from salesflow.transports import open_postgres
from salesflow.transports.postgres_data import PostgresTenantDataFactory
from tests.autopilot.helpers import (
    action_of,
    answered,
    autopilot_messages,
    executed_events,
    known_lead,
    offline_ai,
    set_settings,
)
from tests.conversations.inbound import ACME
from tests.engines import FAST
from tests.polling import wait_until

MEETING = "Können wir am Dienstag einen kurzen Termin machen?"


@contextlib.asynccontextmanager
async def drafting_and_expiring(url: str) -> AsyncIterator[Engine]:
    registry = Registry()
    registry.handles(t.MESSAGE_RECEIVED, name="autopilot.draft_reply")(handlers.draft_reply)
    registry.handles(t.AUTOPILOT_DRAFT_EXPIRY, name="autopilot.expire_draft")(handlers.expire_draft)
    transport = open_postgres(url)
    engine = Engine(transport.store, transport.data, registry, EngineSettings(**{**FAST, "poll_interval": 0.2}),
                    wakeup=transport.wakeup, services={"ai": offline_ai})
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        engine.stop()
        await asyncio.wait_for(task, 30)
        await transport.close()


@pytest.fixture
async def factory(database: str) -> AsyncIterator[PostgresTenantDataFactory]:
    f = PostgresTenantDataFactory(database, pool_size=2)
    try:
        yield f
    finally:
        await f.close()


def status_of(conn: psycopg.Connection[Any], action_id: str) -> str:
    row = conn.execute("select status from public.autopilot_actions where id = %s", (action_id,)).fetchone()
    conn.commit()
    assert row is not None
    return str(row[0])


def in_queue(conn: psycopg.Connection[Any], action_id: str) -> bool:
    row = conn.execute("select count(*) from public.autopilot_queue where id = %s", (action_id,)).fetchone()
    conn.commit()
    return bool(row and row[0])


async def test_a_draft_past_its_time_expires_by_itself_and_an_approve_after_it_sends_nothing(
    database: str, factory: PostgresTenantDataFactory
) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="one_click")
        lead = known_lead(conn)
        async with drafting_and_expiring(database):
            msg = await answered(conn, lead, MEETING)
            action = action_of(conn, msg.message_id)
            assert action is not None and action["status"] == "queued_for_approval"
            assert in_queue(conn, str(action["id"]))
            # Its time runs out two seconds from now (the draft's TTL, shortened): nobody decides it.
            conn.execute("update public.autopilot_actions set expires_at = now() + interval '2 seconds' where id = %s",
                         (action["id"],))
            conn.commit()
            await wait_until(lambda: status_of(conn, str(action["id"])) == "expired", in_thread=True, timeout=60,
                             what="the draft expired by itself")
        assert not in_queue(conn, str(action["id"]))
        with pytest.raises(Exception, match="only a draft waiting for approval"):
            await decide(factory.for_tenant(ACME), action["id"], "approved")
        assert status_of(conn, str(action["id"])) == "expired"
        assert autopilot_messages(conn, lead) == [] and executed_events(conn, lead) == []


async def test_a_draft_approved_in_time_is_left_alone_by_its_expiry(
    database: str, factory: PostgresTenantDataFactory
) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="one_click")
        lead = known_lead(conn)
        async with drafting_and_expiring(database):
            msg = await answered(conn, lead, MEETING)
            action = action_of(conn, msg.message_id)
            assert action is not None
            conn.execute("update public.autopilot_actions set expires_at = now() + interval '2 seconds' where id = %s",
                         (action["id"],))
            conn.commit()
            decided = await decide(factory.for_tenant(ACME), action["id"], "approved")
            assert decided["status"] == "sent"
            await wait_until(lambda: conn.execute(
                "select count(*) = 0 from public.events where type = 'autopilot.draft_expiry' "
                "and status <> 'processed' and run_after <= now()").fetchone()[0] and conn.execute(
                "select count(*) > 0 from public.events where type = 'autopilot.draft_expiry' "
                "and status = 'processed'").fetchone()[0], in_thread=True, timeout=60, what="expiry event handled")
            conn.commit()
        assert status_of(conn, str(action["id"])) == "sent"
        assert len(autopilot_messages(conn, lead)) == 1
