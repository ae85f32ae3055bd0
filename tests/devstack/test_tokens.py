"""Tokens at every door of the local stack: a token must expire (`exp` is required), and the `apikey` is one
of the project's two keys, never any token that happens to be signed with the secret (a user's own
session token included), as Supabase's gateway answers."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
import websockets
import websockets.exceptions

from tests.conftest import ACME
from tests.devstack.conftest import RunningStack

BEN = "a0000000-0000-4000-8000-000000000002"


def token_without_exp(stack: RunningStack) -> str:
    """A token signed with the project's secret that would never expire."""
    claims = {"sub": BEN, "role": "authenticated", "aud": "authenticated", "tenant_id": ACME,
              "email": "ben@acme.test", "iat": int(time.time())}
    return jwt.encode(claims, stack.stack.jwt_secret, algorithm="HS256")


def leads_count(stack: RunningStack) -> int:
    return int(stack.sql("select count(*) from public.leads")[0][0])


def test_rest_refuses_a_token_without_exp(running_stack: RunningStack) -> None:
    before = leads_count(running_stack)
    headers = running_stack.headers(token_without_exp(running_stack))
    read = httpx.get(f"{running_stack.url}/rest/v1/leads", headers=headers)
    assert read.status_code == 401 and read.json()["code"] == "PGRST303"
    assert "exp" in read.json()["message"]
    write = httpx.post(f"{running_stack.url}/rest/v1/leads", headers=headers, json={"name": "Forever"})
    assert write.status_code == 401 and write.json()["code"] == "PGRST303"
    assert leads_count(running_stack) == before


def test_auth_refuses_a_token_without_exp_as_bad_jwt(running_stack: RunningStack) -> None:
    response = httpx.get(f"{running_stack.url}/auth/v1/user",
                         headers=running_stack.headers(token_without_exp(running_stack)))
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == 403 and body["error_code"] == "bad_jwt" and "exp" in body["msg"], body


def test_functions_refuse_a_token_without_exp(running_stack: RunningStack) -> None:
    before = leads_count(running_stack)
    response = httpx.post(f"{running_stack.url}/functions/v1/create-lead", json={"name": "Forever"},
                          headers=running_stack.headers(token_without_exp(running_stack)))
    assert response.status_code == 401 and response.json()
    assert leads_count(running_stack) == before


async def test_realtime_refuses_a_token_without_exp_at_join_and_as_apikey(running_stack: RunningStack) -> None:
    stack = running_stack.stack
    forever = token_without_exp(running_stack)
    url = f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={stack.anon_key}&vsn=1.0.0"
    async with websockets.connect(url) as ws:
        join = {"config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "leads"}]},
                "access_token": forever}
        await ws.send(json.dumps({"topic": "realtime:forever", "event": "phx_join", "payload": join, "ref": "1",
                                  "join_ref": "1"}))
        reply = json.loads(await ws.recv())
        assert reply["event"] == "phx_reply" and reply["payload"]["status"] == "error"
        assert reply["payload"]["response"]["reason"] == \
            "InvalidJWTToken: Fields `role` and `exp` are required in JWT"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={forever}&vsn=1.0.0"):
            pass
    assert refused.value.response.status_code == 401


def test_a_user_session_token_is_not_an_api_key(running_stack: RunningStack) -> None:
    """The gateway takes only the anon and service_role keys as `apikey`: a signed-in user's own token (valid,
    signed with the secret) is refused at /rest/v1, /auth/v1 and /functions/v1 alike."""
    before = leads_count(running_stack)
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    as_apikey = {"apikey": token, "Authorization": f"Bearer {token}"}
    for method, path, body in [("GET", "/rest/v1/leads", None), ("POST", "/rest/v1/leads", {"name": "Via apikey"}),
                               ("GET", "/auth/v1/user", None),
                               ("POST", "/functions/v1/create-lead", {"name": "Via apikey"})]:
        response = httpx.request(method, f"{running_stack.url}{path}", headers=as_apikey, json=body)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["message"] == "Invalid API key", (path, response.text)
    # the same token as the bearer, with the project's key as apikey, is what clients send: it works
    ok = httpx.get(f"{running_stack.url}/auth/v1/user", headers=running_stack.headers(token))
    assert ok.status_code == 200 and ok.json()["email"] == "ben@acme.test"
    assert leads_count(running_stack) == before


async def test_a_user_session_token_is_not_a_realtime_api_key(running_stack: RunningStack) -> None:
    stack = running_stack.stack
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={token}&vsn=1.0.0"):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"{}")["message"] == "Invalid API key"
    # with the anon key as apikey, the same user token joins as access_token
    url = f"ws://127.0.0.1:{stack.port}/realtime/v1/websocket?apikey={stack.anon_key}&vsn=1.0.0"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"topic": "realtime:ben", "event": "phx_join", "ref": "1", "join_ref": "1",
                                  "payload": {"config": {}, "access_token": token}}))
        assert json.loads(await ws.recv())["payload"]["status"] == "ok"


def test_functions_take_calls_without_an_apikey_but_not_with_a_foreign_one(running_stack: RunningStack) -> None:
    """Like Supabase's gateway: /functions/v1 needs no apikey (verify_jwt checks the bearer), but one that is
    sent must be a project key."""
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    created = httpx.post(f"{running_stack.url}/functions/v1/create-lead", json={"name": "No apikey at all"},
                         headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    assert created.json()["tenant_id"] == ACME
