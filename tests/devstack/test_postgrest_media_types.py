"""Content negotiation on the wire, from PostgREST's API reference (docs.postgrest.org,
references/api/resource_representation; configuration `db-plan-enabled`, default false; errors PGRST107)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from supabase import Client, create_client
from tests.devstack.conftest import PASSWORD, RunningStack
from tests.devstack.postgrest_tables import create_tables

ERROR_KEYS = {"code", "message", "details", "hint"}


@pytest.fixture(scope="module")
def stack(running_stack: RunningStack) -> Iterator[RunningStack]:
    create_tables(running_stack)
    yield running_stack


@pytest.fixture(scope="module")
def member(stack: RunningStack) -> dict[str, str]:
    return stack.headers(stack.sign_in("anna@acme.test")["access_token"])


@pytest.fixture(scope="module")
def anna(stack: RunningStack) -> Client:
    client = create_client(stack.url, stack.stack.anon_key)
    client.auth.sign_in_with_password({"email": "anna@acme.test", "password": PASSWORD})
    return client


def test_text_csv_answers_a_header_and_one_line_per_row(stack: RunningStack, member: dict[str, str]) -> None:
    """docs: `text/csv` is a builtin handler for all API endpoints. Each line is the row's record text, as
    PostgREST builds it: values with commas, quotes or spaces quoted, an absent value empty."""
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id,name,score", "order": "id",
                                                                     "id": "in.(1,4,5)"},
                         headers={**member, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == 'id,name,score\n1,Anna,10\n4,"Oskar Dean",\n5,"Paul, ""P"" (II)",50'
    function = httpx.get(f"{stack.url}/rest/v1/rpc/pgrst_spans_all", params={"select": "id,nick", "id": "lt.3",
                                                                            "order": "id"},
                         headers={**member, "Accept": "text/csv"})
    assert function.status_code == 200 and function.text == "id,nick\n1,anna\n2,arne"
    nothing = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"id": "eq.99"},
                        headers={**member, "Accept": "text/csv"})
    assert nothing.status_code == 200 and nothing.text == "\n"


def test_csv_through_supabase_py(anna: Client) -> None:
    result = anna.table("pgrst_spans").select("id,nick").lt("id", 3).order("id").csv().execute()
    assert result.data == "id,nick\n1,anna\n2,arne"


def test_nulls_stripped_leaves_out_null_values(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (stripped_nulls): `application/vnd.pgrst.array+json;nulls=stripped` removes keys whose value is null."""
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id,meta,score", "id": "in.(3,4)",
                                                                     "order": "id"},
                         headers={**member, "Accept": "application/vnd.pgrst.array+json;nulls=stripped"})
    assert response.status_code == 200 and response.json() == [{"id": 3, "score": 30}, {"id": 4, "meta": {"a": 3}}]


@pytest.mark.parametrize(
    ("accept", "listed"),
    [
        ("application/vnd.pgrst.plan", 'application/vnd.pgrst.plan+text; for="application/json"'),
        ("application/vnd.pgrst.plan+json", 'application/vnd.pgrst.plan+json; for="application/json"'),
        # what supabase-js `explain({ analyze: true })` sends
        ('application/vnd.pgrst.plan+text; for="application/json"; options=analyze;',
         'application/vnd.pgrst.plan+text; for="application/json"; options=analyze'),
        ("unknown/unknown", "unknown/unknown"),
        ("application/geo+json", "application/geo+json"),  # needs PostGIS, which is not installed
    ],
)
@pytest.mark.parametrize("path", ["pgrst_spans", "rpc/pgrst_spans_all"])
def test_the_plan_and_unknown_media_types_are_not_acceptable(stack: RunningStack, member: dict[str, str],
                                                              accept: str, listed: str, path: str) -> None:
    """With `db-plan-enabled = false` (PostgREST's default and Supabase's), the plan media type is not
    available: 406 PGRST107 "None of these media types are available: …" (415 before PostgREST v12.1)."""
    response = httpx.get(f"{stack.url}/rest/v1/{path}", headers={**member, "Accept": accept})
    assert response.status_code == 406, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"code": "PGRST107", "details": None, "hint": None,
                               "message": f"None of these media types are available: {listed}"}


def test_the_first_acceptable_type_is_chosen(stack: RunningStack, member: dict[str, str]) -> None:
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id", "id": "eq.1"},
                         headers={**member, "Accept": "application/vnd.pgrst.plan, text/csv;q=0.5, */*;q=0.1"})
    assert response.status_code == 200 and response.text == "id\n1"


def test_explain_through_supabase_py_is_refused_like_supabase(anna: Client) -> None:
    from postgrest.exceptions import APIError

    with pytest.raises(APIError) as refused:
        anna.table("pgrst_spans").select("id").explain().execute()
    assert refused.value.code == "PGRST107"


@pytest.fixture
def no_new_members(stack: RunningStack) -> Iterator[None]:
    yield
    stack.sql("delete from public.pgrst_members where id > 2")


def test_csv_and_form_request_bodies_insert_rows(stack: RunningStack, member: dict[str, str],
                                                 no_new_members: None) -> None:
    """docs (bulk_insert, req_body): POST `text/csv` with the column names as the first line; an empty field is
    an empty string and `NULL` is null; `application/x-www-form-urlencoded` posts one row."""
    url = f"{stack.url}/rest/v1/pgrst_members"
    csv_rows = httpx.post(url, content=b'email,name,visits\nh@example.de,"Hein, Jr.",2\ni@example.de,,7\n',
                          headers={**member, "Content-Type": "text/csv", "Prefer": "return=representation"})
    assert csv_rows.status_code == 201, csv_rows.text
    assert [(r["email"], r["name"], r["visits"]) for r in csv_rows.json()] == [
        ("h@example.de", "Hein, Jr.", 2), ("i@example.de", "", 7)]
    ragged = httpx.post(url, content=b"email,name\nj@example.de\n", headers={**member, "Content-Type": "text/csv"})
    assert ragged.status_code == 400 and ragged.json()["code"] == "PGRST102"
    form = httpx.post(url, content=b"email=k%40example.de&name=Kai+Uwe&visits=5",
                      headers={**member, "Content-Type": "application/x-www-form-urlencoded",
                               "Prefer": "return=representation"})
    assert form.status_code == 201 and [(r["email"], r["name"]) for r in form.json()] == [("k@example.de", "Kai Uwe")]


def test_an_unknown_request_content_type_is_refused(stack: RunningStack, member: dict[str, str]) -> None:
    """PostgREST answers 400 PGRST102 "Content-Type not acceptable: <type>" for a body it cannot read."""
    response = httpx.post(f"{stack.url}/rest/v1/pgrst_members", content=b"<member/>",
                          headers={**member, "Content-Type": "application/xml"})
    assert response.status_code == 400
    assert response.json()["message"] == "Content-Type not acceptable: application/xml"
    assert stack.sql("select count(*) from public.pgrst_members") == [(2,)]


def test_a_raw_text_body_goes_to_a_single_unnamed_text_parameter(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (function_single_unnamed): "To send raw text, the parameter type must be text and the header
    Content-Type: text/plain must be included in the request"."""
    response = httpx.post(f"{stack.url}/rest/v1/rpc/pgrst_shout", content="grüezi".encode(),
                          headers={**member, "Content-Type": "text/plain"})
    assert response.status_code == 200 and response.json() == "GRÜEZI!"


def test_arrows_reach_into_array_columns(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (composite_array_columns): `->`/`->>` also access array elements (PostgREST applies them to
    to_jsonb(<col>)), in select, filters and order."""
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans",
                         params={"select": "id,first:tags->>0", "tags->>0": "eq.red",
                                 "order": "tags->>1.desc.nullslast,id"},
                         headers=member)
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": 1, "first": "red"}, {"id": 5, "first": "red"}]
