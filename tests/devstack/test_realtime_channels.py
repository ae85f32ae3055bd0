"""Realtime Broadcast and Presence with the Python client (Phoenix v1 JSON) and raw frames: v1 and v2
sockets hear each other, the REST broadcast endpoint reaches joined channels, a private channel is refused,
and a joined channel whose refreshed token is refused is shut down as Realtime shuts it down."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from typing import Any

import httpx
import jwt
import websockets

from salesflow.devstack import DevStack
from supabase import AsyncClient, acreate_client
from tests.devstack.conftest import PASSWORD
from tests.polling import wait_until


async def signed_in(stack: DevStack, email: str) -> AsyncClient:
    client = await acreate_client(stack.url, stack.anon_key)
    await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    return client


def ws_url(stack: DevStack, vsn: str = "1.0.0") -> str:
    return f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={stack.anon_key}&vsn={vsn}"


async def frames_until(ws: Any, stop: Any, limit: float = 10) -> list[Any]:
    seen = []
    while True:
        frame = await asyncio.wait_for(ws.recv(), limit)
        decoded = frame if isinstance(frame, bytes) else json.loads(frame)
        seen.append(decoded)
        if stop(decoded):
            return seen


async def test_python_clients_broadcast_to_each_other_and_share_presence(database: str) -> None:
    async with DevStack(database) as stack:
        anna, bea = await signed_in(stack, "anna@acme.test"), await signed_in(stack, "bea@nordlicht.test")
        anna_heard: list[Any] = []
        bea_heard: list[Any] = []
        room_a = anna.channel("py-room", {"config": {"broadcast": {"self": False, "ack": True},
                                                     "presence": {"key": "anna"}}})
        room_a.on_broadcast("note", lambda message: anna_heard.append(message["payload"]))
        room_a.on_presence_sync(lambda: None)
        room_b = bea.channel("py-room", {"config": {"broadcast": {"self": True}, "presence": {"key": "bea"}}})
        room_b.on_broadcast("note", lambda message: bea_heard.append(message["payload"]))
        room_b.on_presence_sync(lambda: None)
        await room_a.subscribe()
        await room_b.subscribe()
        await wait_until(lambda: room_a.is_joined and room_b.is_joined, what="both joined")
        await room_a.send_broadcast("note", {"from": "anna"})
        await room_b.send_broadcast("note", {"from": "bea"})
        await wait_until(lambda: len(bea_heard) == 2 and anna_heard, what="the notes")
        assert anna_heard == [{"from": "bea"}]
        assert bea_heard == [{"from": "anna"}, {"from": "bea"}]

        await room_a.track({"status": "online"})
        await room_b.track({"status": "away"})
        await wait_until(lambda: set(room_a.presence_state()) == {"anna", "bea"}
                         and set(room_b.presence_state()) == {"anna", "bea"}, what="both present")
        assert [p["status"] for p in room_b.presence_state()["anna"]] == ["online"]
        await room_b.untrack()
        await wait_until(lambda: set(room_a.presence_state()) == {"anna"}, what="bea left")
        for client in (anna, bea):
            await client.remove_all_channels()


async def test_v2_binary_broadcasts_reach_v1_sockets_and_the_rest_endpoint_reaches_both(database: str) -> None:
    async with DevStack(database) as stack, websockets.connect(ws_url(stack, "2.0.0")) as v2, \
            websockets.connect(ws_url(stack)) as v1:
        await v2.send(json.dumps(["1", "1", "realtime:mixed", "phx_join",
                                  {"config": {"broadcast": {"ack": True, "self": False}}}]))
        assert json.loads(await v2.recv())[4]["status"] == "ok"
        await v1.send(json.dumps({"topic": "realtime:mixed", "event": "phx_join", "ref": "1", "join_ref": "1",
                                  "payload": {"config": {}}}))
        assert (await frames_until(v1, lambda f: f.get("event") == "phx_reply"))[-1]["payload"]["status"] == "ok"

        # realtime-js's binary push: kind 3, lengths of join_ref, ref, topic, event, metadata, encoding (1 = JSON)
        topic, event, body = b"realtime:mixed", b"cursor", json.dumps({"x": 1}).encode()
        await v2.send(struct.pack("!7B", 3, 1, 1, len(topic), len(event), 0, 1) + b"1" + b"2" + topic + event + body)
        # (a join without presence config has presence on, as on Realtime: a presence_state comes first)
        ack = (await frames_until(v2, lambda f: isinstance(f, list) and f[3] == "phx_reply"))[-1]
        assert ack == ["1", "2", "realtime:mixed", "phx_reply", {"status": "ok", "response": {}}]
        heard = (await frames_until(v1, lambda f: f.get("event") == "broadcast"))[-1]
        assert heard["payload"] == {"type": "broadcast", "event": "cursor", "payload": {"x": 1}}

        async with httpx.AsyncClient() as http:
            sent = await http.post(f"{stack.url}/realtime/v1/api/broadcast", headers={"apikey": stack.anon_key},
                                   json={"messages": [{"topic": "mixed", "event": "ping", "payload": {"n": 2}}]})
            assert sent.status_code == 202
            by_event = await http.post(f"{stack.url}/realtime/v1/api/broadcast/mixed/events/pong",
                                       headers={"apikey": stack.anon_key}, json={"n": 3})
            assert by_event.status_code == 202
            private = await http.post(f"{stack.url}/realtime/v1/api/broadcast/mixed/events/pong",
                                      params={"private": "true"}, headers={"apikey": stack.anon_key}, json={})
            assert private.status_code == 403 and "private" in private.json()["error"]
        binary = [await v2.recv(), await v2.recv()]
        decoded = []
        for frame in binary:  # kind 4: lengths of topic, event, metadata, the encoding, then the fields
            assert isinstance(frame, bytes) and frame[0] == 4
            topic_len, event_len, meta_len, encoding = frame[1:5]
            rest = frame[5:]
            decoded.append((rest[:topic_len].decode(), rest[topic_len:topic_len + event_len].decode(), encoding,
                            json.loads(rest[topic_len + event_len + meta_len:])))
        assert decoded == [("realtime:mixed", "ping", 1, {"n": 2}), ("realtime:mixed", "pong", 1, {"n": 3})]
        v1_heard = (await frames_until(v1, lambda f: f.get("payload", {}).get("event") == "pong"))
        assert [f["payload"]["payload"] for f in v1_heard if f.get("event") == "broadcast"] == [{"n": 2}, {"n": 3}]


async def test_presence_frames_have_phoenix_shapes_and_a_closed_socket_leaves(database: str) -> None:
    async with DevStack(database) as stack, websockets.connect(ws_url(stack)) as watcher:
        join = {"config": {"presence": {"key": "watcher", "enabled": True}}}
        await watcher.send(json.dumps({"topic": "realtime:lobby", "event": "phx_join", "ref": "1", "join_ref": "1",
                                       "payload": join}))
        joined = await frames_until(watcher, lambda f: f.get("event") == "presence_state")
        assert joined[0]["payload"]["status"] == "ok" and joined[-1]["payload"] == {}
        async with websockets.connect(ws_url(stack)) as guest:
            await guest.send(json.dumps({"topic": "realtime:lobby", "event": "phx_join", "ref": "1", "join_ref": "1",
                                         "payload": {"config": {"presence": {"key": "guest"}}}}))
            await frames_until(guest, lambda f: f.get("event") == "phx_reply")
            await guest.send(json.dumps({"topic": "realtime:lobby", "event": "presence", "ref": "2", "join_ref": "1",
                                         "payload": {"type": "presence", "event": "track",
                                                     "payload": {"mood": "curious"}}}))
            # the guest's first track enables presence for it: the reply, then the whole state, itself included
            got = await frames_until(guest, lambda f: f.get("event") == "presence_state")
            assert got[0]["payload"] == {"status": "ok", "response": {}} and got[0]["ref"] == "2"
            [meta] = got[-1]["payload"]["guest"]["metas"]
            assert meta["mood"] == "curious" and isinstance(meta["phx_ref"], str)
            diff = (await frames_until(watcher, lambda f: f.get("event") == "presence_diff"))[-1]["payload"]
            assert diff == {"joins": {"guest": {"metas": [meta]}}, "leaves": {}}
            await guest.send(json.dumps({"topic": "realtime:lobby", "event": "presence", "ref": "3", "join_ref": "1",
                                         "payload": {"type": "presence", "event": "track", "payload": [1]}}))
            refused = (await frames_until(guest, lambda f: f.get("ref") == "3"))[-1]
            assert refused["payload"] == {"status": "error",
                                          "response": {"reason": "Presence track payload must be a map"}}
        left = (await frames_until(watcher, lambda f: f.get("event") == "presence_diff"))[-1]["payload"]
        assert left == {"joins": {}, "leaves": {"guest": {"metas": [meta]}}}


async def test_private_channels_are_refused_and_a_refused_token_refresh_closes_the_channel(database: str) -> None:
    async with DevStack(database) as stack, websockets.connect(ws_url(stack)) as ws:
        await ws.send(json.dumps({"topic": "realtime:secret", "event": "phx_join", "ref": "1", "join_ref": "1",
                                  "payload": {"config": {"private": True}}}))
        refused = json.loads(await ws.recv())
        assert refused["payload"] == {"status": "error", "response": {
            "reason": "Unauthorized: You do not have permissions to read from this Channel topic: secret"}}
        await ws.send(json.dumps({"topic": "realtime:open", "event": "phx_join", "ref": "2", "join_ref": "2",
                                  "payload": {"config": {"presence": {"enabled": False}}}}))
        assert json.loads(await ws.recv())["payload"]["status"] == "ok"
        forever = jwt.encode({"role": "authenticated", "sub": "x", "iat": int(time.time())}, stack.jwt_secret,
                             algorithm="HS256")
        await ws.send(json.dumps({"topic": "realtime:open", "event": "access_token", "ref": "3", "join_ref": "2",
                                  "payload": {"access_token": forever}}))
        closing = await frames_until(ws, lambda f: f.get("event") == "phx_close")
        assert closing[0]["event"] == "system" and closing[0]["payload"] == {
            "channel": "open", "extension": "system", "status": "error",
            "message": "Fields `role` and `exp` are required in JWT"}
        # the channel is gone: a broadcast on it is answered "unmatched topic"
        await ws.send(json.dumps({"topic": "realtime:open", "event": "broadcast", "ref": "4", "join_ref": "2",
                                  "payload": {"type": "broadcast", "event": "x", "payload": {}}}))
        assert json.loads(await ws.recv())["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}
