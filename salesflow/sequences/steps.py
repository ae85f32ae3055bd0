"""Running one due step of an enrollment: re-check the stop rules, wait for the window, take the send slot under
the caps, render, queue the message through the channel layer, record the run and plan the next step.

Called by the `sequence.step_due` handler (salesflow/handlers/sequences.py) with the event's enrollment and
schedule version. Every change is one SQL call that also publishes its event, so a crash between two calls
leaves a state the redelivered event continues from: a run already claimed is sent with the same idempotency
key (one message per step, whatever is retried), a run already finished only plans the next step, and an
event whose version is older than the enrollment's does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from salesflow.conversations.sending import SendRefused, queue_message
from salesflow.events.ports import TenantData
from salesflow.sequences.autoreply import is_auto_reply
from salesflow.sequences.models import window_of
from salesflow.sequences.rendering import UnknownPlaceholder, lead_values, render
from salesflow.sequences.schedule import SendingWindow, earliest_after, local_day_bounds, next_allowed

#: Personalises an `ai_message` step: (lead id, step row) → the message text.
Personaliser = Callable[[str, Mapping[str, Any]], Awaitable[str]]

CLOSED_STATUSES: Final = ("won", "lost")
FINISHED_RUNS: Final = ("sent", "skipped", "task_done")


@dataclass(frozen=True)
class StepOutcome:
    """What running the step did (for logs and tests)."""

    action: str  # stale | inactive | sequence_paused | stopped | paused | rescheduled | capped | sent | skipped |
    #              task_opened | completed | planned | gone
    detail: dict[str, Any] = field(default_factory=dict)


def parse_time(value: Any) -> datetime:
    """A timestamptz from JSON (PostgREST / to_jsonb text) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace(" ", "T", 1)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def lead_zone(lead: Mapping[str, Any], sequence: Mapping[str, Any]) -> ZoneInfo:
    """The lead's time zone, falling back to the sequence's default."""
    for name in (lead.get("timezone"), sequence.get("timezone")):
        if name:
            try:
                return ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def stop_reason(context: Mapping[str, Any]) -> tuple[str, str] | None:
    """(state, reason) when a stop rule holds now: the lead won or lost, opted out, or replied (not an
    auto-reply) since the step was scheduled; None when the step may go ahead."""
    lead = context.get("lead") or {}
    if lead.get("status") in CLOSED_STATUSES:
        return "stopped", str(lead["status"])
    if context.get("opted_out"):
        return "stopped", "opted_out"
    for message in context.get("inbound_since") or []:
        if not is_auto_reply(message.get("body"), message.get("provider_detail") or {}):
            if (context.get("sequence") or {}).get("on_reply") == "pause":
                return "paused", "reply"
            return "stopped", "replied"
    return None


class StepRunner:
    """Runs the due step of one enrollment at `now` (the scheduler's clock; tests inject one)."""

    def __init__(self, data: TenantData, now: datetime, personalise: Personaliser | None = None) -> None:
        self.data = data
        self.now = now.astimezone(UTC)
        self.personalise = personalise

    async def run(self, enrollment_id: str, version: int) -> StepOutcome:
        ctx = await self.data.rpc("sequence_step_context", {"p_tenant_id": str(self.data.tenant_id),
                                                            "p_enrollment_id": enrollment_id})
        if not ctx:
            return StepOutcome("gone")
        enrollment = ctx["enrollment"]
        if int(enrollment["schedule_version"]) != version:
            return StepOutcome("stale", {"version": enrollment["schedule_version"]})
        if enrollment["state"] != "active":
            return StepOutcome("inactive", {"state": enrollment["state"]})
        if ctx["sequence"]["status"] != "active":
            return StepOutcome("sequence_paused")  # resuming the sequence schedules the step again
        stop = stop_reason(ctx)
        if stop is not None:
            await self._schedule(ctx, state=stop[0], reason=stop[1])
            return StepOutcome(stop[0], {"reason": stop[1]})
        step = ctx.get("step")
        if step is None:
            await self._schedule(ctx, state="completed")
            return StepOutcome("completed")
        zone = lead_zone(ctx["lead"], ctx["sequence"])
        window = window_of(ctx["sequence"])
        run = ctx.get("run")
        if run is None:
            earliest = earliest_after(parse_time(enrollment["step_since"]), float(step["delay_hours"]),
                                      int(step["delay_business_days"]), zone, window)
            base = max(self.now, earliest)
            moment = base if step["kind"] == "task" else next_allowed(base, zone, window)
            if moment > self.now:
                await self._reschedule(ctx, moment)
                return StepOutcome("rescheduled", {"due_at": moment.isoformat()})
            run = await self._claim(ctx, step, zone, window)
            if run is None:
                return StepOutcome("capped")
        status = run["status"]
        if status == "claimed":
            return await self._send(ctx, step, run, zone, window)
        if status == "task_open":
            await self._schedule(ctx, state="paused", reason="task")
            return StepOutcome("task_opened", {"run_id": run["id"]})
        return await self._advance(ctx, zone, window, StepOutcome(str(status), {"run_id": run["id"]}))

    async def _claim(self, ctx: Mapping[str, Any], step: Mapping[str, Any], zone: ZoneInfo,
                     window: SendingWindow) -> dict[str, Any] | None:
        """The step's run, taken now; None when a daily cap is reached (the step moved to the next day)."""
        sequence = ctx["sequence"]
        args: dict[str, Any] = {"p_tenant_id": str(self.data.tenant_id), "p_enrollment_id": ctx["enrollment"]["id"],
                                "p_step_id": step["id"], "p_at": self.now.isoformat()}
        skip = self._condition_fails(ctx, step)
        if skip is not None:
            args.update(p_status="skipped", p_skip_reason=skip)
        elif step["kind"] == "task":
            args.update(p_status="task_open")
        else:
            day_start, day_end = local_day_bounds(self.now, ZoneInfo(str(sequence["timezone"])))
            args.update(p_status="claimed", p_day_start=day_start.isoformat(), p_day_end=day_end.isoformat(),
                        p_cap_tenant=sequence.get("daily_cap_tenant"), p_cap_sender=sequence.get("daily_cap_sender"),
                        p_ai_personalised=step["kind"] == "ai_message")
        claim = await self.data.rpc("sequence_claim_step", args)
        if claim["outcome"] == "capped":
            day_end = local_day_bounds(self.now, ZoneInfo(str(sequence["timezone"])))[1]
            moment = next_allowed(max(day_end, self.now + timedelta(seconds=1)), zone, window)
            await self._reschedule(ctx, moment)
            return None
        return dict(claim["run"])

    @staticmethod
    def _condition_fails(ctx: Mapping[str, Any], step: Mapping[str, Any]) -> str | None:
        if step["condition"] == "no_reply" and ctx.get("replied"):
            return "condition no_reply: the lead replied"
        if step["condition"] == "engaged" and not ctx.get("engaged"):
            return "condition engaged: the lead neither replied nor read a message"
        return None

    async def _send(self, ctx: Mapping[str, Any], step: Mapping[str, Any], run: Mapping[str, Any], zone: ZoneInfo,
                    window: SendingWindow) -> StepOutcome:
        lead = ctx["lead"]
        text = run.get("body")
        try:
            if not text:
                text = await self._text(lead, step)
                await self.data.update("sequence_step_runs", {"body": text}, {"id": run["id"], "status": "claimed"})
            message = await queue_message(
                self.data, lead["id"], str(step["channel"]), text=text, sent_by="sequence",
                idempotency_key=f"seq:{ctx['enrollment']['id']}:{step['position']}",
            )
        except (SendRefused, UnknownPlaceholder, ValidationError) as exc:
            reason = str(exc).splitlines()[0][:300]
            await self.data.update("sequence_step_runs",
                                   {"status": "skipped", "skip_reason": reason, "executed_at": self.now.isoformat()},
                                   {"id": run["id"], "status": "claimed"})
            return await self._advance(ctx, zone, window, StepOutcome("skipped", {"reason": reason}))
        await self.data.rpc("sequence_finish_step", {"p_tenant_id": str(self.data.tenant_id), "p_run_id": run["id"],
                                                     "p_message_id": message["id"], "p_at": self.now.isoformat()})
        return await self._advance(ctx, zone, window, StepOutcome("sent", {"message_id": message["id"],
                                                                           "run_id": run["id"]}))

    async def _text(self, lead: Mapping[str, Any], step: Mapping[str, Any]) -> str:
        if step["kind"] == "ai_message":
            if self.personalise is None:
                raise SendRefused("kind", "ai_message steps need the AI orchestrator, and none is attached")
            return await self.personalise(str(lead["id"]), step)
        return render(str(step["template"]), lead_values(lead))

    async def _advance(self, ctx: Mapping[str, Any], zone: ZoneInfo, window: SendingWindow,
                       outcome: StepOutcome) -> StepOutcome:
        """Plan the next step (its due moment inside the window), or complete the enrollment."""
        nxt = ctx.get("next_step")
        if nxt is None:
            await self._schedule(ctx, state="completed")
            return StepOutcome(outcome.action, {**outcome.detail, "completed": True})
        earliest = earliest_after(self.now, float(nxt["delay_hours"]), int(nxt["delay_business_days"]), zone, window)
        moment = earliest if nxt["kind"] == "task" else next_allowed(earliest, zone, window)
        await self._schedule(ctx, state="active", position=int(nxt["position"]), due_at=moment, step_since=self.now)
        return StepOutcome(outcome.action, {**outcome.detail, "next_due_at": moment.isoformat()})

    async def _reschedule(self, ctx: Mapping[str, Any], moment: datetime) -> None:
        await self._schedule(ctx, state="active", position=int(ctx["enrollment"]["current_step"]), due_at=moment)

    async def _schedule(self, ctx: Mapping[str, Any], *, state: str, position: int | None = None,
                        due_at: datetime | None = None, step_since: datetime | None = None,
                        reason: str | None = None) -> int | None:
        enrollment = ctx["enrollment"]
        delay = max((due_at - self.now).total_seconds(), 0.0) if due_at is not None else 0.0
        version = await self.data.rpc("sequence_schedule_step", {
            "p_tenant_id": str(self.data.tenant_id), "p_enrollment_id": enrollment["id"],
            "p_expected_version": int(enrollment["schedule_version"]), "p_state": state, "p_position": position,
            "p_due_at": due_at.isoformat() if due_at else None, "p_run_after_seconds": delay,
            "p_step_since": step_since.isoformat() if step_since else None, "p_reason": reason,
        })
        return int(version) if version is not None else None
