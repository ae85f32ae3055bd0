"""`/rest/v1`: the PostgREST contract over the project's database.

Tables and views of the exposed schemas (GET/HEAD/POST/PATCH/DELETE) and functions (`/rpc/<fn>`, POST
and GET). Filters, select with embedding, order, limit/offset and `Range`, `Prefer` (count, return,
resolution, missing), `on_conflict`, bulk insert, the object media type, PostgREST's status codes and
error body. See docs.postgrest.org (API reference) for the semantics followed here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import Response

from salesflow.devstack import rest_sql
from salesflow.devstack.context import Caller, StackContext
from salesflow.devstack.errors import ApiError, from_postgres, parse_error
from salesflow.devstack.rest_parse import ReadRequest, parse_prefer, parse_query
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
    if path.startswith("rpc/"):
        return await _rpc(request, ctx, caller, schema_name, path[4:])
    if "/" in path:
        raise ApiError(404, "PGRST125", f"Invalid path specified in request URL: /{path}")
    table = await _table(ctx, schema_name, path)
    if method in ("GET", "HEAD"):
        return await _read(request, ctx, caller, table)
    if method == "POST":
        return await _insert(request, ctx, caller, table)
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


def _singular(request: Request) -> bool:
    return OBJECT_TYPE in request.headers.get("accept", "")


def _headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k not in ("authorization", "apikey", "cookie")}


def _prefs(request: Request) -> dict[str, str]:
    return parse_prefer(request.headers.getlist("prefer"))


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


def _body_response(body: str, n: int, single: str | None, singular: bool, status: int,
                   headers: dict[str, str]) -> Response:
    if singular:
        if n != 1:
            raise ApiError(406, "PGRST116", SINGULAR_ERROR, f"The result contains {n} rows")
        return Response(single or "null", status_code=status, media_type=OBJECT_TYPE + "; charset=utf-8",
                        headers=headers)
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)


async def _read(request: Request, ctx: StackContext, caller: Caller, table: Table) -> Response:
    prefs = _prefs(request)
    cache = await ctx.schema_cache()
    # The statement depends only on the table, the query string and Range (never on who asks: the caller
    # is applied by set_config), so identical reads reuse the composed text and its bound values.
    key = (ctx.cache_generation, table.schema, table.name, request.url.query, request.headers.get("range"))
    known = ctx.read_statements.get(key)
    if known is None:
        query = _query(request)
        limit, offset = _range(request, query, ctx.max_rows)
        params = rest_sql.Params()
        page, count_sql = rest_sql.read_sql(cache, table, query.select, query.options, limit, offset, params)
        known = (page.as_string(), count_sql.as_string(), dict(params.values), offset)
        if len(ctx.read_statements) >= READ_STATEMENTS_KEPT:
            ctx.read_statements.clear()
        ctx.read_statements[key] = known
    page_text, count_text, values, offset = known
    total: int | None = None
    statements: list[tuple[str, Any]] = [(page_text, values)]
    if prefs.get("count") in ("exact", "planned", "estimated"):
        statements.append((count_text, values))
    try:
        rows = await ctx.run(caller, request.method, request.url.path, _headers(request), True, statements)
    except psycopg.Error as exc:
        raise from_postgres(exc, caller.authenticated) from None
    body, n, single = rows[0]  # type: ignore[misc]
    if len(rows) > 1:
        total = rows[1][0]  # type: ignore[index]
    headers = {"Content-Range": _content_range(offset, n, total)}
    if "count" in prefs:
        headers["Preference-Applied"] = f"count={prefs['count']}"
    status = 200
    if total is not None:
        if n == 0 and offset > 0 and offset >= total > 0:
            raise ApiError(416, "PGRST103", "Requested range not satisfiable",
                           f"An offset of {offset} was requested, but there are only {total} rows.")
        if n < total:
            status = 206
    response = _body_response(body, n, single, _singular(request), status, headers)
    if request.method == "HEAD":
        return Response(status_code=response.status_code, headers=headers, media_type=response.media_type)
    return response


def _content_range(offset: int, n: int, total: int | None) -> str:
    total_text = "*" if total is None else str(total)
    return f"{offset}-{offset + n - 1}/{total_text}" if n else f"*/{total_text}"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "PGRST102", "Empty or invalid json", str(exc)) from None


async def _mutate(request: Request, ctx: StackContext, caller: Caller, table: Table,
                  statement_for: Any, query: ReadRequest, created: bool) -> Response:
    prefs = _prefs(request)
    ret = prefs.get("return", "minimal")
    params = rest_sql.Params()
    cache = await ctx.schema_cache()
    statement = statement_for(params)
    full = rest_sql.returning_body(cache, table, statement, query.select, query.options, params)
    singular = _singular(request)
    try:
        if singular:  # the row count decides between commit and rollback
            async with ctx.transaction(caller, request.method, request.url.path, _headers(request), False) as conn:
                cur = await conn.execute(rest_sql.composed(full), params.values)
                body, n, single = await cur.fetchone()  # type: ignore[misc]
                if n != 1:
                    raise _Rollback(ApiError(406, "PGRST116", SINGULAR_ERROR, f"The result contains {n} rows"))
        else:
            rows = await ctx.run(caller, request.method, request.url.path, _headers(request), False,
                                 [(full, params.values)])
            body, n, single = rows[0]  # type: ignore[misc]
    except psycopg.Error as exc:
        raise from_postgres(exc, caller.authenticated) from None
    applied = [f"{k}={prefs[k]}" for k in ("return", "resolution", "missing", "count") if k in prefs]
    headers = {"Content-Range": f"*/{n}" if "count" in prefs else "*/*"}
    if applied:
        headers["Preference-Applied"] = ",".join(applied)
    if ret == "representation":
        return _body_response(body, n, single, singular, 201 if created else 200, headers)
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


def _pick_function(candidates: list[Function], given: set[str]) -> tuple[Function, bool] | None:
    for fn in candidates:
        names = {a.name for a in fn.arguments}
        required = {a.name for a in fn.arguments if not a.has_default}
        if "" not in names and given <= names and required <= given:
            return fn, False
    for fn in candidates:
        if len(fn.arguments) == 1 and fn.arguments[0].type in ("json", "jsonb") and \
                (fn.arguments[0].name == "" or fn.arguments[0].name not in given):
            return fn, True
    return None


async def _rpc(request: Request, ctx: StackContext, caller: Caller, schema_name: str, name: str) -> Response:
    if request.method not in ("GET", "HEAD", "POST"):
        raise ApiError(405, "PGRST101", "Only GET and POST are allowed for functions")
    cache = await ctx.schema_cache()
    candidates = cache.functions.get((schema_name, name)) or \
        (await ctx.schema_cache(refresh=True)).functions.get((schema_name, name), [])
    all_arg_names = frozenset(a.name for fn in candidates for a in fn.arguments)
    query = _query(request, all_arg_names if request.method != "POST" else frozenset())
    if request.method == "POST":
        body = await _json_body(request)
        args: dict[str, Any] = body if isinstance(body, dict) else {}
        if body is not None and not isinstance(body, dict):
            raise ApiError(400, "PGRST102", "Empty or invalid json", "a function takes a JSON object of arguments")
        # the body already is the JSON object of arguments: hand it to Postgres as it came
        args_json = (await request.body()).decode() if body is not None else "{}"
    else:
        args = dict(query.rpc_args)
        args_json = json.dumps(args)
    picked = _pick_function(candidates, set(args))
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
    limit, offset = _range(request, query, ctx.max_rows)
    params = rest_sql.Params()
    given = [a.name for a in fn.arguments if a.name in args]
    statement = rest_sql.rpc_sql(cache, fn, args_json, given, query.select, query.options,
                                 limit if fn.returns_set else None, offset if fn.returns_set else None,
                                 params, whole_body)
    read_only = request.method in ("GET", "HEAD")
    singular = _singular(request)
    try:
        if singular and fn.returns_set:  # the row count decides between commit and rollback
            async with ctx.transaction(caller, request.method, request.url.path, _headers(request), read_only,
                                       schema_name) as conn:
                cur = await conn.execute(rest_sql.composed(statement), params.values)
                body_text, n, single = await cur.fetchone()  # type: ignore[misc]
                if n != 1:
                    raise _Rollback(ApiError(406, "PGRST116", SINGULAR_ERROR, f"The result contains {n} rows"))
        else:
            rows = await ctx.run(caller, request.method, request.url.path, _headers(request), read_only,
                                 [(statement, params.values)], schema_name)
            if fn.return_kind == "void":
                body_text, n, single = "", 0, None
            else:
                body_text, n, single = rows[0]  # type: ignore[misc]
    except psycopg.Error as exc:
        raise from_postgres(exc, caller.authenticated) from None
    if fn.return_kind == "void":
        return Response(status_code=204)
    if not fn.returns_set and fn.return_kind == "composite":
        # a function returning one row answers with that row (or null), not an array
        return Response(single or "null", media_type=JSON_TYPE)
    headers = {"Content-Range": _content_range(offset, n, None)} if fn.returns_set else {}
    if fn.returns_set:
        return _body_response(body_text, n, single, singular, 200, headers)
    return Response(body_text, media_type=JSON_TYPE, headers=headers)
