"""The listener on the `supabase` transport, against the local stack: Realtime wake-ups, RPC claims,
PostgREST writes — and the failures a long-running listener meets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from salesflow.devstack import DevStack
from salesflow.events.context import HandlerContext
from salesflow.events.engine import Engine
from salesflow.events.ports import Event
from salesflow.events.registry import Registry
from salesflow.transports.supabase import SupabaseTenantData, SupabaseWakeup, open_supabase
from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import PASSWORD
from tests.engines import engine_running
from tests.polling import wait_until

# Long polls: an event handled quickly was woken by Realtime (or a catch-up), not found by polling.
NO_POLLING = 60.0


def supabase_engine(
    stack: DevStack, registry: Registry, **settings: Any
) -> contextlib.AbstractAsyncContextManager[Engine]:
    """An engine on the supabase transport against `stack`; only Realtime wakes it (no polling)."""
    transport = open_supabase(stack.url, stack.service_role_key)
    return engine_running(transport, registry, **{"poll_interval": NO_POLLING, **settings})


def wakeup_of(engine: Engine) -> SupabaseWakeup:
    wakeup = engine.wakeup
    assert isinstance(wakeup, SupabaseWakeup)
    return wakeup


def statuses(url: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select status, count(*) from public.events where id = any(%s::uuid[]) group by 1",
                            (ids,)).fetchall()
    return dict(rows)


def emit(url: str, event_type: str, n: int = 1, tenant: str = ACME) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select private.emit_event(%s, %s, '{}'::jsonb, null, 'test') from generate_series(1, %s)",
            (tenant, event_type, n)).fetchall()
    return [str(r[0]) for r in rows]


async def sign_in(stack: DevStack, email: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{stack.url}/auth/v1/token", params={"grant_type": "password"},
                                   json={"email": email, "password": PASSWORD}, headers={"apikey": stack.anon_key})
        return str(response.json()["access_token"])


async def test_processes_leads_created_through_postgrest(database: str) -> None:
    registry = Registry()
    seen: list[tuple[str, str]] = []

    @registry.handles("lead.created", name="test.lead_seen")
    async def lead_seen(event: Event, context: HandlerContext) -> None:
        lead = await context.data.select("leads", {"id": event.payload["lead_id"]}, columns=["name"])
        seen.append((lead[0]["name"], str(event.tenant_id)))

    async with DevStack(database) as stack, supabase_engine(stack, registry) as engine:
        token = await sign_in(stack, "anna@acme.test")
        async with httpx.AsyncClient() as http:
            for i in range(5):
                response = await http.post(f"{stack.url}/rest/v1/leads", json={"name": f"Realtime lead {i}"},
                                           headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"})
                assert response.status_code == 201
        # the seed's own lead.created events are handled too; these five came through PostgREST
        await wait_until(lambda: len([s for s in seen if s[0].startswith("Realtime")]) == 5, in_thread=True)
        assert sorted(s for s in seen if s[0].startswith("Realtime")) == [(f"Realtime lead {i}", ACME)
                                                                           for i in range(5)]
        assert wakeup_of(engine).changes_seen >= 1
    with psycopg.connect(database) as conn:
        assert conn.execute("select count(*) from public.event_deliveries where handler = 'test.lead_seen' "
                            "and status = 'succeeded'").fetchone() == (len(seen),)


async def test_survives_the_stack_restarting_and_catches_up(database: str) -> None:
    registry = Registry()
    done: list[str] = []

    @registry.handles("test.restart", name="test.restart")
    async def handle(event: Event, context: HandlerContext) -> None:
        done.append(str(event.id))

    stack = DevStack(database)
    await stack.start()
    port = stack.port
    try:
        async with supabase_engine(stack, registry) as engine:
            before = emit(database, "test.restart", 3)
            await wait_until(lambda: statuses(database, before) == {"processed": 3}, in_thread=True)
            await stack.stop()
            while_down = emit(database, "test.restart", 5)  # nobody is listening: Realtime drops these
            # the listener has noticed the outage (not a sleep: its own health check says so)
            await wait_until(lambda: not wakeup_of(engine).connected, in_thread=True)
            assert statuses(database, while_down) == {"pending": 5}
            stack = DevStack(database, port=port)
            await stack.start()
            await wait_until(lambda: statuses(database, while_down) == {"processed": 5}, timeout=30, in_thread=True)
            after = emit(database, "test.restart", 2)
            await wait_until(lambda: statuses(database, after) == {"processed": 2}, in_thread=True)
            assert wakeup_of(engine).reconnects >= 1
    finally:
        await stack.stop()
    assert sorted(done) == sorted(before + while_down + after)


async def test_survives_a_callback_that_raises(database: str) -> None:
    registry = Registry()

    @registry.handles("test.callback", name="test.callback")
    async def handle(event: Event, context: HandlerContext) -> None:
        return None

    async with DevStack(database) as stack, supabase_engine(stack, registry) as engine:
        wakeup = wakeup_of(engine)
        first = emit(database, "test.callback")
        await wait_until(lambda: statuses(database, first) == {"processed": 1}, in_thread=True)
        original = wakeup._on_insert
        broken = {"raised": 0}

        def raising(payload: Any) -> None:
            broken["raised"] += 1
            wakeup._on_insert = original  # type: ignore[method-assign]
            raise RuntimeError("a bug in a callback")

        wakeup._on_insert = raising  # type: ignore[method-assign]
        second = emit(database, "test.callback")
        await wait_until(lambda: broken["raised"] == 1, in_thread=True)
        await wait_until(lambda: statuses(database, second) == {"processed": 1}, in_thread=True)
        # The subscription is re-created (the event itself may already have run through a poll, which comes
        # quickly right after work).
        await wait_until(lambda: wakeup.reconnects >= 1, in_thread=True)
        third = emit(database, "test.callback")
        await wait_until(lambda: statuses(database, third) == {"processed": 1}, in_thread=True)


def shared_handler(listener: str, runs: list[tuple[str, str, float, float]]) -> Registry:
    """A registry whose `test.shared` handler records which listener ran which event, and when."""
    registry = Registry()

    @registry.handles("test.shared", name="test.shared")
    async def handle(event: Event, context: HandlerContext) -> None:
        start = time.monotonic()
        await asyncio.sleep(0.005)
        runs.append((listener, str(event.id), start, time.monotonic()))

    return registry


async def test_two_listeners_never_run_one_event_at_the_same_time(database: str) -> None:
    runs: list[tuple[str, str, float, float]] = []
    async with DevStack(database) as stack, supabase_engine(stack, shared_handler("a", runs), batch=10), \
            supabase_engine(stack, shared_handler("b", runs), batch=10):
        ids = emit(database, "test.shared", 150)
        await wait_until(lambda: statuses(database, ids) == {"processed": 150}, timeout=60, in_thread=True)
    # Both listeners took part, so the absence of overlaps below means something.
    assert {listener for listener, *_ in runs} == {"a", "b"}
    by_event: dict[str, list[tuple[float, float]]] = {}
    for _, event_id, start, end in runs:
        by_event.setdefault(event_id, []).append((start, end))
    assert set(by_event) == set(ids)
    for intervals in by_event.values():
        intervals.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(intervals))


async def test_tenant_data_over_postgrest_stays_in_the_tenant(database: str) -> None:
    async with DevStack(database) as stack:
        transport = open_supabase(stack.url, stack.service_role_key, listen=False)
        data = transport.data.for_tenant(uuid.UUID(ACME))
        assert isinstance(data, SupabaseTenantData)
        leads = await data.select("leads", {"status": "new", "email": None}, columns=["name"])
        assert leads == [{"name": "Mia Schulz"}]
        made = await data.insert("leads", [{"name": "Via transport", "company": "t"}])
        assert made[0]["tenant_id"] == ACME
        changed = await data.update("leads", {"score": 42}, {"id": made[0]["id"]})
        assert changed[0]["score"] == 42
        nordlicht = transport.data.for_tenant(uuid.UUID(NORDLICHT))
        assert await nordlicht.update("leads", {"score": 1}, {"id": made[0]["id"]}) == []
        with pytest.raises(PermissionError):
            await data.insert("leads", [{"name": "Elsewhere", "tenant_id": NORDLICHT}])
        with pytest.raises(PermissionError):
            await nordlicht.upsert("leads", [{"id": made[0]["id"], "name": "Taken over"}], on_conflict="id")
        upserted = await data.upsert("leads", [{"id": made[0]["id"], "name": "Renamed"}], on_conflict="id")
        assert upserted[0]["name"] == "Renamed" and upserted[0]["score"] == 42
        with pytest.raises(ValueError, match="columns"):
            await data.select("leads", columns=["name; drop table leads"])
        # rpc reaches the SQL API: a delayed event published through it is what next_event_due reports.
        await data.rpc("publish_event", {"p_tenant_id": ACME, "p_type": "sequence.step_due", "p_payload": {},
                                         "p_run_after_seconds": 600})
        due = await data.rpc("next_event_due")
        assert 300 < float(due) <= 600
        await transport.close()
