"""The engine: claim events, run their handlers concurrently, record every delivery, finish in batches.

One asyncio loop per process. Four small loops share the work:
- claim: takes batches of due events while handler slots are free; otherwise waits for a wake-up
  (NOTIFY / Realtime), a freed slot, the next delayed event, or the poll interval. With a store that can hold
  events (`WindowedEventStore`), a claim is a window (salesflow/events/windows.py): the events are held,
  their handlers run for up to `window_seconds`, and one call settles the finished ones and leases the rest;
  a second claim lane helps while a backlog lasts. Otherwise it leases them;
- finish: sends handler verdicts to the store in batches (one call per batch);
- heartbeat: extends the leases and holds of everything this worker still owns, and stops any handler whose
  lease would run out unrenewed, so an event this worker still runs is never claimed by anyone else;
- maintenance: returns expired leases and holds of crashed workers to pending, refreshes the backlog
  metrics, and deletes processed events older than the retention (one worker at a time); then it awaits the
  maintenance tasks it was given (`maintenance=`, e.g. the alert evaluator of salesflow/alerts/).

The engine imports no driver: it talks to `EventStore`, `Wakeup` and `TenantDataFactory` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from salesflow.events.context import HandlerContext, ServiceFactory
from salesflow.events.errors import PermanentFailure, RetryLater
from salesflow.events.metrics import EngineMetrics
from salesflow.events.ownership import Ownership
from salesflow.events.ports import (
    Delivery,
    DeliveryStatus,
    Event,
    EventResult,
    EventStore,
    TenantDataFactory,
    Wakeup,
    WindowedEventStore,
)
from salesflow.events.registry import Registry
from salesflow.events.windows import ClaimWindows, Reservation, Slots

log = logging.getLogger("salesflow.events")

MAX_ERROR_LENGTH = 2000


def default_worker_name() -> str:
    """host:pid:random: unique per process, readable in `events show` (locked_by)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class EngineSettings:
    """How one engine runs. The defaults suit handlers that call an AI model (seconds, not micro-seconds)."""

    concurrency: int = 16
    batch: int = 100
    lease_seconds: float = 60.0
    poll_interval: float = 5.0
    shutdown_timeout: float = 20.0
    backoff_base_seconds: float = 2.0
    maintenance_interval: float = 5.0
    # How long a claim window waits for its handlers before leasing those still running (0: lease every
    # claim). Long enough for handlers that write a row or two, short enough not to delay the next claim.
    window_seconds: float = 0.02
    # Processed events older than this are deleted (with their deliveries) by the maintenance loop, in
    # batches of `prune_batch` every `prune_interval` seconds; None keeps them.
    retention_seconds: float | None = 7 * 86400.0
    prune_interval: float = 60.0
    prune_batch: int = 1000
    worker: str = field(default_factory=default_worker_name)

    def __post_init__(self) -> None:
        checks = {
            "concurrency": self.concurrency >= 1,
            "batch": 1 <= self.batch <= 1000,
            "lease_seconds": self.lease_seconds > 0,
            "poll_interval": self.poll_interval > 0,
            "shutdown_timeout": self.shutdown_timeout >= 0,
            "backoff_base_seconds": self.backoff_base_seconds >= 0,
            "maintenance_interval": self.maintenance_interval > 0,
            "window_seconds": 0 <= self.window_seconds <= 10,
            "retention_seconds": self.retention_seconds is None or self.retention_seconds >= 0,
            "prune_interval": self.prune_interval > 0,
            "prune_batch": 1 <= self.prune_batch <= 100_000,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"EngineSettings.{name}: invalid value {getattr(self, name)!r}")


@dataclass
class _Health:
    started_at: float = 0.0
    last_claim_at: float | None = None
    last_store_error: str | None = None
    consecutive_store_errors: int = 0


class Engine:
    """Runs handlers for outbox events until `stop()` (or SIGTERM/SIGINT via `install_signal_handlers`)."""

    def __init__(
        self,
        store: EventStore,
        data: TenantDataFactory,
        registry: Registry,
        settings: EngineSettings | None = None,
        wakeup: Wakeup | None = None,
        metrics: EngineMetrics | None = None,
        services: Mapping[str, ServiceFactory] | None = None,
        maintenance: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.store = store
        self.data = data
        self.registry = registry
        self.settings = settings or EngineSettings()
        self.wakeup = wakeup
        self.metrics = metrics or EngineMetrics()
        self.services: Mapping[str, ServiceFactory] = services or {}
        # Extra maintenance tasks (e.g. the alert evaluator): awaited after each maintenance round, each on its
        # own (one failing does not stop the others or the engine). The engine knows nothing of what they do.
        self.maintenance = tuple(maintenance)
        self.worker = self.settings.worker
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # work may be waiting
        self._slot_freed = asyncio.Event()
        self._in_flight: dict[UUID, asyncio.Task[Any]] = {}
        self._slots = Slots(self.settings.concurrency)
        # Claim windows when the store can hold events (and they are not switched off).
        self._windows: ClaimWindows | None = (
            ClaimWindows(store, self, self.settings.window_seconds, self.settings.lease_seconds,
                         self.settings.backoff_base_seconds)
            if self.settings.window_seconds > 0 and isinstance(store, WindowedEventStore) else None
        )
        self._empty_claims = 0  # lane 0's claims that found nothing since the last that found something
        self._claimed_keyed = False  # whether the last claim that found something found keyed events
        # Claimed and not yet finished: what the heartbeat extends, and until when each is this worker's.
        self._owned = Ownership()
        self._results: asyncio.Queue[EventResult | None] = asyncio.Queue()
        self._health = _Health()
        self._metric_children: dict[tuple[int, tuple[str, ...]], Any] = {}
        # Read at scrape time: no per-event cost.
        self.metrics.in_flight.set_function(lambda: len(self._in_flight))
        self._running = False

    # -- public ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; `run()` then lets in-flight handlers finish and returns."""
        self._stopping.set()
        self._wake.set()
        self._slot_freed.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the engine gracefully (the second one is left to the default)."""
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def health(self) -> dict[str, Any]:
        """For the health endpoint: `ok` while the store answers; `degraded` without a wake-up channel."""
        wake_ok = self.wakeup.connected if self.wakeup is not None else None
        store_ok = self._health.consecutive_store_errors == 0
        status = "ok" if store_ok and wake_ok is not False else ("degraded" if store_ok else "failing")
        return {
            "status": status,
            "worker": self.worker,
            "running": self._running,
            "stopping": self.stopping,
            "in_flight": len(self._in_flight),
            "held": len(self._owned),
            "wakeup_connected": wake_ok,
            "wakeup_reconnects": self.wakeup.reconnects if self.wakeup is not None else None,
            "last_claim_age_seconds": (
                None if self._health.last_claim_at is None else round(time.monotonic() - self._health.last_claim_at, 3)
            ),
            "last_store_error": self._health.last_store_error,
            "uptime_seconds": round(time.monotonic() - self._health.started_at, 3) if self._running else 0,
        }

    async def run(self) -> None:
        """Process events until stopped, then shut down gracefully (see module docstring)."""
        self._running = True
        self._health.started_at = time.monotonic()
        # Everything alive now (imported modules, settings, the registry) lives as long as the process:
        # frozen out of the cyclic collector's view, so its full collections walk only what the engine
        # allocates (measured: a full collection paused a drain for ~20 ms).
        gc.freeze()
        log.info("listener starting", extra={"worker": self.worker, "concurrency": self.settings.concurrency,
                                             "batch": self.settings.batch, "lease_seconds": self.settings.lease_seconds,
                                             "handlers": [h.name for h in self.registry.all()]})
        helpers: list[asyncio.Task[None]] = []
        finisher = asyncio.create_task(self._finish_loop(), name="salesflow-finish")
        try:
            if self.wakeup is not None:
                await self.wakeup.start()
                helpers.append(asyncio.create_task(self._wakeup_loop(), name="salesflow-wakeup"))
            helpers.append(asyncio.create_task(self._heartbeat_loop(), name="salesflow-heartbeat"))
            helpers.append(asyncio.create_task(self._maintenance_loop(), name="salesflow-maintenance"))
            await self._claim_until_stopped()
        finally:
            await self._shutdown(finisher, helpers)
            self._running = False

    # -- claiming --------------------------------------------------------------------------------------

    async def _claim_until_stopped(self) -> None:
        """Run the claim loop; after stop(), give a claim in progress a second, then abandon it (a database
        that does not answer must not hold up shutdown; an abandoned claim's leases simply expire)."""
        claimer = asyncio.create_task(self._claim_loop(), name="salesflow-claim")
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({claimer, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        lanes = {claimer, *(self._windows.helper_lanes if self._windows is not None else ())}
        _, stuck = await asyncio.wait(lanes, timeout=1.0)
        if stuck:
            for task in stuck:
                task.cancel()
            log.warning("abandoned a claim that did not answer within a second of stopping")
            await asyncio.gather(*stuck, return_exceptions=True)
            return
        claimer.result()

    async def _claim_loop(self, lane: int = 0) -> None:
        """Claim while handler slots are free. Lane 0 always runs and waits for work when there is none;
        in window mode, lanes 1.. help it while a backlog lasts (each has its own connection, so one lane's
        handlers run while another lane's call is with the database)."""
        s = self.settings
        full_batch = min(s.batch, s.concurrency)
        # After a full claim more work is likely waiting: then claim again only once half a batch of slots
        # is free, so a busy worker makes few large claims instead of many single-event ones.
        low_water = max(1, full_batch // 2)
        backlog_likely = False
        error_delay = 0.0
        while not self._stopping.is_set():
            free = self._slots.free(len(self._in_flight))
            if free <= 0 or (backlog_likely and free < low_water):
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            want = min(s.batch, free)
            if lane == 0:
                self._wake.clear()
            slots = self._slots.reserve(want)
            try:
                if self._windows is not None:
                    events = await self._windows.claim(lane, slots, lambda: self._stopping.is_set())
                else:
                    events = await self._claim_leased(slots)
            except Exception as exc:
                if lane > 0:
                    self._store_failed("claim", exc)
                    return  # lane 0 retries with backoff
                error_delay = min(max(error_delay * 2, 0.1), 5.0)
                self._store_failed("claim", exc, retry_in=error_delay)
                await self._sleep(error_delay)
                continue
            finally:
                slots.release()
            error_delay = 0.0
            self._store_ok()
            self._health.last_claim_at = time.monotonic()
            claimed = len(events)
            if claimed:
                self.metrics.claimed.inc(claimed)
                self._claimed_keyed = any(e.ordering_key is not None for e in events)
            backlog_likely = claimed == want
            if claimed and lane == 0:
                self._empty_claims = 0
            if lane > 0:
                if not backlog_likely:
                    return
                continue
            if backlog_likely:
                if self._windows is not None:
                    self._windows.start_helper_lanes(self._claim_loop)
                continue
            await self._idle_wait()

    async def _claim_leased(self, slots: Reservation) -> list[Event]:
        """Lease events (claim_events) and start their handlers; returns the events claimed."""
        s = self.settings
        sent = time.monotonic()
        events = await self.store.claim(self.worker, slots.count, s.lease_seconds)
        if events and self._stopping.is_set():
            # stop() arrived while claiming: give these back rather than start new work.
            await self.store.release(self.worker, [e.id for e in events])
            return []
        for event in events:
            self._own(event, sent + s.lease_seconds)
            self._in_flight[event.id] = asyncio.create_task(self._run_event(event))
        return events

    # -- what a claim window asks of the engine (windows.WindowHost) ---------------------------------------

    def start_event(self, event: Event, deadline: float) -> asyncio.Task[EventResult]:
        self._own(event, deadline)
        task = self._in_flight[event.id] = asyncio.create_task(self._handle(event))
        return task

    def runs_on(self, event_id: UUID, task: asyncio.Task[EventResult], deadline: float) -> None:
        self._owned.renew(event_id, deadline)
        if task.done():
            self._window_task_done(event_id, task)
        else:
            task.add_done_callback(functools.partial(self._window_task_done, event_id))

    def settled(self, results: Sequence[EventResult]) -> None:
        self._forget_finished(results)

    def lost(self, event_ids: Sequence[UUID], where: str) -> None:
        """The store no longer counts these events as this worker's (its lease or hold expired and another
        worker recovered them, or they were finished already). A run still going here is stopped at once:
        the event may be running elsewhere now."""
        surprising = [i for i in event_ids if not self._owned.was_resent(i)]
        self._owned.drop(event_ids)
        stopped = 0
        for event_id in event_ids:
            task = self._in_flight.get(event_id)
            if task is not None and not task.done():
                task.cancel()
                stopped += 1
        if surprising:
            self.metrics.lost.labels(where).inc(len(surprising))
            log.warning("events no longer this worker's (lease or hold expired and recovered elsewhere)",
                        extra={"operation": where, "count": len(surprising), "handlers_stopped": stopped,
                               "events": [str(i) for i in surprising[:20]]})

    def resend(self, results: Sequence[EventResult]) -> None:
        for result in results:
            self._owned.resent(result.event_id)
            self._results.put_nowait(result)

    def forget(self, event_id: UUID) -> None:
        self._forget_task(event_id)

    def store_failed(self, operation: str, exc: BaseException) -> None:
        self._store_failed(operation, exc)

    def _window_task_done(self, event_id: UUID, task: asyncio.Task[EventResult]) -> None:
        self._forget_task(event_id, task)
        if not task.cancelled() and task.exception() is None:
            self._results.put_nowait(task.result())

    def _forget_task(self, event_id: UUID, _task: object = None) -> None:
        self._in_flight.pop(event_id, None)
        self._slot_freed.set()

    def _own(self, event: Event, deadline: float) -> None:
        """A claimed event: its lease (or hold) is heartbeated until it is finished."""
        self._owned.take(event, deadline)

    def _forget_finished(self, results: Sequence[EventResult]) -> None:
        if self._owned.drop(r.event_id for r in results):
            # Finishing an event of an ordering key may make the next event of that key claimable.
            self._wake.set()

    async def _idle_wait(self) -> None:
        """Nothing claimable: wait for a wake-up, the next delayed event, or the poll interval. Right after
        work on events with ordering keys, polls come quickly (25 ms, doubling up to the poll interval): then
        an empty claim more likely means events are waiting for their key, which another worker's finish
        frees without any wake-up, than that the outbox is idle."""
        timeout = self.settings.poll_interval
        if self._claimed_keyed:
            timeout = min(timeout, 0.025 * 2 ** min(self._empty_claims, 20))
        self._empty_claims += 1
        # Let handler tasks just created start before this loop's next query (insert-to-handler latency).
        await asyncio.sleep(0)
        if self._wake.is_set():
            return
        try:
            next_due = await self.store.next_due_in()
        except Exception as exc:
            self._store_failed("next_due_in", exc)
            next_due = None
        if next_due is not None:
            timeout = max(0.0, min(timeout, next_due + 0.005))
        if self.wakeup is not None and not self.wakeup.connected:
            # Without the wake-up channel, poll faster so latency degrades gracefully.
            timeout = min(timeout, 0.5)
        # asyncio.timeout, not wait_for: no extra task on the wake-up path (latency).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _wakeup_loop(self) -> None:
        assert self.wakeup is not None
        while not self._stopping.is_set():
            woken = await self.wakeup.wait(self.settings.poll_interval)
            self.metrics.wakeup_connected.set(1 if self.wakeup.connected else 0)
            if woken:
                self._wake.set()

    # -- running handlers ------------------------------------------------------------------------------

    async def _run_event(self, event: Event) -> None:
        try:
            self._results.put_nowait(await self._handle(event))
        finally:
            self._forget_task(event.id)

    async def _handle(self, event: Event) -> EventResult:
        """The verdict on one event. Never raises (but for cancellation): an error of the engine's own while
        handling it becomes a retry, so the event is charged and, if it keeps failing, dead-lettered instead
        of being held (and heartbeated) forever or re-run uncharged."""
        try:
            return await self._run_handlers(event)
        except Exception as exc:
            message = f"engine error: {type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
            log.exception("handling an event failed outside its handlers", extra=self._event_fields(event))
            return EventResult(event.id, "retry", (), message)

    async def _run_handlers(self, event: Event) -> EventResult:
        handlers = self.registry.handlers_for(event.type)
        if not handlers:
            self._metric(self.metrics.unhandled, event.type).inc()
            if log.isEnabledFor(logging.INFO):
                log.info("event has no handler", extra=self._event_fields(event))
            return EventResult(event.id, "processed")
        to_run = handlers if not event.succeeded_handlers else [
            h for h in handlers if h.name not in event.succeeded_handlers]
        deliveries: list[Delivery] = []
        errors: list[str] = []
        delays: list[float | None] = []
        permanent = False
        for position, handler in enumerate(to_run):
            context = HandlerContext(
                event, handler=handler.name, services=self.services, data_factory=self.data.for_tenant
            )
            started = time.perf_counter()
            error: str | None = None
            try:
                await handler.run(event, context)
            except RetryLater as exc:
                error, delay = exc.reason, exc.delay_seconds
                delays.append(delay)
            except PermanentFailure as exc:
                error, permanent = exc.reason, True
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                delays.append(None)
            duration = time.perf_counter() - started
            status: DeliveryStatus = "succeeded" if error is None else "failed"
            self._metric(self.metrics.handler_duration, handler.name, status).observe(duration)
            if error is not None:
                error = f"{handler.name}: {error}"[:MAX_ERROR_LENGTH]
                errors.append(error)
            delivery = Delivery(handler.name, status, round(duration * 1000, 3), error)
            if error is not None:
                log.warning("handler failed", extra={**self._event_fields(event, handler.name),
                                                     "duration_ms": delivery.duration_ms, "error": error})
            elif log.isEnabledFor(logging.INFO):
                log.info("handler succeeded", extra={**self._event_fields(event, handler.name),
                                                     "duration_ms": delivery.duration_ms})
            if status == "succeeded" and position < len(to_run) - 1:
                # More handlers follow: record this success now so a crash does not repeat it. Once recorded
                # it stays out of the finish, which would count the same attempt a second time.
                try:
                    await self.store.record_deliveries(self.worker, event.id, [delivery])
                    continue
                except Exception as exc:
                    self._store_failed("record_deliveries", exc)
            deliveries.append(delivery)
        if not errors:
            self._metric(self.metrics.processed, event.type).inc()
            return EventResult(event.id, "processed", deliveries)
        message = "; ".join(errors)[:MAX_ERROR_LENGTH]
        if permanent or event.attempts >= event.max_attempts:
            self._metric(self.metrics.failed, event.type).inc()
            log.error("event failed for good", extra={**self._event_fields(event), "error": message})
            return EventResult(event.id, "failed" if permanent else "retry", deliveries, message)
        self._metric(self.metrics.retried, event.type).inc()
        explicit = [d for d in delays if d is not None]
        retry_in = max(explicit) if explicit and len(explicit) == len(delays) else None
        return EventResult(event.id, "retry", deliveries, message, retry_in)

    def _metric(self, family: Any, *labels: str) -> Any:
        """A labelled metric child, cached: `labels()` is too slow to call per event."""
        key = (id(family), labels)
        child = self._metric_children.get(key)
        if child is None:
            child = self._metric_children[key] = family.labels(*labels)
        return child

    @staticmethod
    def _event_fields(event: Event, handler: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "event_id": str(event.id),
            "event_type": event.type,
            "tenant_id": str(event.tenant_id),
            "attempt": event.attempts,
        }
        if handler is not None:
            fields["handler"] = handler
        return fields

    # -- finishing -------------------------------------------------------------------------------------

    async def _finish_loop(self) -> None:
        """Send verdicts in batches; a failed call is retried with backoff (the leases are heartbeated)."""
        done = False
        while not done:
            first = await self._results.get()
            batch: list[EventResult] = []
            if first is None:
                done = True
            else:
                batch.append(first)
            while not self._results.empty() and len(batch) < 1000:
                item = self._results.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if batch:
                await self._finish(batch)

    async def _finish(self, batch: list[EventResult]) -> None:
        delay = 0.1
        deadline: float | None = None
        lost: set[UUID] = set()
        with self._owned.finishing(r.event_id for r in batch):
            while True:
                try:
                    lost = await self.store.finish(self.worker, batch, self.settings.backoff_base_seconds)
                    self._store_ok()
                    break
                except Exception as exc:
                    self._store_failed("finish", exc, retry_in=delay)
                    if self._stopping.is_set():
                        # Shutting down: try for a while, then leave the events to lease recovery.
                        deadline = deadline or time.monotonic() + max(self.settings.shutdown_timeout, 1.0)
                        if time.monotonic() > deadline:
                            log.error("giving up finishing events; their leases will expire and they run again",
                                      extra={"events": len(batch)})
                            break
                    # Retried: the events are still this worker's (the heartbeat keeps their leases).
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        if lost:
            self.lost(sorted(lost), "finish")
        self._forget_finished(batch)

    # -- leases and maintenance ------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Extend the leases and holds of everything this worker owns every third of the lease (sooner after
        a failed call). An event whose lease would run out before it could be renewed (the database
        unreachable for most of a lease) has its handler stopped first: once the lease is gone another
        worker may claim the event, and the two runs must never overlap."""
        s = self.settings
        interval = s.lease_seconds / 3
        retry = min(1.0, s.lease_seconds / 10)
        margin = min(s.lease_seconds / 4, 5.0)
        next_beat = time.monotonic() + interval
        while not self._stopping.is_set():
            now = time.monotonic()
            self._stop_runs_about_to_lose_their_lease(now + margin)
            earliest = (self._owned.earliest() or now + interval) - margin
            wake_at = min(next_beat, max(earliest, now + 0.05))
            if wake_at > now:
                await self._sleep(wake_at - now)
                if time.monotonic() < next_beat:
                    continue
            held = self._owned.to_extend()
            next_beat = time.monotonic() + interval
            if not held:
                continue
            sent = time.monotonic()
            try:
                still = await self.store.extend_lease(self.worker, held, s.lease_seconds)
            except Exception as exc:
                self._store_failed("extend_lease", exc, retry_in=retry)
                next_beat = time.monotonic() + retry
                continue
            for event_id in still:
                self._owned.renew(event_id, sent + s.lease_seconds)
            lost = [i for i in held if i not in still and i in self._owned and not self._owned.finishing_now(i)]
            if lost:
                self.lost(lost, "extend_lease")

    def _stop_runs_about_to_lose_their_lease(self, limit: float) -> None:
        stopped = []
        for event_id in self._owned.expiring_before(limit):
            task = self._in_flight.get(event_id)
            if task is not None and not task.done():
                task.cancel()
                stopped.append(event_id)
        self._owned.drop(stopped)
        if stopped:
            self.metrics.lost.labels("lease_running_out").inc(len(stopped))
            log.error("stopped handlers whose lease could not be renewed in time; those events run again",
                      extra={"count": len(stopped), "events": [str(i) for i in stopped[:20]]})

    async def _maintenance_loop(self) -> None:
        s = self.settings
        next_prune = time.monotonic() + min(s.prune_interval, 5.0)
        while not self._stopping.is_set():
            try:
                recovered = await self.store.recover_expired_leases()
                if recovered:
                    self.metrics.lease_recoveries.inc(recovered)
                    log.warning("recovered events whose lease expired", extra={"count": recovered})
                    self._wake.set()
                backlog = await self.store.backlog()
                self.metrics.pending.set(backlog.pending)
                self.metrics.lag.set(backlog.oldest_due_age_seconds or 0.0)
                if s.retention_seconds is not None and time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + s.prune_interval
                    await self._prune(s.retention_seconds)
            except Exception as exc:
                self._store_failed("maintenance", exc)
            for task in self.maintenance:
                if self._stopping.is_set():
                    break
                try:
                    await task()
                except Exception as exc:
                    self.metrics.store_errors.labels("maintenance_task").inc()
                    log.warning("maintenance task failed", extra={"task": getattr(task, "name", repr(task)),
                                                                  "error": f"{type(exc).__name__}: {exc}"[:500]})
            await self._sleep(s.maintenance_interval)

    async def _prune(self, older_than: float) -> None:
        """Retention: delete processed events older than `older_than` seconds in small batches (each its own
        short transaction, so a drain never waits on it); stop when another worker is pruning."""
        total = 0
        for _ in range(1000):  # at most 1,000 batches per run; the next run goes on
            if self._stopping.is_set():
                break
            deleted = await self.store.prune(older_than, self.settings.prune_batch)
            if deleted is None:
                break  # another worker holds the pruning lock
            total += deleted
            if deleted < self.settings.prune_batch:
                break
            await asyncio.sleep(0.01)  # room for the claim and finish calls between batches
        if total:
            self.metrics.pruned.inc(total)
            log.info("pruned processed events past the retention", extra={"count": total,
                                                                          "older_than_seconds": older_than})

    # -- shutdown --------------------------------------------------------------------------------------

    async def _shutdown(self, finisher: asyncio.Task[None], helpers: list[asyncio.Task[None]]) -> None:
        self._stopping.set()
        in_flight = list(self._in_flight.values())
        if in_flight:
            log.info("waiting for in-flight handlers", extra={"count": len(in_flight),
                                                              "timeout_seconds": self.settings.shutdown_timeout})
            _, still_running = await asyncio.wait(in_flight, timeout=self.settings.shutdown_timeout)
            if still_running:
                cut_short = [eid for eid, task in self._in_flight.items() if task in still_running]
                for task in still_running:
                    task.cancel()
                await asyncio.gather(*still_running, return_exceptions=True)
                try:
                    released = await self.store.release(self.worker, cut_short)
                    log.warning("released events whose handlers did not finish in time",
                                extra={"count": released})
                except Exception as exc:
                    self._store_failed("release", exc)
                self._owned.drop(cut_short)
        self._results.put_nowait(None)
        await finisher
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if self.wakeup is not None:
            await self.wakeup.close()
        log.info("listener stopped", extra={"worker": self.worker})

    def _on_signal(self, sig: int) -> None:
        import signal

        log.info("signal received: finishing in-flight handlers", extra={"signal": signal.Signals(sig).name})
        self.stop()

    # -- helpers ---------------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake early on stop()."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _store_failed(self, operation: str, exc: BaseException, retry_in: float | None = None) -> None:
        self.metrics.store_errors.labels(operation).inc()
        self._health.consecutive_store_errors += 1
        self._health.last_store_error = f"{operation}: {type(exc).__name__}: {exc}"[:500]
        log.warning("event store call failed", extra={"operation": operation, "error": str(exc)[:500],
                                                      "retry_in_seconds": retry_in})

    def _store_ok(self) -> None:
        self._health.consecutive_store_errors = 0
