"""Run an event engine in-process on any transport, for tests of either transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry
from salesflow.transports import Transport

# Short leases and backoff so retries and recoveries happen within a test's time.
FAST: Mapping[str, Any] = {"lease_seconds": 10, "backoff_base_seconds": 0.05, "maintenance_interval": 0.5}


@contextlib.asynccontextmanager
async def engine_running(transport: Transport, registry: Registry, **settings: Any) -> AsyncIterator[Engine]:
    """An engine on `transport`, running in this event loop; stopped gracefully and closed on exit."""
    engine = Engine(transport.store, transport.data, registry, EngineSettings(**{**FAST, **settings}),
                    wakeup=transport.wakeup)
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        engine.stop()
        await asyncio.wait_for(task, 30)
        await transport.close()
