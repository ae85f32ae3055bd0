"""Handlers' data access on the postgres transport: `TenantData` over psycopg, scoped to one tenant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from salesflow.events.ports import TenantData
from salesflow.transports.pools import new_pool
from salesflow.transports.scoping import column_names, conflict_targets, refuse_tenant_move, scoped_rows, split_name

# Whether a function returns a set (so rpc answers a list), by name: looked up once per process.
_RETURNS_SET: dict[str, bool] = {}


def _qualified(name: str, what: str = "table") -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(p) for p in split_name(name, what))


class PostgresTenantData:
    """`TenantData` for one tenant over psycopg. JSON in, JSON out: the database casts the values to the
    column types (`jsonb_populate_record`), the way PostgREST does, so handlers behave the same on both
    transports."""

    def __init__(self, pool: AsyncConnectionPool, tenant_id: UUID, ensure_open: Callable[[], Awaitable[None]]) -> None:
        self._pool = pool
        self._tenant_id = tenant_id
        self._ensure_open = ensure_open

    @property
    def tenant_id(self) -> UUID:
        return self._tenant_id

    async def _rows(self, query: sql.Composed, params: Sequence[Any]) -> list[dict[str, Any]]:
        await self._ensure_open()
        async with self._pool.connection() as conn:
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
            updates = [n for n in names if n not in keys and n != "tenant_id"]
            if ignore_duplicates or not updates:
                query += sql.SQL(" on conflict ({}) do nothing").format(conflict)
            else:
                query += sql.SQL(" on conflict ({}) do update set {} where t.tenant_id = excluded.tenant_id").format(
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

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        target = _qualified(function, "function")
        arguments = dict(args or {})
        names = column_names(list(arguments), "args")
        call = sql.SQL("{}({})").format(
            target, sql.SQL(", ").join(sql.SQL("{} => %s").format(sql.Identifier(n)) for n in names)
        )
        params = [Jsonb(v) if isinstance(v, (dict, list)) else v for v in arguments.values()]
        await self._ensure_open()
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(sql.SQL("select to_jsonb(r) from {} r").format(call), params)).fetchall()
            returns_set = _RETURNS_SET.get(function)
            if returns_set is None:
                row = await (
                    await conn.execute(
                        "select coalesce(bool_or(p.proretset), false) from pg_proc p "
                        "join pg_namespace n on n.oid = p.pronamespace where n.nspname = %s and p.proname = %s",
                        split_name(function, "function"),
                    )
                ).fetchone()
                returns_set = _RETURNS_SET[function] = bool(row and row[0])
        values = [r[0] for r in rows]
        if returns_set:
            return values  # a set-returning function answers a list, as PostgREST does
        return values[0] if values else None


class PostgresTenantDataFactory:
    """Makes `PostgresTenantData` for each event's tenant, sharing one pool."""

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self.pool = new_pool(url, pool_size, "salesflow-handlers")
        self._opened = False

    async def open(self) -> None:
        """Open the pool (lazily, on the first handler's call)."""
        if not self._opened:
            await self.pool.open(wait=False)
            self._opened = True

    def for_tenant(self, tenant_id: UUID) -> TenantData:
        return PostgresTenantData(self.pool, tenant_id, self.open)

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
            self._opened = False
