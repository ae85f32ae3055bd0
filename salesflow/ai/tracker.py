"""The usage tracker: one `ai_usage` row per call attempt, written by group commit.

Concurrent calls hand their rows to one flusher, which writes everything waiting in one
`public.ai_track_usage` call while the next batch gathers. So the tracker's write never serialises
concurrent calls: a hundred calls finishing together cost one or two round trips, not a hundred.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from salesflow.ai.ports import AIStore


class UsageTracker:
    """Writes usage rows through an AIStore; `record` returns `{id, cost_usd}` per row once written.

    Every row carries its own `id` (the orchestrator makes them), which is how results find their rows.
    """

    def __init__(self, store: AIStore, max_batch: int = 500) -> None:
        self._store = store
        self._max_batch = max_batch
        self._waiting: list[tuple[Mapping[str, Any], asyncio.Future[Mapping[str, Any]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Queue rows for the next batch and wait until they are written (errors are re-raised)."""
        if not rows:
            return []
        loop = asyncio.get_running_loop()
        futures = []
        for row in rows:
            future: asyncio.Future[Mapping[str, Any]] = loop.create_future()
            self._waiting.append((row, future))
            futures.append(future)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return list(await asyncio.gather(*futures))

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            try:
                written = await self._store.track_usage([row for row, _ in batch])
            except BaseException as exc:  # every waiter learns why its rows were not written
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            by_id = {str(result["id"]): result for result in written}
            for row, future in batch:
                if future.done():
                    continue
                result = by_id.get(str(row["id"]))
                if result is None:
                    future.set_exception(RuntimeError(f"usage row {row['id']} was not written"))
                else:
                    future.set_result(result)

    async def drain(self) -> None:
        """Wait until everything queued so far is written."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
