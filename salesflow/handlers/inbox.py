"""The inbox (IDPS) on inbound messages and opt-outs: what needs reading the lead's words.

- `inbox.read_signals` (`message.received`): the German and English keyword rules
  (`salesflow.inbox.signals`) decide interest → needs_human_attention, a delay request → delay_requested
  with a 14-day snooze (and the lead's active sequence enrollments paused, reason delay_requested), a refusal
  → negative sentiment. Auto-replies (out of office) are not read. `public.inbox_apply_signal` applies it
  once per message and only for the conversation's newest inbound message, so a redelivery changes nothing.
- `inbox.end_delay` (`inbox.delay_over`, published by inbox_apply_signal delayed to snoozed_until): when the
  conversation still waits for that very date, the enrollments the delay paused resume and the conversation
  goes back to a person (needs_human_attention, thread open). A later delay request moved the date: nothing.
- `inbox.mark_unsubscribed` (`lead.opted_out`): the opted-out channel's conversation is unsubscribed (the
  consent trigger does this in the opt-out's transaction already; the handler repairs conversations started
  afterwards and is a no-op otherwise). Stopping sequences on opt-out is `salesflow.handlers.sequences`'s.

The status changes that need no reading (message in / out, read, won) are triggers
(20261202200000_inbox_status.sql).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from salesflow.events import Event, HandlerContext, MalformedPayload, handles, payload_field
from salesflow.events import types as t
from salesflow.inbox.signals import read_signal
from salesflow.inbox.vocabulary import DELAY_DAYS
from salesflow.sequences.autoreply import is_auto_reply


def _uuid(event: Event, name: str) -> str:
    raw = payload_field(event, name, str)
    try:
        return str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, name, f"must be a UUID, got {raw!r}") from None


@handles(t.MESSAGE_RECEIVED)
async def read_signals(event: Event, context: HandlerContext) -> None:
    """Apply the inbound message's interest / delay / refusal signal to its conversation."""
    message_id = _uuid(event, "message_id")
    found = await context.data.select("messages", {"id": message_id},
                                      columns=["id", "lead_id", "channel", "direction", "body", "provider_detail"],
                                      limit=1)
    if not found or found[0]["direction"] != "in":
        return
    message = found[0]
    if is_auto_reply(message.get("body"), message.get("provider_detail") or {}):
        return  # "bis nächsten Monat im Urlaub" is not the lead asking for a delay
    signal = read_signal(message.get("body"), message["channel"])
    if signal.kind == "none" and signal.sentiment is None:
        return
    result = await context.data.rpc("inbox_apply_signal", {
        "p_tenant_id": str(context.tenant_id), "p_message_id": message_id, "p_signal": signal.kind,
        "p_sentiment": signal.sentiment, "p_snooze_days": DELAY_DAYS})
    paused = 0
    if result.get("applied") and signal.kind == "delay":
        # Enrollments a reply did not stop (sequences with on_reply: pause) wait too; pausing twice is a no-op.
        paused = int(await context.data.rpc("set_enrollment_state", {
            "p_action": "pause", "p_lead_id": str(message["lead_id"]), "p_reason": "delay_requested",
            "p_tenant_id": str(context.tenant_id)}) or 0)
    # Interest: an AI draft is autopilot's (it handles message.received itself); the inbox records the signal.
    context.logger.info("inbox signal", extra={
        "message_id": message_id, "signal": signal.kind, "phrase": signal.phrase, "sentiment": signal.sentiment,
        "applied": result.get("applied"), "inbox_status": result.get("inbox_status"), "paused": paused})


@handles(t.LEAD_OPTED_OUT)
async def mark_unsubscribed(event: Event, context: HandlerContext) -> None:
    """The conversation on the opted-out channel is unsubscribed."""
    lead_id = _uuid(event, "lead_id")
    channel = payload_field(event, "channel", str)
    changed = await context.data.update("conversations", {"inbox_status": "unsubscribed"},
                                        {"lead_id": lead_id, "channel": channel})
    context.logger.info("inbox: opted-out conversation unsubscribed",
                        extra={"lead_id": lead_id, "channel": channel, "rows": len(changed or [])})


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


@handles(t.INBOX_DELAY_OVER)
async def end_delay(event: Event, context: HandlerContext) -> None:
    """The lead's pause is over: resume what the delay paused and hand the conversation to a person."""
    conversation_id = _uuid(event, "conversation_id")
    lead_id = _uuid(event, "lead_id")
    until = _moment(payload_field(event, "snoozed_until", str))
    if until is None:
        raise MalformedPayload(event.type, "snoozed_until", "must be a timestamp")
    found = await context.data.select("conversations", {"id": conversation_id},
                                      columns=["id", "inbox_status", "snoozed_until"], limit=1)
    if not found or found[0]["inbox_status"] != "delay_requested" or _moment(found[0]["snoozed_until"]) != until:
        return  # answered meanwhile, or asked again for a later date
    # Resume first: a redelivery after a crash between the two steps still finds the conversation waiting.
    paused = await context.data.select("sequence_enrollments", {"lead_id": lead_id, "state": "paused"},
                                       columns=["id", "pause_reason"])
    reasons = {p["pause_reason"] for p in paused} - {"task"}  # resume never touches a task's wait
    resumed = 0
    if reasons == {"delay_requested"}:
        # By lead: set_enrollment_state resumes the lead's paused enrollments, which are all the delay's here.
        resumed = int(await context.data.rpc("set_enrollment_state", {
            "p_action": "resume", "p_lead_id": lead_id, "p_tenant_id": str(context.tenant_id)}) or 0)
    elif reasons:
        context.logger.info("inbox: enrollments paused for other reasons stay paused for a member",
                            extra={"lead_id": lead_id, "reasons": sorted(str(r) for r in reasons)})
    await context.data.update("conversations", {"inbox_status": "needs_human_attention", "status": "open"},
                              {"id": conversation_id, "inbox_status": "delay_requested"})
    context.logger.info("inbox: delay over", extra={"conversation_id": conversation_id, "resumed": resumed})
