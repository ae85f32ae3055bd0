"""The service-role client of the `supabase` transport, shared by its event store and handlers' data access."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from postgrest import AsyncPostgrestClient

from salesflow.transports.scoping import split_name
from supabase import AsyncClient, AsyncClientOptions, acreate_client


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
