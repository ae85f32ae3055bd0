"""What a handler receives besides its event: tenant-scoped data access, a logger, services."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from salesflow.events.errors import MalformedPayload
from salesflow.events.ports import Event, TenantData

T = TypeVar("T")

# A service factory builds one service for one handler invocation, lazily (e.g. the AI orchestrator).
ServiceFactory = Callable[["HandlerContext"], Any]


@dataclass
class HandlerContext:
    """The event being handled and what a handler may use while handling it.

    `data` reads and writes only the event's tenant. `services` holds factories by name (attached by the
    process that runs the engine, e.g. `{"ai": make_orchestrator}`); `service(name)` builds one on first
    use and reuses it for the rest of this invocation.
    """

    event: Event
    data: TenantData
    logger: logging.LoggerAdapter[logging.Logger]
    handler: str
    services: Mapping[str, ServiceFactory] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tenant_id(self) -> UUID:
        return self.event.tenant_id

    @property
    def attempt(self) -> int:
        """1 on the first run, 2 on the first retry, ..."""
        return self.event.attempts

    def service(self, name: str) -> Any:
        """The service registered under `name`, built on first use."""
        if name not in self._built:
            if name not in self.services:
                known = ", ".join(sorted(self.services)) or "none"
                raise LookupError(f"no service {name!r} is attached to the engine (attached: {known})")
            self._built[name] = self.services[name](self)
        return self._built[name]

    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        ordering_key: str | None = None,
        run_after_seconds: float | None = None,
    ) -> UUID:
        """Publish a follow-up event for the same tenant, caused by (and correlated with) this one."""
        new_id = await self.data.rpc(
            "publish_event",
            {
                "p_tenant_id": str(self.tenant_id),
                "p_type": event_type,
                "p_payload": dict(payload),
                "p_ordering_key": ordering_key,
                "p_run_after_seconds": run_after_seconds,
                "p_correlation_id": str(self.event.correlation_id or self.event.id),
                "p_causation_id": str(self.event.id),
                "p_source": "handler",
            },
        )
        return UUID(str(new_id))


def payload_field(event: Event, name: str, kind: type[T], required: bool = True) -> T | None:
    """`event.payload[name]` checked against `kind`; a missing or mistyped field is a MalformedPayload.

    Numbers: an int is accepted where a float is asked for. A bool is never accepted as a number.
    """
    if name not in event.payload or event.payload[name] is None:
        if required:
            raise MalformedPayload(event.type, name, "is required")
        return None
    value = event.payload[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if isinstance(value, bool) and kind is not bool:
        raise MalformedPayload(event.type, name, f"must be {kind.__name__}, got a boolean")
    if not isinstance(value, kind):
        raise MalformedPayload(event.type, name, f"must be {kind.__name__}, got {type(value).__name__}")
    return value
