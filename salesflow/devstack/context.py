"""What every endpoint of the local stack shares: settings, the connection pool, the schema cache, callers.

A request is authenticated like Supabase's gateway and PostgREST do it: an `apikey` (header or query) must
be one of the project's two keys exactly (`gateway`; a user's session token is not an API key), and the
bearer token (or the key itself) decides the role and claims (`caller`). Each
request then runs in one transaction after the same `set_config` calls PostgREST makes, so RLS, grants and
`auth.uid()` are Postgres's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from salesflow.db.claims import API_ROLES
from salesflow.devstack import schema
from salesflow.devstack.errors import ApiError
from salesflow.devstack.keys import ApiKeys, TokenError, is_project_key, verify

# What PostgREST runs at the start of every request's transaction (values bound as parameters).
SETUP_SQL = (
    "select set_config('role', %(role)s, true), set_config('request.jwt.claims', %(claims)s, true), "
    "set_config('request.method', %(method)s, true), set_config('request.path', %(path)s, true), "
    "set_config('request.headers', %(headers)s, true), set_config('search_path', %(search_path)s, true), "
    "set_config('transaction_read_only', %(read_only)s, true)"
)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the verified claims and the database role they name."""

    claims: dict[str, Any]
    token: str

    @property
    def role(self) -> str:
        return str(self.claims.get("role") or "anon")

    @property
    def authenticated(self) -> bool:
        return self.role != "anon"


@dataclass
class StackContext:
    """Shared state of one running local stack."""

    database_url: str
    jwt_secret: str
    keys: ApiKeys
    api_url: str
    schemas: tuple[str, ...] = ("public", "graphql_public")
    extra_search_path: tuple[str, ...] = ("public", "extensions")
    max_rows: int | None = 1000
    pool: AsyncConnectionPool | None = None
    cache: schema.SchemaCache | None = None
    _cache_loaded_at: float = 0.0
    cache_generation: int = 0
    read_statements: dict[tuple[Any, ...], tuple[str, str, dict[str, Any], int]] = field(default_factory=dict)
    _cache_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def schema_cache(self, refresh: bool = False) -> schema.SchemaCache:
        """The schema cache; `refresh` re-reads it (at most once a second, so misses cannot hammer it)."""
        async with self._cache_lock:
            stale = refresh and time.monotonic() - self._cache_loaded_at > 1.0
            if self.cache is None or stale:
                self.cache = await asyncio.to_thread(schema.load, self.database_url, self.schemas)
                self._cache_loaded_at = time.monotonic()
                self.cache_generation += 1
                self.read_statements.clear()
            return self.cache

    def gateway(self, conn: HTTPConnection, require_apikey: bool = True) -> str | None:
        """The request's `apikey` after the gateway's check: it must be the project's anon or service_role key
        (a valid user token is not one); raises ApiError (401) as Supabase's gateway answers."""
        apikey = conn.headers.get("apikey") or conn.query_params.get("apikey")
        if require_apikey and not apikey:
            raise ApiError(401, "401", "No API key found in request",
                           hint="No `apikey` request header or url param was found.")
        if apikey and not is_project_key(apikey, self.keys):
            raise ApiError(401, "401", "Invalid API key",
                           hint="Double check your Supabase `anon` or `service_role` API key.")
        return apikey

    def bearer(self, conn: HTTPConnection) -> str:
        """The token of `Authorization: Bearer …`, or ''."""
        auth = conn.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else ""

    def caller(self, conn: HTTPConnection, require_apikey: bool = True) -> Caller:
        """Authenticate a request the way Supabase's gateway and PostgREST do; raises ApiError (401)."""
        apikey = self.gateway(conn, require_apikey)
        token = self.bearer(conn) or apikey or ""
        if not token:
            return Caller({"role": "anon"}, "")
        try:
            claims = verify(token, self.jwt_secret)
        except TokenError as exc:
            raise ApiError(401, exc.code, exc.message, exc.details) from None
        return Caller(claims, token)

    async def check_role(self, caller: Caller) -> None:
        """Refuse a role the API cannot switch to, as Postgres would refuse PostgREST's `set role`."""
        if caller.role in API_ROLES:
            return
        assert self.pool is not None
        async with self.pool.connection() as conn:
            cur = await conn.execute("select 1 from pg_roles where rolname = %s", (caller.role,))
            exists = await cur.fetchone() is not None
        if exists:
            raise ApiError(403, "42501", f'permission denied to set role "{caller.role}"')
        raise ApiError(401, "22023", f'role "{caller.role}" does not exist')

    @asynccontextmanager
    async def transaction(
        self, caller: Caller, method: str, path: str, headers: dict[str, str], read_only: bool,
        schema_name: str = "public",
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One transaction acting as the caller, exactly as PostgREST sets it up."""
        await self.check_role(caller)
        assert self.pool is not None
        search_path = ", ".join(f'"{s}"' for s in (schema_name, *self.extra_search_path))
        params = _setup_params(caller, method, path, headers, read_only, search_path)
        # Pool connections are in autocommit mode: the transaction is begun and ended here.
        async with self.pool.connection() as conn:
            await conn.execute("begin")
            try:
                await conn.execute(SETUP_SQL, params)
                yield conn
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    await conn.rollback()  # not execute("rollback"): see run()
                raise
            await conn.execute("commit")

    async def run(
        self, caller: Caller, method: str, path: str, headers: dict[str, str], read_only: bool,
        statements: Sequence[tuple[sql.Composable | str, Any]], schema_name: str = "public",
    ) -> list[tuple[Any, ...] | None]:
        """Run statements in one transaction acting as the caller, in a single round trip: begin, the
        set_config call, the statements and commit are pipelined and answered together. Returns each
        statement's first row. For requests that must look at a result before deciding to commit, use
        `transaction()`."""
        await self.check_role(caller)
        assert self.pool is not None
        search_path = ", ".join(f'"{s}"' for s in (schema_name, *self.extra_search_path))
        params = _setup_params(caller, method, path, headers, read_only, search_path)
        async with self.pool.connection() as conn:
            cursors = []
            try:
                async with conn.pipeline():
                    await conn.execute("begin")
                    await conn.execute(SETUP_SQL, params)
                    for query, values in statements:
                        cursors.append(await conn.execute(_composed(query), values))
                    await conn.execute("commit")
            except BaseException:
                # An error aborts the rest of the pipeline: the transaction is still open and failed.
                # conn.rollback(), not execute("rollback"): psycopg then deallocates its prepared statements
                # at once; otherwise the DEALLOCATE ALL it queues runs later, inside the next request's
                # pipeline, after that request prepared a statement, and every later use of that statement
                # on this pooled connection fails with 26000 "prepared statement _pg3_N does not exist".
                with contextlib.suppress(psycopg.Error):
                    await conn.rollback()
                raise
            return [await cur.fetchone() for cur in cursors]


def _setup_params(caller: Caller, method: str, path: str, headers: dict[str, str], read_only: bool,
                  search_path: str) -> dict[str, str]:
    return {"role": caller.role, "claims": json.dumps(caller.claims), "method": method, "path": path,
            "headers": json.dumps(headers), "search_path": search_path, "read_only": "on" if read_only else "off"}


def _composed(query: sql.Composable | str) -> sql.Composed | str:
    if isinstance(query, str | sql.Composed):
        return query
    return sql.Composed([query])
