"""The orchestrator as a service for event handlers, over the handler's own tenant-scoped data access.

The engine process attaches it (`services={"ai": make_orchestrator}`); a handler then calls
`context.service("ai")`. The runtime (providers, cooldowns, prompt cache) is built once per process from
the settings; each invocation gets an orchestrator whose store is the handler's `data.rpc`, so the same
code runs over psycopg (postgres transport) and PostgREST (Supabase transport). Nothing here knows what
an event is: anything with `data.rpc(function, args)` will do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from salesflow.ai.orchestrator import AIRuntime, Orchestrator
from salesflow.ai.ports import RpcAIStore
from salesflow.settings import settings


class _RpcData(Protocol):
    def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Awaitable[Any]: ...


class _WithData(Protocol):
    @property
    def data(self) -> _RpcData: ...


_runtime: AIRuntime | None = None


def default_runtime() -> AIRuntime:
    """The process-wide runtime: the openai SDK when OPENAI_API_KEY is set, else the local provider."""
    global _runtime
    if _runtime is None:
        cfg = settings()
        _runtime = AIRuntime.from_settings(cfg.OPENAI_API_KEY, cfg.OPENAI_BASE_URL)
    return _runtime


def make_orchestrator(context: _WithData) -> Orchestrator:
    """A service factory: an orchestrator over `context.data.rpc`, sharing the process-wide runtime."""
    return default_runtime().orchestrator(RpcAIStore(context.data.rpc))
