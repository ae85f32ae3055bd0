"""Claim windows (postgres transport): events are held for their worker before any handler runs; handlers that
finish within the window are settled in one call, slow ones are leased; a worker whose window failed or who
died inside one keeps its events from everybody else until it finishes them or its holds expire."""

from __future__ import annotations

import asyncio
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

    warm_up = emit(outbox, "test.fast")
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


async def test_an_event_with_several_handlers_records_each_success_as_it_happens_inside_a_window(
    outbox: Conn, database: str
) -> None:
    registry = Registry()
    second_started = asyncio.Event()
    release = asyncio.Event()

    @registry.handles("test.pair", name="first")
    async def first(event: Event, context: HandlerContext) -> None:
        return None

    @registry.handles("test.pair", name="second")
    async def second(event: Event, context: HandlerContext) -> None:
        second_started.set()
        await release.wait()

    async with running_engine(database, registry, window_seconds=5.0) as engine:
        pair = emit(outbox, "test.pair")
        await asyncio.wait_for(second_started.wait(), 10)
        # Held by this worker in its (5 s) window, and the first handler's success is already on record.
        assert rows(outbox, "select e.status, h.worker from public.events e join private.event_holds h "
                            "on e.id = any(h.event_ids) where e.id = %s", pair) == [("pending", engine.worker)]
        assert rows(outbox, "select handler, status from public.event_deliveries where event_id = %s",
                    pair) == [("first", "succeeded")]
        release.set()
        await wait_until(lambda: statuses(outbox, [pair]) == {"processed": 1})


@pytest.mark.timeout(120)
def test_a_worker_killed_inside_a_window_keeps_its_events_until_the_hold_expires_then_they_run_again_charged(
    outbox: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    windowed = emit(outbox, "test.slow", {"seconds": 60})
    listener = listener_factory(database, "--window-ms", "10000", "--lease", "2",
                                handlers=("listener_test_handlers",)).start()
    wait_until_sync(lambda: rows(outbox, "select count(*) from private.event_holds where %s = any(event_ids)",
                                 windowed) == [(1,)], timeout=30)
    assert rows(outbox, "select status, attempts from public.events where id = %s", windowed) == [("pending", 0)]
    listener.kill9()
    # Its handler might still be running somewhere (a killed connection looks the same): nobody takes it ...
    assert rows(outbox, "select count(*) from public.claim_events('w2', 10, 30)") == [(0,)]
    # ... until the hold expires: then the attempt it was running is charged and counted, and it runs again.
    again = listener_factory(database, "--window-ms", "0", "--lease", "2",
                             handlers=("listener_test_handlers",)).start()
    wait_until_sync(lambda: rows(outbox, "select status, attempts, lease_expiries from public.events "
                                         "where id = %s", windowed) == [("processing", 2, 1)], timeout=30)
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


@pytest.mark.parametrize("committed", [False, True], ids=["settle-not-applied", "settle-reply-lost"])
async def test_after_a_settle_fails_the_worker_still_owns_its_events_and_finishes_them_once(
    outbox: Conn, database: str, committed: bool
) -> None:
    # A settle call that fails (a killed connection) may or may not have been applied. Either way the events
    # stay this worker's (held, or settled already): nobody else runs them, and the finish loop sends the
    # verdicts again; the handler ran once and the attempt is charged once.
    registry = Registry()
    runs: list[int] = []

    @registry.handles("test.troublesome")
    async def troublesome(event: Event, context: HandlerContext) -> None:
        runs.append(event.attempts)

    transport = open_postgres(database)
    store: Any = transport.store
    original_settle = store.settle

    async def failing_settle(lane: int, worker: str, results: Any, *rest: Any) -> set[uuid.UUID]:
        if any(r.event_id == trouble_id for r in results):
            if committed:
                await original_settle(lane, worker, results, *rest)
            raise psycopg.OperationalError("the connection was killed")
        result: set[uuid.UUID] = await original_settle(lane, worker, results, *rest)
        return result

    store.settle = failing_settle
    trouble_id = uuid.UUID(emit(outbox, "test.troublesome"))
    async with engine_running(transport, registry, window_seconds=0.05, poll_interval=0.2) as engine:
        await wait_until(lambda: statuses(outbox, [str(trouble_id)]) == {"processed": 1})
        assert engine.metrics.lost.labels("finish")._value.get() == 0  # a resent verdict is not a lost event
    assert runs == [1]
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
