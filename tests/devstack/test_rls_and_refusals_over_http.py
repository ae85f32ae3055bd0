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
    # One delivery per lead.created event, so event_deliveries has rows of both tenants to (not) read.
    running_stack.sql("insert into public.event_deliveries (event_id, handler, tenant_id, status) "
                      "select id, 'test.http_matrix', tenant_id, 'succeeded' from public.events "
                      "where type = 'lead.created' on conflict do nothing")
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


TENANT_COLUMN = {"leads": "tenant_id", "events": "tenant_id", "event_deliveries": "tenant_id",
                 "tenant_members": "tenant_id", "tenants": "id"}
SEES = {"anna": (ACME,), "bea": (NORDLICHT,), "service": (ACME, NORDLICHT), "nomad": ()}


def rows_per_tenant(stack: RunningStack, table: str) -> dict[str, int]:
    column = TENANT_COLUMN[table]
    return {str(t): int(n) for t, n in stack.sql(f"select {column}, count(*) from public.{table} group by 1")}


def snapshot(stack: RunningStack, table: str) -> list[tuple[Any, ...]]:
    """Every row of a table, as text: any insert, update or delete changes it."""
    return stack.sql(f"select count(*), md5(coalesce(string_agg(t::text, ',' order by t::text), '')) "
                     f"from public.{table} t")


@pytest.mark.parametrize("table", list(TENANT_COLUMN))
@pytest.mark.parametrize("who", list(SEES))
def test_each_caller_reads_exactly_its_tenants_rows(running_stack: RunningStack, tokens: dict[str, str], who: str,
                                                    table: str) -> None:
    """Not just "no foreign rows": every row of the caller's tenant, counted against the database."""
    truth = rows_per_tenant(running_stack, table)
    assert truth.get(ACME) and truth.get(NORDLICHT), f"{table} needs rows of both tenants for this test"
    column = TENANT_COLUMN[table]
    response = get(running_stack, tokens[who], table, select=column)
    assert response.status_code == 200, response.text
    seen: dict[str, int] = {}
    for row in response.json():
        seen[row[column]] = seen.get(row[column], 0) + 1
    assert seen == {tenant: truth[tenant] for tenant in SEES[who]}


CHANGE: dict[str, dict[str, Any]] = {"leads": {"notes": "overwritten"}, "events": {"status": "processed"},
                                     "event_deliveries": {"status": "failed"}, "tenants": {"name": "Taken over"},
                                     "tenant_members": {"role": "owner"}}


def writes(stack: RunningStack, token: str, table: str, body: dict[str, Any],
           target: dict[str, str]) -> list[tuple[str, httpx.Response]]:
    headers = stack.headers(token, Prefer="return=representation")
    url = f"{stack.url}/rest/v1/{table}"
    return [("insert", httpx.post(url, headers=headers, json=body)),
            ("update", httpx.patch(url, headers=headers, params=target, json=CHANGE[table])),
            ("delete", httpx.delete(url, headers=headers, params=target))]


def a_row_of(stack: RunningStack, table: str, tenant: str) -> dict[str, str]:
    if table == "event_deliveries":
        [(event_id,)] = stack.sql("select event_id::text from public.event_deliveries where tenant_id = %s limit 1",
                                  (tenant,))
        return {"event_id": f"eq.{event_id}"}
    if table == "tenants":
        return {"id": f"eq.{tenant}"}
    if table == "tenant_members":
        return {"tenant_id": f"eq.{tenant}"}
    [(row_id,)] = stack.sql(f"select id::text from public.{table} where tenant_id = %s limit 1", (tenant,))
    return {"id": f"eq.{row_id}"}


def new_row(stack: RunningStack, table: str, tenant: str) -> dict[str, Any]:
    if table == "events":
        return {"tenant_id": tenant, "type": "lead.created", "payload": {}}
    if table == "event_deliveries":
        [(event_id,)] = stack.sql("select id::text from public.events where tenant_id = %s and type <> 'lead.created' "
                                  "limit 1", (tenant,)) or [("00000000-0000-4000-8000-000000000000",)]
        return {"event_id": event_id, "handler": "forged", "tenant_id": tenant, "status": "succeeded"}
    if table == "tenants":
        return {"name": "Own tenant"}
    if table == "tenant_members":
        return {"tenant_id": tenant, "user_id": "a0000000-0000-4000-8000-000000000001", "role": "owner"}
    return {"name": "Smuggled", "tenant_id": tenant}


@pytest.mark.parametrize("table", list(TENANT_COLUMN))
def test_anon_can_neither_read_nor_write_any_table(running_stack: RunningStack, tokens: dict[str, str],
                                                   table: str) -> None:
    before = snapshot(running_stack, table)
    read = get(running_stack, tokens["anon"], table)
    assert read.status_code == 401 and read.json()["code"] == "42501"
    for what, response in writes(running_stack, tokens["anon"], table, new_row(running_stack, table, ACME),
                                 a_row_of(running_stack, table, ACME)):
        assert response.status_code == 401, (what, response.text)
        assert response.json()["code"] == "42501" and set(response.json()) == ERROR_KEYS, what
    assert snapshot(running_stack, table) == before


@pytest.mark.parametrize("table", ["events", "event_deliveries"])
@pytest.mark.parametrize("who", ["anna", "bea"])
def test_members_cannot_write_the_outbox_even_in_their_own_tenant(running_stack: RunningStack,
                                                                  tokens: dict[str, str], who: str,
                                                                  table: str) -> None:
    own = SEES[who][0]
    before = snapshot(running_stack, table)
    for tenant in (ACME, NORDLICHT):
        for what, response in writes(running_stack, tokens[who], table, new_row(running_stack, table, tenant),
                                     a_row_of(running_stack, table, tenant)):
            assert response.status_code == 403, (what, tenant == own, response.text)
            assert response.json()["code"] == "42501" and set(response.json()) == ERROR_KEYS
    assert snapshot(running_stack, table) == before


def test_tenancy_tables_refuse_cross_tenant_writes(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    tenants, members = snapshot(running_stack, "tenants"), snapshot(running_stack, "tenant_members")
    for who, other in (("anna", NORDLICHT), ("bea", ACME)):  # both are owners of their own tenant
        for table in ("tenants", "tenant_members"):
            for what, response in writes(running_stack, tokens[who], table, new_row(running_stack, table, other),
                                         a_row_of(running_stack, table, other)):
                if what == "insert" or (table == "tenants" and what == "delete"):
                    assert response.status_code == 403 and response.json()["code"] == "42501", (who, table, what)
                else:  # the other tenant's rows are invisible: nothing matches
                    assert response.status_code == 200 and response.json() == [], (who, table, what, response.text)
    assert (snapshot(running_stack, "tenants"), snapshot(running_stack, "tenant_members")) == (tenants, members)


def test_members_write_their_own_tenants_leads_and_not_the_others(running_stack: RunningStack,
                                                                  tokens: dict[str, str]) -> None:
    """The positive half of the matrix: isolation that refused every write would pass the other tests."""
    url = f"{running_stack.url}/rest/v1/leads"
    anna = running_stack.headers(tokens["anna"], Prefer="return=representation")
    bea = running_stack.headers(tokens["bea"], Prefer="return=representation")
    made = httpx.post(url, headers=anna, json={"name": "Anna's own"})
    assert made.status_code == 201 and made.json()[0]["tenant_id"] == ACME
    lead = {"id": f"eq.{made.json()[0]['id']}"}
    assert httpx.patch(url, headers=bea, params=lead, json={"notes": "by Bea"}).json() == []
    assert httpx.delete(url, headers=bea, params=lead).json() == []
    assert running_stack.sql("select notes from public.leads where id = %s", (made.json()[0]["id"],)) == [(None,)]
    changed = httpx.patch(url, headers=anna, params=lead, json={"notes": "by Anna"})
    assert changed.status_code == 200 and [r["notes"] for r in changed.json()] == ["by Anna"]
    service = running_stack.headers(tokens["service"], Prefer="return=representation")
    assert [r["name"] for r in httpx.get(url, headers=service, params={**lead, "select": "name"}).json()] == [
        "Anna's own"]
    gone = httpx.delete(url, headers=anna, params=lead)
    assert gone.status_code == 200 and len(gone.json()) == 1
    assert running_stack.sql("select count(*) from public.leads where id = %s", (made.json()[0]["id"],)) == [(0,)]


def test_a_removed_member_holding_a_valid_token_reads_and_writes_nothing(running_stack: RunningStack) -> None:
    token = running_stack.sign_in("ben@acme.test")["access_token"]
    ben = "a0000000-0000-4000-8000-000000000002"
    [(role,)] = running_stack.sql("delete from public.tenant_members where tenant_id = %s and user_id = %s "
                                  "returning role", (ACME, ben))
    try:
        leads = snapshot(running_stack, "leads")
        for table in TENANT_COLUMN:
            response = get(running_stack, token, table)
            assert response.status_code == 200 and response.json() == [], table
        headers = running_stack.headers(token, Prefer="return=representation")
        url = f"{running_stack.url}/rest/v1/leads"
        insert = httpx.post(url, headers=headers, json={"name": "After removal"})
        assert insert.status_code in (400, 403) and set(insert.json()) == ERROR_KEYS
        update = httpx.patch(url, headers=headers, params={"tenant_id": f"eq.{ACME}"}, json={"notes": "x"})
        assert update.status_code == 200 and update.json() == []
        delete = httpx.delete(url, headers=headers, params={"tenant_id": f"eq.{ACME}"})
        assert delete.status_code == 200 and delete.json() == []
        assert snapshot(running_stack, "leads") == leads
    finally:
        running_stack.sql("insert into public.tenant_members (tenant_id, user_id, role) values (%s, %s, %s)",
                          (ACME, ben, role))


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
        return jwt.encode({**claims, "role": "service_role"}, "", algorithm="none")
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


def test_refused_requests_leave_the_stack_serving_correct_answers(running_stack: RunningStack,
                                                                   tokens: dict[str, str]) -> None:
    """A refusal rolls its transaction back; the pooled connection must serve later requests normally
    (it once answered every later request with 26000 "prepared statement _pg3_N does not exist")."""
    url = f"{running_stack.url}/rest/v1/leads"
    anna = running_stack.headers(tokens["anna"], Prefer="return=representation")
    expected = running_stack.sql("select count(*) from public.leads where tenant_id = %s", (ACME,))[0][0]
    for attempt in range(15):
        refused = httpx.post(url, headers=anna, json={"name": "Smuggled", "tenant_id": NORDLICHT})
        assert refused.status_code == 403 and refused.json()["code"] == "42501", (attempt, refused.text)
        read = httpx.get(url, headers=anna, params={"select": "id"})
        assert read.status_code == 200 and len(read.json()) == expected, (attempt, read.text)
        # a singular write that matches many rows is refused inside an explicit transaction (the other path)
        singular = httpx.patch(url, headers={**anna, "Accept": "application/vnd.pgrst.object+json"},
                               params={"tenant_id": f"eq.{ACME}"}, json={"notes": "one of many"})
        assert singular.status_code == 406 and singular.json()["code"] == "PGRST116", (attempt, singular.text)
    assert running_stack.sql("select count(*) from public.leads where notes = 'one of many'") == [(0,)]


@pytest.mark.parametrize(
    "params",
    [
        {"name": "eq.x' or '1'='1"},
        {"name": "eq.x\") or true or (\"a"},
        {"id": "in.(00000000-0000-4000-8000-000000000000) or true"},
        {"or": "(name.eq.x,true)"},
        {"name\" is not null or \"name": "eq.x"},
        {"name": "like.*';delete from public.leads;--"},
    ],
)
def test_injection_through_write_filters_changes_nothing(running_stack: RunningStack, tokens: dict[str, str],
                                                         params: dict[str, str]) -> None:
    """With the service key (no RLS to hide behind), a filter that tried to widen a PATCH or DELETE to every
    row must match nothing or be refused."""
    before = snapshot(running_stack, "leads")
    headers = running_stack.headers(tokens["service"], Prefer="return=representation")
    url = f"{running_stack.url}/rest/v1/leads"
    for response in (httpx.patch(url, headers=headers, params=params, json={"notes": "pwned"}),
                     httpx.delete(url, headers=headers, params=params)):
        if response.status_code == 200:
            assert response.json() == [], response.text
        else:
            assert response.status_code == 400 and set(response.json()) == ERROR_KEYS, response.text
    assert snapshot(running_stack, "leads") == before


def test_injection_through_column_names_in_a_body_is_refused(running_stack: RunningStack,
                                                             tokens: dict[str, str]) -> None:
    before = snapshot(running_stack, "leads")
    headers = running_stack.headers(tokens["service"])
    url = f"{running_stack.url}/rest/v1/leads"
    for body in ({"name": "x", "tenant_id": ACME, "notes\") values ('a'); delete from public.leads; --": "y"},
                 [{"name": "x", "tenant_id": ACME}, {"name); drop table public.leads; --": "y"}]):
        response = httpx.post(url, headers=headers, json=body)
        assert response.status_code == 400 and set(response.json()) == ERROR_KEYS, response.text
    changed = httpx.patch(url, headers=headers, params={"id": "eq.00000000-0000-4000-8000-000000000000"},
                          json={"notes = 'x' where true; --": "y"})
    assert changed.status_code == 400 and set(changed.json()) == ERROR_KEYS, changed.text
    assert snapshot(running_stack, "leads") == before


def test_an_owner_manages_her_own_tenant_over_http(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    """The positive half for the tenancy tables: what the cross-tenant refusals must not take away."""
    headers = running_stack.headers(tokens["anna"], Prefer="return=representation")
    tenants, members = f"{running_stack.url}/rest/v1/tenants", f"{running_stack.url}/rest/v1/tenant_members"
    [(name,)] = running_stack.sql("select name from public.tenants where id = %s", (ACME,))
    try:
        renamed = httpx.patch(tenants, headers=headers, params={"id": f"eq.{ACME}"}, json={"name": "Acme GmbH"})
        assert renamed.status_code == 200 and [t["name"] for t in renamed.json()] == ["Acme GmbH"]
        nomad = "d0000000-0000-4000-8000-000000000001"
        added = httpx.post(members, headers=headers, json={"tenant_id": ACME, "user_id": nomad, "role": "member"})
        assert added.status_code == 201, added.text
        removed = httpx.delete(members, headers=headers, params={"tenant_id": f"eq.{ACME}", "user_id": f"eq.{nomad}"})
        assert removed.status_code == 200 and len(removed.json()) == 1
    finally:
        running_stack.sql("update public.tenants set name = %s where id = %s", (name, ACME))
        running_stack.sql("delete from public.tenant_members where user_id = 'd0000000-0000-4000-8000-000000000001'")
