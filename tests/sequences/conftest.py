"""Fixtures of the sequence tests: sequences and leads in the real database, the sequence handlers in real
engines (postgres transport) with an injectable clock, and time moved by rewriting due events' run_after."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from salesflow.events import types as t
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry
from salesflow.handlers import sequences as handlers
from salesflow.transports import Transport, open_postgres
from tests.engines import FAST

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"
Conn = psycopg.Connection[Any]
WAIT = 90.0  # generous: the machine is shared and noisy; nothing here is timed


class Clock:
    """The scheduler's clock: what the handlers believe `now` is."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def seq_db(db: Conn) -> Conn:
    """The test database with the seed's events processed, so each test sees only its own."""
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    return db


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))


def create_sequence(db: Conn, steps: list[dict[str, Any]], tenant: str = ACME, **fields: Any) -> str:
    """A sequence with its steps (position 1, 2, … in the order given); returns its id."""
    row = {"name": f"Follow-up {len(steps)}", **fields}
    cols = ", ".join(["tenant_id", *row])
    marks = ", ".join(["%s"] * (len(row) + 1))
    found = db.execute(f"insert into public.sequences ({cols}) values ({marks}) returning id",
                       [tenant, *row.values()]).fetchone()
    assert found is not None
    for position, step in enumerate(steps, start=1):
        step = {"channel": "email", "template": "Hallo {{first_name}}, kurze Nachfrage.", **step}
        if step.get("kind") == "task":
            step.pop("template")
        scols = ", ".join(["tenant_id", "sequence_id", "position", *step])
        smarks = ", ".join(["%s"] * (len(step) + 3))
        db.execute(f"insert into public.sequence_steps ({scols}) values ({smarks})",
                   [tenant, found[0], position, *step.values()])
    db.commit()
    return str(found[0])


def make_leads(db: Conn, count: int, timezone: str | None = None, tenant: str = ACME, first: int = 0) -> list[str]:
    """`count` leads with an email address (the outbox sends when no email connection exists)."""
    rows = db.execute(
        "insert into public.leads (tenant_id, name, email, timezone) "
        "select %s, 'Lea ' || i || ' Muster', 'lea' || i || '@example.test', %s "
        "from generate_series(%s::int, %s::int) i returning id::text",
        (tenant, timezone, first + 1, first + count)).fetchall()
    db.execute("update public.events set status = 'processed', processed_at = now() where status = 'pending'")
    db.commit()
    return [r[0] for r in rows]


def enroll(db: Conn, sequence_id: str, leads: list[str], tenant: str = ACME) -> dict[str, Any]:
    row = db.execute("select public.enroll_leads(%s, %s::uuid[], %s)", (sequence_id, leads, tenant)).fetchone()
    db.commit()
    assert row is not None
    return dict(row[0])


def enrollments(db: Conn, sequence_id: str) -> list[dict[str, Any]]:
    rows = db.execute("select to_jsonb(e) from public.sequence_enrollments e where sequence_id = %s order by lead_id",
                      (sequence_id,)).fetchall()
    db.commit()
    return [dict(r[0]) for r in rows]


def sequence_messages(db: Conn, lead_id: str | None = None) -> list[dict[str, Any]]:
    rows = db.execute(
        "select jsonb_build_object('id', id, 'lead_id', lead_id, 'body', body, 'idempotency_key', idempotency_key, "
        "'channel', channel) from public.messages where sent_by = 'sequence' and (%s::uuid is null or lead_id = %s) "
        "order by created_at", (lead_id, lead_id)).fetchall()
    db.commit()
    return [dict(r[0]) for r in rows]


def runs(db: Conn, enrollment_id: str | None = None) -> list[dict[str, Any]]:
    rows = db.execute("select to_jsonb(r) from public.sequence_step_runs r "
                      "where %s::uuid is null or enrollment_id = %s order by position, claimed_at",
                      (enrollment_id, enrollment_id)).fetchall()
    db.commit()
    return [dict(r[0]) for r in rows]


def due_now(db: Conn) -> int:
    """Time moves to the scheduler's clock: every pending step becomes due now."""
    cur = db.execute("update public.events set run_after = now() where type = 'sequence.step_due' "
                     "and status = 'pending' and run_after > now()")
    db.commit()
    return cur.rowcount


def pending_due(db: Conn) -> int:
    row = db.execute("select count(*) from public.events where status in ('pending', 'processing') "
                     "and run_after <= now() and type in ('sequence.step_due', 'message.received', "
                     "'lead.opted_out', 'lead.status_changed')").fetchone()
    db.commit()
    assert row is not None
    return int(row[0])


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def sequence_registry() -> Registry:
    registry = Registry()
    registry.handles(t.SEQUENCE_STEP_DUE, name="sequences.run_due_step")(handlers.run_due_step)
    registry.handles(t.MESSAGE_RECEIVED, name="sequences.stop_on_reply")(handlers.stop_on_reply)
    registry.handles(t.LEAD_OPTED_OUT, name="sequences.stop_on_opt_out")(handlers.stop_on_opt_out)
    registry.handles(t.LEAD_STATUS_CHANGED, name="sequences.stop_on_close")(handlers.stop_on_close)
    registry.handles(t.MESSAGE_STATUS_CHANGED, name="sequences.stop_on_bounce")(handlers.stop_on_bounce)
    return registry


@contextlib.asynccontextmanager
async def sequences_running(url: str, clock: Clock, engines: int = 1, registry: Registry | None = None,
                            transport: Callable[[], Transport] | None = None) -> AsyncIterator[list[Engine]]:
    """`engines` engines (each its own transport, as separate listeners would be; postgres unless `transport`
    makes another) running the sequence handlers with `clock`, in this event loop."""
    transports = [transport() if transport else open_postgres(url) for _ in range(engines)]
    running = [
        Engine(tr.store, tr.data, registry or sequence_registry(),
               EngineSettings(**{**FAST, "poll_interval": 0.2, "worker": f"seq-{i}"}), wakeup=tr.wakeup,
               services={"clock": lambda _ctx: clock})
        for i, tr in enumerate(transports)
    ]
    tasks = [asyncio.create_task(e.run()) for e in running]
    try:
        yield running
    finally:
        for e in running:
            e.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        for tr in transports:
            await tr.close()


def inbound(db: Conn, lead_id: str, body: str, at: datetime, detail: dict[str, Any] | None = None,
            channel: str = "email") -> str:
    """An inbound message from the lead at `at` (its conversation started if needed)."""
    db.execute("insert into public.conversations (tenant_id, lead_id, channel) select tenant_id, id, %s "
               "from public.leads where id = %s on conflict do nothing", (channel, lead_id))
    row = db.execute(
        "insert into public.messages (tenant_id, conversation_id, direction, body, received_at, provider_message_id, "
        "provider_detail) select c.tenant_id, c.id, 'in', %s, %s, 'in-' || gen_random_uuid(), %s::jsonb "
        "from public.conversations c where c.lead_id = %s and c.channel = %s returning id",
        (body, at, json.dumps(detail) if detail else None, lead_id, channel)).fetchone()
    db.commit()
    assert row is not None
    return str(row[0])
