"""The dashboard's live Alerts view: an alert the evaluator writes reaches its tenant's members through Realtime
(the local stack's /realtime/v1 with the user's token), and never another tenant's."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from salesflow.devstack import DevStack
from supabase import AsyncClient, acreate_client
from tests.alerts.conftest import evaluate, fail_event
from tests.conftest import NORDLICHT
from tests.devstack.conftest import PASSWORD
from tests.polling import wait_until

Conn = psycopg.Connection[Any]


async def signed_in(stack: DevStack, email: str) -> AsyncClient:
    client = await acreate_client(stack.url, stack.anon_key)
    await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    return client


async def watch(client: AsyncClient, name: str, got: list[dict[str, Any]]) -> None:
    channel = client.channel(name)
    channel.on_postgres_changes("*", schema="public", table="alerts",  # type: ignore[arg-type]
                                callback=lambda payload: got.append(payload["data"]))
    await channel.subscribe()


async def test_a_firing_alert_reaches_its_tenant_live_and_no_other(quiet_db: Conn, database: str) -> None:
    async with DevStack(database) as stack:
        anna, bea = await signed_in(stack, "anna@acme.test"), await signed_in(stack, "bea@nordlicht.test")
        anna_got: list[dict[str, Any]] = []
        bea_got: list[dict[str, Any]] = []
        await watch(anna, "anna-alerts", anna_got)
        await watch(bea, "bea-alerts", bea_got)

        event_id = await asyncio.to_thread(fail_event, quiet_db)
        await asyncio.to_thread(evaluate, quiet_db)
        await wait_until(lambda: len(anna_got) >= 1, timeout=15)
        record = anna_got[0]["record"]
        assert (record["metric"], record["status"], record["event_ids"]) == ("failed_events", "firing", [event_id])

        # Nordlicht's own alert is Bea's sentinel: once it arrived, Acme's would have arrived before it.
        await asyncio.to_thread(fail_event, quiet_db, NORDLICHT)
        await asyncio.to_thread(evaluate, quiet_db)
        await wait_until(lambda: len(bea_got) >= 1, timeout=15)
        assert {c["record"]["tenant_id"] for c in bea_got} == {NORDLICHT}
        for client in (anna, bea):
            await client.remove_all_channels()
