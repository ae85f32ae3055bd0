"""Sequences on the engine: run due steps, and stop enrollments when the lead replies, opts out or closes.

- `sequences.run_due_step` (`sequence.step_due`): `salesflow.sequences.steps.StepRunner` re-checks the stop
  rules, waits for the window on the lead's clock, and in one transaction (`sequence_execute_steps`, shared by
  the steps running side by side) takes the send slot under the daily caps, queues the message (idempotency key
  `seq:<enrollment>:<step>`: one message per step whatever is redelivered), records the run, publishes
  `sequence.step_executed` and plans the next step. `ai_message` steps check the daily caps first, then ask
  the `followup_message` scenario for the text and respect the autopilot: in mode assist / one_click, or auto
  with a guard tripped, the text becomes an approval-queue draft and the enrollment waits for the verdict
  (docs/sequences.md, "AI steps and the autopilot").
- `sequences.stop_on_reply` (`message.received`): an inbound message from the lead that is not an auto-reply
  stops its open enrollments, or pauses its active ones where the sequence says `on_reply: pause`.
- `sequences.stop_on_opt_out` (`lead.opted_out`) and `sequences.stop_on_close` (`lead.status_changed` to won
  or lost): every open enrollment of the lead stops.
- `sequences.stop_on_bounce` (`message.status_changed` to failed): a permanent failure that is a bounce (the
  address cannot receive: `salesflow.sequences.bounces`, from the send job or a provider's status callback)
  stops every open enrollment of the lead with reason `bounced`.

Each is idempotent per event: stopping a stopped enrollment changes nothing, and a step event older than its
enrollment's schedule does nothing. The clock is the service `clock` when one is attached (tests), else now.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from salesflow.ai import BudgetExceeded, StoreUnavailable
from salesflow.ai.scenarios.followup_message import FollowupMessage
from salesflow.ai.service import make_orchestrator
from salesflow.conversations.sending import SendRefused
from salesflow.events import Event, HandlerContext, MalformedPayload, RetryLater, handles, payload_field
from salesflow.events import types as t
from salesflow.sequences.autoreply import is_auto_reply
from salesflow.sequences.bounces import is_bounce
from salesflow.sequences.steps import Personalised, StepRunner


def _uuid(event: Event, name: str) -> str:
    raw = payload_field(event, name, str)
    try:
        return str(UUID(str(raw)))
    except ValueError:
        raise MalformedPayload(event.type, name, f"must be a UUID, got {raw!r}") from None


def _now(context: HandlerContext) -> datetime:
    if "clock" in context.services:
        now = context.service("clock")()
        assert isinstance(now, datetime)
        return now
    return datetime.now(UTC)


@handles(t.SEQUENCE_STEP_DUE)
async def run_due_step(event: Event, context: HandlerContext) -> None:
    """Run the enrollment's due step (or plan it into the window, or stop it)."""
    enrollment_id = _uuid(event, "enrollment_id")
    version = payload_field(event, "version", int)
    assert version is not None

    async def personalise(lead_id: str, step: Mapping[str, Any]) -> Personalised:
        started = time.monotonic()
        orchestrator = context.service("ai") if "ai" in context.services else make_orchestrator(context)
        try:
            result = await orchestrator.run("followup_message", tenant_id=context.tenant_id, lead_id=lead_id,
                                            event_id=event.id)
        except BudgetExceeded as exc:
            raise SendRefused("kind", f"ai_message: the AI budget is used up ({exc})") from exc
        except StoreUnavailable as exc:
            raise RetryLater(f"database unreachable while personalising: {exc}") from exc
        output = result.output
        assert isinstance(output, FollowupMessage)
        return Personalised(output.message, prompt_version=result.prompt_version, cost_usd=float(result.cost_usd),
                            latency_ms=int((time.monotonic() - started) * 1000))

    outcome = await StepRunner(context.data, _now(context), personalise).run(enrollment_id, version)
    context.logger.info("sequence step", extra={"enrollment_id": enrollment_id, "action": outcome.action,
                                                **{k: str(v) for k, v in outcome.detail.items()}})


async def _set_state(context: HandlerContext, action: str, reason: str, lead_id: str,
                     on_reply: str | None = None) -> int:
    changed = await context.data.rpc("set_enrollment_state", {
        "p_action": action, "p_lead_id": lead_id, "p_reason": reason, "p_tenant_id": str(context.tenant_id),
        "p_on_reply": on_reply})
    return int(changed or 0)


@handles(t.MESSAGE_RECEIVED)
async def stop_on_reply(event: Event, context: HandlerContext) -> None:
    """A reply (not an auto-reply) stops the lead's open enrollments, or pauses them by the sequence's setting."""
    lead_id = _uuid(event, "lead_id")
    message_id = _uuid(event, "message_id")
    found = await context.data.select("messages", {"id": message_id}, columns=["body", "provider_detail"], limit=1)
    if not found or is_auto_reply(found[0].get("body"), found[0].get("provider_detail") or {}):
        return
    paused = await _set_state(context, "pause", "reply", lead_id=lead_id, on_reply="pause")
    stopped = await _set_state(context, "stop", "replied", lead_id=lead_id, on_reply="stop")
    context.logger.info("reply stopped sequences", extra={"lead_id": lead_id, "stopped": stopped, "paused": paused})


@handles(t.LEAD_OPTED_OUT)
async def stop_on_opt_out(event: Event, context: HandlerContext) -> None:
    """An opt-out (of any channel) stops every open enrollment of the lead."""
    stopped = await _set_state(context, "stop", "opted_out", lead_id=_uuid(event, "lead_id"))
    context.logger.info("opt-out stopped sequences", extra={"stopped": stopped})


@handles(t.LEAD_STATUS_CHANGED)
async def stop_on_close(event: Event, context: HandlerContext) -> None:
    """A lead won or lost stops every open enrollment of the lead (reason won / lost)."""
    to = payload_field(event, "to", str)
    if to not in ("won", "lost"):
        return
    stopped = await _set_state(context, "stop", str(to), lead_id=_uuid(event, "lead_id"))
    context.logger.info("closed lead stopped sequences", extra={"stopped": stopped, "to": to})


@handles(t.MESSAGE_STATUS_CHANGED)
async def stop_on_bounce(event: Event, context: HandlerContext) -> None:
    """A message that failed because the address cannot receive (a bounce) stops every open enrollment of the
    lead (reason `bounced`); any other failure (a closed window, a policy refusal, a full mailbox) does not."""
    if payload_field(event, "to", str) != "failed":
        return
    channel = payload_field(event, "channel", str)
    code = event.payload.get("error_code")
    reason = event.payload.get("error_message")
    if not is_bounce(channel, str(code) if code is not None else None, str(reason) if reason is not None else None):
        return
    stopped = await _set_state(context, "stop", "bounced", lead_id=_uuid(event, "lead_id"))
    context.logger.info("bounce stopped sequences", extra={"stopped": stopped, "error_code": code})
