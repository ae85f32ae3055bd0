"""/realtime/v1/websocket with the Python Realtime client and raw Phoenix frames: per-subscriber RLS,
filters, large rows, token refresh, and the protocol's replies."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import jwt
import psycopg
import pytest
import websockets
import websockets.exceptions

from salesflow.devstack import DevStack
from supabase import AsyncClient, acreate_client
from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import PASSWORD
from tests.polling import wait_until


async def signed_in(stack: DevStack, email: str) -> AsyncClient:
    client = await acreate_client(stack.url, stack.anon_key)
    await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    return client


async def subscribe(client: AsyncClient, name: str, received: list[dict[str, Any]], event: str = "*",
                    table: str = "leads", filter: str | None = None) -> None:
    channel = client.channel(name)
    channel.on_postgres_changes(event, schema="public", table=table, filter=filter,  # type: ignore[arg-type]
                                callback=lambda payload: received.append(payload["data"]))
    await channel.subscribe()


async def test_subscribers_receive_only_rows_their_token_may_select(database: str) -> None:
    async with DevStack(database) as stack:
        anna, bea = await signed_in(stack, "anna@acme.test"), await signed_in(stack, "bea@nordlicht.test")
        service = await acreate_client(stack.url, stack.service_role_key)
        anna_got: list[dict[str, Any]] = []
        nordlicht_only: list[dict[str, Any]] = []
        await subscribe(anna, "anna-leads", anna_got, event="INSERT")
        await subscribe(service, "nordlicht-leads", nordlicht_only, filter=f"tenant_id=eq.{NORDLICHT}")

        big_notes = "x" * 100_000  # far beyond a NOTIFY payload
        acme_lead = (await anna.table("leads").insert({"name": "Acme big", "notes": big_notes}).execute()).data[0]
        nord_lead = (await bea.table("leads").insert({"name": "Nordlicht new"}).execute()).data[0]
        await bea.table("leads").update({"status": "contacted"}).eq("id", nord_lead["id"]).execute()
        await bea.table("leads").delete().eq("id", nord_lead["id"]).execute()

        # Changes reach a subscriber in commit order, so once a later sentinel has arrived, anything that
        # was going to be delivered before it has been: no sleep needed to prove what did not arrive.
        await anna.table("leads").insert({"name": "Acme sentinel"}).execute()
        await bea.table("leads").insert({"name": "Nordlicht sentinel"}).execute()
        await wait_until(lambda: any(c["record"].get("name") == "Acme sentinel" for c in anna_got)
                         and any(c["record"].get("name") == "Nordlicht sentinel" for c in nordlicht_only))
        assert [c["record"]["name"] for c in anna_got] == ["Acme big", "Acme sentinel"]
        assert len(nordlicht_only) == 4 and all(c["record"].get("tenant_id", NORDLICHT) == NORDLICHT
                                                 for c in nordlicht_only)
        assert anna_got[0]["record"]["id"] == acme_lead["id"] and anna_got[0]["record"]["notes"] == big_notes
        assert anna_got[0]["record"]["tenant_id"] == ACME
        assert {"name": "notes", "type": "text"} in anna_got[0]["columns"]
        kinds = [str(getattr(c["type"], "value", c["type"])) for c in nordlicht_only]
        assert kinds == ["INSERT", "UPDATE", "DELETE", "INSERT"]
        assert nordlicht_only[0]["record"]["id"] == nord_lead["id"]
        assert nordlicht_only[1]["record"]["status"] == "contacted"
        assert nordlicht_only[1]["old_record"] == {"id": nord_lead["id"]}
        assert nordlicht_only[2]["old_record"] == {"id": nord_lead["id"]}
        for client in (anna, bea, service):
            await client.remove_all_channels()


async def test_a_refreshed_access_token_changes_what_is_delivered(database: str) -> None:
    async with DevStack(database) as stack:
        max_client = await signed_in(stack, "max@consult.test")  # active tenant: Nordlicht
        received: list[dict[str, Any]] = []
        await subscribe(max_client, "max-leads", received, event="INSERT")
        anna, bea = await signed_in(stack, "anna@acme.test"), await signed_in(stack, "bea@nordlicht.test")
        await anna.table("leads").insert({"name": "For Acme"}).execute()
        await bea.table("leads").insert({"name": "For Nordlicht"}).execute()
        await wait_until(lambda: len(received) == 1)
        assert received[0]["record"]["name"] == "For Nordlicht"

        # Max switches his active tenant to Acme and refreshes his token: the hook now picks Acme.
        with psycopg.connect(database) as conn:
            conn.execute("update auth.users set raw_app_meta_data = raw_app_meta_data || "
                         "jsonb_build_object('tenant_id', %s::text) where email = 'max@consult.test'", (ACME,))
        session = await max_client.auth.refresh_session()
        assert session.session is not None
        assert claims_tenant(session.session.access_token, stack) == ACME
        await max_client.realtime.set_auth(session.session.access_token)
        # The access_token message has no reply: wait until the server holds the new claims for the channel.
        await wait_until(lambda: channel_tenants(stack) == {ACME})
        await bea.table("leads").insert({"name": "For Nordlicht again"}).execute()
        await anna.table("leads").insert({"name": "For Acme again"}).execute()
        await wait_until(lambda: len(received) >= 2)
        # Nordlicht's row was committed before Acme's: had it been delivered, it would have come first.
        assert [r["record"]["name"] for r in received] == ["For Nordlicht", "For Acme again"]
        for client in (max_client, anna, bea):
            await client.remove_all_channels()


def claims_tenant(token: str, stack: DevStack) -> object:
    return jwt.decode(token, stack.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}).get("tenant_id")


def channel_tenants(stack: DevStack) -> set[object]:
    assert stack.hub is not None
    return {(channel.claims or {}).get("tenant_id") for session in list(stack.hub.sessions)
            for channel in list(session.channels.values()) if channel.topic == "realtime:max-leads"}


async def test_phoenix_replies_heartbeats_and_refused_joins(database: str) -> None:
    async with DevStack(database) as stack:
        url = f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={stack.anon_key}&vsn=1.0.0"
        expired = jwt.encode({"role": "authenticated", "sub": "x", "exp": int(time.time()) - 10},
                             stack.jwt_secret, algorithm="HS256")
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"}))
            reply = json.loads(await ws.recv())
            assert reply == {"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}},
                             "ref": "1", "join_ref": None}
            join = {"config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "leads"}]},
                    "access_token": expired}
            await ws.send(json.dumps({"topic": "realtime:x", "event": "phx_join", "payload": join, "ref": "2",
                                      "join_ref": "2"}))
            refused = json.loads(await ws.recv())
            assert refused["payload"]["status"] == "error" and refused["ref"] == "2"
            bad_filter = {"config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "leads",
                                                           "filter": "tenant_id=like.x"}]},
                          "access_token": stack.service_role_key}
            await ws.send(json.dumps({"topic": "realtime:y", "event": "phx_join", "payload": bad_filter,
                                      "ref": "3", "join_ref": "3"}))
            refused = json.loads(await ws.recv())
            assert refused["payload"]["status"] == "error" and "filter" in refused["payload"]["response"]["reason"]
        # Without an API key, or with one signed by another secret, the websocket upgrade itself is refused,
        # as the gateway refuses it (401).
        forged = jwt.encode({"role": "service_role"}, "another-secret-that-is-at-least-32-characters",
                            algorithm="HS256")
        for query in ("vsn=1.0.0", f"apikey={forged}&vsn=1.0.0"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?{query}"):
                    pass
            assert refused.value.response.status_code == 401


async def test_the_stack_reconnects_when_postgres_drops_its_connections(database: str) -> None:
    async with DevStack(database) as stack:
        service = await acreate_client(stack.url, stack.service_role_key)
        received: list[dict[str, Any]] = []
        await subscribe(service, "all-leads", received, event="INSERT")
        assert stack.hub is not None
        old_pid = stack.hub._listener_pid
        with psycopg.connect(database, autocommit=True) as conn:
            killed = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                  "where datname = current_database() and application_name like 'salesflow-dev%%'"
                                  ).fetchone()
        assert killed is not None and killed[0] >= 1
        # the change feed comes back on a new backend (what happened in between is lost, as with Realtime)
        await wait_until(lambda: stack.hub is not None and stack.hub.listening.is_set()
                         and stack.hub._listener_pid not in (None, old_pid), timeout=10)
        with psycopg.connect(database) as conn:
            conn.execute("insert into public.leads (tenant_id, name) values (%s, 'after the outage')", (ACME,))

        async def inserted_through_rest() -> int:
            async with httpx.AsyncClient() as http:
                response = await http.post(f"{stack.url}/rest/v1/leads", json={"name": "via REST", "tenant_id": ACME},
                                           headers={"apikey": stack.anon_key,
                                                    "Authorization": f"Bearer {stack.service_role_key}"})
                return response.status_code

        statuses: list[int] = []
        while 201 not in statuses and len(statuses) <= killed[0]:
            statuses.append(await inserted_through_rest())
        # each pooled connection that was killed may fail one request, with a clear 503, and no more
        assert statuses[-1] == 201 and set(statuses[:-1]) <= {503}, statuses
        await wait_until(lambda: any(r["record"]["name"] == "after the outage" for r in received))
        await service.remove_all_channels()


async def test_anon_receives_no_change_at_all(database: str) -> None:
    """anon may select no lead, so no INSERT, UPDATE or DELETE of one reaches it (not even a deleted id)."""
    async with DevStack(database) as stack:
        service = await acreate_client(stack.url, stack.service_role_key)
        seen_by_service: list[dict[str, Any]] = []
        await subscribe(service, "service-leads", seen_by_service)
        url = f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={stack.anon_key}&vsn=1.0.0"
        async with websockets.connect(url) as ws:
            join = {"config": {"postgres_changes": [{"event": "*", "schema": "public", "table": "leads"}]},
                    "access_token": stack.anon_key}
            await ws.send(json.dumps({"topic": "realtime:anon-leads", "event": "phx_join", "payload": join,
                                      "ref": "1", "join_ref": "1"}))
            joined = json.loads(await ws.recv())
            assert joined["ref"] == "1"
            with psycopg.connect(database) as conn:
                lead_id = str(conn.execute("insert into public.leads (tenant_id, name) values (%s, 'Secret') "
                                           "returning id", (ACME,)).fetchone()[0])  # type: ignore[index]
                conn.execute("update public.leads set status = 'contacted' where id = %s", (lead_id,))
                conn.execute("delete from public.leads where id = %s", (lead_id,))
            # The service subscriber got all three: the hub has handled them for every session.
            await wait_until(lambda: [str(getattr(c["type"], "value", c["type"])) for c in seen_by_service]
                             == ["INSERT", "UPDATE", "DELETE"])
            # A heartbeat's reply travels the same ordered outbox: whatever was queued for anon came before it.
            await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "2"}))
            frames = []
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("topic") == "phoenix" and frame.get("ref") == "2":
                    break
                frames.append(frame)
            assert [f for f in frames if f.get("event") == "postgres_changes"] == [], frames
            assert lead_id not in json.dumps(frames)
        await service.remove_all_channels()


async def test_a_forged_access_token_on_a_joined_channel_gains_nothing(database: str) -> None:
    """Anna joins with her real token, then swaps in a forged service_role token: she must not start seeing
    Nordlicht's rows (the forged token is refused, and the channel delivers nothing until a valid one)."""
    async with DevStack(database) as stack:
        anna_token = (await (await signed_in(stack, "anna@acme.test")).auth.get_session()).access_token  # type: ignore[union-attr]
        service = await acreate_client(stack.url, stack.service_role_key)
        seen_by_service: list[dict[str, Any]] = []
        await subscribe(service, "service-leads", seen_by_service, event="INSERT")
        url = f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={stack.anon_key}&vsn=1.0.0"
        forged = jwt.encode({"role": "service_role", "sub": "x", "exp": int(time.time()) + 600},
                            "another-secret-that-is-at-least-32-characters", algorithm="HS256")
        async with websockets.connect(url) as ws:
            join = {"config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "leads"}]},
                    "access_token": anna_token}
            await ws.send(json.dumps({"topic": "realtime:anna", "event": "phx_join", "payload": join,
                                      "ref": "1", "join_ref": "1"}))
            assert json.loads(await ws.recv())["payload"]["status"] == "ok"
            await ws.send(json.dumps({"topic": "realtime:anna", "event": "access_token",
                                      "payload": {"access_token": forged}, "ref": "2", "join_ref": "1"}))
            with psycopg.connect(database) as conn:
                conn.execute("insert into public.leads (tenant_id, name) values (%s, 'Nordlicht only')", (NORDLICHT,))
            await wait_until(lambda: len(seen_by_service) == 1)
            await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "3"}))
            frames = []
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("topic") == "phoenix" and frame.get("ref") == "3":
                    break
                frames.append(frame)
            assert [f for f in frames if f.get("event") == "postgres_changes"] == [], frames
            assert "Nordlicht only" not in json.dumps(frames)
        await service.remove_all_channels()
