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
