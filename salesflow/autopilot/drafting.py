"""One inbound message through the autopilot: context, AI draft, guards, the recorded action, and in auto mode
the send (through `queue_message`, the one way to send).

Scenarios: `reply_suggestion` on the memory context writes the draft and reads the intent (the confidence comes
from the intent, CONFIDENCE_BY_INTENT); a price objection is answered by `objection_price` (alternatives, never
a discount); a draft left to a person carries `next_best_action`'s suggestion among its reasons.

The action is keyed by its trigger message (unique in SQL), so a redelivered message.received drafts and pays
nothing new; an action left `drafted` by a crash before its send is sent on the redelivery (the message's
idempotency key is the action's id, so it is queued once).
"""

from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from salesflow.ai.errors import AIError, StoreUnavailable
from salesflow.autopilot.guards import GuardInput, Verdict, judge, objection_words, sensitive_topics
from salesflow.autopilot.settings import resolve
from salesflow.conversations.memory import build_context
from salesflow.conversations.sending import SendRefused, queue_message
from salesflow.events.ports import TenantData

log = logging.getLogger(__name__)

# How sure the autopilot is of a reply by the intent the AI read (the local provider's intents are keyword
# rules; a remote model's are its own reading). Meeting requests and thanks are safe to answer, a question the
# AI answers with "I'll check" is less so, anything negative or an objection is for a person anyway.
CONFIDENCE_BY_INTENT: Final[dict[str, float]] = {
    "meeting": 0.9, "positive": 0.9, "question": 0.75, "other": 0.6, "price": 0.55, "objection": 0.45,
    "negative": 0.3,
}
OBJECTION_CONFIDENCE: Final = 0.5
CONTEXT_BUDGET: Final = 1500


@dataclass(frozen=True)
class AutopilotOutcome:
    """What the autopilot did about one message: the action row (None when skipped) and why."""

    action: dict[str, Any] | None
    verdict: Verdict | None
    skipped: str | None = None


def action_key(action_id: str | UUID) -> str:
    """The idempotency key of an action's message (the SQL send-path check reads the action id from it)."""
    return f"autopilot:{action_id}"


async def _may_be_on(data: TenantData) -> bool:
    """Whether any of the tenant's settings rows (tenant, channel or lead) turns a mode on: if none does, every
    message resolves to mode off, whatever its channel and lead."""
    rows = await data.select("autopilot_settings", columns=["mode"])
    return any(r.get("mode") not in (None, "off") for r in rows)


async def _existing(data: TenantData, message_id: str) -> dict[str, Any] | None:
    rows = await data.select("autopilot_actions", {"trigger_message_id": message_id}, limit=1)
    return rows[0] if rows else None


async def _send(data: TenantData, action: dict[str, Any]) -> dict[str, Any]:
    """Queue the action's message (auto mode) and mark the action sent; its trigger publishes the event."""
    try:
        message = await queue_message(data, action["lead_id"], action["channel"], text=action["final_text"],
                                      sent_by="autopilot", idempotency_key=action_key(action["id"]))
    except SendRefused as refused:
        rows = await data.update("autopilot_actions", {"status": "queued_for_approval",
                                                       "guards": [*action["guards"], "send_refused"],
                                                       "reasons": [*action["reasons"], str(refused)]},
                                 {"id": action["id"], "status": "drafted"})
        return rows[0] if rows else action
    rows = await data.update("autopilot_actions", {"status": "sent", "message_id": message["id"],
                                                   "executed_at": datetime.now(UTC).isoformat()},
                             {"id": action["id"], "status": "drafted"})
    return rows[0] if rows else action


async def _ask_ai(ai: Any, data: TenantData, ctx: dict[str, Any], text: str,
                  event_id: str | None) -> tuple[str, str, int | None, float, float, bool]:
    """(scenario, draft, prompt version, confidence, cost, objection) from reply_suggestion, and for a price
    objection objection_price (alternatives, never a discount)."""
    lead = ctx["lead"]
    memory = await build_context(data, lead["id"], token_budget=CONTEXT_BUDGET, query=text)
    locale = lead.get("locale") if lead.get("locale") in ("de", "en") else None
    tenant = str(data.tenant_id)
    lead_facts = {"name": lead.get("name") or "Lead"}
    suggestion = await ai.run("reply_suggestion", tenant_id=tenant, lead_id=lead["id"], event_id=event_id,
                              locale=locale, input={"last_message": text[:4000],
                                                    "conversation": memory.render(), "lead": lead_facts})
    intent = str(getattr(suggestion.output, "intent", "other"))
    cost = suggestion.cost_usd
    price_objection = "pricing" in sensitive_topics(text) and (intent == "objection" or bool(objection_words(text)))
    if price_objection:
        answer = await ai.run("objection_price", tenant_id=tenant, lead_id=lead["id"], event_id=event_id,
                              locale=locale, input={"objection": text[:4000], "lead": lead_facts})
        return ("objection_price", str(answer.output.reply), answer.prompt_version, OBJECTION_CONFIDENCE,
                cost + answer.cost_usd, True)
    return ("reply_suggestion", str(suggestion.output.reply), suggestion.prompt_version,
            CONFIDENCE_BY_INTENT.get(intent, 0.5), cost, intent == "objection")


async def _next_best_action(ai: Any, data: TenantData, lead_id: str, event_id: str | None) -> tuple[str | None, float]:
    """For the person who decides: the next_best_action scenario's suggestion as one reason line, and its cost.
    A failure here costs the draft nothing (the draft is there; the suggestion is a help)."""
    try:
        result = await ai.run("next_best_action", tenant_id=str(data.tenant_id), lead_id=lead_id, event_id=event_id)
    except StoreUnavailable:
        raise
    except (AIError, ValueError) as failure:
        log.info("autopilot: no next best action", extra={"lead_id": lead_id, "error": type(failure).__name__})
        return None, 0.0
    out = result.output
    return (f"next best action: {out.action} ({out.channel}, {out.priority}, by {out.due_date})",
            result.cost_usd)


async def draft_for_message(data: TenantData, ai: Any, message_id: str | UUID, *, event_id: str | None = None,
                            now: datetime | None = None) -> AutopilotOutcome:
    """Run the autopilot on one inbound message: record an action and queue or send its draft by mode.

    `ai` is an orchestrator (`run(scenario, ...)`). Returns what was done; raises StoreUnavailable (retry).
    """
    message_id = str(message_id)
    earlier = await _existing(data, message_id)
    if earlier is not None:
        if earlier["status"] == "drafted":  # a crash between recording and sending
            return AutopilotOutcome(await _send(data, earlier), None)
        return AutopilotOutcome(earlier, None, skipped="already handled")
    if not await _may_be_on(data):
        # Off (the default: no settings row) is known from one small read; the context is not built.
        off = Verdict("skip", (), ("autopilot off",))
        return AutopilotOutcome(None, off, skipped=off.reasons[0])
    ctx = await data.rpc("autopilot_context", {"p_tenant_id": str(data.tenant_id), "p_message_id": message_id})
    if not ctx:
        return AutopilotOutcome(None, None, skipped="no such message")
    message = ctx["message"]
    text = (message.get("body") or "").strip()
    if message["direction"] != "in" or not text:
        return AutopilotOutcome(None, None, skipped="not an inbound text")
    if ctx["opted_out"]:
        return AutopilotOutcome(None, None, skipped="the lead opted out")
    settings = resolve(ctx["settings"])
    now = now or datetime.now(UTC)
    base = GuardInput(text=text, settings=settings, now=now, timezone=ctx["lead"]["timezone"],
                      first_contact=bool(ctx["first_contact"]), lead_auto_sent_24h=int(ctx["lead_auto_sent_24h"]),
                      tenant_auto_sent_24h=int(ctx["tenant_auto_sent_24h"]))
    precheck = judge(base)
    if precheck.outcome == "skip":
        return AutopilotOutcome(None, precheck, skipped=precheck.reasons[0])

    started = clock.monotonic()
    row: dict[str, Any] = {
        "lead_id": message["lead_id"], "conversation_id": message["conversation_id"], "trigger_message_id": message_id,
        "channel": message["channel"], "mode": settings.mode,
        "expires_at": (now + timedelta(hours=settings.draft_ttl_hours)).isoformat(),
    }
    try:
        scenario, draft, version, confidence, cost, objection = await _ask_ai(ai, data, ctx, text, event_id)
    except StoreUnavailable:
        raise
    except (AIError, ValueError) as failure:
        # Any AI failure: a person answers; nothing is drafted or sent.
        verdict = judge(replace(base, ai_failed=True))
        log.warning("autopilot: the AI failed, nothing sent", extra={"message_id": message_id,
                                                                     "error": type(failure).__name__})
        row.update(scenario="reply_suggestion", status="failed", error=f"{type(failure).__name__}: {failure}"[:500],
                   guards=list(verdict.guards), reasons=list(verdict.reasons),
                   latency_ms=int((clock.monotonic() - started) * 1000))
        inserted = await data.insert("autopilot_actions", [row], on_conflict=["tenant_id", "trigger_message_id"],
                                     ignore_duplicates=True)
        return AutopilotOutcome(inserted[0] if inserted else await _existing(data, message_id), verdict)

    verdict = judge(replace(base, objection=objection, confidence=confidence))
    row.update(scenario=scenario, prompt_version=version, draft=draft, final_text=draft,
               confidence=round(confidence, 3), cost_usd=round(cost, 6), guards=list(verdict.guards),
               reasons=list(verdict.reasons), latency_ms=int((clock.monotonic() - started) * 1000),
               status="drafted" if verdict.outcome == "send" else "queued_for_approval")
    if verdict.outcome != "send":
        row["final_text"] = None
        suggestion, extra = await _next_best_action(ai, data, message["lead_id"], event_id)
        if suggestion:
            row["reasons"] = [*row["reasons"], suggestion]
            row["cost_usd"] = round(cost + extra, 6)
    inserted = await data.insert("autopilot_actions", [row], on_conflict=["tenant_id", "trigger_message_id"],
                                 ignore_duplicates=True)
    if not inserted:  # a concurrent delivery recorded it first
        return AutopilotOutcome(await _existing(data, message_id), None, skipped="already handled")
    action = inserted[0]
    if verdict.outcome == "send":
        action = await _send(data, action)
    return AutopilotOutcome(action, verdict)


async def decide(data: TenantData, action_id: str | UUID, verdict: str, text: str | None = None) -> dict[str, Any]:
    """A verdict (approved | edited | rejected) on a draft waiting for approval, through public.autopilot_decide
    (the SQL checks the tenant, the status and expires_at). Returns the action."""
    result: dict[str, Any] = await data.rpc("autopilot_decide", {
        "p_action_id": str(action_id), "p_verdict": verdict, "p_text": text, "p_tenant_id": str(data.tenant_id),
    })
    return result
