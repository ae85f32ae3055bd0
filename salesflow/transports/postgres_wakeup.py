"""Wake-ups of the `postgres` transport: LISTEN on the channel the outbox's trigger NOTIFYs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import psycopg
from psycopg import sql

from salesflow.transports.scoping import NAME as _NAME
from salesflow.transports.wakeup import SupervisedWakeup

log = logging.getLogger("salesflow.transports.postgres")

CHANNEL = "salesflow_events"


class PostgresWakeup(SupervisedWakeup):
    """`Wakeup` by LISTEN on `salesflow_events` (the outbox's insert trigger NOTIFYs once per statement).

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
