"""Claim windows (postgres transport): handlers that finish within the window are settled with their claim in
one transaction; slow ones are leased; several-handler events are leased before they run; a worker that dies
inside a window leaves its events pending, uncharged."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from engine_helpers import Listener, emit, running_engine, statuses, wait_until, wait_until_sync

from salesflow.events import Event, HandlerContext
from salesflow.events.registry import Registry
from salesflow.transports import open_postgres
from tests.engines import engine_running

Conn = psycopg.Connection[Any]



def rows(db: Conn, query: str, *args: Any) -> list[tuple[Any, ...]]:
    result = db.execute(query, args).fetchall()
    db.commit()
    return result


async def test_fast_handlers_settle_with_their_claim_and_a_slow_one_is_leased_until_it_finishes(
    outbox: Conn, database: str
) -> None:
    registry = Registry()
    release = asyncio.Event()

    @registry.handles("test.fast")
    async def fast(event: Event, context: HandlerContext) -> None:
        return None

    @registry.handles("test.slow")
    async def slow(event: Event, context: HandlerContext) -> None:
        await release.wait()

    warm_up = emit(outbox, "test.fast")  # the first claim after a start is leased (see the migration)
    async with running_engine(database, registry, window_seconds=0.05) as engine:
        await wait_until(lambda: statuses(outbox, [warm_up]) == {"processed": 1})
        slow_id = emit(outbox, "test.slow")
        fast_ids = [emit(outbox, "test.fast") for _ in range(30)]
        await wait_until(lambda: statuses(outbox, fast_ids) == {"processed": 30})
        # The slow handler outlived its window: its event is leased to this worker while it runs.
        await wait_until(lambda: rows(outbox, "select status, locked_by, attempts from public.events "
                                              "where id = %s", slow_id) == [("processing", engine.worker, 1)])
        release.set()
        await wait_until(lambda: statuses(outbox, [slow_id]) == {"processed": 1})
    delivered = rows(outbox, "select count(*) filter (where status = 'succeeded' and attempts = 1) "
                             "from public.event_deliveries where event_id = any(%s::uuid[])", [slow_id, *fast_ids])
    assert delivered == [(31,)]
    assert rows(outbox, "select count(*) from public.events where id = any(%s::uuid[]) and attempts <> 1",
                fast_ids) == [(0,)]


async def test_an_event_with_several_handlers_is_leased_before_they_run(outbox: Conn, database: str) -> None:
    registry = Registry()
    second_started = asyncio.Event()
    release = asyncio.Event()

    @registry.handles("test.warm")
    async def warm(event: Event, context: HandlerContext) -> None:
        return None

    @registry.handles("test.pair", name="first")
    async def first(event: Event, context: HandlerContext) -> None:
        return None

    @registry.handles("test.pair", name="second")
    async def second(event: Event, context: HandlerContext) -> None:
        second_started.set()
        await release.wait()

    warm_up = emit(outbox, "test.warm")
    async with running_engine(database, registry, window_seconds=5.0):
        await wait_until(lambda: statuses(outbox, [warm_up]) == {"processed": 1})
        pair = emit(outbox, "test.pair")
        await asyncio.wait_for(second_started.wait(), 10)
        # Leased (not held in a 5 s window), and the first handler's success is already on record.
        assert rows(outbox, "select status from public.events where id = %s", pair) == [("processing",)]
        assert rows(outbox, "select handler, status from public.event_deliveries where event_id = %s",
                    pair) == [("first", "succeeded")]
        release.set()
        await wait_until(lambda: statuses(outbox, [pair]) == {"processed": 1})


@pytest.mark.timeout(120)
def test_a_worker_killed_inside_a_window_leaves_its_events_pending_and_uncharged(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    leased = emit(outbox, "test.slow", {"seconds": 60})
    listener = listener_factory(database, "--window-ms", "10000", "--lease", "2",
                                handlers=("listener_test_handlers",)).start()
    # The first claim after a start is leased: charged and visible as processing.
    wait_until_sync(lambda: rows(outbox, "select status, attempts from public.events where id = %s",
                                 leased) == [("processing", 1)], timeout=30)
    windowed = emit(outbox, "test.slow", {"seconds": 60})
    # Later claims are windows: locked, not written, while the handler runs (the window lasts 10 s).
    wait_until_sync(lambda: rows(outbox, "select count(*) from public.events where id = %s and "
                                         "id not in (select id from public.events for update skip locked)",
                                 windowed) == [(1,)], timeout=30)
    assert rows(outbox, "select status, attempts from public.events where id = %s", windowed) == [("pending", 0)]
    listener.kill9()
    assert rows(outbox, "select status, attempts from public.events where id = %s", windowed) == [("pending", 0)]
    assert rows(outbox, "select status from public.events where id = %s", leased) == [("processing",)]
    # Both run again: the lease once it expires (counted), the window's event at once.
    again = listener_factory(database, "--window-ms", "0", "--lease", "2",
                             handlers=("listener_test_handlers",)).start()
    wait_until_sync(lambda: rows(outbox, "select count(*) from public.events where id = any(%s::uuid[]) "
                                         "and status = 'processing' and attempts = 1 and lease_expiries = 0",
                                 [windowed]) == [(1,)], timeout=30)
    wait_until_sync(lambda: rows(outbox, "select lease_expiries, attempts from public.events where id = %s",
                                 leased) == [(1, 2)], timeout=30)
    again.kill9()


class BrokenRegistry(Registry):
    """A registry that fails for one event type: an error of the engine's own, outside any handler."""

    def handlers_for(self, event_type: str) -> list[Any]:
        if event_type == "test.poison":
            raise RuntimeError("the registry broke")
        return super().handlers_for(event_type)


@pytest.mark.parametrize("window_seconds", [0.05, 0.0], ids=["claim-windows", "leases-only"])
async def test_an_engine_error_outside_handlers_is_charged_and_dead_letters(
    outbox: Conn, database: str, window_seconds: float
) -> None:
    registry = BrokenRegistry()

    @registry.handles("test.fast")
    async def fast(event: Event, context: HandlerContext) -> None:
        return None

    warm_up = emit(outbox, "test.fast")
    async with running_engine(database, registry, window_seconds=window_seconds):
        await wait_until(lambda: statuses(outbox, [warm_up]) == {"processed": 1})
        poison = emit(outbox, "test.poison", max_attempts=2)
        fine = emit(outbox, "test.fast")
        await wait_until(lambda: statuses(outbox, [poison, fine]) == {"failed": 1, "processed": 1})
    assert rows(outbox, "select attempts, last_error from public.events where id = %s", poison) == [
        (2, "engine error: RuntimeError: the registry broke")]


async def test_after_a_window_fails_the_next_claim_is_leased_so_the_event_is_charged(
    outbox: Conn, database: str
) -> None:
    # A window whose settle fails every time it holds a certain event (standing for any error that event
    # causes) must not run it again and again uncharged: the next claim is leased.
    registry = Registry()
    runs: list[int] = []

    @registry.handles("test.fast")
    async def fast(event: Event, context: HandlerContext) -> None:
        return None

    @registry.handles("test.troublesome")
    async def troublesome(event: Event, context: HandlerContext) -> None:
        runs.append(event.attempts)

    trouble: set[uuid.UUID] = set()
    transport = open_postgres(database)
    original_window = transport.store.window  # type: ignore[attr-defined]

    @contextlib.asynccontextmanager
    async def failing_window(lane: int) -> Any:
        async with original_window(lane) as window:
            original_lock, original_settle = window.lock, window.settle

            async def lock(batch: int) -> list[Event]:
                events: list[Event] = await original_lock(batch)
                trouble.update(e.id for e in events if e.type == "test.troublesome")
                return events

            async def settle(worker: str, results: Any, lease_ids: Any, *rest: Any) -> None:
                if trouble & ({r.event_id for r in results} | set(lease_ids)):
                    raise RuntimeError("settle failed")
                await original_settle(worker, results, lease_ids, *rest)

            window.lock, window.settle = lock, settle
            yield window

    transport.store.window = failing_window  # type: ignore[attr-defined]
    warm_up = emit(outbox, "test.fast")
    async with engine_running(transport, registry, window_seconds=0.05, poll_interval=0.2):
        await wait_until(lambda: statuses(outbox, [warm_up]) == {"processed": 1})
        trouble_id = emit(outbox, "test.troublesome")
        await wait_until(lambda: statuses(outbox, [trouble_id]) == {"processed": 1})
    assert runs == [1, 1]  # once in the window that failed (uncharged), once leased (charged)
    assert rows(outbox, "select attempts from public.events where id = %s", trouble_id) == [(1,)]


async def test_a_follower_freed_by_another_workers_finish_runs_without_waiting_for_the_poll(
    outbox: Conn, database: str
) -> None:
    # No wake-up tells this engine that another worker finished the head of a key; right after work on keyed
    # events it polls again quickly, so the follower does not wait out the (here 60 s) poll interval.
    registry = Registry()

    @registry.handles("test.fast")
    async def fast(event: Event, context: HandlerContext) -> None:
        return None

    head, follower = emit(outbox, "test.fast", ordering_key="k"), emit(outbox, "test.fast", ordering_key="k")
    rows(outbox, "select id from public.claim_events('another-worker', 1, 60)")  # the head, leased elsewhere
    busy = emit(outbox, "test.fast", ordering_key="another-key")
    async with running_engine(database, registry, poll_interval=60.0, listen=True):
        await wait_until(lambda: statuses(outbox, [busy]) == {"processed": 1})
        assert statuses(outbox, [follower]) == {"pending": 1}
        rows(outbox, "select public.finish_events('another-worker', %s::jsonb)",
             f'[{{"id": "{head}", "outcome": "processed"}}]')
        await wait_until(lambda: statuses(outbox, [follower]) == {"processed": 1}, timeout=10)
