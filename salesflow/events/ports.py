"""The ports the event engine depends on, and nothing else: no driver, no transport.

Two transports implement them: `salesflow.transports.postgres` (psycopg, LISTEN/NOTIFY) and
`salesflow.transports.supabase` (PostgREST RPC, Realtime). Every state transition of an event happens
inside the SQL API functions (`public.claim_events`, `public.finish_events`, ...), so an implementation
only calls those functions and maps rows to `Event`; it never decides what a status becomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID

Outcome = Literal["processed", "retry", "failed"]
DeliveryStatus = Literal["succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Event:
    """One claimed event, as `public.claim_events` returns it.

    `attempts` already counts the current attempt. `succeeded_handlers` names the handlers whose delivery
    succeeded on an earlier attempt: the engine skips them (DESIGN.md, principle 3).
    """

    id: UUID
    tenant_id: UUID
    type: str
    payload: Mapping[str, Any]
    attempts: int = 1
    max_attempts: int = 5
    ordering_key: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    source: str = "db"
    created_at: datetime | None = None
    run_after: datetime | None = None
    succeeded_handlers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one handler did with one event (a row of `event_deliveries`)."""

    handler: str
    status: DeliveryStatus
    duration_ms: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class EventResult:
    """The engine's verdict on one claimed event, handed to `EventStore.finish`.

    outcome `processed`: every handler succeeded (or none exists). `retry`: run again after
    `retry_in_seconds`, or after the SQL backoff (exponential with jitter) when it is None; the SQL moves
    the event to `failed` instead once `max_attempts` is reached. `failed`: dead letter now.
    """

    event_id: UUID
    outcome: Outcome
    deliveries: Sequence[Delivery] = field(default_factory=tuple)
    error: str | None = None
    retry_in_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is waiting, for metrics and the idle loop."""

    pending: int
    oldest_due_age_seconds: float | None  # age of the oldest due pending event (the lag)
    next_due_in_seconds: float | None  # when the next not-yet-due event becomes due


@runtime_checkable
class EventStore(Protocol):
    """The outbox, through the SQL API. Every method is one call of one SQL function."""

    async def claim(self, worker: str, batch: int, lease_seconds: float) -> list[Event]:
        """Lease up to `batch` due pending events (never two of one ordering_key in flight)."""
        ...

    async def finish(self, worker: str, results: Sequence[EventResult], backoff_base_seconds: float) -> set[UUID]:
        """Record deliveries and move events to processed / pending (retry) / failed, for events `worker`
        leased or holds. Returns the ids it could not finish: events no longer the worker's (the lease or hold
        expired and was recovered elsewhere, or the event was finished already)."""
        ...

    async def record_deliveries(self, worker: str, event_id: UUID, deliveries: Sequence[Delivery]) -> None:
        """Record handler deliveries before the event finishes, so a crash does not repeat a handler
        that succeeded (used when an event has several handlers)."""
        ...

    async def extend_lease(self, worker: str, event_ids: Sequence[UUID], lease_seconds: float) -> set[UUID]:
        """Push the lease (or hold) of events still `worker`'s; returns the ids still its own."""
        ...

    async def release(self, worker: str, event_ids: Sequence[UUID]) -> int:
        """Give leased or held events back (pending, the attempt not charged): graceful shutdown."""
        ...

    async def recover_expired_leases(self) -> int:
        """Return events whose lease expired (a crashed worker) to pending; returns how many."""
        ...

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest not-yet-due pending event is due; None when there is none."""
        ...

    async def backlog(self) -> Backlog:
        """Pending count, lag of the oldest due event, time until the next delayed one is due."""
        ...

    async def prune(self, older_than_seconds: float, limit: int) -> int | None:
        """Delete up to `limit` processed events (and their deliveries) older than `older_than_seconds`;
        returns how many, or None when another worker is pruning right now."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class WindowedEventStore(EventStore, Protocol):
    """An `EventStore` that can also claim in windows (supabase/migrations/*_event_holds.sql): `hold` takes
    due events for the worker (committed before any handler runs, so a lost connection does not free them),
    `settle` finishes those whose handlers are done and leases those still running, in one transaction.
    `lane` picks one of its claim connections, so two lanes' calls do not queue behind each other."""

    lanes: int

    async def hold(self, lane: int, worker: str, batch: int, hold_seconds: float) -> list[Event]:
        """Hold up to `batch` due events for `worker` (`attempts` is the attempt about to run)."""
        ...

    async def settle(
        self,
        lane: int,
        worker: str,
        results: Sequence[EventResult],
        lease_ids: Sequence[UUID],
        lease_seconds: float,
        backoff_base_seconds: float,
    ) -> set[UUID]:
        """Finish `results` and lease `lease_ids` of the events `worker` holds; returns the ids of both that
        it could not settle because the worker no longer holds them."""
        ...


@runtime_checkable
class Wakeup(Protocol):
    """Tells the engine that events may be waiting (NOTIFY, Realtime). Only a hint: the engine also polls."""

    async def start(self) -> None:
        """Begin listening; returns once the first attempt to connect finished (successfully or not)."""
        ...

    async def wait(self, timeout: float) -> bool:
        """Wait for a wake-up, at most `timeout` seconds. True when woken, False on timeout."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the wake-up channel is currently established (health)."""
        ...

    @property
    def reconnects(self) -> int:
        """How many times the channel was re-established after a loss."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class TenantData(Protocol):
    """Reads and writes for handlers, scoped to one tenant (the event's).

    Tables are named `table` (schema public) or `schema.table`. Rows are JSON-like dicts; values are cast
    by the database to the column types, as PostgREST does. Every transport runs these calls as
    `service_role` (its grants, and the claims PostgREST sets for the service-role key). Because that role
    bypasses RLS, the implementation sets `tenant_id` on every inserted row (a row naming another tenant is
    refused), adds `tenant_id = <tenant>` to every filter, and refuses an rpc argument `p_tenant_id` or
    `tenant_id` naming another tenant (DESIGN.md, principle 4). What the grants or the database refuse
    (SQLSTATE 42501), such as an upsert whose key matches another tenant's row, raises PermissionError.
    """

    @property
    def tenant_id(self) -> UUID: ...

    async def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        on_conflict: str | Sequence[str] | None = None,
        ignore_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        """Insert rows; with `on_conflict` and `ignore_duplicates`, rows that conflict are skipped (and
        not returned); with `on_conflict` alone they are merged (upsert)."""
        ...

    async def upsert(
        self, table: str, rows: Sequence[Mapping[str, Any]], on_conflict: str | Sequence[str]
    ) -> list[dict[str, Any]]:
        """Insert or update on the conflict target; returns the resulting rows."""
        ...

    async def select(
        self,
        table: str,
        filters: Mapping[str, Any] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of the tenant whose columns equal `filters` (None means IS NULL)."""
        ...

    async def update(
        self, table: str, values: Mapping[str, Any], match: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Set `values` on the tenant's rows matching `match` (equality); returns the changed rows."""
        ...

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> Any:
        """Call a SQL function with named arguments; returns its JSON-decoded result."""
        ...


@runtime_checkable
class TenantDataFactory(Protocol):
    """Hands out `TenantData` for a tenant (the engine makes one per event)."""

    def for_tenant(self, tenant_id: UUID) -> TenantData: ...

    async def close(self) -> None: ...
