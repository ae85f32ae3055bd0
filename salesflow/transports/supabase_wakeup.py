"""Wake-ups of the `supabase` transport: a Realtime subscription to INSERTs on `public.events`, supervised.

Realtime delivers at most once and the Python client has two traps (a callback that raises ends its listen
task for good while `is_connected` stays true; after `max_retries` failed reconnects it stops trying), so the
callback only sets an asyncio.Event, and a supervisor re-creates the whole client when its connection, listen
task or channel is gone. Every (re)subscribe wakes the engine once: the catch-up claim picks up whatever was
inserted while nobody listened. The engine's poll stays as the last fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from realtime import RealtimePostgresChangesListenEvent

from salesflow.transports.supabase_api import _options
from salesflow.transports.wakeup import SupervisedWakeup
from supabase import AsyncClient, acreate_client

log = logging.getLogger("salesflow.transports.supabase")

WAKEUP_CHANNEL = "salesflow-events-wakeup"


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
