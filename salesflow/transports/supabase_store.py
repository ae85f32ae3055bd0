"""The event store of the `supabase` transport: the engine's `WindowedEventStore` over PostgREST RPC.

Each method is one RPC of one SQL API function (service role). Claim windows work here as on the postgres
transport: `hold_events` and `settle_events` are two calls, each its own transaction, and nothing stays
locked between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from salesflow.events.ports import Backlog, Delivery, Event, EventResult
from salesflow.transports.scoping import jsonable
from salesflow.transports.supabase_api import SupabaseApi
from salesflow.transports.verdicts import delivery_items, result_items


def _uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _event(row: Mapping[str, Any]) -> Event:
    return Event(
        id=UUID(str(row["id"])), tenant_id=UUID(str(row["tenant_id"])), type=row["type"],
        payload=row.get("payload") or {}, attempts=row["attempts"], max_attempts=row["max_attempts"],
        ordering_key=row.get("ordering_key"), correlation_id=_uuid(row.get("correlation_id")),
        causation_id=_uuid(row.get("causation_id")), source=row.get("source") or "db",
        created_at=_time(row.get("created_at")), run_after=_time(row.get("run_after")),
        succeeded_handlers=frozenset(row.get("succeeded_handlers") or ()),
    )


def _ids(values: Any) -> set[UUID]:
    return {UUID(str(v)) for v in values or ()}


class SupabaseEventStore:
    """`WindowedEventStore` over PostgREST RPC: each method is one call of one SQL API function."""

    # Two claim lanes: two RPCs in flight at once (the HTTP client keeps a connection per request).
    lanes = 2

    def __init__(self, api: SupabaseApi) -> None:
        self.api = api
        # The window each lane has open (hold_events' hold_id), which its settle closes.
        self._holds: list[int | None] = [None] * self.lanes

    async def claim(self, worker: str, batch: int, lease_seconds: float) -> list[Event]:
        rows = await self.api.rpc("claim_events", {"p_worker": worker, "p_batch": batch,
                                                   "p_lease_seconds": lease_seconds})
        return [_event(r) for r in rows or []]

    async def hold(self, lane: int, worker: str, batch: int, hold_seconds: float) -> list[Event]:
        rows = await self.api.rpc("hold_events", {"p_worker": worker, "p_batch": batch,
                                                  "p_hold_seconds": hold_seconds}) or []
        self._holds[lane] = int(rows[0]["hold_id"]) if rows else None
        return [_event(r) for r in rows]

    async def settle(self, lane: int, worker: str, results: Sequence[EventResult], lease_ids: Sequence[UUID],
                     lease_seconds: float, backoff_base_seconds: float) -> set[UUID]:
        hold, self._holds[lane] = self._holds[lane], None
        lost = await self.api.rpc("settle_events", {
            "p_worker": worker, "p_hold_id": hold or 0, "p_results": jsonable(result_items(results)),
            "p_lease_ids": [str(i) for i in lease_ids], "p_lease_seconds": lease_seconds,
            "p_backoff_base_seconds": backoff_base_seconds})
        return _ids(lost)

    async def finish(self, worker: str, results: Sequence[EventResult], backoff_base_seconds: float) -> set[UUID]:
        lost = await self.api.rpc("finish_events", {"p_worker": worker, "p_results": jsonable(result_items(results)),
                                                    "p_backoff_base_seconds": backoff_base_seconds})
        return _ids(lost)

    async def record_deliveries(self, worker: str, event_id: UUID, deliveries: Sequence[Delivery]) -> None:
        await self.api.rpc("record_deliveries", {"p_worker": worker, "p_event_id": str(event_id),
                                                 "p_deliveries": delivery_items(deliveries)})

    async def extend_lease(self, worker: str, event_ids: Sequence[UUID], lease_seconds: float) -> set[UUID]:
        held = await self.api.rpc("extend_lease", {"p_worker": worker, "p_event_ids": [str(i) for i in event_ids],
                                                   "p_lease_seconds": lease_seconds})
        return _ids(held)

    async def release(self, worker: str, event_ids: Sequence[UUID]) -> int:
        released = await self.api.rpc("release_events", {"p_worker": worker,
                                                         "p_event_ids": [str(i) for i in event_ids]})
        return int(released or 0)

    async def recover_expired_leases(self) -> int:
        return int(await self.api.rpc("recover_expired_leases") or 0)

    async def next_due_in(self) -> float | None:
        due = await self.api.rpc("next_event_due")
        return None if due is None else float(due)

    async def backlog(self) -> Backlog:
        rows = await self.api.rpc("event_backlog")
        row = rows[0] if isinstance(rows, list) and rows else {}
        return Backlog(int(row.get("pending") or 0), row.get("oldest_due_age_seconds"),
                       row.get("next_due_in_seconds"))

    async def prune(self, older_than_seconds: float, limit: int) -> int | None:
        pruned = await self.api.rpc("prune_events", {"p_older_than_seconds": older_than_seconds, "p_limit": limit})
        return None if pruned is None else int(pruned)

    async def call_function(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        """One service SQL function of `public` outside the event API (the alert evaluator's), as one RPC."""
        return await self.api.rpc(function, jsonable(dict(args or {})))

    async def close(self) -> None:
        await self.api.close()
