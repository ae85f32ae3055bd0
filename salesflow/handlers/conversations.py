"""message.received → what an inbound message means for its lead: opt-out, facts, score.

Three handlers, each its own delivery (DESIGN.md principle 3), so a failing AI call is retried without
repeating the opt-out, and each is idempotent per event:

- `conversations.detect_opt_out`: a message that is an opt-out keyword (STOP, ABMELDEN, ...; the rule is in
  `salesflow.conversations.optout`) opts the lead out of the channel: a consent row (method inbound_keyword,
  the message as source) publishes `lead.opted_out`. A lead already opted out keeps its first record.
- `conversations.extract_facts`: the `lead_extraction` scenario reads the message; fields at or above the
  tenant's threshold fill empty lead fields as facts, the rest become review tasks, an email or phone of
  another lead is stitched or queued for review (`salesflow.conversations.extraction`). The message is marked
  (`facts_extracted_at`) in the same transaction, so a redelivery never pays for a second call.
- `conversations.rescore_lead`: the `lead_scoring` scenario on the lead and its latest messages; an event
  that already has a scoring call in `ai_usage` is not scored again.

Opt-out keywords are neither extracted nor scored (nothing to read, and nothing to pay for). The summary
refresh is `salesflow.handlers.summaries`'s. An exhausted AI budget is not an error: the message stays
unread by the AI, as the tenant chose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from salesflow.ai import BudgetExceeded, LeadNotFound, StoreUnavailable
from salesflow.ai.scenarios.lead_extraction import LeadExtraction
from salesflow.ai.scenarios.lead_scoring import LeadScore
from salesflow.ai.service import make_orchestrator
from salesflow.conversations.extraction import apply_extraction, message_context, proposed_fields
from salesflow.conversations.optout import opt_out_keyword, record_keyword_opt_out
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, handles, payload_field
from salesflow.events import types as t


def _message_id(event: Event) -> str:
    raw = payload_field(event, "message_id", str)
    try:
        return str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, "message_id", f"must be a UUID, got {raw!r}") from None


def _orchestrator(context: HandlerContext) -> Any:
    return context.service("ai") if "ai" in context.services else make_orchestrator(context)


def _locale(ctx: dict[str, Any]) -> str | None:
    return (ctx.get("lead") or {}).get("locale") or ctx.get("tenant_locale")


def _readable_text(ctx: dict[str, Any]) -> str | None:
    """The inbound text worth reading with a model: not an opt-out keyword, not media without a caption."""
    message = ctx["message"]
    body = (message.get("body") or "").strip()
    if message.get("direction") != "in" or not body or opt_out_keyword(body, message.get("channel") or ""):
        return None
    return body


@handles(t.MESSAGE_RECEIVED)
async def detect_opt_out(event: Event, context: HandlerContext) -> None:
    """Opt the lead out of the channel when the message is an opt-out keyword."""
    message_id = _message_id(event)
    found = await context.data.select("messages", {"id": message_id},
                                      columns=["id", "lead_id", "channel", "direction", "body"], limit=1)
    if not found or found[0]["direction"] != "in":
        return
    keyword = opt_out_keyword(found[0].get("body"), found[0]["channel"])
    if keyword is None:
        return
    # The message's lead now (not the payload's): a stitched identity may have moved the conversation.
    result = await record_keyword_opt_out(context.data, found[0]["lead_id"], found[0]["channel"], keyword,
                                          message_id)
    context.logger.info("lead opted out by keyword" if result.get("changed") else "lead had opted out already",
                        extra={"lead_id": found[0]["lead_id"], "channel": found[0]["channel"], "keyword": keyword,
                               "consent_id": result.get("consent_id")})


@handles(t.MESSAGE_RECEIVED)
async def extract_facts(event: Event, context: HandlerContext) -> None:
    """Read lead fields from the message; apply the sure ones, queue the rest for review."""
    message_id = _message_id(event)
    ctx = await message_context(context.data, message_id)
    if ctx is None:
        return
    text = _readable_text(ctx)
    if text is None or ctx["message"].get("facts_extracted_at"):
        return  # nothing to read, or read on an earlier delivery
    lead_id = ctx["message"]["lead_id"]
    try:
        result = await _orchestrator(context).run(
            "lead_extraction", tenant_id=context.tenant_id, input={"text": text[:20000]}, lead_id=lead_id,
            event_id=event.id, locale=_locale(ctx))
    except BudgetExceeded as exc:
        context.logger.warning("facts not extracted: AI budget used up", extra={"lead_id": lead_id, "error": str(exc)})
        return
    except StoreUnavailable as exc:
        raise RetryLater(f"database unreachable while extracting facts: {exc}") from exc
    extraction = result.output
    assert isinstance(extraction, LeadExtraction)
    fields = proposed_fields(extraction, ctx["lead"], ctx.get("sender_address"), ctx.get("tenant_locale"))
    outcome = await apply_extraction(context.data, message_id, fields)
    context.logger.info("facts extracted", extra={
        "lead_id": lead_id, "applied": outcome.get("applied"), "review": len(outcome.get("review") or []),
        "identities": outcome.get("identities"), "already": outcome.get("already")})


@handles(t.MESSAGE_RECEIVED)
async def rescore_lead(event: Event, context: HandlerContext) -> None:
    """Score the lead again with its latest messages."""
    message_id = _message_id(event)
    scored = await context.data.select("ai_usage", {"event_id": str(event.id), "scenario": "lead_scoring"},
                                       columns=["id"], limit=1)
    if scored:
        return  # this event paid for its score already
    ctx = await message_context(context.data, message_id)
    if ctx is None or _readable_text(ctx) is None:
        return
    lead = ctx["lead"]
    try:
        result = await _orchestrator(context).run(
            "lead_scoring", tenant_id=context.tenant_id,
            input={"lead": lead, "conversation": ctx.get("transcript") or ""},
            lead_id=lead["id"], event_id=event.id, locale=_locale(ctx))
    except LeadNotFound:
        return
    except BudgetExceeded as exc:
        context.logger.warning("lead not rescored: AI budget used up", extra={"lead_id": lead["id"], "error": str(exc)})
        return
    except StoreUnavailable as exc:
        raise RetryLater(f"database unreachable while scoring: {exc}") from exc
    score = result.output
    assert isinstance(score, LeadScore)
    await context.data.update("leads", {
        "score": score.score, "temperature": score.temperature, "score_reasons": list(score.reasons),
        "scored_at": datetime.now(UTC).isoformat(),
    }, {"id": lead["id"]})
    context.logger.info("lead rescored", extra={"lead_id": lead["id"], "score": score.score,
                                                "temperature": score.temperature})
