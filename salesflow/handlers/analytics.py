"""The analytics the old system promised, made real: each handler writes one `analytics_events` row per
event, keyed by (event_id, handler), so running twice (at-least-once delivery) still counts once."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from salesflow.events import Event, HandlerContext, MalformedPayload, handles, payload_field
from salesflow.events import types as t


def _lead_id(event: Event, required: bool = True) -> str | None:
    value = payload_field(event, "lead_id", str, required=required)
    if value is None:
        return None
    try:
        return str(UUID(value))
    except ValueError:
        raise MalformedPayload(event.type, "lead_id", f"must be a UUID, got {value!r}") from None


async def _record(event: Event, context: HandlerContext, row: dict[str, Any]) -> None:
    fact = {
        "event_id": str(event.id),
        "handler": context.handler,
        "occurred_at": event.created_at.isoformat() if event.created_at else None,
        **row,
    }
    await context.data.insert("analytics_events", [fact], on_conflict="event_id,handler", ignore_duplicates=True)


@handles(t.LEAD_CREATED)
async def lead_source_touchpoint(event: Event, context: HandlerContext) -> None:
    """A new lead: where it came from (touchpoint) and its entry into the funnel (stage lead_created)."""
    await _record(event, context, {
        "type": "touchpoint.lead_source",
        "lead_id": _lead_id(event),
        "channel": payload_field(event, "source_channel", str, required=False) or "unknown",
        "funnel_stage": "lead_created",
        "properties": {"source": payload_field(event, "source", str, required=False)},
    })


@handles(t.MESSAGE_SENT)
async def message_sent_counter(event: Event, context: HandlerContext) -> None:
    """An outbound message: counted by channel; its send latency (ms) is the value when known."""
    await _record(event, context, {
        "type": "message.sent",
        "lead_id": _lead_id(event, required=False),
        "channel": payload_field(event, "channel", str),
        "value": payload_field(event, "latency_ms", float, required=False),
        "properties": {
            "conversation_id": payload_field(event, "conversation_id", str, required=False),
            "message_id": payload_field(event, "message_id", str, required=False),
        },
    })


@handles(t.SEQUENCE_STEP_EXECUTED)
async def sequence_touchpoint(event: Event, context: HandlerContext) -> None:
    """A sequence step reached the lead: a touchpoint on its channel, flagged when AI personalised it."""
    await _record(event, context, {
        "type": "touchpoint.sequence",
        "lead_id": _lead_id(event),
        "channel": payload_field(event, "channel", str),
        "properties": {
            "enrollment_id": payload_field(event, "enrollment_id", str, required=False),
            "step": payload_field(event, "step", int, required=False),
            "ai_personalized": bool(payload_field(event, "ai_personalized", bool, required=False)),
        },
    })


@handles(t.AUTOPILOT_ACTION_EXECUTED)
async def ai_assisted_touchpoint(event: Event, context: HandlerContext) -> None:
    """Autopilot acted for a lead: an AI-assisted touchpoint whose value is the AI cost in USD."""
    await _record(event, context, {
        "type": "touchpoint.ai_assisted",
        "lead_id": _lead_id(event),
        "channel": payload_field(event, "channel", str, required=False),
        "value": payload_field(event, "cost_usd", float, required=False) or 0.0,
        "properties": {"action": payload_field(event, "action", str)},
    })
