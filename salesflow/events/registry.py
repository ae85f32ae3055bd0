"""Handlers by event type: the `@handles("lead.created")` decorator and discovery of handler modules."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from salesflow.events.context import HandlerContext
from salesflow.events.ports import Event
from salesflow.events.types import TYPE_NAME

HandlerFunction = Callable[[Event, HandlerContext], Awaitable[None]]

HANDLERS_PACKAGE = "salesflow.handlers"


@dataclass(frozen=True)
class Handler:
    """A registered handler. `name` is what `event_deliveries.handler` records, so it must stay stable."""

    name: str
    event_type: str
    run: HandlerFunction


class Registry:
    """Event type → handlers, in registration order (the order they run in for one event)."""

    def __init__(self) -> None:
        self._by_type: dict[str, list[Handler]] = {}

    def handles(
        self, *event_types: str, name: str | None = None
    ) -> Callable[[HandlerFunction], HandlerFunction]:
        """Register the decorated `async def handler(event, context)` for these event types.

        The delivery name defaults to `<module>.<function>` with the `salesflow.handlers.` prefix removed.
        """
        if not event_types:
            raise ValueError("@handles needs at least one event type, e.g. @handles('lead.created')")
        for t in event_types:
            if not TYPE_NAME.match(t):
                raise ValueError(
                    f"@handles({t!r}): event types are dotted lower-case names like 'lead.created'"
                )

        def register(fn: HandlerFunction) -> HandlerFunction:
            module = fn.__module__.removeprefix(HANDLERS_PACKAGE + ".")
            handler_name = name or f"{module}.{fn.__name__}"
            for t in event_types:
                existing = self._by_type.setdefault(t, [])
                if any(h.name == handler_name for h in existing):
                    raise ValueError(f"handler {handler_name!r} is registered twice for {t!r}")
                existing.append(Handler(handler_name, t, fn))
            return fn

        return register

    def handlers_for(self, event_type: str) -> list[Handler]:
        return self._by_type.get(event_type, [])

    def event_types(self) -> list[str]:
        return sorted(self._by_type)

    def all(self) -> list[Handler]:
        return [h for t in sorted(self._by_type) for h in self._by_type[t]]


registry = Registry()
"""The process-wide registry that `salesflow.handlers` modules register into."""

handles = registry.handles


def discover(packages: Iterable[str] = (HANDLERS_PACKAGE,)) -> Registry:
    """Import every module of each package (or the module itself), so their `@handles` run.

    Returns the process-wide registry. Importing twice is harmless (Python caches modules).
    """
    for package_name in packages:
        package = importlib.import_module(package_name)
        paths = getattr(package, "__path__", None)
        if paths is None:
            continue
        for info in pkgutil.walk_packages(paths, prefix=package_name + "."):
            importlib.import_module(info.name)
    return registry
