"""Handlers loaded into listener subprocesses by the tests (`--handlers listener_test_handlers`)."""

from __future__ import annotations

import asyncio
import uuid

from salesflow.events import Event, HandlerContext, handles, payload_field


@handles("test.slow")
async def slow_touchpoint(event: Event, context: HandlerContext) -> None:
    """Sleeps `seconds`, then writes its analytics row: a handler that is in flight for a while."""
    await asyncio.sleep(payload_field(event, "seconds", float) or 0.0)
    await context.data.insert(
        "analytics_events",
        [{"event_id": str(event.id), "handler": context.handler, "type": "test.slow"}],
        on_conflict="event_id,handler",
        ignore_duplicates=True,
    )


@handles("test.two_steps", name="test.send_message")
async def send_message(event: Event, context: HandlerContext) -> None:
    """Stands for a side effect that must not repeat (an AI call, a sent message): each run leaves a row,
    deliberately without idempotency, so the test can count runs."""
    await context.data.insert(
        "analytics_events",
        # A fresh event_id per run defeats the (event_id, handler) key on purpose.
        [{"event_id": str(uuid.uuid4()), "handler": f"send_message run {event.attempts}", "type": "test.run"}],
    )


@handles("test.two_steps", name="test.slow_followup")
async def slow_followup(event: Event, context: HandlerContext) -> None:
    """Hangs on the first attempt (the listener is killed meanwhile), returns at once afterwards."""
    if event.attempts == 1:
        await asyncio.sleep(60)
