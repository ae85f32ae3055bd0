"""Handlers loaded into listener subprocesses by the tests (`--handlers listener_test_handlers`)."""

from __future__ import annotations

import asyncio

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
