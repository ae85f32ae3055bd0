"""Transports: how the engine reaches the database. Each one bundles the three ports of
`salesflow.events.ports` (`EventStore`, `Wakeup`, `TenantDataFactory`) as a `Transport`.

- `postgres`: psycopg + LISTEN/NOTIFY (`salesflow.transports.postgres`), lowest latency, self-hosting.
- `supabase`: PostgREST RPC + Realtime (`salesflow.transports.supabase`, which provides
  `open_transport(settings) -> Transport`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

from salesflow.events.ports import EventStore, TenantDataFactory, Wakeup
from salesflow.settings import Settings

TransportName = Literal["postgres", "supabase"]
TRANSPORTS: tuple[TransportName, ...] = ("postgres", "supabase")


@dataclass
class Transport:
    """The ports one engine runs on."""

    name: str
    store: EventStore
    data: TenantDataFactory
    wakeup: Wakeup | None

    async def close(self) -> None:
        """Close what the engine does not close itself (the wake-up is closed by the engine)."""
        with contextlib.suppress(Exception):
            await self.store.close()
        with contextlib.suppress(Exception):
            await self.data.close()


def open_postgres(url: str, pool_size: int = 8, listen: bool = True) -> Transport:
    """The postgres transport on `url` (connections open lazily, so a database that is down at start-up
    is retried by the engine instead of failing here)."""
    from salesflow.transports.postgres import PostgresEventStore, PostgresTenantDataFactory, PostgresWakeup

    return Transport(
        name="postgres",
        store=PostgresEventStore(url),
        data=PostgresTenantDataFactory(url, pool_size=pool_size),
        wakeup=PostgresWakeup(url) if listen else None,
    )


def open_transport(name: TransportName, settings: Settings, database_url: str | None = None) -> Transport:
    """The named transport. Raises LookupError with a clear message when it cannot be used."""
    if name == "postgres":
        if not database_url:
            raise LookupError("transport postgres: needs a database URL (DATABASE_URL or --database-url)")
        return open_postgres(database_url)
    if name == "supabase":
        import importlib

        try:
            supabase = importlib.import_module("salesflow.transports.supabase")
        except ImportError as exc:
            raise LookupError(f"transport supabase: not available in this build ({exc})") from None
        transport: Transport = supabase.open_transport(settings)
        return transport
    raise LookupError(f"transport: {name!r} is not one of {', '.join(TRANSPORTS)}")
