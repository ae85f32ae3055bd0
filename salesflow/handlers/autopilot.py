"""message.received → the autopilot drafts (and in auto mode sends) an answer; see salesflow.autopilot.

Its own handler (its own delivery), so a slow or failing model never holds back opt-out detection or
extraction. Outbound messages, opt-out keywords and messages of opted-out leads are skipped. One action per
trigger message (a unique index), so a redelivered event drafts and pays nothing new; every action whose
message is queued publishes autopilot.action_executed (a trigger on autopilot_actions).

`autopilot.expire_draft` (`autopilot.draft_expiry`, delayed until the draft's expires_at): a draft still waiting
for approval then becomes `expired` (it never sends: autopilot_decide refuses it, and so does the messages
trigger). A draft decided meanwhile, or given a later expires_at (whose own event comes later), is left alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from salesflow.ai.errors import StoreUnavailable
from salesflow.ai.service import make_orchestrator
from salesflow.autopilot.drafting import draft_for_message
from salesflow.conversations.optout import opt_out_keyword
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, handles, payload_field
from salesflow.events import types as t


def _orchestrator(context: HandlerContext) -> Any:
    return context.service("ai") if "ai" in context.services else make_orchestrator(context)


@handles(t.MESSAGE_RECEIVED)
async def draft_reply(event: Event, context: HandlerContext) -> None:
    """Draft an answer to an inbound message and queue or send it by the autopilot's mode."""
    raw = payload_field(event, "message_id", str)
    try:
        message_id = str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, "message_id", f"must be a UUID, got {raw!r}") from None
    found = await context.data.select("messages", {"id": message_id},
                                      columns=["id", "direction", "channel", "body"], limit=1)
    if not found or found[0]["direction"] != "in" or opt_out_keyword(found[0].get("body"), found[0]["channel"]):
        return
    try:
        outcome = await draft_for_message(context.data, _orchestrator(context), message_id, event_id=str(event.id))
    except StoreUnavailable as unavailable:
        raise RetryLater(str(unavailable), delay_seconds=10) from unavailable
    action = outcome.action or {}
    context.logger.info("autopilot " + (outcome.skipped or str(action.get("status"))),
                        extra={"message_id": message_id, "action_id": action.get("id"),
                               "guards": action.get("guards"), "status": action.get("status")})


@handles(t.AUTOPILOT_DRAFT_EXPIRY)
async def expire_draft(event: Event, context: HandlerContext) -> None:
    """Mark the draft expired if it still waits for approval past its expires_at."""
    raw = payload_field(event, "action_id", str)
    try:
        action_id = str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, "action_id", f"must be a UUID, got {raw!r}") from None
    found = await context.data.select("autopilot_actions", {"id": action_id}, columns=["status", "expires_at"],
                                      limit=1)
    if not found or found[0]["status"] != "queued_for_approval":
        return
    expires_at = datetime.fromisoformat(str(found[0]["expires_at"]).replace(" ", "T", 1))
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at > datetime.now(UTC):
        return  # given a later expires_at: that change published its own draft_expiry
    expired = await context.data.update("autopilot_actions", {"status": "expired"},
                                        {"id": action_id, "status": "queued_for_approval"})
    context.logger.info("autopilot draft expired", extra={"action_id": action_id, "expired": len(expired or [])})
