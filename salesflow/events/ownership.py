"""What one worker owns: the events it claimed (leased or held) and has not finished yet.

For each, the moment (monotonic) by which its lease or hold runs out unless the heartbeat renews it; which of
them have an ordering key (finishing one may free the key's next event); which are in a finish call right now
(a heartbeat that raced the finish does not call them lost); and which verdicts were sent again after a
settle of unknown outcome (the store may answer that it finished them already, which is no loss).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from uuid import UUID

from salesflow.events.ports import Event


class Ownership:
    """The engine's book of owned events (see the module docstring)."""

    __slots__ = ("_finishing", "_keyed", "_resent", "_until")

    def __init__(self) -> None:
        self._until: dict[UUID, float] = {}
        self._keyed: set[UUID] = set()
        self._finishing: set[UUID] = set()
        self._resent: set[UUID] = set()

    def __len__(self) -> int:
        return len(self._until)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._until

    def take(self, event: Event, until: float) -> None:
        """A claimed event, its lease or hold good until `until`."""
        self._until[event.id] = until
        if event.ordering_key is not None:
            self._keyed.add(event.id)

    def renew(self, event_id: UUID, until: float) -> None:
        """The store confirmed the lease (or hold) until `until`; ignored for events no longer owned."""
        if event_id in self._until:
            self._until[event_id] = until

    def drop(self, event_ids: Iterable[UUID]) -> bool:
        """No longer owned (finished, lost, released); True when one of them had an ordering key."""
        keyed = False
        for event_id in event_ids:
            self._until.pop(event_id, None)
            self._resent.discard(event_id)
            if event_id in self._keyed:
                self._keyed.discard(event_id)
                keyed = True
        return keyed

    def expiring_before(self, limit: float) -> list[UUID]:
        return [event_id for event_id, until in self._until.items() if until < limit]

    def earliest(self) -> float | None:
        return min(self._until.values(), default=None)

    def to_extend(self) -> list[UUID]:
        """What the heartbeat extends: everything owned (a finish that keeps failing needs its leases too)."""
        return list(self._until)

    def finishing_now(self, event_id: UUID) -> bool:
        return event_id in self._finishing

    @contextlib.contextmanager
    def finishing(self, event_ids: Iterable[UUID]) -> Iterator[None]:
        ids = set(event_ids)
        self._finishing |= ids
        try:
            yield
        finally:
            self._finishing -= ids

    def resent(self, event_id: UUID) -> None:
        self._resent.add(event_id)

    def was_resent(self, event_id: UUID) -> bool:
        return event_id in self._resent
