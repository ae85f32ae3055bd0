"""What a handler receives besides its event: tenant-scoped data access, a logger, services."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from salesflow.events.errors import MalformedPayload
from salesflow.events.ports import Event, TenantData

T = TypeVar("T")

# A service factory builds one service for one handler invocation, lazily (e.g. the AI orchestrator).
ServiceFactory = Callable[["HandlerContext"], Any]


class HandlerContext:
    """The event being handled and what a handler may use while handling it.

    `data` reads and writes only the event's tenant. `logger` adds the event's id, type, tenant, attempt
    and the handler's name to every line. `services` holds factories by name (attached by the process
    that runs the engine, e.g. `{"ai": make_orchestrator}`); `service(name)` builds one on first use and
    reuses it for the rest of this invocation. `data` and `logger` are built on first use, so a handler
    that needs neither costs nothing extra.
    """

    __slots__ = ("_built", "_data", "_data_factory", "_logger", "event", "handler", "services")

    def __init__(
        self,
        event: Event,
        data: TenantData | None = None,
        logger: logging.LoggerAdapter[logging.Logger] | None = None,
        handler: str = "",
        services: Mapping[str, ServiceFactory] | None = None,
        *,
        data_factory: Callable[[UUID], TenantData] | None = None,
    ) -> None:
        if data is None and data_factory is None:
            raise ValueError("HandlerContext needs data or a data_factory")
        self.event = event
        self.handler = handler
        self.services: Mapping[str, ServiceFactory] = services or {}
        self._data = data
        self._data_factory = data_factory
        self._logger = logger
        self._built: dict[str, Any] = {}

    @property
    def data(self) -> TenantData:
        """Reads and writes scoped to the event's tenant."""
        if self._data is None:
            assert self._data_factory is not None
            self._data = self._data_factory(self.event.tenant_id)
        return self._data

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose lines carry event_id, event_type, tenant_id, attempt and handler."""
        if self._logger is None:
            fields = {
                "event_id": str(self.event.id),
                "event_type": self.event.type,
                "tenant_id": str(self.event.tenant_id),
                "attempt": self.event.attempts,
                "handler": self.handler,
            }
            self._logger = logging.LoggerAdapter(logging.getLogger(f"salesflow.handlers.{self.handler}"), fields)
        return self._logger

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
