"""The orchestrator's store over psycopg: the CLI, the bench and the postgres transport use it.

Every method is one call of a `public.ai_*` function (see `salesflow.ai.ports`), through a small pool so
concurrent calls do not queue behind one connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from salesflow.ai.errors import RequestRejected, StoreUnavailable
from salesflow.ai.ports import RpcAIStore


def adapt_argument(value: Any) -> Any:
    """A Python value as a psycopg parameter: mappings and lists travel as jsonb (as over PostgREST and
    the handlers' TenantData.rpc), so every transport calls the same function signatures."""
    if isinstance(value, Mapping):
        return Jsonb(dict(value))
    if isinstance(value, list):
        return Jsonb(value)
    return value


class PostgresRpc:
    """`rpc(function, args)` over a psycopg pool: `select public.<function>(arg => value, ...)`."""

    def __init__(self, url: str, max_size: int = 8, connect_timeout: float = 5.0) -> None:
        self._url = url
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool | None = None

    async def _open(self) -> AsyncConnectionPool:
        # A pool cannot reopen once closed: a database that was away gets a new pool on the next call.
        if self._pool is None:
            pool = AsyncConnectionPool(
                self._url,
                min_size=1,
                max_size=self._max_size,
                open=False,
                timeout=self._connect_timeout,
                kwargs={"autocommit": True, "connect_timeout": max(1, round(self._connect_timeout))},
            )
            try:
                await pool.open(wait=True, timeout=self._connect_timeout)
            except PoolTimeout as exc:
                await pool.close()
                raise StoreUnavailable(f"cannot reach the database: {exc}") from exc
            self._pool = pool
        return self._pool

    async def __call__(self, function: str, args: Mapping[str, Any]) -> Any:
        pool = await self._open()
        query = sql.SQL("select public.{}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in args),
        )
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(query, {k: adapt_argument(v) for k, v in args.items()})
                row = await cur.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"cannot reach the database: {exc}".strip()) from exc
        except psycopg.Error as exc:
            message = exc.diag.message_primary or str(exc)
            raise RequestRejected(message) from exc
        return row[0] if row else None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class PostgresAIStore(RpcAIStore):
    """An AIStore on a database URL (superuser or service-role connection)."""

    def __init__(self, url: str, max_size: int = 8, connect_timeout: float = 5.0) -> None:
        self.rpc = PostgresRpc(url, max_size=max_size, connect_timeout=connect_timeout)
        super().__init__(self.rpc)

    async def close(self) -> None:
        await self.rpc.close()
