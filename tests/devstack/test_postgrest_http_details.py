"""PostgREST details the clients rely on, checked on the wire: Range, HEAD with count, Prefer handling,
missing=default, RPC by GET with filters, the object media type on writes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ACME
from tests.devstack.conftest import RunningStack


@pytest.fixture(autouse=True)
def leave_no_rows_behind(running_stack: RunningStack) -> Iterator[None]:
    """Tests share this module's stack: each one's leads (company `pytest-*`) go when it ends, so no test's
    expected rows depend on which tests ran before it."""
    yield
    running_stack.sql("delete from public.leads where company like 'pytest-%%'")


def test_range_header_and_content_range(running_stack: RunningStack) -> None:
    token = running_stack.sign_in("anna@acme.test")["access_token"]
    response = httpx.get(f"{running_stack.url}/rest/v1/leads", params={"select": "name", "order": "name"},
                         headers=running_stack.headers(token, Range="1-2", Prefer="count=exact"))
    assert response.status_code == 206
    assert response.headers["content-range"] == "1-2/7"
    assert [r["name"] for r in response.json()] == ["Julia Becker", "Lena Fischer"]
    head = httpx.head(f"{running_stack.url}/rest/v1/leads",
                      headers=running_stack.headers(token, Prefer="count=exact"))
    assert head.status_code == 200 and head.headers["content-range"] == "0-6/7" and head.content == b""
    beyond = httpx.get(f"{running_stack.url}/rest/v1/leads", params={"offset": "50"},
                       headers=running_stack.headers(token, Prefer="count=exact"))
    assert beyond.status_code == 416 and beyond.json()["code"] == "PGRST103"


def test_bulk_insert_missing_default_and_minimal_return(running_stack: RunningStack) -> None:
    token = running_stack.sign_in("anna@acme.test")["access_token"]
    rows = [{"name": "Md one", "score": 5, "company": "pytest-md"}, {"name": "Md two", "company": "pytest-md"}]
    nulls = httpx.post(f"{running_stack.url}/rest/v1/leads", params={"columns": '"name","score","company"'}, json=rows,
                       headers=running_stack.headers(token, Prefer="return=representation"))
    assert nulls.status_code == 400 and nulls.json()["code"] == "23502"  # score: explicit NULL
    assert running_stack.sql("select count(*) from public.leads where company = 'pytest-md'") == [(0,)]
    defaults = httpx.post(f"{running_stack.url}/rest/v1/leads", params={"columns": '"name","score","company"'},
                          json=rows,
                          headers=running_stack.headers(token, Prefer="return=representation,missing=default"))
    assert defaults.status_code == 201 and [r["score"] for r in defaults.json()] == [5, 0]
    assert "missing=default" in defaults.headers["preference-applied"]
    minimal = httpx.post(f"{running_stack.url}/rest/v1/leads", json={"name": "Md three", "company": "pytest-md"},
                         headers=running_stack.headers(token, Prefer="return=minimal"))
    assert minimal.status_code == 201 and minimal.content == b""
    assert running_stack.sql("select tenant_id::text from public.leads where name = 'Md three'") == [(ACME,)]
    single = httpx.patch(f"{running_stack.url}/rest/v1/leads", params={"name": "like.Md*"}, json={"score": 9},
                         headers=running_stack.headers(token, Prefer="return=representation",
                                                       Accept="application/vnd.pgrst.object+json"))
    assert single.status_code == 406 and single.json()["code"] == "PGRST116"
    untouched = running_stack.sql("select count(*) from public.leads where name like 'Md%%' and score = 9")
    assert untouched == [(0,)]  # a refused singular write is rolled back


def test_rpc_by_get_with_arguments_and_filters(running_stack: RunningStack) -> None:
    service = running_stack.stack.service_role_key
    worker = "http-details"
    published = httpx.post(f"{running_stack.url}/rest/v1/rpc/publish_event", headers=running_stack.headers(service),
                           json={"p_tenant_id": ACME, "p_type": "lead.updated", "p_payload": {"lead_id": "x"}})
    assert published.status_code == 200
    claimed = httpx.post(f"{running_stack.url}/rest/v1/rpc/claim_events", headers=running_stack.headers(service),
                         params={"select": "id,type", "type": "eq.lead.updated"},
                         json={"p_worker": worker, "p_batch": 1000, "p_lease_seconds": 30})
    assert claimed.status_code == 200
    assert published.json() in [e["id"] for e in claimed.json()]
    assert all(set(e) == {"id", "type"} for e in claimed.json())
    backlog = httpx.get(f"{running_stack.url}/rest/v1/rpc/event_backlog", headers=running_stack.headers(service),
                        params={"select": "pending"})
    assert backlog.status_code == 200 and list(backlog.json()[0]) == ["pending"]
    volatile_by_get = httpx.get(f"{running_stack.url}/rest/v1/rpc/release_events",
                                headers=running_stack.headers(service),
                                params={"p_worker": worker, "p_event_ids": "{}"})
    assert volatile_by_get.status_code == 405 and volatile_by_get.json()["code"] == "25006"


def test_embedded_filters_order_limit_and_inner(running_stack: RunningStack) -> None:
    token = running_stack.sign_in("anna@acme.test")["access_token"]
    url = f"{running_stack.url}/rest/v1/tenants"
    ordered = httpx.get(url, params={"select": "name,leads(name)", "leads.order": "name.desc", "leads.limit": "2",
                                     "leads.name": "like.*e*"}, headers=running_stack.headers(token))
    assert ordered.status_code == 200
    assert ordered.json() == [{"name": "Acme Sales", "leads": [{"name": "Tobias Wagner"}, {"name": "Stefan Huber"}]}]
    inner_none = httpx.get(url, params={"select": "name,leads!inner(name)", "leads.status": "eq.won"},
                           headers=running_stack.headers(token))
    assert inner_none.status_code == 200 and inner_none.json() == []
    inner_some = httpx.get(url, params={"select": "name,leads!inner(name)", "leads.status": "eq.lost"},
                           headers=running_stack.headers(token))
    assert inner_some.json() == [{"name": "Acme Sales", "leads": [{"name": "Sophie Keller"}]}]
    ambiguous_hint = httpx.get(url, params={"select": "name,leads!no_such_fk(name)"},
                               headers=running_stack.headers(token))
    assert ambiguous_hint.status_code == 400 and ambiguous_hint.json()["code"] == "PGRST200"
