"""Claim windows and claim lanes: how the engine claims from a store that can hold events
(`WindowedEventStore`, supabase/migrations/*_event_holds.sql).

A window: `hold` due events (committed before any handler starts, so a killed connection frees nothing that
still runs), start their handlers, wait up to `window_seconds`, then `settle` in one call: finish the events
whose handlers are done and lease the ones still running, whose results later go through the engine's
finish loop. Whatever settle could not settle (the hold expired and another worker took the event) is
handed back as lost. A settle that fails leaves the holds in place: the events are still this worker's,
the heartbeat extends the holds and the finish loop finishes them.

Lanes: while a backlog lasts, lanes 1.. claim beside lane 0, each on its own connection, so one lane's
handlers run while another lane's call is with the database. `Slots` keeps the lanes from claiming more
than the free handler slots.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol
from uuid import UUID

from salesflow.events.ports import Event, EventResult, WindowedEventStore


class Slots:
    """Handler slots: `concurrency` minus running handlers minus what claims in progress reserved."""

    __slots__ = ("concurrency", "reserved")

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.reserved = 0

    def free(self, running: int) -> int:
        return self.concurrency - running - self.reserved

    def reserve(self, count: int) -> Reservation:
        return Reservation(self, count)


class Reservation:
    """Slots one claim in progress may fill; shrunk as its handlers start (they then hold their own)."""

    __slots__ = ("count", "slots")

    def __init__(self, slots: Slots, count: int) -> None:
        self.slots, self.count = slots, count
        slots.reserved += count

    def shrink_to(self, count: int) -> None:
        self.slots.reserved -= self.count - count
        self.count = count

    def release(self) -> None:
        self.shrink_to(0)


class WindowHost(Protocol):
    """What a claim window needs from the engine that runs it."""

    worker: str

    def start_event(self, event: Event, deadline: float) -> asyncio.Task[EventResult]:
        """Run the event's handlers; the worker owns it until `deadline` (monotonic) unless renewed."""
        ...

    def runs_on(self, event_id: UUID, task: asyncio.Task[EventResult], deadline: float) -> None:
        """The event was leased at the window's close; its result goes through the finish loop."""
        ...

    def settled(self, results: Sequence[EventResult]) -> None:
        """These results are written: the events are no longer the worker's."""
        ...

    def lost(self, event_ids: Sequence[UUID], where: str) -> None:
        """The store refused these events: they are no longer the worker's. Stop any run still going."""
        ...

    def resend(self, results: Sequence[EventResult]) -> None:
        """Whether these results were written is unknown: send them again through the finish loop."""
        ...

    def forget(self, event_id: UUID) -> None:
        """The event's task is over and its result handled: free its slot."""
        ...

    def store_failed(self, operation: str, exc: BaseException) -> None: ...


class ClaimWindows:
    """Claims in windows on `store` for `host` (see the module docstring)."""

    def __init__(self, store: WindowedEventStore, host: WindowHost, window_seconds: float, lease_seconds: float,
                 backoff_base_seconds: float) -> None:
        self.store = store
        self.host = host
        self.window_seconds = window_seconds
        self.lease_seconds = lease_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self._lanes_running: set[int] = set()
        self.helper_lanes: set[asyncio.Task[None]] = set()

    @property
    def lanes(self) -> int:
        return self.store.lanes

    async def claim(self, lane: int, slots: Reservation, stopping: Callable[[], bool]) -> list[Event]:
        """One window on `lane`: returns the events it claimed (their handlers started)."""
        sent = time.monotonic()
        events = await self.store.hold(lane, self.host.worker, slots.count, self.lease_seconds)
        if not events:
            return events
        if stopping():
            # stop() arrived while claiming: give these back rather than start new work.
            await self.store.release(self.host.worker, [e.id for e in events])
            return []
        deadline = sent + self.lease_seconds
        tasks = {event.id: self.host.start_event(event, deadline) for event in events}
        slots.shrink_to(0)  # the running events hold their slots now: another lane may claim what is left
        try:
            await asyncio.wait(tasks.values(), timeout=self.window_seconds)
        except asyncio.CancelledError:
            # Abandoned (a stop while the database does not answer): the handlers finish through the finish
            # loop; the events are held, so nobody else runs them meanwhile.
            for event_id, task in tasks.items():
                self.host.runs_on(event_id, task, deadline)
            raise
        results = [t.result() for t in tasks.values() if t.done() and not t.cancelled()]
        running = [event_id for event_id, t in tasks.items() if not t.done()]
        for event_id, task in tasks.items():
            if task.done():
                self.host.forget(event_id)
        sent = time.monotonic()
        try:
            lost = await self.store.settle(lane, self.host.worker, results, running, self.lease_seconds,
                                           self.backoff_base_seconds)
        except BaseException as exc:
            # Settled or not, the events are still this worker's (held, or leased by the settle): the running
            # ones finish through the finish loop as usual, and the done ones are sent there again.
            self.host.resend(results)
            for event_id in running:
                self.host.runs_on(event_id, tasks[event_id], deadline)
            if not isinstance(exc, Exception):
                raise
            self.host.store_failed("settle", exc)
            return events
        self.host.settled([r for r in results if r.event_id not in lost])
        if lost:
            self.host.lost(sorted(lost), "settle")
        for event_id in running:
            if event_id not in lost:
                self.host.runs_on(event_id, tasks[event_id], sent + self.lease_seconds)
        return events

    def start_helper_lanes(self, lane_loop: Callable[[int], Coroutine[Any, Any, None]]) -> None:
        """Lanes 1.. join lane 0 while a backlog lasts (each returns when its claims come back short)."""
        for lane in range(1, self.lanes):
            if lane not in self._lanes_running:
                self._lanes_running.add(lane)
                task = asyncio.create_task(lane_loop(lane), name=f"salesflow-claim-{lane}")
                self.helper_lanes.add(task)
                task.add_done_callback(functools.partial(self._lane_done, lane))

    def _lane_done(self, lane: int, task: asyncio.Task[None]) -> None:
        self._lanes_running.discard(lane)
        self.helper_lanes.discard(task)
