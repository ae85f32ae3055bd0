"""The orchestrator's one port to the database: every read and write is one SQL function call.

The functions (`public.ai_*`, service_role only) are the same for both transports, so the store is an
`rpc(function, named_args)` callable: psycopg for the CLI and the postgres transport
(`salesflow.ai.store_postgres`), or a handler's `TenantData.rpc` (PostgREST on the Supabase transport).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from salesflow.ai.errors import LeadNotFound

Rpc = Callable[[str, Mapping[str, Any]], Awaitable[Any]]


@runtime_checkable
class AIStore(Protocol):
    """What the orchestrator reads and writes. Raise StoreUnavailable when the database is unreachable."""

    async def resolve_prompt(
        self, name: str, tenant_id: str | None, label: str, locale: str | None
    ) -> Mapping[str, Any] | None:
        """The labelled prompt version for the tenant (its own over the global one), or None."""
        ...

    async def lead_context(self, tenant_id: str, lead_id: str) -> Mapping[str, Any]:
        """The lead's fields plus `tenant_locale`; LeadNotFound when the tenant has no such lead."""
        ...

    async def reserve_budget(
        self, tenant_id: str, scenario: str, provider: str, models: Sequence[str], input_tokens: int,
        output_tokens: int,
    ) -> Mapping[str, Any]:
        """Reserve the most a call may cost, atomically; `{allowed, reservation_id?, at_limit?, ...}`."""
        ...

    async def settle_budget(self, reservation_id: str) -> Mapping[str, Any]:
        """Replace a reservation by what its calls really cost (from their usage rows)."""
        ...

    async def track_usage(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Insert usage rows (one per call attempt, each with its `id`); returns `{id, cost_usd}` per row."""
        ...


class RpcAIStore:
    """An AIStore over any `rpc(function, args)`: a handler's TenantData, PostgREST, or psycopg."""

    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc

    async def resolve_prompt(
        self, name: str, tenant_id: str | None, label: str, locale: str | None
    ) -> Mapping[str, Any] | None:
        result = await self._rpc(
            "ai_resolve_prompt",
            {"p_name": name, "p_tenant_id": tenant_id, "p_label": label, "p_locale": locale},
        )
        return result or None

    async def lead_context(self, tenant_id: str, lead_id: str) -> Mapping[str, Any]:
        result = await self._rpc("ai_lead_context", {"p_tenant_id": tenant_id, "p_lead_id": lead_id})
        if not result:
            raise LeadNotFound(f"lead {lead_id} does not exist in tenant {tenant_id}")
        return dict(result)

    async def reserve_budget(
        self, tenant_id: str, scenario: str, provider: str, models: Sequence[str], input_tokens: int,
        output_tokens: int,
    ) -> Mapping[str, Any]:
        return dict(
            await self._rpc(
                "ai_reserve_budget",
                {
                    "p_tenant_id": tenant_id,
                    "p_scenario": scenario,
                    "p_provider": provider,
                    "p_models": list(models),
                    "p_input_tokens": input_tokens,
                    "p_output_tokens": output_tokens,
                },
            )
        )

    async def settle_budget(self, reservation_id: str) -> Mapping[str, Any]:
        return dict(await self._rpc("ai_settle_budget", {"p_reservation_id": reservation_id}) or {})

    async def track_usage(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        result = await self._rpc("ai_track_usage", {"p_rows": [dict(r) for r in rows]})
        return list(result or [])
