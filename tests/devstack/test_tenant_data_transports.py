"""Handlers' data access is bound by the same promises on both transports: it runs as service_role (so
only what service_role is granted), it never reaches another tenant's rows — whatever it asks and however
its upserts race — and functions see the same role and claims."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from salesflow.devstack import DevStack
from salesflow.events.ports import TenantData
from salesflow.transports import Transport, open_postgres
from salesflow.transports.supabase import open_supabase
from tests.conftest import ACME, NORDLICHT, _create_migrated_database, _drop_database
from tests.devstack.conftest import RunningStack
from tests.polling import wait_until

JULIA = "10000000-0000-4000-8000-000000000001"  # an Acme lead in the seed
OLIVIA = "20000000-0000-4000-8000-000000000001"  # a Nordlicht lead in the seed

# What an operator keeps from service code: a table and a function service_role is not granted, and a
# function that tells who runs it. Created before the stack starts, so its schema cache knows them.
OPERATOR_OBJECTS = """
create table public.operator_notes (id uuid primary key default gen_random_uuid(), tenant_id uuid not null,
                                    note text);
revoke all on table public.operator_notes from anon, authenticated, service_role;
create function public.operator_only() returns integer language sql as 'select 1';
revoke all on function public.operator_only() from public, anon, authenticated, service_role;
create function public.who_runs_me() returns jsonb language sql stable
  as $$ select jsonb_build_object('current_user', current_user, 'claims_role', auth.role()) $$;
revoke all on function public.who_runs_me() from public, anon, authenticated;
grant execute on function public.who_runs_me() to service_role;
create function public.echo_arguments(p_ids uuid[], p_counts integer[] default null, p_doc jsonb default null)
  returns jsonb language sql stable
  as $$ select jsonb_build_object('ids', p_ids, 'first_id', p_ids[1], 'counts', p_counts,
                                  'total', (select sum(c) from unnest(p_counts) c), 'doc', p_doc) $$;
revoke all on function public.echo_arguments(uuid[], integer[], jsonb) from public, anon, authenticated;
grant execute on function public.echo_arguments(uuid[], integer[], jsonb) to service_role;
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    url = _create_migrated_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(OPERATOR_OBJECTS)
        running = DevStack(url, port=0).start_in_thread()
        try:
            yield RunningStack(running, url)
        finally:
            running.stop_in_thread()
    finally:
        _drop_database(url)


@pytest.fixture(params=["postgres", "supabase"])
async def transport(request: pytest.FixtureRequest, stack: RunningStack) -> AsyncIterator[Transport]:
    if request.param == "postgres":
        opened = open_postgres(stack.database_url, listen=False)
    else:
        opened = open_supabase(stack.url, stack.stack.service_role_key, listen=False)
    yield opened
    await opened.close()


def tenant(transport: Transport, tenant_id: str) -> TenantData:
    return transport.data.for_tenant(uuid.UUID(tenant_id))


def fact_of(stack: RunningStack, event_id: str) -> list[tuple[Any, ...]]:
    return stack.sql("select tenant_id::text, value from public.analytics_events where event_id = %s", (event_id,))


def fact(event_id: str, value: float) -> dict[str, Any]:
    return {"event_id": event_id, "handler": "h", "type": "t.x", "value": value}


async def test_functions_run_as_service_role_with_its_claims(transport: Transport) -> None:
    assert await tenant(transport, ACME).rpc("who_runs_me") == {"current_user": "service_role",
                                                                "claims_role": "service_role"}


async def test_a_list_argument_binds_as_the_declared_array_and_an_object_as_jsonb(transport: Transport) -> None:
    ids = [JULIA, OLIVIA]
    doc = {"nested": {"list": [1, "two", None]}, "flag": True}
    answer = await tenant(transport, ACME).rpc("echo_arguments", {"p_ids": ids, "p_counts": [2, 3], "p_doc": doc})
    assert answer == {"ids": ids, "first_id": JULIA, "counts": [2, 3], "total": 5, "doc": doc}
    # A jsonb argument may itself be a list; an empty list is an empty array.
    answer = await tenant(transport, ACME).rpc("echo_arguments", {"p_ids": [], "p_doc": [1, {"a": 2}]})
    assert answer == {"ids": [], "first_id": None, "counts": None, "total": None, "doc": [1, {"a": 2}]}


async def test_what_service_role_is_not_granted_is_refused(transport: Transport) -> None:
    acme = tenant(transport, ACME)
    with pytest.raises(PermissionError, match="operator_notes"):
        await acme.select("operator_notes")
    with pytest.raises(PermissionError, match="operator_notes"):
        await acme.insert("operator_notes", [{"note": "from a handler"}])
    with pytest.raises(PermissionError, match="operator_only"):
        await acme.rpc("operator_only")


async def test_another_tenants_rows_are_out_of_reach(transport: Transport, stack: RunningStack) -> None:
    acme = tenant(transport, ACME)
    olivia = stack.sql("select tenant_id::text, name, notes from public.leads where id = %s", (OLIVIA,))
    assert olivia[0][0] == NORDLICHT
    assert await acme.select("leads", {"id": OLIVIA}) == []
    assert await acme.update("leads", {"notes": "hijacked"}, {"id": OLIVIA}) == []
    with pytest.raises(PermissionError, match=r"rows\[0\]\.tenant_id"):
        await acme.insert("leads", [{"name": "Planted", "tenant_id": NORDLICHT}])
    with pytest.raises(PermissionError, match="another tenant"):
        await acme.upsert("leads", [{"id": OLIVIA, "name": "Taken over"}], on_conflict="id")
    assert stack.sql("select tenant_id::text, name, notes from public.leads where id = %s", (OLIVIA,)) == olivia
    # rpc: an argument naming another tenant, at any depth, is refused before the call.
    with pytest.raises(PermissionError, match="p_tenant_id"):
        await acme.rpc("publish_event", {"p_tenant_id": NORDLICHT, "p_type": "lead.updated", "p_payload": {}})
    with pytest.raises(PermissionError, match="p_tenant_id"):
        await acme.rpc("ai_lead_context", {"p_tenant_id": NORDLICHT, "p_lead_id": OLIVIA})
    with pytest.raises(PermissionError, match=r"p_rows\[0\]\.tenant_id"):
        await acme.rpc("ai_track_usage", {"p_rows": [{"tenant_id": NORDLICHT, "scenario": "lead_scoring"}]})
    assert stack.sql("select count(*) from public.events where tenant_id = %s and source = 'handler'",
                     (NORDLICHT,)) == [(0,)]
    # ... while the tenant's own calls go through.
    context = await acme.rpc("ai_lead_context", {"p_tenant_id": ACME, "p_lead_id": JULIA})
    assert context["name"] == "Julia Becker"


async def test_an_upsert_merges_the_tenants_own_row(transport: Transport, stack: RunningStack) -> None:
    acme = tenant(transport, ACME)
    event_id = str(uuid.uuid4())
    await acme.insert("analytics_events", [fact(event_id, 1)])
    merged = await acme.upsert("analytics_events", [fact(event_id, 2)], on_conflict="event_id,handler")
    assert [(r["tenant_id"], r["value"]) for r in merged] == [(ACME, 2)]
    assert fact_of(stack, event_id) == [(ACME, 2.0)]


async def test_an_upsert_racing_another_tenants_insert_is_refused_in_the_same_statement(
    transport: Transport, stack: RunningStack
) -> None:
    event_id = str(uuid.uuid4())
    with psycopg.connect(stack.database_url) as nordlicht_writer:
        # Nordlicht's row is written but not committed: a look-first check cannot see it yet.
        nordlicht_writer.execute("insert into public.analytics_events (tenant_id, event_id, handler, type, value) "
                                 "values (%s, %s, 'h', 't.x', 1)", (NORDLICHT, event_id))
        upsert = asyncio.create_task(tenant(transport, ACME).upsert(
            "analytics_events", [fact(event_id, 99)], on_conflict="event_id,handler"))

        def upsert_waits_on_the_row() -> bool:
            waiting = stack.sql("select count(*) from pg_stat_activity where datname = current_database() "
                                "and wait_event_type = 'Lock'")
            return upsert.done() or waiting[0][0] > 0

        await wait_until(upsert_waits_on_the_row, in_thread=True, what="the upsert waiting on Nordlicht's row")
        nordlicht_writer.commit()
    with pytest.raises(PermissionError, match="another tenant"):
        await upsert
    assert fact_of(stack, event_id) == [(NORDLICHT, 1.0)]


async def test_concurrent_conflicting_upserts_leave_each_row_with_the_tenant_that_wrote_it(
    transport: Transport, stack: RunningStack
) -> None:
    writers = {ACME: tenant(transport, ACME), NORDLICHT: tenant(transport, NORDLICHT)}
    values = {ACME: 1.0, NORDLICHT: 2.0}
    keys = [str(uuid.uuid4()) for _ in range(20)]

    async def attempt(tenant_id: str, event_id: str) -> tuple[str, str, str]:
        try:
            rows = await writers[tenant_id].upsert("analytics_events", [fact(event_id, values[tenant_id])],
                                                   on_conflict="event_id,handler")
        except PermissionError:
            return event_id, tenant_id, "refused"
        assert [r["tenant_id"] for r in rows] == [tenant_id]
        return event_id, tenant_id, "written"

    outcomes = await asyncio.gather(*(attempt(t, k) for k in keys for t in (ACME, NORDLICHT)))
    for key in keys:
        written = [t for k, t, outcome in outcomes if k == key and outcome == "written"]
        refused = [t for k, t, outcome in outcomes if k == key and outcome == "refused"]
        assert len(written) == 1 and len(refused) == 1, (key, outcomes)
        assert fact_of(stack, key) == [(written[0], values[written[0]])]
