"""Handlers' data access on the supabase transport: `TenantData` over PostgREST, scoped to one tenant.

An upsert is one PostgREST request (`on_conflict` + `resolution=merge-duplicates`), so one statement: the
database refuses a merge into another tenant's row inside it (trigger `a_row_keeps_its_tenant`, migration
20261201130000), which a look-then-upsert could only approximate with a race between the two requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from postgrest.exceptions import APIError

from salesflow.events.ports import TenantData
from salesflow.transports.scoping import (
    column_names,
    conflict_targets,
    jsonable,
    refuse_tenant_move,
    scoped_args,
    scoped_rows,
    split_name,
)

if TYPE_CHECKING:
    from salesflow.transports.supabase import SupabaseApi

T = TypeVar("T")


async def _answer(call: Awaitable[T]) -> T:
    """The call's answer; what the grants or a database promise refuse (SQLSTATE 42501, HTTP 401/403) is a
    PermissionError, as on the postgres transport."""
    try:
        return await call
    except APIError as exc:
        if exc.code == "42501":
            raise PermissionError(exc.message or str(exc)) from exc
        raise


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
            result = await _answer(builder.insert(scoped).execute())
        else:
            keys = conflict_targets(on_conflict)
            result = await _answer(builder.upsert(scoped, on_conflict=",".join(keys),
                                                  ignore_duplicates=ignore_duplicates).execute())
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
        return list((await _answer(query.execute())).data or [])

    async def update(
        self, table: str, values: Mapping[str, Any], match: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        refuse_tenant_move(values)
        query = self._filtered((await self._table(table)).update(jsonable(values)), match)
        return list((await _answer(query.execute())).data or [])

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        return await _answer(self.api.rpc(function, scoped_args(self._tenant_id, function, args or {})))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class SupabaseTenantDataFactory:
    """Makes `SupabaseTenantData` for each event's tenant, sharing one client."""

    def __init__(self, api: SupabaseApi) -> None:
        self.api = api

    def for_tenant(self, tenant_id: UUID) -> TenantData:
        return SupabaseTenantData(self.api, tenant_id)

    async def close(self) -> None:
        await self.api.close()
