"""The analytics facts (docs/analytics.md): every lead, stage change, message and meeting becomes a fact row
the funnel and attribution reports read, through one call of `public.analytics_record` per event.

Idempotent twice over: each fact has a natural key (the message; the lead, stage and time; the meeting id),
so a redelivered event writes nothing new, and the rollups move only when a fact row is really inserted.
Facts of a lead that is gone are skipped by the database, never retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from salesflow.analytics.stages import ACTOR_OF_SENDER, STAGE_OF_STATUS
from salesflow.events import Event, HandlerContext, MalformedPayload, handles, payload_field
from salesflow.events import types as t


def _uuid(event: Event, name: str, required: bool = True) -> str | None:
    value = payload_field(event, name, str, required=required)
    if value is None:
        return None
    try:
        return str(UUID(value))
    except ValueError:
        raise MalformedPayload(event.type, name, f"must be a UUID, got {value!r}") from None


def _instant(event: Event, name: str, required: bool = False) -> str:
    """An ISO timestamp from the payload, else when the event was published."""
    value = payload_field(event, name, str, required=required)
    if value is not None:
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            raise MalformedPayload(event.type, name, f"must be an ISO timestamp, got {value!r}") from None
    return (event.created_at or datetime.now(UTC)).isoformat()


def _source(event: Event, context: HandlerContext) -> dict[str, Any]:
    return {"event_id": str(event.id), "handler": context.handler}


async def _record(context: HandlerContext, **facts: list[dict[str, Any]]) -> None:
    await context.data.rpc("analytics_record", {
        "p_tenant_id": str(context.tenant_id),
        **{f"p_{kind}": rows for kind, rows in facts.items()},
    })


@handles(t.LEAD_CREATED)
async def lead_entered_the_funnel(event: Event, context: HandlerContext) -> None:
    """A new lead: the stage lead_created, at the lead's creation time (the database fills it in)."""
    await _record(context, stage_entries=[
        {"lead_id": _uuid(event, "lead_id"), "stage": "lead_created", **_source(event, context)},
    ])


@handles(t.LEAD_STATUS_CHANGED)
async def lead_changed_stage(event: Event, context: HandlerContext) -> None:
    """A pipeline move: the stage it enters, and for won or lost the deal outcome with its value."""
    lead_id = _uuid(event, "lead_id")
    to_status = payload_field(event, "to", str)
    stage = STAGE_OF_STATUS.get(str(to_status))
    if stage is None:
        return  # back to `new`: no stage is entered
    at = (event.created_at or datetime.now(UTC)).isoformat()
    entry = {"lead_id": lead_id, "stage": stage, "from_status": payload_field(event, "from", str, required=False),
             "to_status": to_status, "entered_at": at, **_source(event, context)}
    outcomes: list[dict[str, Any]] = []
    if to_status in ("won", "lost"):
        changes = payload_field(event, "changes", dict, required=False) or {}
        value = (changes.get("deal_value") or {}).get("to") if isinstance(changes.get("deal_value"), dict) else None
        currency = (changes.get("currency") or {}).get("to") if isinstance(changes.get("currency"), dict) else None
        # Without a value in this very change, the database takes the lead's.
        outcomes.append({"lead_id": lead_id, "outcome": to_status, "value": value, "currency": currency,
                         "closed_at": at, **_source(event, context)})
    await _record(context, stage_entries=[entry], deal_outcomes=outcomes)


@handles(t.MESSAGE_RECEIVED)
async def inbound_touchpoint(event: Event, context: HandlerContext) -> None:
    """An inbound message: a touchpoint of the lead on its channel."""
    message_id = _uuid(event, "message_id", required=False)
    if message_id is None:
        return  # published by hand without a message: nothing to key a touchpoint by
    await _record(context, touchpoints=[{
        "lead_id": _uuid(event, "lead_id"),
        "message_id": message_id,
        "channel": payload_field(event, "channel", str),
        "direction": "in",
        "actor": "lead",
        "occurred_at": _instant(event, "received_at"),
        **_source(event, context),
    }])


@handles(t.MESSAGE_SENT)
async def outbound_touchpoint(event: Event, context: HandlerContext) -> None:
    """An outbound message that was sent: who sent it, from which sequence step, what its AI draft cost."""
    message_id = _uuid(event, "message_id", required=False)
    if message_id is None:
        return  # published by hand without a message: nothing to key a touchpoint by
    sent_by = payload_field(event, "sent_by", str, required=False)
    await _record(context, touchpoints=[{
        "lead_id": _uuid(event, "lead_id"),
        "message_id": message_id,
        "channel": payload_field(event, "channel", str),
        "direction": "out",
        "actor": ACTOR_OF_SENDER.get(str(sent_by), "human"),
        "sequence_id": _uuid(event, "sequence_id", required=False),
        "step_id": _uuid(event, "step_id", required=False),
        "ai_cost_usd": payload_field(event, "ai_cost_usd", float, required=False),
        "occurred_at": _instant(event, "sent_at"),
        **_source(event, context),
    }])


@handles(t.MEETING_BOOKED)
async def meeting_booked(event: Event, context: HandlerContext) -> None:
    """A meeting booked (or recorded as held): stages meeting_scheduled and meeting_completed."""
    held_at = payload_field(event, "held_at", str, required=False)
    await _record(context, meetings=[{
        "id": _uuid(event, "meeting_id"),
        "lead_id": _uuid(event, "lead_id"),
        "starts_at": _instant(event, "starts_at", required=True),
        "booked_at": _instant(event, "booked_at"),
        "held_at": _instant(event, "held_at") if held_at else None,
        **_source(event, context),
    }])
