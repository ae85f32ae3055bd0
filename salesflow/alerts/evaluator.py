"""`AlertMonitor`: the listener's alerting, run as a maintenance task of the engine.

Each maintenance round calls `public.evaluate_alerts(worker, interval)` once. That SQL beats this listener's
heartbeat, then evaluates only if it gets the transaction-scoped advisory lock (try, never wait) and the last
evaluation is older than the interval: with any number of listeners exactly one evaluates at a time, and a
firing alert is written once, not once per listener. The evaluation queues notifications in the same
transaction; sending happens after it committed, in a background task of whichever listener saw them due:
`claim_alert_notifications` hands each out to one sender (SKIP LOCKED, leased), so four listeners never send
one twice, and `finish_alert_notifications` records the outcome (sent, failed, or retry after a backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from salesflow.alerts.notifiers import Notification, SendOutcome, send
from salesflow.alerts.settings import AlertSettings

log = logging.getLogger("salesflow.alerts")

CLAIM_BATCH = 20
SEND_LEASE_SECONDS = 120.0


class FunctionCaller(Protocol):
    """What alerting needs of a transport's store: one call of a service SQL function by name."""

    async def call_function(self, function: str, args: Mapping[str, Any] | None = None) -> Any: ...


def retry_delay(attempts: int, settings: AlertSettings, rng: random.Random | None = None) -> float:
    """base * 2^(attempts-1), +-10 % jitter, at most retry_max_seconds."""
    delay = min(settings.retry_base_seconds * 2 ** max(attempts - 1, 0), settings.retry_max_seconds)
    return delay * (rng or random).uniform(0.9, 1.1)


def finish_item(notification: Notification, outcome: SendOutcome, settings: AlertSettings) -> dict[str, Any]:
    """The record of one attempt; a retry past max_attempts is a failure."""
    kind = outcome.outcome
    if kind == "retry" and notification.attempts >= settings.max_attempts:
        kind = "failed"
    item: dict[str, Any] = {"id": notification.id, "outcome": kind, "error": outcome.error,
                            "response_status": outcome.response_status}
    if kind == "retry":
        item["retry_in_seconds"] = retry_delay(notification.attempts, settings)
    return item


class AlertMonitor:
    """The engine's alerting maintenance task (`Engine(..., maintenance=[monitor])`)."""

    name = "alerts"

    def __init__(self, store: FunctionCaller, worker: str, settings: AlertSettings | None = None) -> None:
        self.store = store
        self.worker = worker
        self.settings = settings or AlertSettings.from_env()
        self._sender: asyncio.Task[int] | None = None
        self.last_result: Mapping[str, Any] | None = None

    async def __call__(self) -> None:
        await self.evaluate()

    async def evaluate(self, deliver: bool = True) -> Mapping[str, Any]:
        """One round: evaluate (if this listener gets the lock), then start sending what is due in the
        background (`sending()` waits for it)."""
        result = await self.store.call_function(
            "evaluate_alerts", {"p_worker": self.worker, "p_min_interval_seconds": self.settings.interval_seconds})
        self.last_result = result = dict(result or {})
        if result.get("evaluated") and (result.get("fired") or result.get("resolved")):
            log.info("alerts evaluated", extra={k: result.get(k) for k in ("fired", "updated", "resolved", "queued")})
        if deliver and result.get("due") and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self.deliver_due(), name="salesflow-alert-sender")
        return result

    async def deliver_due(self) -> int:
        """Claim and send due notifications until none is left; returns how many were attempted."""
        total = 0
        while True:
            claimed = await self.store.call_function(
                "claim_alert_notifications",
                {"p_worker": self.worker, "p_limit": CLAIM_BATCH, "p_lease_seconds": SEND_LEASE_SECONDS})
            rows: Sequence[Mapping[str, Any]] = claimed or []
            if not rows:
                return total
            notifications = [Notification.from_claim(r) for r in rows]
            outcomes = await asyncio.gather(*(self._send_one(n) for n in notifications))
            items = [finish_item(n, o, self.settings) for n, o in zip(notifications, outcomes, strict=True)]
            await self.store.call_function("finish_alert_notifications", {"p_worker": self.worker, "p_results": items})
            for n, item in zip(notifications, items, strict=True):
                level = logging.INFO if item["outcome"] == "sent" else logging.WARNING
                log.log(level, "alert notification " + item["outcome"],
                        extra={"notification": n.id, "target": n.target.name, "kind": n.target.kind,
                               "transition": n.transition, "attempt": n.attempts, "error": item["error"]})
            total += len(rows)

    async def sending(self) -> int:
        """Wait for the background sender started by the last round (0 when none runs)."""
        return await self._sender if self._sender is not None else 0

    async def _send_one(self, notification: Notification) -> SendOutcome:
        try:
            return await send(notification, self.settings)
        except Exception as exc:  # a notifier bug must not lose the claim: recorded, tried again
            return SendOutcome("retry", error=f"{type(exc).__name__}: {exc}"[:500])

    async def close(self, timeout: float = 10.0) -> None:
        """On the listener's stop: let a send in progress finish (or cut it short), then mark this listener
        stopped, so its missing heartbeat does not alert."""
        if self._sender is not None and not self._sender.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._sender, timeout)
        with contextlib.suppress(Exception):
            await self.store.call_function("listener_heartbeat", {"p_worker": self.worker, "p_stopped": True})
