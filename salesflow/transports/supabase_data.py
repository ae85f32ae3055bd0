"""Handlers' data access on the supabase transport: `TenantData` over PostgREST, scoped to one tenant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from salesflow.events.ports import TenantData
from salesflow.transports.scoping import (
    column_names,
    conflict_targets,
    jsonable,
    refuse_tenant_move,
    scoped_rows,
    split_name,
)

if TYPE_CHECKING:
    from salesflow.transports.supabase import SupabaseApi


class SupabaseTenantData:
    """`TenantData` for one tenant over PostgREST with the service role: every row and filter carries
    the tenant (the service role bypasses RLS)."""

    def __init__(self, api: SupabaseApi, tenant_id: UUID) -> None:
        self.api = api
        self._tenant_id = tenant_id

    @property
    def tenant_id(self) -> UUID:
        return self._tenant_id

    async def _table(self, table: str) -> Any:
        schema, name = split_name(table, "table")
        client = await self.api.client()
        return (client.schema(schema) if schema != "public" else client.postgrest).table(name)

    async def _refuse_foreign_conflicts(self, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
        # PostgREST cannot say `do update … where t.tenant_id = excluded.tenant_id`: look first, so a merge
        # never takes over another tenant's row.
        conditions = []
        for row in rows:
            parts = [f"{k}.is.null" if row.get(k) is None else f"{k}.eq.{_quote(row[k])}" for k in keys]
            conditions.append(f"and({','.join(parts)})" if len(parts) > 1 else parts[0])
        query = (await self._table(table)).select(",".join(keys)).neq("tenant_id", str(self._tenant_id))
        found = await query.or_(",".join(conditions)).limit(1).execute()
        if found.data:
            raise PermissionError(f"{table}: a row with {found.data[0]} belongs to another tenant")

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
        builder = await self._table(table)
        if on_conflict is None:
            result = await builder.insert(scoped).execute()
        else:
            keys = conflict_targets(on_conflict)
            if not ignore_duplicates:
                await self._refuse_foreign_conflicts(table, scoped, keys)
            result = await builder.upsert(scoped, on_conflict=",".join(keys),
                                          ignore_duplicates=ignore_duplicates).execute()
        return list(result.data or [])

    async def upsert(
        self, table: str, rows: Sequence[Mapping[str, Any]], on_conflict: str | Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.insert(table, rows, on_conflict=on_conflict)

    def _filtered(self, query: Any, match: Mapping[str, Any]) -> Any:
        query = query.eq("tenant_id", str(self._tenant_id))
        for column, value in match.items():
            column_names([column], "filters")
            query = query.is_(column, "null") if value is None else query.eq(column, _text(value))
        return query

    async def select(
        self,
        table: str,
        filters: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        wanted = column_names(list(columns or []), "columns")
        query = self._filtered((await self._table(table)).select(",".join(wanted) or "*"), filters or {})
        if limit is not None:
            query = query.limit(int(limit))
        return list((await query.execute()).data or [])

    async def update(
        self, table: str, values: Mapping[str, Any], match: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        refuse_tenant_move(values)
        query = self._filtered((await self._table(table)).update(jsonable(values)), match)
        return list((await query.execute()).data or [])

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        return await self.api.rpc(function, jsonable(args or {}))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _quote(value: Any) -> str:
    text = _text(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SupabaseTenantDataFactory:
    """Makes `SupabaseTenantData` for each event's tenant, sharing one client."""

    def __init__(self, api: SupabaseApi) -> None:
        self.api = api

    def for_tenant(self, tenant_id: UUID) -> TenantData:
        return SupabaseTenantData(self.api, tenant_id)

    async def close(self) -> None:
        await self.api.close()
