"""PostgREST's filter grammar on the wire, each case taken from its API reference (docs.postgrest.org,
references/api/tables_views: Operators, Logical operators, Operator Modifiers, Full-Text Search;
references/api/url_grammar: Reserved characters). Expected rows are what PostgREST answers there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.devstack.conftest import RunningStack
from tests.devstack.postgrest_tables import create_tables

ERROR_KEYS = {"code", "message", "details", "hint"}


@pytest.fixture(scope="module")
def stack(running_stack: RunningStack) -> Iterator[RunningStack]:
    create_tables(running_stack)
    yield running_stack


@pytest.fixture(scope="module")
def member(stack: RunningStack) -> dict[str, str]:
    return stack.headers(stack.sign_in("anna@acme.test")["access_token"])


def ids(stack: RunningStack, headers: dict[str, str], params: dict[str, str] | list[tuple[str, str]]) -> Any:
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params=[*dict(params).items(), ("select", "id"),
                                                                     ("order", "id")], headers=headers)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # the operator table, one row each
        ({"name": "eq.Anna"}, [1]),
        ({"score": "gt.20"}, [3, 5]),
        ({"score": "gte.20"}, [2, 3, 5]),
        ({"score": "lt.20"}, [1]),
        ({"score": "lte.20"}, [1, 2]),
        ({"score": "neq.10"}, [2, 3, 5]),
        ({"name": "like.O*"}, [3, 4]),  # `*` is an alias of `%`
        ({"name": "ilike.*HANSEN"}, [3]),
        ({"name": "match.^O"}, [3, 4]),
        ({"name": "imatch.dean$"}, [4]),
        ({"name": 'in.(Anna,"Paul, \\"P\\" (II)")'}, [1, 5]),  # quoted commas, escaped quotes, parentheses
        ({"score": "is.null"}, [4]),
        ({"score": "is.not_null"}, [1, 2, 3, 5]),
        ({"score": "isdistinct.10"}, [2, 3, 4, 5]),  # not equal, treating NULL as a comparable value
        ({"doc": "fts(german).Katze"}, [1, 3]),  # fts with a language: German stems Katzen and Katze alike
        ({"doc": "not.fts(german).Hund"}, [1]),
        ({"body": "plfts(english).fat cats"}, [1, 5]),  # a text column is converted with to_tsvector()
        ({"body": "phfts(english).cats ate"}, [1]),
        ({"body": 'wfts(english)."fat cat" -rats'}, [5]),
        ({"tags": "cs.{blue}"}, [1, 2]),
        ({"tags": "cd.{red,blue}"}, [1, 2, 4, 5]),
        ({"tags": "ov.{red,green}"}, [1, 3, 5]),
        ({"meta": 'cs.{"a": 2}'}, [2]),
        ({"during": "cs.[7,8)"}, [2]),
        ({"during": "ov.[3,6)"}, [1, 2]),
        ({"during": "sl.[10,15)"}, [1, 2]),  # strictly left of
        ({"during": "sr.(5,12)"}, [4]),  # strictly right of
        ({"during": "nxr.[1,10)"}, [1, 2]),  # does not extend to the right of
        ({"during": "nxl.[10,30)"}, [3, 4]),  # does not extend to the left of
        ({"during": "adj.[5,10)"}, [1, 3]),  # is adjacent to
        ({"name": "not.like.O*"}, [1, 2, 5]),
        ({"during": "not.adj.[5,10)"}, [2, 4, 5]),
    ],
)
def test_every_operator_of_the_operator_table_finds_the_documented_rows(
        stack: RunningStack, member: dict[str, str], params: dict[str, str], expected: list[int]) -> None:
    assert ids(stack, member, params) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # docs: `last_name=like(any).{O*,P*}` and `last_name=like(all).{O*,*n}`
        ({"name": "like(any).{O*,P*}"}, [3, 4, 5]),
        ({"name": "like(all).{O*,*n}"}, [3, 4]),
        ({"name": "like(all).{A*,*n}"}, [2]),  # answered `200 []` before: the modifier was ignored
        ({"name": "ilike(any).{*HANSEN,anna}"}, [1, 3]),
        ({"name": "eq(any).{Anna,Oskar Dean}"}, [1, 4]),
        ({"score": "gt(all).{5,15}"}, [2, 3, 5]),
        ({"score": "gte(any).{30,40}"}, [3, 5]),
        ({"score": "lt(any).{15,25}"}, [1, 2]),
        ({"score": "lte(all).{30,40}"}, [1, 2, 3]),
        ({"name": "match(any).{^Ann,Dean$}"}, [1, 4]),
        ({"name": "imatch(all).{^o,N$}"}, [3, 4]),
        ({"name": "not.like(any).{O*,P*}"}, [1, 2]),
    ],
)
def test_any_and_all_modifiers_match_any_or_all_of_the_listed_values(
        stack: RunningStack, member: dict[str, str], params: dict[str, str], expected: list[int]) -> None:
    assert ids(stack, member, params) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # docs: values holding reserved characters are double-quoted inside logic trees
        ({"or": '(name.eq."Paul, \\"P\\" (II)",tags.ov.{green,purple})'}, [3, 5]),
        ({"or": '(during.adj."[18,21)",during.cs."[25,26)")'}, [4]),
        ({"and": "(score.gte.10,or(during.adj.\"[5,10)\",name.like(any).{O*,Z*}))"}, [1, 3]),
        ({"not.or": "(score.lt.20,score.is.null)"}, [2, 3, 5]),
        ({"not.and": "(score.gte.20,score.lte.30)"}, [1, 5]),
        ({"or": "(id.eq.4,not.and(score.gte.20,score.lte.30))"}, [1, 4, 5]),
        ({"or": "(name.in.(Anna,\"Oskar Dean\"),tags.cs.{red,blue})"}, [1, 4]),
        ({"or": "(doc.fts(german).Garten,body.phfts(english).brown fox)"}, [1, 2]),
        ({"or": "(meta->>a.eq.3,name.like(all).{A*,*n})"}, [2, 4]),
    ],
)
def test_logic_trees_with_commas_braces_and_quoted_values(
        stack: RunningStack, member: dict[str, str], params: dict[str, str], expected: list[int]) -> None:
    assert ids(stack, member, params) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"tags": "cs(any).{red}"},  # the modifiers apply to eq, like, ilike, gt, gte, lt, lte, match, imatch only
        {"name": "like(some).{A*}"},
        {"name": "unknown.x"},
        {"or": "(name.eq.Anna"},
        {"or": "(name.eq.Anna,score)"},
        {"doc": "fts(english);drop table public.pgrst_spans.x"},
        {"score": "is.maybe"},
        {"name": "in.(a,b);drop table public.pgrst_spans"},
    ],
)
def test_what_the_grammar_does_not_allow_is_refused_with_pgrst100(
        stack: RunningStack, member: dict[str, str], params: dict[str, str]) -> None:
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params=params, headers=member)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "PGRST100" and set(response.json()) == ERROR_KEYS
    assert stack.sql("select count(*) from public.pgrst_spans") == [(5,)]


def test_an_unknown_text_search_configuration_is_postgres_error_not_rows(
        stack: RunningStack, member: dict[str, str]) -> None:
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"doc": "fts(klingon).qapla"}, headers=member)
    assert response.status_code == 400 and response.json()["code"] == "42704"


def test_supabase_py_filters_send_the_same_grammar(stack: RunningStack) -> None:
    from supabase import create_client

    client = create_client(stack.url, stack.stack.anon_key)
    client.auth.sign_in_with_password({"email": "anna@acme.test", "password": "salesflow-dev"})
    spans = lambda: client.table("pgrst_spans").select("id").order("id")  # noqa: E731
    assert [r["id"] for r in spans().like_all_of("name", "A*,*n").execute().data] == [2]
    assert [r["id"] for r in spans().ilike_any_of("name", "*hansen,anna").execute().data] == [1, 3]
    assert [r["id"] for r in spans().range_lt("during", (10, 15)).execute().data] == [1, 2]
    assert [r["id"] for r in spans().range_adjacent("during", (4, 10)).execute().data] == [1, 3]
    assert [r["id"] for r in spans().overlaps("tags", ["red", "green"]).execute().data] == [1, 3, 5]
    assert [r["id"] for r in spans().text_search("doc", "Katze", {"config": "german"}).execute().data] == [1, 3]
    assert [r["id"] for r in spans().text_search("body", "fat cat", {"type": "phrase", "config": "english"})
            .execute().data] == [1, 5]
    assert [r["id"] for r in spans().or_('name.eq."Paul, \\"P\\" (II)",tags.cs.{green}').execute().data] == [3, 5]


def test_null_filters_on_an_embedded_resource_filter_the_parents(stack: RunningStack,
                                                                 member: dict[str, str]) -> None:
    """docs (resource_embedding, Null filtering on Embedded Resources): `?select=*,actors(*)&actors=not.is.null`
    keeps the rows whose embed is not empty (with the embed's own filters), `actors=is.null` the others; any
    other operator on an embed is 400 PGRST120."""
    url = f"{stack.url}/rest/v1/tenants"
    with_lost = httpx.get(url, params={"select": "name,leads(name)", "leads.status": "eq.lost",
                                       "leads": "not.is.null"}, headers=member)
    assert with_lost.status_code == 200, with_lost.text
    assert with_lost.json() == [{"name": "Acme Sales", "leads": [{"name": "Sophie Keller"}]}]
    with_won = httpx.get(url, params={"select": "name,leads(name)", "leads.status": "eq.won",
                                      "leads": "not.is.null"}, headers=member)
    assert with_won.json() == []
    without_won = httpx.get(url, params={"select": "name,leads(name)", "leads.status": "eq.won", "leads": "is.null"},
                            headers=member)
    assert without_won.json() == [{"name": "Acme Sales", "leads": []}]
    in_a_tree = httpx.get(url, params={"select": "name,leads(name)", "leads.status": "eq.won",
                                       "or": "(leads.not.is.null,name.eq.Nobody)"}, headers=member)
    assert in_a_tree.json() == []
    refused = httpx.get(url, params={"select": "name,leads(name)", "leads": "eq.x"}, headers=member)
    assert refused.status_code == 400 and refused.json()["code"] == "PGRST120"


@pytest.mark.parametrize(
    "params",
    [
        {"name": "like(any).{x'); delete from public.pgrst_spans; --,y}"},
        {"doc": "fts(english).x') or true; delete from public.pgrst_spans; --"},
        {"or": "(name.eq.\"x') or true or ('\",id.eq.0)"},
        {"name": "eq(all).{\"a\\\" or true --\"}"},
        {"during": "adj.[1,2); delete from public.pgrst_spans"},
    ],
)
def test_injection_through_the_new_grammar_changes_nothing(stack: RunningStack, params: dict[str, str]) -> None:
    """Values of modifiers, fts and logic trees are bound parameters: they match nothing or are refused."""
    service = stack.headers(stack.stack.service_role_key, Prefer="return=representation")
    url = f"{stack.url}/rest/v1/pgrst_spans"
    for response in (httpx.get(url, params=params, headers=service),
                     httpx.patch(url, params=params, headers=service, json={"body": "pwned"}),
                     httpx.delete(url, params=params, headers=service)):
        if response.status_code == 200:
            assert response.json() == [], response.text
        else:
            assert response.status_code == 400 and set(response.json()) == ERROR_KEYS, response.text
    assert stack.sql("select count(*), count(*) filter (where body = 'pwned') from public.pgrst_spans") == [(5, 0)]


def test_the_legacy_count_counts_the_rows_of_its_level(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (aggregate_functions, The Case of count()): `count` without parentheses is still supported (with
    aggregates disabled too), as in Supabase's `select('*, instruments(count)')`."""
    tenants = httpx.get(f"{stack.url}/rest/v1/tenants", params={"select": "name,leads(count)"}, headers=member)
    assert tenants.status_code == 200, tenants.text
    assert tenants.json() == [{"name": "Acme Sales", "leads": [{"count": 7}]}]
    filtered = httpx.get(f"{stack.url}/rest/v1/tenants", params={"select": "name,leads(total:count)",
                                                                 "leads.status": "eq.lost"}, headers=member)
    assert filtered.json() == [{"name": "Acme Sales", "leads": [{"total": 1}]}]
    top = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "count", "score": "gte.20"}, headers=member)
    assert top.json() == [{"count": 3}]


def test_a_spread_to_one_embed_lifts_its_columns_to_the_parent(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (resource_embedding, Spread embedded resource): `select=title,...directors(director_last_name:last_name)`
    answers the to-one embed's columns at the top level; a to-many spread is 400 PGRST119."""
    julia = "10000000-0000-4000-8000-000000000001"
    spread = httpx.get(f"{stack.url}/rest/v1/leads", params={"select": "name,...tenants(tenant_name:name)",
                                                             "id": f"eq.{julia}"}, headers=member)
    assert spread.status_code == 200, spread.text
    assert spread.json() == [{"name": "Julia Becker", "tenant_name": "Acme Sales"}]
    to_many = httpx.get(f"{stack.url}/rest/v1/tenants", params={"select": "name,...leads(name)"}, headers=member)
    assert to_many.status_code == 400 and to_many.json()["code"] == "PGRST119"
