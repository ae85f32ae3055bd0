"""Tenant isolation over /rest/v1, and what the local stack refuses: bad tokens, injection, hidden schemas.

Every refusal must carry PostgREST's error body and leave the database unchanged.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import RunningStack

ERROR_KEYS = {"code", "message", "details", "hint"}
OLIVIA = "20000000-0000-4000-8000-000000000001"  # a Nordlicht lead


@pytest.fixture(scope="module")
def tokens(running_stack: RunningStack) -> dict[str, str]:
    return {
        "anon": running_stack.stack.anon_key,
        "anna": running_stack.sign_in("anna@acme.test")["access_token"],
        "bea": running_stack.sign_in("bea@nordlicht.test")["access_token"],
        "nomad": running_stack.sign_in("nomad@nowhere.test")["access_token"],
        "service": running_stack.stack.service_role_key,
    }


def get(stack: RunningStack, token: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{stack.url}/rest/v1/{path}", params=params, headers=stack.headers(token))


def tenants_of(rows: list[dict[str, Any]]) -> set[str]:
    return {r["tenant_id"] for r in rows}


@pytest.mark.parametrize(
    ("who", "table", "expected"),
    [
        ("anna", "leads", {ACME}), ("bea", "leads", {NORDLICHT}), ("service", "leads", {ACME, NORDLICHT}),
        ("nomad", "leads", set()),
        ("anna", "tenant_members", {ACME}), ("bea", "tenant_members", {NORDLICHT}),
        ("anna", "events", {ACME}), ("bea", "events", {NORDLICHT}), ("service", "events", {ACME, NORDLICHT}),
    ],
)
def test_each_caller_reads_only_its_tenant(running_stack: RunningStack, tokens: dict[str, str], who: str,
                                           table: str, expected: set[str]) -> None:
    response = get(running_stack, tokens[who], table, select="tenant_id")
    assert response.status_code == 200
    assert tenants_of(response.json()) == expected


def test_tenants_table_shows_the_members_tenant(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    assert [t["id"] for t in get(running_stack, tokens["anna"], "tenants", select="id").json()] == [ACME]
    assert [t["id"] for t in get(running_stack, tokens["bea"], "tenants", select="id").json()] == [NORDLICHT]


@pytest.mark.parametrize("table", ["leads", "tenants", "events"])
def test_anon_is_refused_with_401(running_stack: RunningStack, tokens: dict[str, str], table: str) -> None:
    response = get(running_stack, tokens["anon"], table)
    assert response.status_code == 401
    assert response.json()["code"] == "42501" and set(response.json()) == ERROR_KEYS


def test_members_cannot_write_into_another_tenant(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    before = running_stack.sql("select count(*), max(updated_at) from public.leads")
    headers = running_stack.headers(tokens["anna"], Prefer="return=representation")
    insert = httpx.post(f"{running_stack.url}/rest/v1/leads", headers=headers,
                        json={"name": "Smuggled", "tenant_id": NORDLICHT})
    assert insert.status_code == 403 and insert.json()["code"] == "42501"
    update = httpx.patch(f"{running_stack.url}/rest/v1/leads", params={"id": f"eq.{OLIVIA}"}, headers=headers,
                         json={"name": "Renamed by Acme"})
    assert update.status_code == 200 and update.json() == []
    delete = httpx.delete(f"{running_stack.url}/rest/v1/leads", params={"id": f"eq.{OLIVIA}"}, headers=headers)
    assert delete.status_code == 200 and delete.json() == []
    nomad = httpx.post(f"{running_stack.url}/rest/v1/leads", headers=running_stack.headers(tokens["nomad"]),
                       json={"name": "Homeless"})
    assert nomad.status_code in (400, 403) and set(nomad.json()) == ERROR_KEYS
    assert running_stack.sql("select count(*), max(updated_at) from public.leads") == before


def forged(stack: RunningStack, kind: str) -> str:
    now = int(time.time())
    claims = {"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated", "tenant_id": ACME,
              "iat": now, "exp": now + 600}
    secret = stack.stack.jwt_secret
    if kind == "other secret":
        return jwt.encode(claims, "another-secret-that-is-at-least-32-characters", algorithm="HS256")
    if kind == "alg none":
        return jwt.encode({**claims, "role": "service_role"}, None, algorithm="none")
    if kind == "expired":
        return jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256")
    if kind == "unknown role":
        return jwt.encode({**claims, "role": "wizard"}, secret, algorithm="HS256")
    if kind == "superuser role":
        return jwt.encode({**claims, "role": "postgres"}, secret, algorithm="HS256")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("other secret", 401, "PGRST301"), ("alg none", 401, "PGRST301"), ("expired", 401, "PGRST303"),
     ("unknown role", 401, "22023"), ("superuser role", 403, "42501")],
)
def test_refused_tokens_write_nothing(running_stack: RunningStack, kind: str, status: int, code: str) -> None:
    before = running_stack.sql("select count(*) from public.leads")
    token = forged(running_stack, kind)
    response = httpx.post(f"{running_stack.url}/rest/v1/leads", headers=running_stack.headers(token),
                          json={"name": f"via {kind}"})
    assert response.status_code == status
    assert response.json()["code"] == code and set(response.json()) == ERROR_KEYS
    assert get(running_stack, token, "leads").status_code == status
    assert running_stack.sql("select count(*) from public.leads") == before


def test_a_missing_or_foreign_api_key_is_refused(running_stack: RunningStack) -> None:
    missing = httpx.get(f"{running_stack.url}/rest/v1/leads")
    assert missing.status_code == 401 and "No API key" in missing.json()["message"]
    foreign = httpx.get(f"{running_stack.url}/rest/v1/leads",
                        headers={"apikey": forged(running_stack, "other secret")})
    assert foreign.status_code == 401 and set(foreign.json()) == ERROR_KEYS


@pytest.mark.parametrize(
    ("params", "statuses"),
    [
        ({"name": "eq.x'); drop table public.leads; --"}, {200}),
        ({"name": "in.(a,b);drop table public.leads"}, {200, 400}),
        ({"order": "name;drop table public.leads"}, {400}),
        ({"order": "name.desc;delete from public.leads"}, {400}),
        ({"select": "id,(select count(*) from auth.users)"}, {400}),
        ({"select": "name::text);drop table public.leads;--"}, {400}),
        ({"select": "\"id\" from public.leads; drop table public.leads; --"}, {400}),
        ({"payload->>x') is null; drop table public.leads; --": "eq.1"}, {400}),
        ({"or": "(name.eq.a,id.eq.1);drop table public.leads"}, {400}),
        ({"limit": "1; drop table public.leads"}, {400}),
    ],
)
def test_injection_attempts_change_nothing(running_stack: RunningStack, tokens: dict[str, str],
                                           params: dict[str, str], statuses: set[int]) -> None:
    before = running_stack.sql("select count(*) from public.leads")
    response = get(running_stack, tokens["service"], "leads", **params)
    assert response.status_code in statuses, response.text
    if response.status_code >= 400:
        assert set(response.json()) == ERROR_KEYS
    else:
        assert response.json() == []
    assert running_stack.sql("select count(*) from public.leads") == before


def test_schemas_and_functions_outside_the_api_are_unreachable(running_stack: RunningStack,
                                                                tokens: dict[str, str]) -> None:
    service = tokens["service"]
    cases = [
        (httpx.get(f"{running_stack.url}/rest/v1/users", headers=running_stack.headers(service)), 404, "PGRST205"),
        (httpx.get(f"{running_stack.url}/rest/v1/users",
                   headers=running_stack.headers(service, **{"Accept-Profile": "auth"})), 406, "PGRST106"),
        (httpx.get(f"{running_stack.url}/rest/v1/dev_changes",
                   headers=running_stack.headers(service, **{"Accept-Profile": "realtime"})), 406, "PGRST106"),
        (httpx.post(f"{running_stack.url}/rest/v1/rpc/emit_event", headers=running_stack.headers(service),
                    json={"p_tenant_id": ACME, "p_type": "lead.created"}), 404, "PGRST202"),
        (httpx.post(f"{running_stack.url}/rest/v1/rpc/tenant_id",
                    headers=running_stack.headers(service, **{"Content-Profile": "private"}), json={}),
         406, "PGRST106"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["code"] == code and set(response.json()) == ERROR_KEYS
