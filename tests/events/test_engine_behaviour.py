"""The engine in-process on the real database: retries, dead letter, replay, ordering, delays, bad payloads."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from engine_helpers import emit, running_engine, statuses, wait_until

from salesflow.events import Event, HandlerContext, RetryLater, payload_field
from salesflow.events.registry import Registry

Conn = psycopg.Connection[Any]



def status_of(db: Conn, event_id: str) -> str:
    row = db.execute("select status from public.events where id = %s", (event_id,)).fetchone()
    db.commit()
    assert row is not None
    return str(row[0])


async def test_an_always_failing_handler_backs_off_then_dead_letters_while_others_flow(
    outbox: Conn, database: str
) -> None:
    registry = Registry()
    calls: list[tuple[int, datetime, float]] = []
    fixed = {"value": False}

    @registry.handles("test.flaky")
    async def flaky(event: Event, context: HandlerContext) -> None:
        calls.append((event.attempts, event.run_after or datetime.now(UTC), time.time()))
        if not fixed["value"]:
            raise RuntimeError("the CRM is down")

    @registry.handles("test.fine")
    async def fine(event: Event, context: HandlerContext) -> None:
        return None

    broken = emit(outbox, "test.flaky", max_attempts=4)
    healthy = [emit(outbox, "test.fine") for _ in range(20)]
    async with running_engine(database, registry, backoff_base_seconds=0.5):
        await wait_until(lambda: status_of(outbox, broken) == "failed")
        assert statuses(outbox, healthy) == {"processed": 20}

        row = outbox.execute("select attempts, last_error from public.events where id = %s", (broken,)).fetchone()
        outbox.commit()
        assert row == (4, "test_engine_behaviour.flaky: RuntimeError: the CRM is down")
        assert [c[0] for c in calls] == [1, 2, 3, 4]
        # Each retry was scheduled further out than the one before (0.5 s, 1 s, 2 s, each +-25 %), counted
        # from when the failing attempt ran to the next attempt's run_after, and never ran early.
        waits = [nxt[1].timestamp() - ran[2] for ran, nxt in itertools.pairwise(calls)]
        assert waits[0] < waits[1] < waits[2]
        assert all(started >= due for _, due_at, started in calls[1:] for due in [due_at.timestamp()])

        fixed["value"] = True
        outbox.execute("select public.replay_events('failed', 'test.flaky')")
        outbox.commit()
        await wait_until(lambda: status_of(outbox, broken) == "processed")


async def test_replay_reruns_only_the_handler_that_failed(outbox: Conn, database: str) -> None:
    registry = Registry()
    runs: dict[str, int] = {"send_message": 0, "record_analytics": 0}
    analytics_fixed = {"value": False}

    @registry.handles("test.multi", name="send_message")
    async def send_message(event: Event, context: HandlerContext) -> None:
        runs["send_message"] += 1

    @registry.handles("test.multi", name="record_analytics")
    async def record_analytics(event: Event, context: HandlerContext) -> None:
        runs["record_analytics"] += 1
        if not analytics_fixed["value"]:
            raise RuntimeError("analytics table locked")

    eid = emit(outbox, "test.multi", max_attempts=2)
    async with running_engine(database, registry):
        await wait_until(lambda: status_of(outbox, eid) == "failed")
        assert runs == {"send_message": 1, "record_analytics": 2}  # the retry skipped send_message
        analytics_fixed["value"] = True
        outbox.execute("select public.replay_event(%s)", (eid,))
        outbox.commit()
        await wait_until(lambda: status_of(outbox, eid) == "processed")
    assert runs == {"send_message": 1, "record_analytics": 3}
    deliveries = {h: (st, n) for h, st, n in outbox.execute(
        "select handler, status, attempts from public.event_deliveries where event_id = %s", (eid,)).fetchall()}
    # Each delivery counts the runs it had: send_message ran once (recorded early, before record_analytics ran,
    # and not counted again when the event finished), record_analytics three times.
    assert deliveries == {"send_message": ("succeeded", 1), "record_analytics": ("succeeded", 3)}


async def test_events_of_one_ordering_key_run_one_at_a_time_in_order_keys_in_parallel(
    outbox: Conn, database: str
) -> None:
    registry = Registry()
    active: dict[str, int] = {}
    overlap_within_key = []
    seen: dict[str, list[int]] = {}
    keys_at_once: list[int] = []

    @registry.handles("test.step")
    async def step(event: Event, context: HandlerContext) -> None:
        key = str(event.ordering_key)
        active[key] = active.get(key, 0) + 1
        if active[key] > 1:
            overlap_within_key.append(key)
        keys_at_once.append(sum(1 for n in active.values() if n))
        await asyncio.sleep(0.02)
        seen.setdefault(key, []).append(int(payload_field(event, "n", int) or 0))
        active[key] -= 1

    for n in range(6):
        for key in ("lead-a", "lead-b", "lead-c"):
            emit(outbox, "test.step", {"n": n}, ordering_key=key)
    async with running_engine(database, registry, concurrency=8):
        await wait_until(lambda: statuses(outbox) == {"processed": statuses(outbox).get("processed", 0)}
                         and sum(len(v) for v in seen.values()) == 18)
    assert overlap_within_key == []
    assert seen == {k: [0, 1, 2, 3, 4, 5] for k in ("lead-a", "lead-b", "lead-c")}
    assert max(keys_at_once) > 1  # different keys did run at the same time


async def test_a_delayed_event_does_not_run_before_its_run_after(outbox: Conn, database: str) -> None:
    registry = Registry()
    started: list[float] = []

    @registry.handles("sequence.step_due")
    async def step_due(event: Event, context: HandlerContext) -> None:
        started.append(time.time())

    eid = emit(outbox, "sequence.step_due", {"enrollment_id": "e1", "step": 2}, run_after_seconds=1.5)
    row = outbox.execute("select extract(epoch from run_after) from public.events where id = %s", (eid,)).fetchone()
    outbox.commit()
    assert row is not None
    due = float(row[0])
    async with running_engine(database, registry, poll_interval=30):
        await wait_until(lambda: status_of(outbox, eid) == "processed")
    assert len(started) == 1 and started[0] >= due


async def test_retry_later_waits_the_delay_the_handler_asked_for(outbox: Conn, database: str) -> None:
    registry = Registry()
    attempts: list[float] = []

    @registry.handles("test.rate_limited")
    async def rate_limited(event: Event, context: HandlerContext) -> None:
        attempts.append(time.time())
        if len(attempts) == 1:
            raise RetryLater("provider said 429", delay_seconds=1.0)

    eid = emit(outbox, "test.rate_limited")
    async with running_engine(database, registry):
        await wait_until(lambda: status_of(outbox, eid) == "processed")
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 1.0


async def test_malformed_payload_fails_that_event_and_the_loop_goes_on(outbox: Conn, database: str) -> None:
    from salesflow.events.registry import discover

    registry = discover()  # the real analytics handlers
    bad = emit(outbox, "message.sent", {"channel": 42})
    good = emit(outbox, "message.sent", {"channel": "whatsapp", "latency_ms": 350})
    unknown = emit(outbox, "test.nobody_listens")
    async with running_engine(database, registry) as engine:
        await wait_until(lambda: statuses(outbox, [bad, good, unknown]) == {"failed": 1, "processed": 2})
        unhandled = engine.metrics.unhandled.labels("test.nobody_listens")._value.get()
    row = outbox.execute("select status, attempts, last_error from public.events where id = %s", (bad,)).fetchone()
    assert row == ("failed", 1, "analytics.message_sent_counter: message.sent payload.channel: must be str, got int")
    assert unhandled == 1
