"""`Prefer` and PUT on the wire, each case from PostgREST's API reference (docs.postgrest.org,
references/api: pagination_count, preferences, tables_views Upsert/On Conflict/PUT, functions)."""

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


@pytest.fixture(autouse=True)
def members_as_seeded(stack: RunningStack) -> Iterator[None]:
    """Each test starts from the two seeded members (upserts and PUTs change them)."""
    yield
    stack.sql("delete from public.pgrst_members where id > 2; "
              "update public.pgrst_members set email = 'a@example.de', name = 'Alma', visits = 3 where id = 1; "
              "update public.pgrst_members set email = 'b@example.de', name = 'Bodo', visits = 4 where id = 2; "
              "delete from public.pgrst_spans where id > 5; analyze public.pgrst_spans")


@pytest.mark.parametrize("count", ["exact", "planned", "estimated"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_count_on_a_table_gives_the_total_in_content_range(stack: RunningStack, count: str, method: str) -> None:
    """docs (pagination_count): `Prefer: count=exact|planned|estimated` puts the total after the slash of
    Content-Range; a page of it is 206 Partial Content. Planned is the planner's estimate (the table was
    analyzed, so it is exact here); estimated is exact below db-max-rows."""
    service = stack.headers(stack.stack.service_role_key, Prefer=f"count={count}")
    response = httpx.request(method, f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id", "limit": "2"},
                             headers=service)
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == "0-1/5"
    assert response.headers["preference-applied"] == f"count={count}"
    assert (response.content == b"") == (method == "HEAD")


def test_planned_count_is_the_planners_estimate_not_a_count(stack: RunningStack) -> None:
    """docs: "the accuracy of this count depends on how up-to-date are the PostgreSQL statistics tables"."""
    service = stack.headers(stack.stack.service_role_key, Prefer="count=planned")
    stack.sql("insert into public.pgrst_spans (id, name) select g, 'added ' || g from generate_series(6, 25) g")
    stale = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id", "limit": "1"}, headers=service)
    exact = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id", "limit": "1"},
                      headers={**service, "Prefer": "count=exact"})
    assert exact.headers["content-range"] == "0-0/25"
    stack.sql("analyze public.pgrst_spans")
    fresh = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": "id", "limit": "1"}, headers=service)
    assert stale.headers["content-range"] != "0-0/25"  # the estimate before ANALYZE knew of 5 rows' pages
    assert fresh.headers["content-range"] == "0-0/25"


@pytest.mark.parametrize("count", ["exact", "planned", "estimated"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_count_on_a_set_returning_function(stack: RunningStack, member: dict[str, str], count: str,
                                           method: str) -> None:
    """docs (pagination_count): counting "also works on views and table functions" — by GET, HEAD and POST."""
    response = httpx.request(method, f"{stack.url}/rest/v1/rpc/pgrst_spans_all",
                             params={"select": "id", "order": "id", "limit": "2"},
                             headers={**member, "Prefer": f"count={count}"}, json={} if method == "POST" else None)
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == "0-1/5"
    assert response.content == b"" if method == "HEAD" else [r["id"] for r in response.json()] == [1, 2]


def test_a_counted_volatile_function_runs_once(stack: RunningStack, member: dict[str, str]) -> None:
    before = stack.sql("select count(*) from public.pgrst_calls")[0][0]
    response = httpx.post(f"{stack.url}/rest/v1/rpc/pgrst_spans_logged", params={"select": "id", "limit": "1"},
                          headers={**member, "Prefer": "count=exact"}, json={"p_min": 20})
    assert response.status_code == 206 and response.headers["content-range"] == "0-0/3"
    assert stack.sql("select count(*) from public.pgrst_calls")[0][0] == before + 1


def test_counts_through_supabase_py(stack: RunningStack, anna: Client) -> None:
    page = anna.table("pgrst_spans").select("id", count="planned").order("id").limit(2).execute()
    assert page.count == 5 and [r["id"] for r in page.data] == [1, 2]
    head = anna.table("pgrst_spans").select("id", count="exact", head=True).execute()
    assert head.count == 5
    rpc = anna.rpc("pgrst_spans_all", {}, count="exact").limit(1).execute()
    assert rpc.count == 5 and len(rpc.data) == 1
    scalar = httpx.get(f"{stack.url}/rest/v1/rpc/pgrst_add", params={"a": "2", "b": "3"},
                       headers=stack.headers(stack.stack.service_role_key, Prefer="count=exact"))
    assert scalar.json() == 5 and scalar.headers["content-range"] == "0-0/1"


def test_params_single_object_passes_the_whole_body_to_the_json_argument(
        stack: RunningStack, member: dict[str, str]) -> None:
    """docs (preferences, deprecated in v12 but served): `Prefer: params=single-object` sends the request body
    as the function's one json argument; without it, `{"x": …}` names arguments the function lacks (PGRST202)."""
    url = f"{stack.url}/rest/v1/rpc/pgrst_echo"
    body = {"x": 1, "y": ["a", {"z": None}]}
    single = httpx.post(url, headers={**member, "Prefer": "params=single-object"}, json=body)
    assert single.status_code == 200 and single.json() == body
    named = httpx.post(url, headers=member, json={"payload": body})
    assert named.status_code == 200 and named.json() == body
    unnamed = httpx.post(url, headers=member, json=body)
    assert unnamed.status_code == 404 and unnamed.json()["code"] == "PGRST202"


def test_put_inserts_then_replaces_the_row_its_url_names(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (upsert_put): "A single row upsert can be done by using PUT and filtering the primary key columns
    with eq"; PostgREST answers 201 when it inserted and 200 when it updated."""
    url = f"{stack.url}/rest/v1/pgrst_spans"
    headers = {**member, "Prefer": "return=representation"}
    created = httpx.put(url, params={"id": "eq.6"}, headers=headers, json={"id": 6, "name": "Sechs", "score": 6})
    assert created.status_code == 201, created.text
    assert [(r["id"], r["name"], r["score"]) for r in created.json()] == [(6, "Sechs", 6)]
    assert set(created.json()[0]) == {"id", "name", "tags", "during", "doc", "body", "meta", "nick", "score"}
    replaced = httpx.put(url, params={"id": "eq.6", "select": "name,score"}, headers=headers,
                         json={"id": 6, "name": "Sechs neu", "score": 60})
    assert replaced.status_code == 200 and replaced.json() == [{"name": "Sechs neu", "score": 60}]
    minimal = httpx.put(url, params={"id": "eq.6"}, headers=member, json=[{"id": 6, "name": "Erstes"},
                                                                         {"id": 6, "name": "Zweites"}])
    assert minimal.status_code == 204 and minimal.content == b""
    assert stack.sql("select name from public.pgrst_spans where id = 6") == [("Erstes",)]


@pytest.mark.parametrize(
    ("params", "body", "status", "code"),
    [
        ({"id": "eq.6"}, {"id": 7, "name": "Seven"}, 400, "PGRST115"),  # the body's key differs from the URL's
        ({"id": "eq.6"}, {"name": "No key"}, 400, "PGRST115"),
        ({"name": "eq.Six"}, {"id": 6, "name": "Six"}, 405, "PGRST105"),  # not the primary key
        ({"id": "not.eq.6"}, {"id": 6, "name": "Six"}, 405, "PGRST105"),
        ({"id": "in.(6)"}, {"id": 6, "name": "Six"}, 405, "PGRST105"),
        ({"and": "(id.eq.6)"}, {"id": 6, "name": "Six"}, 405, "PGRST105"),
        ({"id": "eq.6", "name": "eq.Six"}, {"id": 6, "name": "Six"}, 405, "PGRST105"),
        ({"id": "eq.6", "limit": "1"}, {"id": 6, "name": "Six"}, 400, "PGRST114"),
    ],
)
def test_put_refuses_what_postgrest_refuses_and_writes_nothing(
        stack: RunningStack, member: dict[str, str], params: dict[str, str], body: dict[str, object], status: int,
        code: str) -> None:
    response = httpx.put(f"{stack.url}/rest/v1/pgrst_spans", params=params, headers=member, json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code and set(response.json()) == ERROR_KEYS
    assert stack.sql("select count(*) from public.pgrst_spans") == [(5,)]


def test_upsert_on_conflict_merge_and_ignore_duplicates(stack: RunningStack, anna: Client) -> None:
    """docs (on_conflict): upsert on a UNIQUE column; merge-duplicates updates the payload's columns of the
    existing row, ignore-duplicates leaves it and returns only what it inserted."""
    merged = anna.table("pgrst_members").upsert(
        [{"email": "a@example.de", "name": "Alma Neu"}, {"email": "c@example.de", "name": "Cem"}],
        on_conflict="email").execute()
    assert sorted((r["email"], r["name"], r["visits"]) for r in merged.data) == [
        ("a@example.de", "Alma Neu", 3), ("c@example.de", "Cem", 1)]
    ignored = anna.table("pgrst_members").upsert(
        [{"email": "b@example.de", "name": "Not Bodo"}, {"email": "d@example.de", "name": "Dana"}],
        on_conflict="email", ignore_duplicates=True).execute()
    assert [(r["email"], r["name"]) for r in ignored.data] == [("d@example.de", "Dana")]
    assert stack.sql("select name from public.pgrst_members where email = 'b@example.de'") == [("Bodo",)]


def test_missing_default_fills_absent_columns_with_their_defaults(stack: RunningStack, anna: Client) -> None:
    """docs (bulk_insert_default): "Any missing columns in the payload will be inserted as null values. To use
    the DEFAULT column value instead, use the Prefer: missing=default header" — also with an upsert on a
    surrogate key, where the new row takes its generated id."""
    rows = [{"id": 1, "email": "a@example.de", "name": "Alma", "visits": 9}, {"email": "e@example.de", "name": "Eda"}]
    nulls = httpx.post(f"{stack.url}/rest/v1/pgrst_members", json=rows,
                       headers=stack.headers(stack.sign_in("anna@acme.test")["access_token"],
                                             Prefer="resolution=merge-duplicates"))
    assert nulls.status_code == 400 and nulls.json()["code"] == "23502"  # id and visits: null, not default
    upserted = anna.table("pgrst_members").upsert(rows, default_to_null=False).execute()
    existing, new = sorted(upserted.data, key=lambda r: r["id"])
    assert (existing["id"], existing["visits"]) == (1, 9)
    assert new["id"] > 100 and (new["email"], new["visits"]) == ("e@example.de", 1)  # the identity's next value


def test_preference_applied_lists_what_was_applied(stack: RunningStack, member: dict[str, str]) -> None:
    response = httpx.post(f"{stack.url}/rest/v1/pgrst_members", params={"columns": "email,name,visits"},
                          json=[{"email": "f@example.de", "name": "Fe"}],
                          headers={**member, "Prefer": "return=representation, resolution=ignore-duplicates, "
                                                        "missing=default"})
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == \
        "resolution=ignore-duplicates, missing=default, return=representation"
    assert [r["visits"] for r in response.json()] == [1]


def test_handling_strict_refuses_preferences_it_cannot_honour(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (prefer_handling): "The server ignores unrecognized or unfulfillable preferences by default";
    `handling=strict` answers 400 PGRST122 naming them (`tx` too: Supabase runs with db-tx-end = commit)."""
    url = f"{stack.url}/rest/v1/pgrst_spans"
    strict = httpx.get(url, headers={**member, "Prefer": "handling=strict, foo, bar"})
    assert strict.status_code == 400
    assert strict.json() == {"code": "PGRST122", "message": "Invalid preferences given with handling=strict",
                             "details": "Invalid preferences: foo, bar", "hint": None}
    rollback = httpx.get(url, headers={**member, "Prefer": "handling=strict, tx=rollback"})
    assert rollback.status_code == 400 and rollback.json()["details"] == "Invalid preferences: tx=rollback"
    lenient = httpx.get(url, headers={**member, "Prefer": "handling=lenient, foo, bar"})
    assert lenient.status_code == 200 and len(lenient.json()) == 5


def test_max_affected_with_strict_handling_rolls_back_a_wider_write(
        stack: RunningStack, member: dict[str, str]) -> None:
    """docs (prefer_max_affected): with `handling=strict, max-affected=n` a PATCH or DELETE affecting more rows
    fails with PGRST124 "The query affects N rows" and changes nothing."""
    url = f"{stack.url}/rest/v1/pgrst_members"
    wide = httpx.patch(url, params={"id": "in.(1,2)"}, json={"visits": 0},
                       headers={**member, "Prefer": "handling=strict, max-affected=1"})
    assert wide.status_code == 400
    assert wide.json() == {"code": "PGRST124", "message": "Query result exceeds max-affected preference constraint",
                           "details": "The query affects 2 rows", "hint": None}
    deleted = httpx.delete(url, params={"id": "gt.0"}, headers={**member, "Prefer": "handling=strict, max-affected=1"})
    assert deleted.status_code == 400 and deleted.json()["code"] == "PGRST124"
    assert stack.sql("select id, visits from public.pgrst_members order by id") == [(1, 3), (2, 4)]
    lenient = httpx.patch(url, params={"id": "in.(1,2)"}, json={"visits": 0},
                          headers={**member, "Prefer": "max-affected=1"})  # ignored without strict handling
    assert lenient.status_code == 204
    assert stack.sql("select visits from public.pgrst_members order by id") == [(0,), (0,)]


def test_return_headers_only_gives_the_location_of_the_new_row(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (preferences, Headers Only): `Prefer: return=headers-only` answers 201 with a Location header
    describing where to find the new row, and no body."""
    response = httpx.post(f"{stack.url}/rest/v1/pgrst_members", json={"email": "g@example.de", "name": "Gus"},
                          headers={**member, "Prefer": "return=headers-only"})
    assert response.status_code == 201 and response.content == b"", response.text
    [(new_id,)] = stack.sql("select id from public.pgrst_members where email = 'g@example.de'")
    assert response.headers["location"] == f"/pgrst_members?id=eq.{new_id}"
    assert response.headers["preference-applied"] == "return=headers-only"


@pytest.mark.parametrize("select", ["count()", "score.sum()", "total:score.avg()::int", "id,score.max()"])
def test_aggregates_are_refused_as_on_supabase(stack: RunningStack, member: dict[str, str], select: str) -> None:
    """docs (aggregate_functions): aggregates are disabled unless db-aggregates-enabled (off on Supabase):
    400 PGRST123 "Use of aggregate functions is not allowed" — never the rows without the aggregate."""
    response = httpx.get(f"{stack.url}/rest/v1/pgrst_spans", params={"select": select}, headers=member)
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST123"
    assert response.json()["message"] == "Use of aggregate functions is not allowed"


def test_timezone_preference_renders_timestamps_in_that_zone(stack: RunningStack, member: dict[str, str]) -> None:
    """docs (prefer_timezone): a zone of pg_timezone_names is applied and echoed in Preference-Applied; an
    invalid one is ignored (values in the default zone, no Preference-Applied), and refused under strict."""
    stack.sql("insert into public.pgrst_calls (n, at) values (1000, '2023-10-18 12:37:59.611+00')")
    url = f"{stack.url}/rest/v1/pgrst_calls"
    params = {"select": "at", "n": "eq.1000"}
    zoned = httpx.get(url, params=params, headers={**member, "Prefer": "timezone=America/Los_Angeles"})
    assert zoned.json() == [{"at": "2023-10-18T05:37:59.611-07:00"}]
    assert zoned.headers["preference-applied"] == "timezone=America/Los_Angeles"
    ignored = httpx.get(url, params=params, headers={**member, "Prefer": "timezone=Jupiter/Red_Spot"})
    assert ignored.status_code == 200 and "preference-applied" not in ignored.headers
    assert ignored.json()[0]["at"] != zoned.json()[0]["at"]
    strict = httpx.get(url, params=params, headers={**member, "Prefer": "handling=strict, timezone=Jupiter/Red_Spot"})
    assert strict.status_code == 400 and strict.json()["code"] == "PGRST122"
    rpc = httpx.post(f"{stack.url}/rest/v1/rpc/pgrst_spans_logged", params={"select": "id", "limit": "1"},
                     headers={**member, "Prefer": "timezone=Europe/Berlin, count=exact"}, json={"p_min": 50})
    assert rpc.headers["preference-applied"] == "count=exact, timezone=Europe/Berlin"


def test_a_singular_write_of_many_rows_is_rolled_back_even_when_it_returns_nothing(
        stack: RunningStack, member: dict[str, str]) -> None:
    """docs (singular_plural): `Accept: application/vnd.pgrst.object+json` asks for exactly one row; a PATCH
    matching two is answered 406 PGRST116 and rolled back, with `return=minimal` as well."""
    response = httpx.patch(f"{stack.url}/rest/v1/pgrst_members", params={"id": "in.(1,2)"}, json={"visits": 0},
                           headers={**member, "Accept": "application/vnd.pgrst.object+json",
                                    "Prefer": "return=minimal"})
    assert response.status_code == 406 and response.json()["code"] == "PGRST116"
    assert stack.sql("select visits from public.pgrst_members order by id") == [(3,), (4,)]
    one = httpx.patch(f"{stack.url}/rest/v1/pgrst_members", params={"id": "eq.1"}, json={"visits": 5},
                      headers={**member, "Accept": "application/vnd.pgrst.object+json"})
    assert one.status_code == 204 and stack.sql("select visits from public.pgrst_members where id = 1") == [(5,)]
