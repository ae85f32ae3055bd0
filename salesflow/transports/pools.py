"""Connection pools of the postgres transport, made one way for the event store and for handler data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool


def new_pool(
    url: str,
    size: int,
    name: str,
    configure: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
) -> AsyncConnectionPool:
    """A closed pool of up to `size` autocommit connections to `url` (open it with `open(wait=False)`);
    `configure` runs once on every new connection."""
    # No server-side prepared statements: measured no faster here, and they break behind transaction-mode
    # poolers (PgBouncer, Supavisor) that deployments put in front of Postgres.
    return AsyncConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "prepare_threshold": None},
        open=False,
        timeout=5,
        name=name,
        configure=configure,
        # A failed background reconnect is given up at once: the engine's own retry (with backoff) asks for
        # a connection again, and the cause reaches its logs and /health instead of a pool thread.
        reconnect_timeout=0,
    )
