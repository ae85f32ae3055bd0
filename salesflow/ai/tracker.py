"""The usage tracker: one `ai_usage` row per call attempt, written by group commit.

Concurrent calls queue their rows; whoever fills a batch of `eager_batch` rows sends it at once, from its
own task, so the database inserts one batch while the next calls still compute; a flusher task sends
whatever is left (a lone call's row goes out on the next loop turn). So the tracker's write never
serialises concurrent calls: a hundred calls finishing together cost a handful of statements, not a
hundred round trips, and those overlap with the calls' own work.
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

    def __init__(
        self, store: AIStore, max_batch: int = 100, parallel_writes: int = 4, eager_batch: int = 20
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._eager_batch = max(1, min(eager_batch, max_batch))
        self._parallel_writes = parallel_writes
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
        if len(self._waiting) >= self._eager_batch:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            await self._write(batch)
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        if len(futures) == 1:
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    async def _flush(self) -> None:
        # Everything waiting goes out now, in batches of `max_batch` written side by side (up to
        # `parallel_writes` connections), so a large burst is not one long statement.
        while self._waiting:
            batches: list[list[tuple[Mapping[str, Any], asyncio.Future[Mapping[str, Any]]]]] = []
            while self._waiting and len(batches) < self._parallel_writes:
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                batches.append(batch)
            await asyncio.gather(*(self._write(batch) for batch in batches))

    async def _write(self, batch: list[tuple[Mapping[str, Any], asyncio.Future[Mapping[str, Any]]]]) -> None:
        try:
            written = await self._store.track_usage([row for row, _ in batch])
        except Exception as exc:  # every waiter learns why its rows were not written
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
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
