"""Running one due step of an enrollment: re-check the stop rules, wait for the window, take the send slot under
the caps, render, queue the message on the send path, record the run and plan the next step — in ONE transaction.

Called by the `sequence.step_due` handler (salesflow/handlers/sequences.py) with the event's enrollment and
schedule version. The runner reads the step's context (`sequence_step_context`, one read-only statement),
decides in Python what only Python knows (the window, holidays and DST on the lead's clock, auto-replies, the
template, the address's normal form, the send path's validation) and hands the decision to
`sequence_execute_steps`, which re-checks the stop rules and the schedule version under the enrollment's lock
and does every write of the step in one transaction with its events (supabase/migrations/
20261203150000_sequence_execute_steps.sql). A crash before that commit leaves nothing; after it, the redelivered
event is stale. So a step queues at most one message, whatever is retried or killed, and the message goes out
through the send job (its `message.queued`), effect-once as every other send.

The handlers a listener runs side by side hand their steps to one `sequence_execute_steps` call (a group
commit, `StepBatcher`): one commit, one NOTIFY and one WAL flush for all of them. Postgres serialises notifying
commits, so a commit per step (and four per step before) was the bound on steps per second.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from salesflow.autopilot.guards import GuardInput, judge
from salesflow.autopilot.settings import resolve
from salesflow.channels.addresses import try_normalise_address
from salesflow.conversations.sending import ADDRESS_FIELDS, QueueRequest, SendRefused
from salesflow.events import RetryLater
from salesflow.events.ports import TenantData
from salesflow.sequences.autoreply import is_auto_reply
from salesflow.sequences.models import window_of
from salesflow.sequences.rendering import UnknownPlaceholder, lead_values, render
from salesflow.sequences.schedule import SendingWindow, earliest_after, local_day_bounds, next_allowed

#: Personalises an `ai_message` step: (lead id, step row) → the message text, or a Personalised (with the
#: scenario's prompt version and cost, for an autopilot draft).
Personaliser = Callable[[str, Mapping[str, Any]], Awaitable["str | Personalised"]]


@dataclass(frozen=True)
class Personalised:
    """An AI-personalised step's text and what it cost."""

    text: str
    prompt_version: int | None = None
    cost_usd: float = 0.0
    latency_ms: int | None = None


#: The autopilot's confidence in a followup_message text (the scenario reads no intent: a fixed value, above the
#: default min_confidence 0.8, so auto mode sends it unless a guard trips or a tenant asks for more).
FOLLOWUP_CONFIDENCE: Final = 0.85

CLOSED_STATUSES: Final = ("won", "lost")
FINISHED_RUNS: Final = ("sent", "skipped", "task_done")
#: The pause of an enrollment whose AI step waits in the autopilot's approval queue.
APPROVAL_PAUSE: Final = "approval"
#: How often a step is decided again when its context changed between the read and the transaction.
RECHECKS: Final = 4
#: Steps in one sequence_execute_steps call at most.
BATCH_MAX: Final = 64
#: sequence_execute_steps calls in flight at once per batcher (the database works on them in parallel; the steps
#: handed in meanwhile wait for the next call).
IN_FLIGHT: Final = 3
#: SQLSTATEs of a transaction that lost a race (deadlock, serialization): the step is retried.
RETRYABLE_SQLSTATES: Final = ("40001", "40P01", "55P03")


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


def step_address(ctx: Mapping[str, Any], channel: str) -> str:
    """The lead's address on `channel`: its newest identity there, else the lead's own field in normal form (the
    send path's rule, salesflow.conversations.sending.lead_address). Raises SendRefused."""
    if ctx.get("identity"):
        return str(ctx["identity"])
    lead = ctx["lead"]
    for name in ADDRESS_FIELDS[channel]:
        raw = lead.get(name)
        address = try_normalise_address(channel, raw) if isinstance(raw, str) and raw.strip() else None
        if address is not None:
            return address
    fields = " or ".join(ADDRESS_FIELDS[channel])
    raise SendRefused("channel", f"lead {lead['id']} has no address on {channel} (no identity, no usable {fields})")


class StepBatcher:
    """Group commit of due steps: the steps handed in while `IN_FLIGHT` `sequence_execute_steps` calls are in
    flight go together in the next call (per event loop, tenant and connection pool). Each caller gets its own
    step's answer; a call that fails fails each of its callers (their events are retried, nothing of the batch
    committed)."""

    _loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, StepBatcher]] = \
        weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self._pending: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]], TenantData]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def for_data(cls, data: TenantData) -> StepBatcher:
        loop = asyncio.get_running_loop()
        batchers = cls._loops.setdefault(loop, {})
        # Steps share a call only when they go through the same connection pool (one transport of one listener).
        key = (str(data.tenant_id), id(getattr(data, "_pool", None) or getattr(data, "api", None) or data))
        batcher = batchers.get(key)
        if batcher is None:
            batcher = batchers[key] = cls()
        return batcher

    async def execute(self, data: TenantData, item: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future, data))
        if self._running < IN_FLIGHT:
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)  # a strong reference until it is done (the loop keeps only a weak one)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # the handlers started in the same tick join this call
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                if not batch:
                    break  # another call in flight took them
                data = batch[0][2]
                steps = [{**item, "i": i} for i, (item, _, _) in enumerate(batch)]
                try:
                    answers = await data.rpc("sequence_execute_steps", {"p_tenant_id": str(data.tenant_id),
                                                                        "p_steps": steps})
                except BaseException as exc:  # each caller gets the failure
                    for _, future, _ in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                by_index = {int(a["i"]): a for a in answers or []}
                for i, (_, future, _) in enumerate(batch):
                    if not future.done():
                        answer = by_index.get(i)
                        if answer is None:
                            future.set_exception(RuntimeError("sequence_execute_steps answered no outcome"))
                        else:
                            future.set_result(answer)
        finally:
            self._running -= 1
            if not self._running:
                for _, future, _ in self._pending:  # left over after a cancellation
                    if not future.done():
                        future.set_exception(RetryLater("the step batch was cancelled"))
                self._pending = []


class StepRunner:
    """Runs the due step of one enrollment at `now` (the scheduler's clock; tests inject one)."""

    def __init__(self, data: TenantData, now: datetime, personalise: Personaliser | None = None) -> None:
        self.data = data
        self.now = now.astimezone(UTC)
        self.personalise = personalise

    async def run(self, enrollment_id: str, version: int) -> StepOutcome:
        for _ in range(RECHECKS):
            outcome = await self._run_once(enrollment_id, version)
            if outcome is not None:
                return outcome
        raise RetryLater(f"enrollment {enrollment_id}: its context changed {RECHECKS} times while deciding the step")

    async def _run_once(self, enrollment_id: str, version: int) -> StepOutcome | None:
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
        if run is not None and run["status"] != "claimed":
            # The run is done (by an older handler that crashed before planning on): only plan on.
            if run["status"] == "task_open":
                await self._schedule(ctx, state="paused", reason="task")
                return StepOutcome("task_opened", {"run_id": run["id"]})
            if run["status"] == "drafted":  # resumed while its draft still waits: wait again
                await self._schedule(ctx, state="paused", reason=APPROVAL_PAUSE)
                return StepOutcome("drafted", {"run_id": run["id"], "action_id": run.get("autopilot_action_id")})
            return await self._advance(ctx, zone, window, StepOutcome(str(run["status"]), {"run_id": run["id"]}))
        if run is None:
            earliest = earliest_after(parse_time(enrollment["step_since"]), float(step["delay_hours"]),
                                      int(step["delay_business_days"]), zone, window)
            base = max(self.now, earliest)
            moment = base if step["kind"] == "task" else next_allowed(base, zone, window)
            if moment > self.now:
                await self._reschedule(ctx, moment)
                return StepOutcome("rescheduled", {"due_at": moment.isoformat()})
        item = await self._decide(ctx, step, run, zone, window)
        answer = await StepBatcher.for_data(self.data).execute(self.data, item)
        action = str(answer["outcome"])
        if action == "recheck":
            return None
        if action == "error":
            message = f"sequence_execute_steps: {answer.get('sqlstate')} {answer.get('error')}"
            if answer.get("sqlstate") in RETRYABLE_SQLSTATES:
                raise RetryLater(message)
            raise RuntimeError(message)
        detail = {k: answer[k] for k in ("run_id", "message_id", "reason", "cap", "version", "action_id")
                  if answer.get(k)}
        if action in ("sent", "skipped") and answer.get("state") == "completed":
            detail["completed"] = True
        elif "next" in item and item["next"].get("due_at") and action in ("sent", "skipped"):
            detail["next_due_at"] = item["next"]["due_at"]
        return StepOutcome(action, detail)

    async def _decide(self, ctx: Mapping[str, Any], step: Mapping[str, Any], run: Mapping[str, Any] | None,
                      zone: ZoneInfo, window: SendingWindow) -> dict[str, Any]:
        """The step's outcome as sequence_execute_steps takes it: skipped (a condition, a refused send), a task
        opened, or a message (text, address, caps) — with the next step's due moment."""
        enrollment = ctx["enrollment"]
        item: dict[str, Any] = {
            "enrollment_id": enrollment["id"], "version": int(enrollment["schedule_version"]), "step_id": step["id"],
            "at": self.now.isoformat(), "seen_inbound": [m["id"] for m in ctx.get("inbound_since") or []],
            "ai_personalised": step["kind"] == "ai_message",
        }
        skip = None if run is not None else self._condition_fails(ctx, step)
        if skip is not None:
            item.update(status="skipped", skip_reason=skip)
        elif step["kind"] == "task":
            item.update(status="task_open")
            return item
        else:
            await self._message(ctx, step, run, zone, window, item)
        nxt = ctx.get("next_step")
        if nxt is None:
            item["next"] = {"state": "completed"}
        else:
            earliest = earliest_after(self.now, float(nxt["delay_hours"]), int(nxt["delay_business_days"]), zone,
                                      window)
            moment = earliest if nxt["kind"] == "task" else next_allowed(earliest, zone, window)
            item["next"] = {"state": "active", "position": int(nxt["position"]), "due_at": moment.isoformat(),
                            "run_after_seconds": max((moment - self.now).total_seconds(), 0.0)}
        return item

    def _caps(self, sequence: Mapping[str, Any], zone: ZoneInfo, window: SendingWindow) -> dict[str, Any]:
        """The daily caps' fields of a step that sends (empty when the sequence has no cap)."""
        if sequence.get("daily_cap_tenant") is None and sequence.get("daily_cap_sender") is None:
            return {}
        day_start, day_end = local_day_bounds(self.now, ZoneInfo(str(sequence["timezone"])))
        capped = next_allowed(max(day_end, self.now + timedelta(seconds=1)), zone, window)
        return {"day_start": day_start.isoformat(), "day_end": day_end.isoformat(),
                "cap_tenant": sequence.get("daily_cap_tenant"), "cap_sender": sequence.get("daily_cap_sender"),
                "capped_due_at": capped.isoformat(),
                "capped_run_after_seconds": max((capped - self.now).total_seconds(), 0.0)}

    async def _message(self, ctx: Mapping[str, Any], step: Mapping[str, Any], run: Mapping[str, Any] | None,
                       zone: ZoneInfo, window: SendingWindow, item: dict[str, Any]) -> None:
        """A message step: sent (or, for an AI step the autopilot keeps for a person, drafted), or skipped.
        An AI step checks the daily caps before it asks the AI: a capped step spends no AI call."""
        enrollment = ctx["enrollment"]
        caps = self._caps(ctx["sequence"], zone, window)
        channel = str(step["channel"])
        ai_ctx: Mapping[str, Any] | None = None
        if step["kind"] == "ai_message" and not (run or {}).get("body"):
            ai_ctx = await self.data.rpc("sequence_ai_step_context", {
                "p_tenant_id": str(self.data.tenant_id), "p_lead_id": ctx["lead"]["id"], "p_channel": channel,
                "p_day_start": caps.get("day_start"), "p_day_end": caps.get("day_end"),
                "p_cap_tenant": caps.get("cap_tenant"), "p_cap_sender": caps.get("cap_sender")})
            if ai_ctx and ai_ctx.get("capped") and caps:
                item.update(status="sent", cap_only=True, **caps)  # the transaction moves it past the day
                return
        try:
            personalised: Personalised | None = None
            if (run or {}).get("body"):
                text = str((run or {})["body"])
            elif step["kind"] == "ai_message":
                personalised = await self._personalise(ctx["lead"], step)
                text = personalised.text
            else:
                text = render(str(step["template"]), lead_values(ctx["lead"]))
            key = f"seq:{enrollment['id']}:{step['position']}"
            QueueRequest(lead_id=ctx["lead"]["id"], channel=channel, text=text, sent_by="sequence",
                         idempotency_key=key)  # the send path's validation (channel, length limit)
            item.update(status="sent", body=text, address=step_address(ctx, channel),
                        identity_known=bool(ctx.get("identity")))
            if personalised is not None and ai_ctx is not None:
                item.update(self._autopilot(ai_ctx, personalised))
        except (SendRefused, UnknownPlaceholder, ValidationError) as exc:
            item.update(status="skipped", skip_reason=str(exc).splitlines()[0][:300])
        if item["status"] in ("sent", "drafted"):
            item.update(caps)

    def _autopilot(self, ai_ctx: Mapping[str, Any], personalised: Personalised) -> dict[str, Any]:
        """By the autopilot's mode for the lead on the channel: {} (send: mode off, or auto with no guard), or
        the draft's fields (status drafted) for the approval queue."""
        settings = resolve(ai_ctx.get("settings") or [])
        if settings.mode == "off" and not settings.kill_switch:
            return {}  # the autopilot is off: the step sends as it always did
        verdict = judge(GuardInput(
            text=personalised.text, settings=settings, now=self.now, timezone=str(ai_ctx.get("timezone") or "UTC"),
            first_contact=bool(ai_ctx.get("first_contact")), confidence=FOLLOWUP_CONFIDENCE,
            lead_auto_sent_24h=int(ai_ctx.get("lead_auto_sent_24h") or 0),
            tenant_auto_sent_24h=int(ai_ctx.get("tenant_auto_sent_24h") or 0)))
        if verdict.outcome == "send":
            return {}
        reasons = list(verdict.reasons)
        if verdict.outcome == "skip":  # the kill switch: nothing goes out on its own, a person decides
            reasons.append("a sequence step waits for a person")
        return {"status": "drafted", "autopilot_mode": settings.mode if settings.mode != "off" else "assist",
                "guards": list(verdict.guards), "reasons": reasons, "confidence": FOLLOWUP_CONFIDENCE,
                "prompt_version": personalised.prompt_version, "cost_usd": round(personalised.cost_usd, 6),
                "latency_ms": personalised.latency_ms,
                "expires_at": (self.now + timedelta(hours=settings.draft_ttl_hours)).isoformat()}

    @staticmethod
    def _condition_fails(ctx: Mapping[str, Any], step: Mapping[str, Any]) -> str | None:
        if step["condition"] == "no_reply" and ctx.get("replied"):
            return "condition no_reply: the lead replied"
        if step["condition"] == "engaged" and not ctx.get("engaged"):
            return "condition engaged: the lead neither replied nor read a message"
        return None

    async def _personalise(self, lead: Mapping[str, Any], step: Mapping[str, Any]) -> Personalised:
        if self.personalise is None:
            raise SendRefused("kind", "ai_message steps need the AI orchestrator, and none is attached")
        result = await self.personalise(str(lead["id"]), step)
        return result if isinstance(result, Personalised) else Personalised(str(result))

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
