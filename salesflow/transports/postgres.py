"""The `postgres` transport: the engine's ports over psycopg (async), wake-ups by LISTEN/NOTIFY.

Every event state change is a call of a SQL API function (supabase/migrations/*_event_engine_api.sql);
this module only maps rows to `Event` and back. Connections come from small pools: a connection the
server killed (restart, `pg_terminate_backend`) fails one call, is discarded, and the next call gets a
fresh one; the engine retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from salesflow.events.ports import Backlog, Delivery, Event, EventResult
from salesflow.transports.pools import new_pool as _pool
from salesflow.transports.postgres_data import PostgresTenantData, PostgresTenantDataFactory
from salesflow.transports.scoping import NAME as _NAME
from salesflow.transports.wakeup import SupervisedWakeup

log = logging.getLogger("salesflow.transports.postgres")

__all__ = ["CHANNEL", "PostgresEventStore", "PostgresTenantData", "PostgresTenantDataFactory", "PostgresWakeup"]

CHANNEL = "salesflow_events"

_EVENT_COLUMNS = (
    "id, tenant_id, type, payload, attempts, max_attempts, ordering_key, correlation_id, causation_id, "
    "source, created_at, run_after, succeeded_handlers"
)
_CLAIM = f"select {_EVENT_COLUMNS} from public.claim_events(%s, %s, %s)"
_LOCK = f"select {_EVENT_COLUMNS} from public.lock_events(%s)"


_NO_HANDLERS: frozenset[str] = frozenset()


def _events(rows: Sequence[tuple[Any, ...]]) -> list[Event]:
    # Positional, in _EVENT_COLUMNS order (the fields of Event): every claimed event is built here.
    return [
        Event(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
              frozenset(r[12]) if r[12] else _NO_HANDLERS)
        for r in rows
    ]


def _deliveries_json(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    # Absent keys read as null in SQL (jsonb_to_recordset): a success sends no "error" (less JSON per event).
    out: list[dict[str, Any]] = []
    for d in deliveries:
        item: dict[str, Any] = {"handler": d.handler, "status": d.status, "duration_ms": d.duration_ms}
        if d.error is not None:
            item["error"] = d.error
        out.append(item)
    return out


def _results_json(results: Sequence[EventResult]) -> bytes:
    # orjson: the verdicts of every event go through here (measured ~5 us per event with json + str(uuid)).
    return orjson.dumps([_result_json(r) for r in results])


def _result_json(r: EventResult) -> dict[str, Any]:
    item: dict[str, Any] = {"id": r.event_id, "outcome": r.outcome}
    if r.error is not None:
        item["error"] = r.error
    if r.retry_in_seconds is not None:
        item["retry_in_seconds"] = r.retry_in_seconds
    if r.deliveries:
        item["deliveries"] = _deliveries_json(r.deliveries)
    return item


async def _why_no_connection(url: str, exc: PoolTimeout) -> Exception:
    """A pool timeout says only that no connection came; one direct attempt says why (a missing
    database, refused connections, bad credentials), which is what logs and /health should show."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=3)
    except psycopg.OperationalError as cause:
        return psycopg.OperationalError(f"cannot connect to the database: {str(cause).strip()}")
    await conn.close()
    return exc


@contextlib.asynccontextmanager
async def _connection(pool: AsyncConnectionPool, url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    try:
        async with pool.connection() as conn:
            yield conn
    except PoolTimeout as exc:
        raise await _why_no_connection(url, exc) from exc


class _DedicatedConnection:
    """One connection for one sequential caller (the claim loop, the finish loop): no pool checkout on the
    hot path (measured ~0.25 ms per call). A failed call drops the connection; the next call reconnects."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._lock:
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.url, autocommit=True, prepare_threshold=None, connect_timeout=5
                    )
                    # Every claimed event's payload is parsed here: orjson is several times faster.
                    set_json_loads(orjson.loads, self._conn)
                except psycopg.OperationalError as exc:
                    raise psycopg.OperationalError(f"cannot connect to the database: {str(exc).strip()}") from exc
            try:
                yield self._conn
            except BaseException:
                await self.drop()
                raise

    async def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


class _Window:
    """A claim window on one connection (`ClaimWindow`). The transaction is managed by hand, not by
    `conn.transaction()`: BEGIN travels with the lock query and the settle call with COMMIT (simple query
    protocol, so the values are quoted here), and a window costs two round trips."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.open = False
        self.settle_call: bytes | None = None

    async def lock(self, batch: int) -> list[Event]:
        self.open = True
        cursor = await self.conn.execute(f"begin; select {_EVENT_COLUMNS} from public.lock_events({int(batch)})")
        cursor.nextset()
        return _events(await cursor.fetchall())

    async def settle(self, worker: str, results: Sequence[EventResult], lease_ids: Sequence[UUID],
                     lease_seconds: float, backoff_base_seconds: float) -> None:
        leases = "{" + ",".join(str(i) for i in lease_ids) + "}"
        self.settle_call = b"select public.settle_events(%b, %b::jsonb, %b::uuid[], %b, %b)" % (
            self._quote(worker.encode()), self._quote(_results_json(results)), self._quote(leases.encode()),
            repr(float(lease_seconds)).encode(), repr(float(backoff_base_seconds)).encode())

    def _quote(self, text: bytes) -> bytes:
        """A string literal. With standard_conforming_strings (the default since PostgreSQL 9.1, and on
        Supabase) doubling quotes is all it takes; psycopg quotes the rest (measured: its Literal of a
        window's verdicts cost ~1 us per event)."""
        if self.conn.info.parameter_status("standard_conforming_strings") == b"on" and b"\0" not in text:
            return b"'" + text.replace(b"'", b"''") + b"'"
        return sql.Literal(text.decode()).as_bytes(self.conn)

    async def close(self) -> None:
        if self.settle_call is not None:
            await self.conn.execute(self.settle_call + b"; commit")
        elif self.open:
            await self.conn.execute("commit")


class PostgresEventStore:
    """`EventStore` over psycopg: each method runs one SQL API function. The claim loop and the finish loop
    each have a dedicated connection; occasional calls (heartbeat, maintenance, release) share a small pool.
    It can claim in windows (`WindowedEventStore`): `lanes` claim connections, each holding at most one
    open window."""

    lanes = 2

    def __init__(self, url: str, pool_size: int = 2) -> None:
        self.url = url
        self.pool = _pool(url, pool_size, "salesflow-events")
        self._opened = False
        self._claiming = _DedicatedConnection(url)
        self._finishing = _DedicatedConnection(url)
        # Lane 0 is the claim loop's own connection; the others are opened when first used.
        self._lanes = [self._claiming, *(_DedicatedConnection(url) for _ in range(self.lanes - 1))]

    async def open(self) -> None:
        if not self._opened:
            await self.pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        for lane in self._lanes:
            await lane.drop()
        await self._finishing.drop()
        if self._opened:
            await self.pool.close()
            self._opened = False

    async def claim(self, worker: str, batch: int, lease_seconds: float) -> list[Event]:
        async with self._claiming.use() as conn:
            return _events(await (await conn.execute(_CLAIM, (worker, batch, lease_seconds))).fetchall())

    @contextlib.asynccontextmanager
    async def window(self, lane: int) -> AsyncIterator[_Window]:
        """An open claim window on lane `lane`'s connection: commits on exit, rolls back on an error (a
        connection that failed is dropped; the next window reconnects)."""
        async with self._lanes[lane].use() as conn:
            window = _Window(conn)
            # An error drops the connection (use()), which rolls the transaction back on the server.
            yield window
            await window.close()

    async def finish(self, worker: str, results: Sequence[EventResult], backoff_base_seconds: float) -> int:
        async with self._finishing.use() as conn:
            row = await (
                await conn.execute(
                    "select public.finish_events(%s, %s::jsonb, %s)",
                    (worker, _results_json(results).decode(), backoff_base_seconds),
                )
            ).fetchone()
        return int(row[0]) if row else 0

    async def record_deliveries(self, worker: str, event_id: UUID, deliveries: Sequence[Delivery]) -> None:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            await conn.execute(
                "select public.record_deliveries(%s, %s, %s::jsonb)",
                (worker, event_id, json.dumps(_deliveries_json(deliveries))),
            )

    async def extend_lease(self, worker: str, event_ids: Sequence[UUID], lease_seconds: float) -> set[UUID]:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            rows = await (
                await conn.execute(
                    "select public.extend_lease(%s, %s::uuid[], %s)", (worker, list(event_ids), lease_seconds)
                )
            ).fetchall()
        return {r[0] for r in rows}

    async def release(self, worker: str, event_ids: Sequence[UUID]) -> int:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            row = await (
                await conn.execute("select public.release_events(%s, %s::uuid[])", (worker, list(event_ids)))
            ).fetchone()
        return int(row[0]) if row else 0

    async def recover_expired_leases(self) -> int:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            row = await (await conn.execute("select public.recover_expired_leases()")).fetchone()
        return int(row[0]) if row else 0

    async def next_due_in(self) -> float | None:
        # Asked by the claim loop between claims: same connection.
        async with self._claiming.use() as conn:
            row = await (await conn.execute("select public.next_event_due()")).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def backlog(self) -> Backlog:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            row = await (await conn.execute("select * from public.event_backlog()")).fetchone()
        assert row is not None
        return Backlog(int(row[0]), row[1], row[2])


class PostgresWakeup(SupervisedWakeup):
    """`Wakeup` by LISTEN on `salesflow_events` (the outbox's insert trigger NOTIFYs the event id).

    A lost connection (server restart, terminated backend, network) is re-established with exponential
    backoff and jitter (0.1 s doubling to 10 s); after every reconnect the engine is woken once, because
    notifications sent while disconnected are gone. While idle the connection is checked every
    `check_interval` seconds so a silently dead one is noticed.
    """

    task_name = "salesflow-listen"

    def __init__(self, url: str, check_interval: float = 5.0, channel: str = CHANNEL) -> None:
        if not _NAME.match(channel):
            raise ValueError(f"channel: {channel!r} is not a plain identifier")
        super().__init__()
        self.url = url
        self.channel = channel
        self.check_interval = check_interval
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _run(self) -> None:
        await self._listen_forever()

    async def _disconnect(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                await self._conn.execute(sql.SQL("listen {}").format(sql.Identifier(self.channel)))
                self._connected = True
                if self._ever_connected:
                    self._reconnects += 1
                    log.warning("LISTEN re-established", extra={"channel": self.channel,
                                                               "reconnects": self._reconnects})
                else:
                    log.info("LISTEN established", extra={"channel": self.channel})
                self._ever_connected = True
                self._first_attempt.set()
                self._woken.set()  # catch up on what was published while we were not listening
                delay = 0.1
                while True:
                    async for _ in self._conn.notifies(timeout=self.check_interval):
                        self._woken.set()
                    await self._conn.execute("select 1")  # idle: prove the connection is alive
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                self._first_attempt.set()
                if self._conn is not None:
                    with contextlib.suppress(Exception):  # already broken; closing is best effort
                        await self._conn.close()
                    self._conn = None
                wait = delay * random.uniform(0.8, 1.2)
                log.warning("LISTEN connection lost; reconnecting", extra={"error": self.last_error,
                                                                          "retry_in_seconds": round(wait, 3)})
                await asyncio.sleep(wait)
                delay = min(delay * 2, 10.0)
