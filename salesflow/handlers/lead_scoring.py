"""lead.created → score the new lead (scenario `lead_scoring`) and write score, temperature and reasons back.

The write is an ordinary update of the lead, so it emits `lead.updated` like any other change; this
handler reacts to `lead.created` only, so scoring never triggers itself. It is idempotent: a lead that
already has `scored_at` is not scored again, so a redelivered event never pays for a second AI call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from salesflow.ai import BudgetExceeded, LeadNotFound, StoreUnavailable
from salesflow.ai.scenarios.lead_scoring import LeadScore
from salesflow.ai.service import make_orchestrator
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, handles, payload_field
from salesflow.events import types as t


@handles(t.LEAD_CREATED)
async def score_new_lead(event: Event, context: HandlerContext) -> None:
    """Score the lead the event names and store the result on it."""
    raw = payload_field(event, "lead_id", str)
    try:
        lead_id = str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, "lead_id", f"must be a UUID, got {raw!r}") from None
    found = await context.data.select("leads", {"id": lead_id}, columns=["id", "scored_at"], limit=1)
    if not found:
        context.logger.info("lead is gone, nothing to score", extra={"lead_id": lead_id})
        return
    if found[0].get("scored_at") is not None:
        return  # scored on an earlier delivery
    orchestrator = context.service("ai") if "ai" in context.services else make_orchestrator(context)
    try:
        result = await orchestrator.run("lead_scoring", tenant_id=context.tenant_id, lead_id=lead_id,
                                        event_id=event.id)
    except LeadNotFound:
        return
    except BudgetExceeded as exc:
        # The tenant chose to refuse AI calls at its limit: the lead stays unscored, which is not an error.
        context.logger.warning("lead not scored: AI budget used up", extra={"lead_id": lead_id, "error": str(exc)})
        return
    except StoreUnavailable as exc:
        raise RetryLater(f"database unreachable while scoring: {exc}") from exc
    score = result.output
    assert isinstance(score, LeadScore)
    await context.data.update(
        "leads",
        {
            "score": score.score,
            "temperature": score.temperature,
            "score_reasons": list(score.reasons),
            "scored_at": datetime.now(UTC).isoformat(),
        },
        {"id": lead_id},
    )
    context.logger.info(
        "lead scored",
        extra={"lead_id": lead_id, "score": score.score, "temperature": score.temperature,
               "provider": result.provider, "prompt_version": result.prompt_version},
    )
