"""supabase-py (sync and async) against the local stack's PostgREST contract, as the product uses it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from postgrest.exceptions import APIError

from supabase import Client, acreate_client, create_client
from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import PASSWORD, RunningStack

JULIA = "10000000-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def leave_no_rows_behind(running_stack: RunningStack) -> Iterator[None]:
    """Tests share this module's stack: each one's leads (company `pytest-*`) go when it ends, so no test's
    expected rows depend on which tests ran before it."""
    yield
    running_stack.sql("delete from public.leads where company like 'pytest-%%'")


@pytest.fixture(scope="module")
def anna(running_stack: RunningStack) -> Client:
    client = create_client(running_stack.url, running_stack.stack.anon_key)
    client.auth.sign_in_with_password({"email": "anna@acme.test", "password": PASSWORD})
    return client


@pytest.fixture(scope="module")
def service(running_stack: RunningStack) -> Client:
    return create_client(running_stack.url, running_stack.stack.service_role_key)


def test_select_with_filters_order_and_count(anna: Client) -> None:
    result = (
        anna.table("leads").select("name,status,score", count="exact")
        .in_("status", ["new", "contacted", "qualified"]).gte("score", 30).order("score", desc=True).execute()
    )
    assert [r["name"] for r in result.data] == ["Lena Fischer", "Tobias Wagner", "Julia Becker"]
    assert result.count == 3
    assert set(result.data[0]) == {"name", "status", "score"}


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda q: q.eq("temperature", "hot").neq("status", "won"), {"Lena Fischer", "Stefan Huber", "Felix Braun"}),
        (lambda q: q.ilike("email", "%@example.de"), {"Julia Becker", "Felix Braun"}),
        (lambda q: q.like("company", "Becker*"), {"Julia Becker"}),
        (lambda q: q.is_("email", "null"), {"Mia Schulz"}),
        (lambda q: q.lt("score", 20), {"Sophie Keller"}),
        (lambda q: q.lte("score", 20).gt("score", 10), {"Mia Schulz"}),
        (lambda q: q.contains("tags", ["demo"]).eq("source_channel", "referral"), {"Stefan Huber"}),
        (lambda q: q.contained_by("tags", ["demo", "vip"]).eq("status", "lost"), {"Sophie Keller"}),
        (lambda q: q.not_.in_("status", ["new", "contacted", "qualified", "proposal", "lost"]), {"Felix Braun"}),
        (lambda q: q.or_("score.gte.85,and(status.eq.new,temperature.eq.cold)"), {"Felix Braun", "Mia Schulz"}),
    ],
)
def test_filter_operators(anna: Client, build: object, expected: set[str]) -> None:
    query = anna.table("leads").select("name").or_("company.is.null,company.not.like.pytest-*")
    result = build(query).execute()  # type: ignore[operator]
    assert {r["name"] for r in result.data} == expected


def test_embedding_aliases_and_casts(anna: Client) -> None:
    lead = (
        anna.table("leads").select("id,label:name,score::text,tenant:tenants(name),owner_id")
        .eq("id", JULIA).single().execute()
    ).data
    assert lead == {"id": JULIA, "label": "Julia Becker", "score": "35", "tenant": {"name": "Acme Sales"},
                    "owner_id": "a0000000-0000-4000-8000-000000000001"}
    tenant = anna.table("tenants").select("name,leads(name)").eq("leads.status", "won").single().execute().data
    assert tenant == {"name": "Acme Sales", "leads": []}
    tenant = anna.table("tenants").select("name,leads(name)").eq("leads.status", "proposal").single().execute().data
    assert tenant["leads"] == [{"name": "Stefan Huber"}]


def test_range_with_exact_count(anna: Client) -> None:
    page = anna.table("leads").select("name", count="exact").order("name").range(2, 4).execute()
    assert page.count == 7
    assert [r["name"] for r in page.data] == ["Lena Fischer", "Mia Schulz", "Sophie Keller"]
    tail = anna.table("leads").select("name").order("name").limit(2).offset(5).execute()
    assert [r["name"] for r in tail.data] == ["Stefan Huber", "Tobias Wagner"]


def test_single_refuses_zero_or_many_rows(anna: Client) -> None:
    with pytest.raises(APIError) as many:
        anna.table("leads").select("id").single().execute()
    assert many.value.code == "PGRST116"
    assert anna.table("leads").select("id").eq("name", "nobody").maybe_single().execute() is None


def test_insert_bulk_upsert_update_delete(anna: Client) -> None:
    company = f"pytest-{uuid.uuid4().hex[:8]}"
    one = anna.table("leads").insert({"name": "Ada", "company": company, "score": 10}).execute().data
    assert one[0]["tenant_id"] == ACME and one[0]["status"] == "new"
    bulk = anna.table("leads").insert([
        {"name": "Bo", "company": company, "email": f"bo@{company}.de"},
        {"name": "Cy", "company": company},
    ]).execute().data
    assert [r["name"] for r in bulk] == ["Bo", "Cy"] and bulk[1]["email"] is None
    merged = anna.table("leads").upsert({"id": one[0]["id"], "name": "Ada Lovelace", "company": company}).execute()
    assert merged.data[0]["name"] == "Ada Lovelace" and merged.data[0]["score"] == 10
    ignored = anna.table("leads").upsert(
        {"id": one[0]["id"], "name": "Not applied", "company": company}, ignore_duplicates=True).execute()
    assert ignored.data == []
    changed = anna.table("leads").update({"status": "contacted", "score": 40}).eq("company", company) \
        .eq("name", "Bo").execute().data
    assert changed[0]["status"] == "contacted" and changed[0]["score"] == 40
    gone = anna.table("leads").delete().eq("company", company).execute().data
    assert sorted(r["name"] for r in gone) == ["Ada Lovelace", "Bo", "Cy"]
    assert anna.table("leads").select("id").eq("company", company).execute().data == []


def test_writes_publish_events_in_the_same_transaction(anna: Client, service: Client) -> None:
    lead = anna.table("leads").insert({"name": "Eve", "company": "pytest-events"}).execute().data[0]
    events = service.table("events").select("type,tenant_id,payload->>lead_id").eq(
        "payload->>lead_id", lead["id"]).execute().data
    assert events == [{"type": "lead.created", "tenant_id": ACME, "lead_id": lead["id"]}]


def test_rpc_by_post_and_get(service: Client) -> None:
    event_id = service.rpc("publish_event", {"p_tenant_id": NORDLICHT, "p_type": "lead.updated",
                                              "p_payload": {"lead_id": "x", "changes": {}},
                                              "p_run_after_seconds": 600}).execute().data
    stored = service.table("events").select("tenant_id,type,status").eq("id", event_id).single().execute().data
    assert stored == {"tenant_id": NORDLICHT, "type": "lead.updated", "status": "pending"}
    backlog = service.rpc("event_backlog", {}).execute().data
    assert backlog[0]["pending"] >= 1
    due = service.rpc("next_event_due", {}, get=True).execute()  # the delayed event is the next one due
    assert isinstance(due.data, float) and 300 < due.data <= 600
    hook = service.rpc("custom_access_token_hook", {"event": {
        "user_id": "c0000000-0000-4000-8000-000000000001", "claims": {"app_metadata": {}}}}).execute().data
    assert hook["claims"]["tenant_id"] == ACME  # no preference: the oldest membership


def test_errors_carry_postgrest_codes(anna: Client) -> None:
    company = f"pytest-{uuid.uuid4().hex[:8]}"
    anna.table("leads").insert({"name": "Dup", "email": f"dup@{company}.de", "company": company}).execute()
    cases = [
        (lambda: anna.table("leads").insert({"name": "Dup2", "email": f"DUP@{company}.de"}).execute(), "23505"),
        (lambda: anna.table("leads").insert({"name": "Bad", "status": "nonsense"}).execute(), "23514"),
        (lambda: anna.table("leads").select("id").eq("id", "not-a-uuid").execute(), "22P02"),
        (lambda: anna.table("leads").insert({"email": "x@y.de"}).execute(), "23502"),
        (lambda: anna.table("leads").select("nope").execute(), "42703"),
        (lambda: anna.table("leads").insert({"nope": 1}).execute(), "PGRST204"),
        (lambda: anna.table("no_such_table").select("*").execute(), "PGRST205"),
        (lambda: anna.rpc("publish_event", {"p_tenant_id": ACME, "p_type": "lead.created"}).execute(), "42501"),
        (lambda: anna.rpc("emit_event", {"p_tenant_id": ACME}).execute(), "PGRST202"),
        (lambda: anna.table("leads").select("name,tenant:nothing(name)").execute(), "PGRST200"),
    ]
    for call, code in cases:
        with pytest.raises(APIError) as err:
            call()
        assert err.value.code == code, (code, err.value)
        assert err.value.message


async def test_async_client_reads_writes_and_rpc(running_stack: RunningStack) -> None:
    bea = await acreate_client(running_stack.url, running_stack.stack.anon_key)
    await bea.auth.sign_in_with_password({"email": "bea@nordlicht.test", "password": PASSWORD})
    leads = await bea.table("leads").select("name,tenant:tenants(name)", count="exact").order("name").execute()
    assert leads.count == 5 and leads.data[0] == {"name": "Ava Rossi", "tenant": {"name": "Nordlicht Vertrieb"}}
    made = await bea.table("leads").insert({"name": "Async Lead", "company": "pytest-async"}).execute()
    assert made.data[0]["tenant_id"] == NORDLICHT
    one = await bea.table("leads").select("name").eq("id", made.data[0]["id"]).single().execute()
    assert one.data == {"name": "Async Lead"}
    await bea.table("leads").delete().eq("id", made.data[0]["id"]).execute()
    with pytest.raises(APIError) as err:
        await bea.rpc("claim_events", {"p_worker": "w", "p_batch": 1, "p_lease_seconds": 10}).execute()
    assert err.value.code == "42501"
    service = await acreate_client(running_stack.url, running_stack.stack.service_role_key)
    backlog = await service.rpc("event_backlog", {}).execute()
    assert "pending" in backlog.data[0]
