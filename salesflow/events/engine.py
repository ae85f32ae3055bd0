"""The engine: claim events, run their handlers concurrently, record every delivery, finish in batches.

One asyncio loop per process. Four small loops share the work:
- claim: takes batches of due events while handler slots are free; otherwise waits for a wake-up
  (NOTIFY / Realtime), a freed slot, the next delayed event, or the poll interval. With a store that has
  claim windows (the postgres transport), a claim locks its events in a transaction, runs their handlers for
  up to `window_seconds`, and settles the finished ones in that transaction, leasing only the rest; a second
  claim lane helps while a backlog lasts. Otherwise (and for the first claim after a start or a failed
  window) it leases them;
- finish: sends handler verdicts to the store in batches (one call per batch);
- heartbeat: extends the leases of everything this worker still holds;
- maintenance: returns expired leases of crashed workers to pending and refreshes the backlog metrics.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from salesflow.events.context import HandlerContext, ServiceFactory
from salesflow.events.errors import PermanentFailure, RetryLater
from salesflow.events.metrics import EngineMetrics
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
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"EngineSettings.{name}: invalid value {getattr(self, name)!r}")


class _Reservation:
    """Handler slots a claim in progress may fill, so two lanes never claim more than the free slots."""

    __slots__ = ("count", "engine")

    def __init__(self, engine: Engine, count: int) -> None:
        self.engine, self.count = engine, count
        engine._reserved += count

    def shrink_to(self, count: int) -> None:
        self.engine._reserved -= self.count - count
        self.count = count

    def release(self) -> None:
        self.shrink_to(0)


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
    ) -> None:
        self.store = store
        self.data = data
        self.registry = registry
        self.settings = settings or EngineSettings()
        self.wakeup = wakeup
        self.metrics = metrics or EngineMetrics()
        self.services: Mapping[str, ServiceFactory] = services or {}
        self.worker = self.settings.worker
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # work may be waiting
        self._slot_freed = asyncio.Event()
        self._in_flight: dict[UUID, asyncio.Task[Any]] = {}
        self._reserved = 0  # slots a claim in progress may fill
        # Claim windows when the store has them (and they are not switched off); the first claim after a
        # start is always leased, so an event that kills its worker inside a window is charged an attempt
        # when the worker comes back (see the claim windows migration).
        self._windows: WindowedEventStore | None = (
            store if self.settings.window_seconds > 0 and isinstance(store, WindowedEventStore) else None
        )
        self._leased_once = False
        self._empty_claims = 0  # lane 0's claims that found nothing since the last that found something
        self._claimed_keyed = False  # whether the last claim that found something found keyed events
        self._lanes_running: set[int] = set()
        self._helper_lanes: set[asyncio.Task[None]] = set()
        self._held: set[UUID] = set()  # claimed and not yet finished (what the heartbeat extends)
        self._keyed: set[UUID] = set()  # held events that have an ordering_key
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
            "held": len(self._held),
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
        lanes = {claimer, *self._helper_lanes}
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
        handlers run while another lane's window is with the database)."""
        s = self.settings
        full_batch = min(s.batch, s.concurrency)
        # After a full claim more work is likely waiting: then claim again only once half a batch of slots
        # is free, so a busy worker makes few large claims instead of many single-event ones.
        low_water = max(1, full_batch // 2)
        backlog_likely = False
        error_delay = 0.0
        while not self._stopping.is_set():
            free = s.concurrency - len(self._in_flight) - self._reserved
            if free <= 0 or (backlog_likely and free < low_water):
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            want = min(s.batch, free)
            if lane == 0:
                self._wake.clear()
            slots = _Reservation(self, want)
            try:
                if self._windows is not None and self._leased_once:
                    claimed = await self._claim_in_window(self._windows, lane, slots)
                else:
                    claimed = await self._claim_leased(slots)
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
            backlog_likely = claimed == want
            if claimed and lane == 0:
                self._empty_claims = 0
            if lane > 0:
                if not backlog_likely:
                    return
                continue
            if backlog_likely:
                self._start_helper_lanes()
                continue
            await self._idle_wait()

    async def _claim_leased(self, slots: _Reservation) -> int:
        """Lease events (claim_events) and start their handlers; returns how many were claimed."""
        s = self.settings
        events = await self.store.claim(self.worker, slots.count, s.lease_seconds)
        if events and self._stopping.is_set():
            # stop() arrived while claiming: give these back rather than start new work.
            await self.store.release(self.worker, [e.id for e in events])
            return 0
        if events:
            self._leased_once = True
            self._claimed_keyed = any(e.ordering_key is not None for e in events)
            self.metrics.claimed.inc(len(events))
            for event in events:
                self._hold(event)
                self._in_flight[event.id] = asyncio.create_task(self._run_event(event))
        return len(events)

    async def _claim_in_window(self, store: WindowedEventStore, lane: int, slots: _Reservation) -> int:
        """Claim in a window (see `ClaimWindow`): lock events, run their handlers for up to
        `window_seconds`, then in the same transaction finish those that are done and lease the rest, whose
        results later go through the finish loop. Returns how many events were claimed."""
        s = self.settings
        events: list[Event] = []
        tasks: dict[UUID, asyncio.Task[EventResult]] = {}
        deferred: list[Event] = []
        leased: list[UUID] = []
        settled = False
        try:
            async with store.window(lane) as window:
                events = await window.lock(slots.count)
                if not events or self._stopping.is_set():
                    return 0  # closing the window unlocks them, untouched
                self.metrics.claimed.inc(len(events))
                self._claimed_keyed = any(e.ordering_key is not None for e in events)
                for event in events:
                    if self._handlers_to_run(event) > 1:
                        # Several handlers: each success is recorded as it happens, so a crash does not
                        # repeat it; that needs the lease first. Leased at the close, run after it.
                        deferred.append(event)
                    else:
                        tasks[event.id] = self._in_flight[event.id] = asyncio.create_task(self._handle(event))
                # The running events hold their slots now (deferred ones are counted by the reservation
                # until they start): another lane may claim what is left.
                slots.shrink_to(len(deferred))
                if tasks:
                    await asyncio.wait(tasks.values(), timeout=s.window_seconds)
                done = [t.result() for t in tasks.values() if t.done()]
                leased = [event_id for event_id, t in tasks.items() if not t.done()] + [e.id for e in deferred]
                await window.settle(self.worker, done, leased, s.lease_seconds, s.backoff_base_seconds)
            settled = True  # committed: the window closed without an error
        finally:
            if events:
                self._close_window(events, tasks, deferred, leased, settled)
        return len(events)

    def _handlers_to_run(self, event: Event) -> int:
        try:
            handlers = self.registry.handlers_for(event.type)
        except Exception:
            return 1  # run it in the window: _handle turns the error into a verdict
        if not event.succeeded_handlers:
            return len(handlers)
        return sum(1 for h in handlers if h.name not in event.succeeded_handlers)

    def _close_window(self, events: list[Event], tasks: dict[UUID, asyncio.Task[EventResult]],
                      deferred: list[Event], leased: list[UUID], settled: bool) -> None:
        """After a window committed (`settled`) or rolled back: free the slots of events it finished; hand
        the events it leased to the heartbeat and the finish loop; start the deferred ones."""
        still_ours = set(leased) if settled else set()
        unblocked = False
        for event in deferred:
            if settled:
                self._hold(event)
                self._in_flight[event.id] = asyncio.create_task(self._run_event(event))
        for event in events:
            task = tasks.get(event.id)
            if task is None:
                continue
            if event.id in still_ours:
                self._hold(event)
                if task.done():
                    self._window_task_done(event.id, task)
                else:
                    task.add_done_callback(functools.partial(self._window_task_done, event.id))
                continue
            if task.done():
                del self._in_flight[event.id]
                unblocked = unblocked or event.ordering_key is not None
            else:
                # The window rolled back under a running handler: the event is pending again and runs
                # again (at least once); this run's result has nowhere to go.
                task.add_done_callback(functools.partial(self._forget_task, event.id))
        self._slot_freed.set()
        if not settled:
            # The next claim is leased, as after a start: should the window have failed because of one of
            # its events, that event is then charged, and dead-lettered if it keeps failing.
            self._leased_once = False
            if tasks:
                log.warning("a claim window was rolled back; its events run again",
                            extra={"events": len(events)})
        if unblocked:
            self._wake.set()  # the next event of a finished event's ordering key may be claimable

    def _window_task_done(self, event_id: UUID, task: asyncio.Task[EventResult]) -> None:
        self._forget_task(event_id, task)
        if not task.cancelled() and task.exception() is None:
            self._results.put_nowait(task.result())

    def _forget_task(self, event_id: UUID, _task: object = None) -> None:
        self._in_flight.pop(event_id, None)
        self._slot_freed.set()

    def _hold(self, event: Event) -> None:
        """A leased event: its lease is heartbeated until it is finished."""
        self._held.add(event.id)
        if event.ordering_key is not None:
            self._keyed.add(event.id)

    def _start_helper_lanes(self) -> None:
        if self._windows is None or not self._leased_once:
            return
        for lane in range(1, self._windows.lanes):
            if lane not in self._lanes_running:
                self._lanes_running.add(lane)
                task = asyncio.create_task(self._claim_loop(lane), name=f"salesflow-claim-{lane}")
                self._helper_lanes.add(task)
                task.add_done_callback(functools.partial(self._helper_lane_done, lane))

    def _helper_lane_done(self, lane: int, task: asyncio.Task[None]) -> None:
        self._lanes_running.discard(lane)
        self._helper_lanes.discard(task)

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
            deliveries.append(delivery)
            if error is not None:
                log.warning("handler failed", extra={**self._event_fields(event, handler.name),
                                                     "duration_ms": delivery.duration_ms, "error": error})
            elif log.isEnabledFor(logging.INFO):
                log.info("handler succeeded", extra={**self._event_fields(event, handler.name),
                                                     "duration_ms": delivery.duration_ms})
            if status == "succeeded" and position < len(to_run) - 1:
                # More handlers follow: record this success now so a crash does not repeat it.
                try:
                    await self.store.record_deliveries(self.worker, event.id, [delivery])
                except Exception as exc:
                    self._store_failed("record_deliveries", exc)
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
        while True:
            try:
                await self.store.finish(self.worker, batch, self.settings.backoff_base_seconds)
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
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        unblocked = False
        for result in batch:
            self._held.discard(result.event_id)
            if result.event_id in self._keyed:
                self._keyed.discard(result.event_id)
                unblocked = True
        if unblocked:
            # Finishing an event of an ordering key may make the next event of that key claimable.
            self._wake.set()

    # -- leases and maintenance ------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.lease_seconds / 3
        while not self._stopping.is_set():
            await self._sleep(interval)
            held = list(self._held)
            if not held:
                continue
            try:
                still = await self.store.extend_lease(self.worker, held, self.settings.lease_seconds)
            except Exception as exc:
                self._store_failed("extend_lease", exc)
                continue
            lost = [i for i in held if i not in still and i in self._held]
            if lost:
                log.warning("leases lost (expired and recovered elsewhere); those events will run again",
                            extra={"events": [str(i) for i in lost[:20]], "count": len(lost)})

    async def _maintenance_loop(self) -> None:
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
            except Exception as exc:
                self._store_failed("maintenance", exc)
            await self._sleep(self.settings.maintenance_interval)

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
                for eid in cut_short:
                    self._held.discard(eid)
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
