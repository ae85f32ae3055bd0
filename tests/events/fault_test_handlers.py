"""Handlers for the engine-under-faults test (`--handlers fault_test_handlers`): each run of an event is
recorded, start and end, with the worker's pid, over a connection of the handler's own (application_name
`sf-fault-recorder`, which the test never kills), so the test can see whether two runs ever overlapped."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psycopg

from salesflow.events import Event, HandlerContext, handles, payload_field

_recorder: psycopg.AsyncConnection[Any] | None = None
_lock = asyncio.Lock()


async def _record(query: str, params: tuple[Any, ...]) -> Any:
    global _recorder
    async with _lock:
        if _recorder is None or _recorder.closed:
            _recorder = await psycopg.AsyncConnection.connect(
                os.environ["SF_FAULT_RECORDER_URL"], autocommit=True, application_name="sf-fault-recorder")
        row = await (await _recorder.execute(query, params)).fetchone()
        return row[0] if row else None


@handles("test.fault_run")
async def recorded_run(event: Event, context: HandlerContext) -> None:
    """Records its start, sleeps `seconds`, records its end."""
    run = await _record(
        "insert into public.fault_runs (event_id, ordering_key, seq, pid) "
        "select e.id, e.ordering_key, e.seq, %s from public.events e where e.id = %s returning run_id",
        (os.getpid(), event.id))
    await asyncio.sleep(payload_field(event, "seconds", float) or 0.0)
    await _record("update public.fault_runs set ended_at = clock_timestamp() where run_id = %s returning run_id",
                  (run,))
