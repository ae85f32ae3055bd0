"""`TenantData` (postgres transport): a handler reads and writes only its event's tenant, whatever it asks.
What both transports share (role, grants, racing upserts): tests/devstack/test_tenant_data_transports.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from engine_helpers import ACME, NORDLICHT

from salesflow.events.ports import TenantData
from salesflow.transports.postgres import PostgresTenantDataFactory

Conn = psycopg.Connection[Any]
JULIA = "10000000-0000-4000-8000-000000000001"  # an Acme lead in the seed
OLIVIA = "20000000-0000-4000-8000-000000000001"  # a Nordlicht lead in the seed


@pytest.fixture
async def acme(database: str) -> AsyncIterator[TenantData]:
    factory = PostgresTenantDataFactory(database, pool_size=2)
    yield factory.for_tenant(UUID(ACME))
    await factory.close()


async def test_select_and_update_see_only_the_tenants_rows(acme: TenantData, db: Conn) -> None:
    assert [r["id"] for r in await acme.select("leads", {"id": OLIVIA})] == []
    assert [r["name"] for r in await acme.select("leads", {"id": JULIA}, columns=["name"])] == ["Julia Becker"]
    assert await acme.update("leads", {"notes": "hijacked"}, {"id": OLIVIA}) == []
    changed = await acme.update("leads", {"notes": "called back"}, {"id": JULIA})
    assert [r["notes"] for r in changed] == ["called back"]
    row = db.execute("select notes from public.leads where id = %s", (OLIVIA,)).fetchone()
    assert row == (None,)


async def test_insert_sets_the_tenant_and_refuses_another(acme: TenantData) -> None:
    event_id = str(uuid.uuid4())
    rows = await acme.insert("analytics_events", [{"event_id": event_id, "handler": "h", "type": "t.x"}])
    assert rows[0]["tenant_id"] == ACME
    with pytest.raises(PermissionError, match=r"rows\[0\]\.tenant_id"):
        await acme.insert("analytics_events", [{"tenant_id": NORDLICHT, "event_id": event_id, "handler": "h2",
                                                "type": "t.x"}])
    with pytest.raises(PermissionError, match=r"values\.tenant_id"):
        await acme.update("leads", {"tenant_id": NORDLICHT}, {"id": JULIA})


async def test_upsert_never_overwrites_another_tenants_row(acme: TenantData, db: Conn) -> None:
    event_id = str(uuid.uuid4())
    db.execute("insert into public.analytics_events (tenant_id, event_id, handler, type, value) "
               "values (%s, %s, 'h', 't.x', 1)", (NORDLICHT, event_id))
    db.commit()
    # Refused like on the supabase transport (the database's trigger), not silently skipped.
    with pytest.raises(PermissionError, match="analytics_events: the row with this key belongs to another tenant"):
        await acme.upsert("analytics_events", [{"event_id": event_id, "handler": "h", "type": "t.x", "value": 99}],
                          on_conflict="event_id,handler")
    row = db.execute("select tenant_id::text, value from public.analytics_events where event_id = %s",
                     (event_id,)).fetchone()
    assert row == (NORDLICHT, 1.0)
    ignored = await acme.insert("analytics_events", [{"event_id": event_id, "handler": "h", "type": "t.x"}],
                                on_conflict="event_id,handler", ignore_duplicates=True)
    assert ignored == []


async def test_rpc_returns_scalars_and_lists_like_postgrest(acme: TenantData) -> None:
    new_id = await acme.rpc("publish_event", {"p_tenant_id": ACME, "p_type": "lead.updated",
                                              "p_payload": {"lead_id": JULIA}})
    assert UUID(new_id)
    claimed = await acme.rpc("claim_events", {"p_worker": "t", "p_batch": 1, "p_lease_seconds": 5})
    assert isinstance(claimed, list) and len(claimed) == 1


async def test_bad_names_are_refused_before_any_sql(acme: TenantData) -> None:
    with pytest.raises(ValueError, match=r"table: 'leads; drop table leads' is not"):
        await acme.select("leads; drop table leads")
    with pytest.raises(ValueError, match="filters: 'id = id or true' is not a column name"):
        await acme.select("leads", {"id = id or true": 1})
