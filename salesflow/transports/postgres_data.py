"""Handlers' data access on the postgres transport: `TenantData` over psycopg, scoped to one tenant.

The transport connects as the database owner, who is above every grant. Handlers' connections therefore
become `service_role` when they are made, with the claims PostgREST sets for the service-role key and
PostgREST's search path: the same role, grants and function behaviour as on the supabase transport. The
pool serves nothing else, so the role is set once per connection (`set role`) instead of once per
transaction as PostgREST does (`set local role`): the same effect without a round trip per call.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from salesflow.events.ports import TenantData
from salesflow.transports.pools import new_pool
from salesflow.transports.scoping import (
    SERVICE_ROLE,
    SERVICE_ROLE_CLAIMS,
    column_names,
    conflict_targets,
    refuse_tenant_move,
    scoped_args,
    scoped_rows,
    split_name,
)


class _Signature(NamedTuple):
    """What rpc needs to know of a function: whether it returns a set (so rpc answers a list) and each input
    parameter's declared type (None where overloads disagree), so arguments bind as PostgREST binds them."""

    returns_set: bool
    types: dict[str, str | None]


# By function name: looked up once per process.
_SIGNATURES: dict[str, _Signature] = {}

# Every overload's input parameters (in, inout, variadic) with their declared types, as SQL spells them.
_SIGNATURE_QUERY = """
select p.proretset, a.name, pg_catalog.format_type(a.type, null)
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
left join lateral unnest(p.proargnames, coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes::text[])
  as a(name, type, mode) on a.mode is null or a.mode in ('i', 'b', 'v')
where n.nspname = %s and p.proname = %s
"""

_JSON_TYPES = {"json", "jsonb"}

# What PostgREST sets for a request with the service-role key (its db-schemas plus extra search path).
_AS_SERVICE_ROLE = sql.SQL(
    "set role {role}; select set_config('request.jwt.claims', {claims}, false), "
    "set_config('search_path', 'public, extensions', false)"
).format(role=sql.Identifier(SERVICE_ROLE), claims=sql.Literal(json.dumps(SERVICE_ROLE_CLAIMS)))


async def _become_service_role(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(_AS_SERVICE_ROLE)


async def _why_no_connection(url: str, exc: PoolTimeout) -> Exception:
    """A pool timeout says only that no connection came; one direct attempt says why (the database is
    away, or its user may not become service_role), which is what the engine logs and retries on."""
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=3) as conn:
            await _become_service_role(conn)
    except psycopg.errors.InsufficientPrivilege as cause:
        return PermissionError(
            f"handlers' data access runs as {SERVICE_ROLE}, and the database user cannot switch to it "
            f"({cause.diag.message_primary}): connect as a member of {SERVICE_ROLE} "
            f"(e.g. `grant {SERVICE_ROLE} to <user>`)"
        )
    except psycopg.OperationalError as cause:
        return psycopg.OperationalError(f"cannot connect to the database: {str(cause).strip()}")
    return exc


def _qualified(name: str, what: str = "table") -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(p) for p in split_name(name, what))


class PostgresTenantData:
    """`TenantData` for one tenant over psycopg. JSON in, JSON out: the database casts the values to the
    column types (`jsonb_populate_record`), the way PostgREST does, so handlers behave the same on both
    transports."""

    def __init__(self, pool: AsyncConnectionPool, tenant_id: UUID, ensure_open: Callable[[], Awaitable[None]],
                 url: str = "") -> None:
        self._pool = pool
        self._tenant_id = tenant_id
        self._ensure_open = ensure_open
        self._url = url

    @property
    def tenant_id(self) -> UUID:
        return self._tenant_id

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A service_role connection. What the grants or a database promise refuse (SQLSTATE 42501) is a
        PermissionError, as on the supabase transport."""
        await self._ensure_open()
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise await _why_no_connection(self._url, exc) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PermissionError(exc.diag.message_primary or str(exc).strip()) from exc

    async def _rows(self, query: sql.Composed, params: Sequence[Any]) -> list[dict[str, Any]]:
        async with self._connection() as conn:
            cur = await conn.execute(query, params)
            if cur.description is None:
                return []
            return [r[0] for r in await cur.fetchall()]

    async def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        on_conflict: str | Sequence[str] | None = None,
        ignore_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        if not rows:
            return []
        scoped = scoped_rows(self._tenant_id, rows)
        names = sorted({k for r in scoped for k in r})
        target = _qualified(table)
        cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
        query = sql.SQL(
            "insert into {target} as t ({cols}) select {cols} from jsonb_populate_recordset(null::{target}, %s)"
        ).format(target=target, cols=cols)
        if on_conflict is not None:
            keys = conflict_targets(on_conflict)
            conflict = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
            if ignore_duplicates:
                query += sql.SQL(" on conflict ({}) do nothing").format(conflict)
            else:
                # PostgREST's merge: every given column, tenant_id included, so the database's own promise
                # (trigger a_row_keeps_its_tenant) refuses a conflict with another tenant's row in this very
                # statement, on both transports.
                updates = [n for n in names if n not in keys] or keys
                query += sql.SQL(" on conflict ({}) do update set {}").format(
                    conflict,
                    sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n)) for n in updates),
                )
        query += sql.SQL(" returning to_jsonb(t.*)")
        return await self._rows(query, [Jsonb(scoped)])

    async def upsert(
        self, table: str, rows: Sequence[Mapping[str, Any]], on_conflict: str | Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.insert(table, rows, on_conflict=on_conflict)

    def _where(self, match: Mapping[str, Any], alias: str) -> tuple[sql.Composable, list[Any]]:
        names = column_names(list(match), "filters")
        conditions: list[sql.Composable] = [sql.SQL("t.tenant_id = %s")]
        params: list[Any] = [self._tenant_id]
        for n in names:
            if match[n] is None:
                conditions.append(sql.SQL("t.{} is null").format(sql.Identifier(n)))
            else:
                conditions.append(sql.SQL("t.{0} = {1}.{0}").format(sql.Identifier(n), sql.Identifier(alias)))
        return sql.SQL(" and ").join(conditions), params

    async def select(
        self,
        table: str,
        filters: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        target = _qualified(table)
        match = dict(filters or {})
        where, params = self._where(match, "f")
        query = sql.SQL(
            "select to_jsonb(t.*) from {target} t, jsonb_populate_record(null::{target}, %s) f where "
        ).format(target=target) + where
        if limit is not None:
            query += sql.SQL(" limit {}").format(sql.Literal(int(limit)))
        rows = await self._rows(query, [Jsonb({k: v for k, v in match.items() if v is not None}), *params])
        if columns:
            wanted = column_names(list(columns), "columns")
            return [{c: r.get(c) for c in wanted} for r in rows]
        return rows

    async def update(
        self, table: str, values: Mapping[str, Any], match: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        refuse_tenant_move(values)
        target = _qualified(table)
        names = column_names(list(values), "values")
        where, params = self._where(match, "m")
        query = (
            sql.SQL("update {target} as t set {sets} from jsonb_populate_record(null::{target}, %s) v, "
                    "jsonb_populate_record(null::{target}, %s) m where ").format(
                target=target,
                sets=sql.SQL(", ").join(sql.SQL("{0} = v.{0}").format(sql.Identifier(n)) for n in names),
            )
            + where
            + sql.SQL(" returning to_jsonb(t.*)")
        )
        return await self._rows(
            query, [Jsonb(dict(values)), Jsonb({k: v for k, v in match.items() if v is not None}), *params]
        )

    async def _signature(self, conn: psycopg.AsyncConnection[Any], function: str) -> _Signature:
        known = _SIGNATURES.get(function)
        if known is not None:
            return known
        rows = await (await conn.execute(_SIGNATURE_QUERY, split_name(function, "function"))).fetchall()
        types: dict[str, str | None] = {}
        for _, name, type_name in rows:
            if name:
                types[name] = type_name if types.get(name, type_name) == type_name else None
        known = _SIGNATURES[function] = _Signature(any(r[0] for r in rows), types)
        return known

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        target = _qualified(function, "function")
        arguments = scoped_args(self._tenant_id, function, args or {})
        async with self._connection() as conn:
            signature = await self._signature(conn, function)
            placeholders: list[sql.Composable] = []
            params: list[Any] = []
            for name, value in arguments.items():
                declared = signature.types.get(name)
                placeholders.append(sql.SQL("{} => %s").format(sql.Identifier(name)) if declared is None
                                    else sql.SQL("{} => %s::{}").format(sql.Identifier(name), sql.SQL(declared)))
                params.append(_bound(value, declared))
            call = sql.SQL("{}({})").format(target, sql.SQL(", ").join(placeholders))
            rows = await (await conn.execute(sql.SQL("select to_jsonb(r) from {} r").format(call), params)).fetchall()
        values = [r[0] for r in rows]
        if signature.returns_set:
            return values  # a set-returning function answers a list, as PostgREST does
        return values[0] if values else None


def _bound(value: Any, declared: str | None) -> Any:
    """A JSON value as a parameter of the declared type: a list for an array parameter binds as an array
    (cast to the declared element type, as PostgREST casts a JSON array), objects and other lists as jsonb."""
    if isinstance(value, list) and declared is not None and declared.endswith("[]") \
            and declared[:-2] not in _JSON_TYPES:
        return [json.dumps(v) if isinstance(v, (dict, list)) else v for v in value]
    if isinstance(value, (dict, list)):
        return Jsonb(value)
    return value


class PostgresTenantDataFactory:
    """Makes `PostgresTenantData` for each event's tenant, sharing one pool of service_role connections."""

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self.url = url
        self.pool = new_pool(url, pool_size, "salesflow-handlers", configure=_become_service_role)
        self._opened = False

    async def open(self) -> None:
        """Open the pool (lazily, on the first handler's call)."""
        if not self._opened:
            await self.pool.open(wait=False)
            self._opened = True

    def for_tenant(self, tenant_id: UUID) -> TenantData:
        return PostgresTenantData(self.pool, tenant_id, self.open, self.url)

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
            self._opened = False
