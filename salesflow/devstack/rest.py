"""`/rest/v1`: the PostgREST contract over the project's database.

Tables and views of the exposed schemas (GET/HEAD/POST/PUT/PATCH/DELETE) and functions (`/rpc/<fn>`,
GET/HEAD/POST). Filters (every operator of PostgREST's table, `any`/`all`, logic trees), select with
embedding, order, limit/offset and `Range`, `Prefer` (count=exact|planned|estimated, return, resolution,
missing, params=single-object), `on_conflict`, bulk insert, PUT upserts, content negotiation (JSON, CSV,
the object and array vendor types; the plan type refused as with `db-plan-enabled = false`),
PostgREST's status codes and error body. See docs.postgrest.org (API reference) for the semantics.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
from typing import Any

import psycopg
from psycopg import sql
from starlette.requests import Request
from starlette.responses import Response

from salesflow.devstack import rest_sql
from salesflow.devstack.context import Caller, StackContext
from salesflow.devstack.errors import ApiError, from_postgres, parse_error
from salesflow.devstack.rest_media import Negotiated, negotiate
from salesflow.devstack.rest_parse import Condition, ReadRequest, invalid_preferences, parse_prefer, parse_query
from salesflow.devstack.schema import Function, Table

JSON_TYPE = "application/json; charset=utf-8"
OBJECT_TYPE = "application/vnd.pgrst.object+json"
SINGULAR_ERROR = "Cannot coerce the result to a single JSON object"
READ_STATEMENTS_KEPT = 1024


class _Rollback(Exception):
    """Raised inside a transaction to undo it and answer with `error`."""

    def __init__(self, error: ApiError) -> None:
        self.error = error


async def handle(request: Request, ctx: StackContext) -> Response:
    """Entry point for every `/rest/v1/...` request."""
    try:
        caller = ctx.caller(request)
        return await _dispatch(request, ctx, caller)
    except ApiError as exc:
        return exc.response()
    except _Rollback as exc:
        return exc.error.response()


async def _dispatch(request: Request, ctx: StackContext, caller: Caller) -> Response:
    path = request.path_params.get("path", "").strip("/")
    method = request.method
    profile_header = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
    schema_name = request.headers.get(profile_header) or ctx.schemas[0]
    if schema_name not in ctx.schemas:
        raise ApiError(406, "PGRST106", f"The schema must be one of the following: {', '.join(ctx.schemas)}",
                       f"Invalid schema: {schema_name}")
    if path == "":
        return Response(json.dumps({"swagger": "2.0", "info": {"title": "salesflow dev (PostgREST contract)"}}),
                        media_type=JSON_TYPE)
    await _check_preferences(request, ctx)
    if path.startswith("rpc/"):
        return await _rpc(request, ctx, caller, schema_name, path[4:])
    if "/" in path:
        raise ApiError(404, "PGRST125", f"Invalid path specified in request URL: /{path}")
    table = await _table(ctx, schema_name, path)
    if method in ("GET", "HEAD"):
        return await _read(request, ctx, caller, table)
    if method == "POST":
        return await _insert(request, ctx, caller, table)
    if method == "PUT":
        return await _put(request, ctx, caller, table)
    if method == "PATCH":
        return await _update(request, ctx, caller, table)
    if method == "DELETE":
        return await _delete(request, ctx, caller, table)
    raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")


async def _table(ctx: StackContext, schema_name: str, name: str) -> Table:
    cache = await ctx.schema_cache()
    table = cache.table(schema_name, name) or (await ctx.schema_cache(refresh=True)).table(schema_name, name)
    if table is None:
        raise ApiError(404, "PGRST205", f"Could not find the table '{schema_name}.{name}' in the schema cache",
                       hint="If a new table was created, the schema cache reloads on the next miss.")
    return table


def _media(request: Request, csv: bool = True) -> Negotiated:
    return negotiate(request.headers.get("accept"), csv)


def _output(media: Negotiated) -> rest_sql.Output:
    return rest_sql.Output("csv" if media.media == "csv" else "json", media.strip_nulls)


def _headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k not in ("authorization", "apikey", "cookie")}


def _prefs(request: Request) -> dict[str, str]:
    return parse_prefer(request.headers.getlist("prefer"))


async def _check_preferences(request: Request, ctx: StackContext) -> None:
    """docs (prefer_handling): unknown preferences are ignored, unless `handling=strict` (PGRST122)."""
    prefs = _prefs(request)
    if prefs.get("handling") != "strict":
        return
    invalid = invalid_preferences(request.headers.getlist("prefer"))
    if prefs.get("timezone") and ctx.pool is not None:
        async with ctx.pool.connection() as conn:
            cur = await conn.execute(TIMEZONE_KNOWN, {"timezone": prefs["timezone"]})
            row = await cur.fetchone()
        if not (row and row[0]):
            invalid.append(f"timezone={prefs['timezone']}")
    if invalid:
        raise ApiError(400, "PGRST122", "Invalid preferences given with handling=strict",
                       "Invalid preferences: " + ", ".join(invalid))


# docs (prefer_timezone): a time zone of pg_timezone_names becomes the transaction's; another is ignored
TIMEZONE_SQL = ("select pg_catalog.set_config('timezone', z.name, true) from pg_catalog.pg_timezone_names z "
                "where z.name = %(timezone)s")
TIMEZONE_KNOWN = "select exists (select from pg_catalog.pg_timezone_names where name = %(timezone)s)"


def _prelude(prefs: dict[str, str]) -> list[tuple[Any, Any]]:
    """Statements that run before the request's own, in its transaction: `Prefer: timezone`."""
    return [(TIMEZONE_SQL, {"timezone": prefs["timezone"]})] if prefs.get("timezone") else []


async def _run_prelude(conn: Any, prelude: list[tuple[Any, Any]]) -> bool:
    applied = False
    for query, values in prelude:
        cur = await conn.execute(query, values)
        applied = await cur.fetchone() is not None
    return applied


def _max_affected(prefs: dict[str, str]) -> int | None:
    """docs (prefer_max_affected): `max-affected` only counts together with `handling=strict`."""
    value = prefs.get("max-affected", "")
    return int(value) if prefs.get("handling") == "strict" and value.isdigit() else None


def _too_many(n: int) -> _Rollback:
    return _Rollback(ApiError(400, "PGRST124", "Query result exceeds max-affected preference constraint",
                              f"The query affects {n} rows"))


def _range(request: Request, query: ReadRequest, max_rows: int | None) -> tuple[int | None, int]:
    root = query.options[()]
    limit, offset = root.limit, root.offset or 0
    header = request.headers.get("range")
    if header:
        match = re.fullmatch(r"\s*(\d+)-(\d*)\s*", header)
        if not match:
            raise ApiError(416, "PGRST103", "Requested range not satisfiable", f"invalid Range header {header!r}")
        start = int(match[1])
        offset = max(offset, start)
        if match[2]:
            end = int(match[2])
            if end < start:
                raise ApiError(416, "PGRST103", "Requested range not satisfiable", f"{header!r} ends before it starts")
            span = end - start + 1
            limit = span if limit is None else min(limit, span)
    if max_rows is not None:
        limit = max_rows if limit is None else min(limit, max_rows)
    return limit, offset


def _query(request: Request, rpc_args: frozenset[str] = frozenset()) -> ReadRequest:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "apikey"]
    return parse_query(params, rpc_args)


def _body_response(body: str, n: int, single: str | None, media: Negotiated, status: int,
                   headers: dict[str, str]) -> Response:
    if media.singular:
        if n != 1:
            raise ApiError(406, "PGRST116", SINGULAR_ERROR, f"The result contains {n} rows")
        return Response(single or "null", status_code=status, media_type=media.content_type, headers=headers)
    return Response(body, status_code=status, media_type=media.content_type, headers=headers)


COUNTS = ("exact", "planned", "estimated")


def _planned(plan: Any) -> int:
    """The planner's row estimate from `explain (format json)` of a count (the aggregate's input rows)."""
    node = plan[0]["Plan"] if isinstance(plan, list) else plan["Plan"]
    if node.get("Node Type") == "Aggregate" and node.get("Plans"):
        node = node["Plans"][0]
    return int(node.get("Plan Rows", 0))


def _total(kind: str | None, exact: int | None, planned: int | None, n: int, max_rows: int | None) -> int | None:
    """The total of Content-Range for `Prefer: count=kind` (docs: pagination_count)."""
    if kind == "exact":
        return exact
    if kind == "planned":
        return planned
    if kind == "estimated":
        # the exact count up to db-max-rows, the planner's estimate beyond it
        if exact is not None and (max_rows is None or exact <= max_rows):
            return exact
        return max(planned or 0, n)
    return None


def _ranged(request: Request, media: Negotiated, body: str, n: int, single: str | None, offset: int,
            total: int | None, headers: dict[str, str]) -> Response:
    """A read's answer: Content-Range, 206 for a part of a counted whole, no body for HEAD."""
    headers["Content-Range"] = _content_range(offset, n, total)
    status = 200
    if total is not None:
        if n == 0 and offset > 0 and offset >= total > 0:
            raise ApiError(416, "PGRST103", "Requested range not satisfiable",
                           f"An offset of {offset} was requested, but there are only {total} rows.")
        if n < total:
            status = 206
    response = _body_response(body, n, single, media, status, headers)
    if request.method == "HEAD":
        return Response(status_code=response.status_code, headers=headers, media_type=media.content_type)
    return response


async def _read(request: Request, ctx: StackContext, caller: Caller, table: Table) -> Response:
    prefs = _prefs(request)
    media = _media(request)
    cache = await ctx.schema_cache()
    # The statement depends only on the table, the query string, Range and the media type (never on who
    # asks: the caller is applied by set_config), so identical reads reuse the composed text and its values.
    key = (ctx.cache_generation, table.schema, table.name, request.url.query, request.headers.get("range"),
           media.media, media.strip_nulls)
    known = ctx.read_statements.get(key)
    if known is None:
        query = _query(request)
        limit, offset = _range(request, query, ctx.max_rows)
        params = rest_sql.Params()
        page, count_sql = rest_sql.read_sql(cache, table, query.select, query.options, limit, offset, params,
                                            _output(media))
        known = (page.as_string(), count_sql.as_string(), dict(params.values), offset)
        if len(ctx.read_statements) >= READ_STATEMENTS_KEPT:
            ctx.read_statements.clear()
        ctx.read_statements[key] = known
    page_text, count_text, values, offset = known
    kind = prefs.get("count") if prefs.get("count") in COUNTS else None
    prelude = _prelude(prefs)
    statements: list[tuple[str, Any]] = [*prelude, (page_text, values)]
    if kind in ("exact", "estimated"):
        statements.append((count_text, values))
    if kind in ("planned", "estimated"):
        statements.append(("explain (format json) " + count_text, values))
    try:
        rows = await ctx.run(caller, request.method, request.url.path, _headers(request), True, statements)
    except psycopg.Error as exc:
        raise from_postgres(exc, caller.authenticated) from None
    timezone_applied = bool(prelude) and rows[0] is not None
    rows = rows[len(prelude):]
    body, n, single = rows[0][:3]  # type: ignore[index]
    exact = rows[1][0] if kind in ("exact", "estimated") else None  # type: ignore[index]
    planned = _planned(rows[-1][0]) if kind in ("planned", "estimated") else None  # type: ignore[index]
    headers = _applied(prefs, ("count",) if kind else (), timezone_applied)
    total = _total(kind, exact, planned, n, ctx.max_rows)
    return _ranged(request, media, body, n, single, offset, total, headers)


def _content_range(offset: int, n: int, total: int | None) -> str:
    total_text = "*" if total is None else str(total)
    return f"{offset}-{offset + n - 1}/{total_text}" if n else f"*/{total_text}"


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "application/json").split(";")[0].strip().lower() or \
        "application/json"


async def _json_body(request: Request) -> Any:
    """The request body as data, by its Content-Type (docs: resource_representation, Request Body): JSON,
    CSV with a header line (`NULL` is null), or a form; any other type is PGRST102, as PostgREST answers."""
    raw = await request.body()
    content_type = _content_type(request)
    if content_type == "text/csv":
        lines = list(csv.reader(io.StringIO(raw.decode())))
        if not lines:
            return []
        header, rows = lines[0], lines[1:]
        if any(len(r) != len(header) for r in rows):
            raise ApiError(400, "PGRST102", "All lines must have same number of fields")
        return [{k: None if v == "NULL" else v for k, v in zip(header, r, strict=True)} for r in rows]
    if content_type == "application/x-www-form-urlencoded":
        return dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
    if content_type != "application/json":
        raise ApiError(400, "PGRST102", f"Content-Type not acceptable: {content_type}")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "PGRST102", "Empty or invalid json", str(exc)) from None


# docs (function_single_unnamed): a raw body for a function's one unnamed parameter of this type
RAW_BODIES = {"text/plain": "text", "text/xml": "xml", "application/octet-stream": "bytea"}


APPLIED_ORDER = ("resolution", "missing", "return", "count", "params")


def _applied(prefs: dict[str, str], keys: tuple[str, ...] = APPLIED_ORDER, timezone: bool = False) -> dict[str, str]:
    applied = [f"{k}={prefs[k]}" for k in keys if k in prefs]
    if timezone:
        applied.append(f"timezone={prefs['timezone']}")
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


async def _mutate(request: Request, ctx: StackContext, caller: Caller, table: Table,
                  statement_for: Any, query: ReadRequest, created: bool, put_key: dict[str, str] | None = None
                  ) -> Response:
    prefs = _prefs(request)
    ret = prefs.get("return", "minimal")
    media = _media(request)
    params = rest_sql.Params()
    cache = await ctx.schema_cache()
    statement = statement_for(params)
    located = ret == "headers-only" and request.method == "POST" and bool(table.primary_key)
    extra: sql.Composable | None = None
    if put_key is not None:
        extra = sql.SQL("(select bool_or(pgrst_inserted) from pgrst_source)")
    elif located:
        # docs (return=headers-only): a Location header naming the created row by its primary key
        extra = sql.SQL("(select json_build_object({}) from pgrst_source limit 1)").format(sql.SQL(", ").join(
            sql.SQL("{}::text, {}").format(params.bind(c), sql.Identifier(c)) for c in table.primary_key))
    full = rest_sql.returning_body(cache, table, statement, query.select, query.options, params, _output(media),
                                   extra)
    limit = _max_affected(prefs) if request.method in ("PATCH", "DELETE") else None
    # PostgREST checks a singular write whatever it returns (a wider one rolls back with 406)
    singular = media.singular
    prelude = _prelude(prefs)
    # the row count decides between commit and rollback for a singular answer, PUT and max-affected
    try:
        if singular or put_key is not None or limit is not None:
            async with ctx.transaction(caller, request.method, request.url.path, _headers(request), False) as conn:
                timezone_applied = await _run_prelude(conn, prelude)
                cur = await conn.execute(rest_sql.composed(full), params.values)
                body, n, single, extra_value = await cur.fetchone()  # type: ignore[misc]
                if put_key is not None and n != 1:
                    raise _Rollback(ApiError(400, "PGRST115", PUT_MISMATCH))
                if limit is not None and n > limit:
                    raise _too_many(n)
                if singular and n != 1:
                    raise _Rollback(ApiError(406, "PGRST116", SINGULAR_ERROR, f"The result contains {n} rows"))
        else:
            rows = await ctx.run(caller, request.method, request.url.path, _headers(request), False,
                                 [*prelude, (full, params.values)])
            timezone_applied = bool(prelude) and rows[0] is not None
            body, n, single, extra_value = rows[-1]  # type: ignore[misc]
    except psycopg.Error as exc:
        raise from_postgres(exc, caller.authenticated) from None
    if put_key is not None:
        created = bool(extra_value)
    headers = {"Content-Range": f"*/{n}" if prefs.get("count") in COUNTS else "*/*",
               **_applied(prefs, timezone=timezone_applied)}
    if located and isinstance(extra_value, dict):
        headers["Location"] = f"/{table.name}?" + "&".join(f"{k}=eq.{v}" for k, v in extra_value.items())
    if ret == "representation":
        return _body_response(body, n, single, media, 201 if created else 200, headers)
    return Response(status_code=201 if created else 204, headers=headers)


async def _insert(request: Request, ctx: StackContext, caller: Caller, table: Table) -> Response:
    query = _query(request)
    body = await _json_body(request)
    rows = body if isinstance(body, list) else [body]
    if body is None or not all(isinstance(r, dict) for r in rows):
        raise ApiError(400, "PGRST102", "Empty or invalid json", "insert takes a JSON object or an array of objects")
    prefs = _prefs(request)
    columns = query.columns
    if columns is None:
        columns = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
    if not rows:
        return Response("[]" if prefs.get("return") == "representation" else b"", status_code=201,
                        media_type=JSON_TYPE)
    resolution = prefs.get("resolution")
    if resolution not in (None, "merge-duplicates", "ignore-duplicates"):
        raise parse_error(f"unknown resolution {resolution!r}", "allowed: merge-duplicates, ignore-duplicates")
    missing_default = prefs.get("missing") == "default"
    if not columns:
        # `{}`: a row of defaults, like `insert … default values`
        columns, missing_default = list(table.columns), True
    body_json = json.dumps(rows)

    def statement(params: rest_sql.Params) -> Any:
        return rest_sql.insert_sql(table, columns, body_json, missing_default, query.on_conflict,
                                   resolution, params)

    return await _mutate(request, ctx, caller, table, statement, query, created=True)


PUT_FILTERS = "Filters must include all and only primary key columns with 'eq' operators"
PUT_MISMATCH = "Payload values do not match URL in primary key column(s)"


async def _put(request: Request, ctx: StackContext, caller: Caller, table: Table) -> Response:
    """PUT: a single-row upsert addressed by its whole primary key (docs: upsert_put; errors PGRST105,
    PGRST114, PGRST115)."""
    query = _query(request)
    root = query.options[()]
    if root.limit is not None or root.offset is not None:
        raise ApiError(400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT")
    key: dict[str, str] = {}
    for f in root.filters:
        if not (isinstance(f, Condition) and f.operator == "eq" and not f.negated and f.quantifier is None
                and not f.field.path and isinstance(f.value, str) and f.field.column not in key):
            raise ApiError(405, "PGRST105", PUT_FILTERS)
        key[f.field.column] = f.value
    if not table.primary_key or set(key) != set(table.primary_key) or len(query.options) > 1:
        raise ApiError(405, "PGRST105", PUT_FILTERS)
    body = await _json_body(request)
    # PostgREST puts the first element of an array payload
    row = body[0] if isinstance(body, list) and body else body
    if not isinstance(row, dict):
        raise ApiError(400, "PGRST102", "Empty or invalid json", "PUT takes one JSON object")
    columns = query.columns or list(row)
    body_json = json.dumps(row)

    def statement(params: rest_sql.Params) -> Any:
        return rest_sql.put_sql(table, columns, body_json, key, params)

    return await _mutate(request, ctx, caller, table, statement, query, created=True, put_key=key)


async def _update(request: Request, ctx: StackContext, caller: Caller, table: Table) -> Response:
    query = _query(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "PGRST102", "Empty or invalid json", "update takes one JSON object")
    columns = query.columns or list(body)
    if not columns:
        return Response("[]", media_type=JSON_TYPE) if _prefs(request).get("return") == "representation" \
            else Response(status_code=204)
    body_json = json.dumps(body)
    filters = query.options[()].filters

    def statement(params: rest_sql.Params) -> Any:
        return rest_sql.update_sql(table, columns, body_json, filters, params)

    return await _mutate(request, ctx, caller, table, statement, query, created=False)


async def _delete(request: Request, ctx: StackContext, caller: Caller, table: Table) -> Response:
    query = _query(request)
    filters = query.options[()].filters

    def statement(params: rest_sql.Params) -> Any:
        return rest_sql.delete_sql(table, filters, params)

    return await _mutate(request, ctx, caller, table, statement, query, created=False)


def _is_json(fn: Function) -> bool:
    return len(fn.arguments) == 1 and fn.arguments[0].type in ("json", "jsonb")


def _pick_function(candidates: list[Function], given: set[str], single_object: bool = False
                   ) -> tuple[Function, bool] | None:
    if single_object:
        # Prefer: params=single-object — the whole body is the one json/jsonb argument, whatever its name
        picked = next((fn for fn in candidates if _is_json(fn)), None)
        return (picked, True) if picked is not None else None
    for fn in candidates:
        names = {a.name for a in fn.arguments}
        required = {a.name for a in fn.arguments if not a.has_default}
        if "" not in names and given <= names and required <= given:
            return fn, False
    for fn in candidates:
        # docs (functions): a single *unnamed* json/jsonb parameter takes the whole body
        if _is_json(fn) and fn.arguments[0].name == "":
            return fn, True
    return None


async def _rpc(request: Request, ctx: StackContext, caller: Caller, schema_name: str, name: str) -> Response:
    if request.method not in ("GET", "HEAD", "POST"):
        raise ApiError(405, "PGRST101", "Only GET and POST are allowed for functions")
    prefs = _prefs(request)
    cache = await ctx.schema_cache()
    candidates = cache.functions.get((schema_name, name)) or \
        (await ctx.schema_cache(refresh=True)).functions.get((schema_name, name), [])
    all_arg_names = frozenset(a.name for fn in candidates for a in fn.arguments)
    query = _query(request, all_arg_names if request.method != "POST" else frozenset())
    raw_type = RAW_BODIES.get(_content_type(request)) if request.method == "POST" else None
    picked: tuple[Function, bool] | None
    if raw_type is not None:
        args = {}
        raw = await request.body()
        args_json = "\\x" + raw.hex() if raw_type == "bytea" else raw.decode()
        picked = next(((fn, True) for fn in candidates
                       if len(fn.arguments) == 1 and fn.arguments[0].name == "" and fn.arguments[0].type == raw_type),
                      None)
    else:
        if request.method == "POST":
            body = await _json_body(request)
            args = body if isinstance(body, dict) else {}
            if body is not None and not isinstance(body, dict):
                raise ApiError(400, "PGRST102", "Empty or invalid json", "a function takes a JSON object of arguments")
            # a JSON body already is the object of arguments: hand it to Postgres as it came
            json_type = _content_type(request) == "application/json"
            args_json = (await request.body()).decode() if body is not None and json_type else json.dumps(args)
        else:
            args = dict(query.rpc_args)
            args_json = json.dumps(args)
        picked = _pick_function(candidates, set(args), prefs.get("params") == "single-object")
    if picked is None:
        listed = ", ".join(sorted(args))
        raise ApiError(
            404, "PGRST202",
            f"Could not find the function {schema_name}.{name}({listed}) in the schema cache",
            f"Searched for the function {schema_name}.{name} with parameters {listed or 'none'}, but no matches "
            "were found in the schema cache.",
            "Functions are looked up in the exposed schemas only.",
        )
    fn, whole_body = picked
    set_of_rows = fn.returns_set and fn.return_kind != "void"
    media = _media(request, csv=fn.return_kind == "composite")
    kind = prefs.get("count") if prefs.get("count") in COUNTS else None
    limit, offset = _range(request, query, ctx.max_rows)
    params = rest_sql.Params()
    given = [a.name for a in fn.arguments if a.name in args]
    statement, estimate = rest_sql.rpc_sql(
        cache, fn, args_json, given, query.select, query.options, limit if fn.returns_set else None,
        offset if fn.returns_set else None, params, whole_body, _output(media), count=kind in ("exact", "estimated"))
    prelude = _prelude(prefs)
    statements: list[tuple[Any, Any]] = [(statement, params.values)]
    if set_of_rows and kind in ("planned", "estimated"):
        statements.append((sql.SQL("explain (format json) ") + estimate, params.values))
    read_only = request.method in ("GET", "HEAD")
    limit_affected = _max_affected(prefs) if set_of_rows else None
    try:
        # the row count decides between commit and rollback for a singular answer and for max-affected
        if (media.singular and fn.returns_set) or limit_affected is not None:
            async with ctx.transaction(caller, request.method, request.url.path, _headers(request), read_only,
                                       schema_name) as conn:
                timezone_applied = await _run_prelude(conn, prelude)
                cur = await conn.execute(rest_sql.composed(statement), params.values)
                row = await cur.fetchone()
                assert row is not None
                body_text, n, single, exact = row[-4:]
                if limit_affected is not None and n > limit_affected:
                    raise _too_many(n)
                if media.singular and n != 1:
                    raise _Rollback(ApiError(406, "PGRST116", SINGULAR_ERROR, f"The result contains {n} rows"))
                planned = None
                if len(statements) > 1:
                    cur = await conn.execute(rest_sql.composed(statements[1][0]), params.values)
                    planned = _planned((await cur.fetchone() or [None])[0])
        else:
            rows = await ctx.run(caller, request.method, request.url.path, _headers(request), read_only,
                                 [*prelude, *statements], schema_name)
            timezone_applied = bool(prelude) and rows[0] is not None
            rows = rows[len(prelude):]
            assert rows[0] is not None
            body_text, n, single, exact = rows[0][-4:]
            planned = _planned(rows[1][0]) if len(rows) > 1 else None  # type: ignore[index]
    except psycopg.Error as exc:
        raise from_postgres(exc, caller.authenticated) from None
    headers = {"Content-Range": "", **_applied(prefs, ("count", "params"), timezone_applied)}
    if fn.return_kind == "void":
        headers.pop("Content-Range")
        return Response(status_code=204, headers=headers)
    if not set_of_rows:
        # one value or one row: counted as one (Content-Range 0-0/1 with a count)
        headers["Content-Range"] = _content_range(0, 1, 1 if kind else None)
        if fn.return_kind == "composite" and not media.singular and media.media != "csv":
            # a function returning one row answers with that row (or null), not an array
            text = single or "null"
        else:
            text = single if media.singular else body_text
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=media.content_type)
        return Response(text or "null", media_type=media.content_type, headers=headers)
    total = _total(kind, exact, planned, n, ctx.max_rows)
    return _ranged(request, media, body_text, n, single, offset, total, headers)
