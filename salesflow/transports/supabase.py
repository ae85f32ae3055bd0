"""The `supabase` transport: the engine's ports over supabase-py (async) — the production path.

- Wake-up: a Realtime subscription to INSERTs on `public.events`. Realtime delivers at most once and the
  Python client has two traps (a callback that raises ends its listen task for good while
  `is_connected` stays true; after `max_retries` failed reconnects it stops trying), so the callback only
  sets an asyncio.Event, and a supervisor re-creates the whole client when its connection, listen task
  or channel is gone. Every (re)subscribe wakes the engine once: the catch-up claim picks up whatever
  was inserted while nobody listened. The engine's poll stays as the last fallback.
- Claims, completion, leases: RPC of the SQL API functions over PostgREST (service role).
- Handlers' reads and writes: PostgREST, always scoped to the event's tenant (the service role bypasses
  RLS, DESIGN.md principle 4).

`open_transport(settings)` needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (real Supabase, or the local
stack of `salesflow dev`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from postgrest import AsyncPostgrestClient
from realtime import RealtimePostgresChangesListenEvent

from salesflow.events.ports import Backlog, Delivery, Event, EventResult
from salesflow.settings import Settings
from salesflow.transports import Transport
from salesflow.transports.scoping import split_name
from salesflow.transports.supabase_data import SupabaseTenantData, SupabaseTenantDataFactory
from salesflow.transports.wakeup import SupervisedWakeup
from supabase import AsyncClient, AsyncClientOptions, acreate_client

log = logging.getLogger("salesflow.transports.supabase")

__all__ = ["SupabaseApi", "SupabaseEventStore", "SupabaseTenantData", "SupabaseTenantDataFactory", "SupabaseWakeup",
           "open_supabase", "open_transport"]

WAKEUP_CHANNEL = "salesflow-events-wakeup"


def _options(realtime_retries: int = 3) -> AsyncClientOptions:
    # Few, fast client-side reconnects: the supervisor below takes over after them, forever.
    return AsyncClientOptions(
        realtime={"max_retries": realtime_retries, "initial_backoff": 0.2, "auto_reconnect": True},
        postgrest_client_timeout=30,
    )


class SupabaseApi:
    """One service-role client for RPC and table access, created on first use."""

    def __init__(self, url: str, service_role_key: str) -> None:
        self.url = url
        self.key = service_role_key
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> AsyncClient:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await acreate_client(self.url, self.key, _options())
        return self._client

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        schema, name = split_name(function, "function")
        client = await self.client()
        postgrest: AsyncPostgrestClient = client.schema(schema) if schema != "public" else client.postgrest
        response = await postgrest.rpc(name, dict(args or {})).execute()
        return response.data

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.postgrest.aclose()
            with contextlib.suppress(Exception):
                await self._client.realtime.close()
            self._client = None


def _uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _event(row: Mapping[str, Any]) -> Event:
    return Event(
        id=UUID(str(row["id"])), tenant_id=UUID(str(row["tenant_id"])), type=row["type"],
        payload=row.get("payload") or {}, attempts=row["attempts"], max_attempts=row["max_attempts"],
        ordering_key=row.get("ordering_key"), correlation_id=_uuid(row.get("correlation_id")),
        causation_id=_uuid(row.get("causation_id")), source=row.get("source") or "db",
        created_at=_time(row.get("created_at")), run_after=_time(row.get("run_after")),
        succeeded_handlers=frozenset(row.get("succeeded_handlers") or ()),
    )


def _deliveries(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    return [{"handler": d.handler, "status": d.status, "duration_ms": d.duration_ms, "error": d.error}
            for d in deliveries]


class SupabaseEventStore:
    """`EventStore` over PostgREST RPC: each method is one call of one SQL API function."""

    def __init__(self, api: SupabaseApi) -> None:
        self.api = api

    async def claim(self, worker: str, batch: int, lease_seconds: float) -> list[Event]:
        rows = await self.api.rpc("claim_events", {"p_worker": worker, "p_batch": batch,
                                                   "p_lease_seconds": lease_seconds})
        return [_event(r) for r in rows or []]

    async def finish(self, worker: str, results: Sequence[EventResult], backoff_base_seconds: float) -> int:
        body = [{"id": str(r.event_id), "outcome": r.outcome, "error": r.error,
                 "retry_in_seconds": r.retry_in_seconds, "deliveries": _deliveries(r.deliveries)} for r in results]
        done = await self.api.rpc("finish_events", {"p_worker": worker, "p_results": body,
                                                    "p_backoff_base_seconds": backoff_base_seconds})
        return int(done or 0)

    async def record_deliveries(self, worker: str, event_id: UUID, deliveries: Sequence[Delivery]) -> None:
        await self.api.rpc("record_deliveries", {"p_worker": worker, "p_event_id": str(event_id),
                                                 "p_deliveries": _deliveries(deliveries)})

    async def extend_lease(self, worker: str, event_ids: Sequence[UUID], lease_seconds: float) -> set[UUID]:
        held = await self.api.rpc("extend_lease", {"p_worker": worker, "p_event_ids": [str(i) for i in event_ids],
                                                   "p_lease_seconds": lease_seconds})
        return {UUID(str(i)) for i in held or []}

    async def release(self, worker: str, event_ids: Sequence[UUID]) -> int:
        released = await self.api.rpc("release_events", {"p_worker": worker,
                                                         "p_event_ids": [str(i) for i in event_ids]})
        return int(released or 0)

    async def recover_expired_leases(self) -> int:
        return int(await self.api.rpc("recover_expired_leases") or 0)

    async def next_due_in(self) -> float | None:
        due = await self.api.rpc("next_event_due")
        return None if due is None else float(due)

    async def backlog(self) -> Backlog:
        rows = await self.api.rpc("event_backlog")
        row = rows[0] if isinstance(rows, list) and rows else {}
        return Backlog(int(row.get("pending") or 0), row.get("oldest_due_age_seconds"),
                       row.get("next_due_in_seconds"))

    async def close(self) -> None:
        await self.api.close()


class SupabaseWakeup(SupervisedWakeup):
    """`Wakeup` by a Realtime subscription to INSERTs on `public.events`, under a supervisor.

    The supervisor checks every `check_interval` seconds that the client is connected, its listen task is
    alive and the channel is joined; when any is lost for longer than the client's own reconnects take
    (or the listen task died), it closes the client and builds a new one, with backoff and jitter
    (0.1 s doubling to 10 s), forever.
    """

    task_name = "salesflow-realtime-supervisor"

    def __init__(self, url: str, key: str, check_interval: float = 0.5, stale_after: float = 5.0) -> None:
        super().__init__()
        self.url = url
        self.key = key
        self.check_interval = check_interval
        self.stale_after = stale_after
        self._subscribed = asyncio.Event()
        self._client: AsyncClient | None = None
        self.changes_seen = 0

    async def _run(self) -> None:
        await self._supervise()

    async def _disconnect(self) -> None:
        await self._drop_client()

    def _on_insert(self, payload: Any) -> None:
        # Runs inside the client's receive loop: it must only signal, never raise or block.
        self.changes_seen += 1
        self._woken.set()

    def _on_state(self, state: Any, error: Exception | None) -> None:
        if str(getattr(state, "value", state)) == "SUBSCRIBED":
            if self._ever_connected and not self._subscribed.is_set():
                self._reconnects += 1  # counted before the catch-up wake, so health never lags behind
            self._subscribed.set()
            self._connected = True
            self._woken.set()  # catch up on whatever was inserted while nobody listened
        else:
            self._subscribed.clear()
            if error is not None:
                self.last_error = f"{type(error).__name__}: {error}"[:500]

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.realtime.close(), 5)
            with contextlib.suppress(Exception):
                await client.postgrest.aclose()

    def _healthy(self) -> bool:
        client = self._client
        if client is None:
            return False
        realtime = client.realtime
        listen_task = getattr(realtime, "_listen_task", None)
        if listen_task is None or listen_task.done():
            return False
        return bool(realtime.is_connected) and self._subscribed.is_set()

    async def _subscribe(self) -> None:
        self._subscribed.clear()
        self._client = await acreate_client(self.url, self.key, _options())
        channel = self._client.channel(WAKEUP_CHANNEL)
        # A lambda, not the bound method, so that the callback looked up is always the current one.
        channel.on_postgres_changes(RealtimePostgresChangesListenEvent.Insert, schema="public", table="events",
                                    callback=lambda payload: self._on_insert(payload))
        await asyncio.wait_for(channel.subscribe(lambda s, e: self._on_state(s, e)), 15)
        await asyncio.wait_for(self._subscribed.wait(), 15)

    async def _supervise(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._subscribe()
                self._connected = True
                if self._ever_connected:
                    log.warning("realtime subscription re-established", extra={"reconnects": self._reconnects})
                else:
                    log.info("realtime subscription established", extra={"channel": WAKEUP_CHANNEL})
                self._ever_connected = True
                self._first_attempt.set()
                delay = 0.1
                unhealthy_since: float | None = None
                loop = asyncio.get_running_loop()
                while True:
                    await asyncio.sleep(self.check_interval)
                    if self._healthy():
                        unhealthy_since = None
                        self._connected = True
                        continue
                    self._connected = False
                    client = self._client
                    task = getattr(client.realtime, "_listen_task", None) if client else None
                    dead = client is None or task is None or task.done()
                    unhealthy_since = unhealthy_since or loop.time()
                    if dead or loop.time() - unhealthy_since > self.stale_after:
                        raise ConnectionError("realtime connection, listen task or channel lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                self._first_attempt.set()
                await self._drop_client()
                wait = delay * random.uniform(0.8, 1.2)
                log.warning("realtime subscription lost; re-creating the client",
                            extra={"error": self.last_error, "retry_in_seconds": round(wait, 3)})
                await asyncio.sleep(wait)
                delay = min(delay * 2, 10.0)


def open_supabase(url: str, service_role_key: str, listen: bool = True) -> Transport:
    """The supabase transport for an API URL and a service-role key."""
    api = SupabaseApi(url, service_role_key)
    return Transport(
        name="supabase",
        store=SupabaseEventStore(api),
        data=SupabaseTenantDataFactory(SupabaseApi(url, service_role_key)),
        wakeup=SupabaseWakeup(url, service_role_key) if listen else None,
    )


def open_transport(settings: Settings) -> Transport:
    """The supabase transport from SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY; LookupError names what is
    missing."""
    missing = [n for n in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY") if not getattr(settings, n)]
    if missing:
        raise LookupError(f"transport supabase: set {' and '.join(missing)} (e.g. from `salesflow dev status`)")
    assert settings.SUPABASE_URL and settings.SUPABASE_SERVICE_ROLE_KEY
    return open_supabase(settings.SUPABASE_URL, settings.SUPABASE_SERVICE_ROLE_KEY)
