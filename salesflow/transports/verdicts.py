"""What both event stores send and receive the same way: the verdicts `finish_events` and `settle_events`
take (one JSON array), and the columns every claim returns, as `Event`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from salesflow.events.ports import Delivery, EventResult

# The columns of claim_events / hold_events, in the order of the fields of `Event`.
EVENT_COLUMNS = (
    "id, tenant_id, type, payload, attempts, max_attempts, ordering_key, correlation_id, causation_id, "
    "source, created_at, run_after, succeeded_handlers"
)


def delivery_items(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    """Deliveries as `finish_events` reads them. Absent keys read as null in SQL (jsonb_to_recordset): a
    success sends no "error" (less JSON per event)."""
    out: list[dict[str, Any]] = []
    for d in deliveries:
        item: dict[str, Any] = {"handler": d.handler, "status": d.status, "duration_ms": d.duration_ms}
        if d.error is not None:
            item["error"] = d.error
        out.append(item)
    return out


def result_items(results: Sequence[EventResult]) -> list[dict[str, Any]]:
    """Verdicts as `finish_events` / `settle_events` read them (ids stay UUIDs: the caller encodes)."""
    out: list[dict[str, Any]] = []
    for r in results:
        item: dict[str, Any] = {"id": r.event_id, "outcome": r.outcome}
        if r.error is not None:
            item["error"] = r.error
        if r.retry_in_seconds is not None:
            item["retry_in_seconds"] = r.retry_in_seconds
        if r.deliveries:
            item["deliveries"] = delivery_items(r.deliveries)
        out.append(item)
    return out
