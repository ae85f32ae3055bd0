"""The event store of the `postgres` transport: the engine's `WindowedEventStore` over psycopg (async).

Every event state change is a call of a SQL API function (supabase/migrations/*_event_engine_api.sql,
*_event_holds.sql); this module only maps rows to `Event` and back. The claim lanes and the finish loop each
have a dedicated connection; occasional calls share a small pool. A connection the server killed
(restart, `pg_terminate_backend`) fails one call, is discarded, and the next call gets a fresh one; the
engine retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from salesflow.events.ports import Backlog, Delivery, Event, EventResult
from salesflow.transports.pools import new_pool
from salesflow.transports.verdicts import EVENT_COLUMNS, delivery_items, result_items

_CLAIM = f"select {EVENT_COLUMNS} from public.claim_events(%s, %s, %s)"
_HOLD = f"select {EVENT_COLUMNS}, hold_id from public.hold_events(%s, %s, %s)"

_NO_HANDLERS: frozenset[str] = frozenset()


def _events(rows: Sequence[tuple[Any, ...]]) -> list[Event]:
    # Positional, in EVENT_COLUMNS order (the fields of Event): every claimed event is built here.
    return [
        Event(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
              frozenset(r[12]) if r[12] else _NO_HANDLERS)
        for r in rows
    ]


def _results_json(results: Sequence[EventResult]) -> bytes:
    # orjson: the verdicts of every event go through here (measured ~5 us per event with json + str(uuid)).
    return orjson.dumps(result_items(results))


def _quote(conn: psycopg.AsyncConnection[Any], text: bytes) -> bytes:
    """A string literal. With standard_conforming_strings (the default since PostgreSQL 9.1, and on
    Supabase) doubling quotes is all it takes; psycopg quotes the rest (measured: its Literal of a window's
    verdicts cost ~1 us per event)."""
    if conn.info.parameter_status("standard_conforming_strings") == b"on" and b"\0" not in text:
        return b"'" + text.replace(b"'", b"''") + b"'"
    return sql.Literal(text.decode()).as_bytes(conn)


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
    """One connection for one sequential caller (a claim lane, the finish loop): no pool checkout on the
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


class PostgresEventStore:
    """`WindowedEventStore` over psycopg: each method runs one SQL API function. `lanes` claim connections
    (lane 0 also serves the leased claim and `next_due_in`), one finish connection, and a small pool for the
    occasional calls (heartbeat, maintenance, release)."""

    lanes = 2

    def __init__(self, url: str, pool_size: int = 2) -> None:
        self.url = url
        self.pool = new_pool(url, pool_size, "salesflow-events")
        self._opened = False
        self._finishing = _DedicatedConnection(url)
        self._lanes = [_DedicatedConnection(url) for _ in range(self.lanes)]
        self._claiming = self._lanes[0]
        # The window each lane has open (hold_events' hold_id), which its settle closes.
        self._holds: list[int | None] = [None] * self.lanes

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

    async def hold(self, lane: int, worker: str, batch: int, hold_seconds: float) -> list[Event]:
        async with self._lanes[lane].use() as conn:
            rows = await (await conn.execute(_HOLD, (worker, batch, hold_seconds))).fetchall()
        self._holds[lane] = rows[0][13] if rows else None
        return _events(rows)

    async def settle(self, lane: int, worker: str, results: Sequence[EventResult], lease_ids: Sequence[UUID],
                     lease_seconds: float, backoff_base_seconds: float) -> set[UUID]:
        hold, self._holds[lane] = self._holds[lane], None
        async with self._lanes[lane].use() as conn:
            # One simple-protocol statement with the values quoted here (the verdicts of a whole window).
            leases = "{" + ",".join(str(i) for i in lease_ids) + "}"
            call = b"select public.settle_events(%b, %b, %b::jsonb, %b::uuid[], %b, %b)" % (
                _quote(conn, worker.encode()), str(int(hold or 0)).encode(), _quote(conn, _results_json(results)),
                _quote(conn, leases.encode()), repr(float(lease_seconds)).encode(),
                repr(float(backoff_base_seconds)).encode())
            row = await (await conn.execute(call)).fetchone()
        return set(row[0]) if row and row[0] else set()

    async def finish(self, worker: str, results: Sequence[EventResult], backoff_base_seconds: float) -> set[UUID]:
        async with self._finishing.use() as conn:
            row = await (
                await conn.execute(
                    "select public.finish_events(%s, %s::jsonb, %s)",
                    (worker, _results_json(results).decode(), backoff_base_seconds),
                )
            ).fetchone()
        return set(row[0]) if row and row[0] else set()

    async def record_deliveries(self, worker: str, event_id: UUID, deliveries: Sequence[Delivery]) -> None:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            await conn.execute(
                "select public.record_deliveries(%s, %s, %s::jsonb)",
                (worker, event_id, json.dumps(delivery_items(deliveries))),
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

    async def call_function(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        """One service SQL function of `public` outside the event API (the alert evaluator's), called with named
        arguments (dicts and lists as jsonb); returns its single result, as PostgREST RPC would."""
        await self.open()
        values = dict(args or {})
        call = sql.SQL("select {}.{}({})").format(
            sql.Identifier("public"), sql.Identifier(function),
            sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder()) for k in values))
        params = [Jsonb(v) if isinstance(v, dict | list) else v for v in values.values()]
        async with _connection(self.pool, self.url) as conn:
            row = await (await conn.execute(call, params)).fetchone()
        return None if row is None else row[0]

    async def prune(self, older_than_seconds: float, limit: int) -> int | None:
        await self.open()
        async with _connection(self.pool, self.url) as conn:
            row = await (await conn.execute("select public.prune_events(%s, %s)",
                                            (older_than_seconds, limit))).fetchone()
        return None if row is None or row[0] is None else int(row[0])
