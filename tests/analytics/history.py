"""Synthetic lead histories for the analytics tests: written to the real tables (leads, conversations,
messages) and as facts through public.analytics_record, and kept as plain Python for the reference
computation in tests/analytics/reference.py."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

SENT_BY = {"human": "user", "sequence": "sequence", "autopilot": "autopilot"}


@dataclass
class Touch:
    channel: str
    direction: str  # in | out
    actor: str  # lead | human | sequence | autopilot
    at: datetime
    ai_cost: float = 0.0
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class Lead:
    created_at: datetime
    source_channel: str = "web"
    source: str | None = None
    owner: str | None = None
    touches: list[Touch] = field(default_factory=list)
    # pipeline stages entered (lead_qualified, first_contact, proposal_sent, negotiation, lost) and when
    stages: list[tuple[str, datetime]] = field(default_factory=list)
    meetings: list[tuple[datetime, datetime | None]] = field(default_factory=list)  # (booked_at, held_at)
    won: tuple[datetime, float, str] | None = None  # (at, value, currency)
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def new_tenant(conn: psycopg.Connection[Any], timezone: str | None = None) -> str:
    """A tenant of its own, so the seed's leads never mix into a hand-computed fixture."""
    tenant = str(uuid.uuid4())
    settings = {"timezone": timezone} if timezone else {}
    conn.execute("insert into public.tenants (id, name, settings) values (%s, %s, %s::jsonb)",
                 (tenant, f"analytics {tenant[:8]}", json.dumps(settings)))
    return tenant


def write(conn: psycopg.Connection[Any], tenant: str, leads: list[Lead], messages: bool = True) -> None:
    """Insert the leads, their messages (when `messages`) and all their facts."""
    for lead in leads:
        conn.execute(
            "insert into public.leads (id, tenant_id, owner_id, name, source, source_channel, created_at) "
            "values (%s, %s, %s, %s, %s, %s, %s)",
            (lead.id, tenant, lead.owner, f"Lead {str(lead.id)[:8]}", lead.source, lead.source_channel,
             lead.created_at),
        )
        if messages:
            for channel in sorted({t.channel for t in lead.touches}):
                conn.execute("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, %s)",
                             (tenant, lead.id, channel))
            for touch in lead.touches:
                if touch.direction == "in":
                    conn.execute(
                        "insert into public.messages (id, tenant_id, conversation_id, direction, body, received_at) "
                        "select %s, %s, c.id, 'in', 'hello', %s from public.conversations c "
                        "where c.lead_id = %s and c.channel = %s",
                        (touch.message_id, tenant, touch.at, lead.id, touch.channel))
                else:
                    key = None
                    if touch.actor == "autopilot":
                        # The database sends an autopilot message only for a live action it names.
                        action = uuid.uuid5(touch.message_id, "autopilot")
                        key = f"autopilot:{action}"
                        conn.execute(
                            "insert into public.autopilot_actions (id, tenant_id, lead_id, conversation_id, channel, "
                            "mode, scenario, draft, status, expires_at) "
                            "select %s, %s, %s, c.id, c.channel, 'auto', 'reply_suggestion', 'hi', 'approved', "
                            "now() + interval '1 day' from public.conversations c "
                            "where c.lead_id = %s and c.channel = %s",
                            (action, tenant, lead.id, lead.id, touch.channel))
                    conn.execute(
                        "insert into public.messages (id, tenant_id, conversation_id, direction, body, status, "
                        "sent_by, queued_at, sent_at, idempotency_key) "
                        "select %s, %s, c.id, 'out', 'hi', 'sent', %s, %s, %s, %s from public.conversations c "
                        "where c.lead_id = %s and c.channel = %s",
                        (touch.message_id, tenant, SENT_BY[touch.actor], touch.at, touch.at, key, lead.id,
                         touch.channel))
    record(conn, tenant, leads)


def facts(leads: list[Lead]) -> dict[str, list[dict[str, Any]]]:
    """The facts of `leads` as analytics_record takes them."""
    out: dict[str, list[dict[str, Any]]] = {"touchpoints": [], "stage_entries": [], "meetings": [],
                                            "deal_outcomes": []}
    for lead in leads:
        lead_id = str(lead.id)
        out["stage_entries"].append({"lead_id": lead_id, "stage": "lead_created", "handler": "test"})
        for stage, at in lead.stages:
            out["stage_entries"].append({"lead_id": lead_id, "stage": stage, "entered_at": at.isoformat(),
                                         "handler": "test"})
        for t in lead.touches:
            out["touchpoints"].append({"lead_id": lead_id, "message_id": str(t.message_id), "channel": t.channel,
                                       "direction": t.direction, "actor": t.actor, "ai_cost_usd": t.ai_cost,
                                       "occurred_at": t.at.isoformat(), "handler": "test"})
        for booked, held in lead.meetings:
            out["meetings"].append({"id": str(uuid.uuid5(lead.id, booked.isoformat())), "lead_id": lead_id,
                                    "starts_at": (held or booked).isoformat(), "booked_at": booked.isoformat(),
                                    "held_at": held.isoformat() if held else None, "handler": "test"})
        if lead.won:
            at, value, currency = lead.won
            out["stage_entries"].append({"lead_id": lead_id, "stage": "deal_closed_won", "entered_at": at.isoformat(),
                                         "handler": "test"})
            out["deal_outcomes"].append({"lead_id": lead_id, "outcome": "won", "value": value, "currency": currency,
                                         "closed_at": at.isoformat(), "handler": "test"})
    return out


def record(conn: psycopg.Connection[Any], tenant: str, leads: list[Lead],
           only: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, int]:
    """Write facts through public.analytics_record (the handlers' way); returns how many were new."""
    given = only if only is not None else facts(leads)
    row = conn.execute(
        "select public.analytics_record(%s, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb)",
        (tenant, *(json.dumps(given.get(k, [])) for k in ("touchpoints", "stage_entries", "meetings",
                                                          "deal_outcomes"))),
    ).fetchone()
    assert row is not None
    return dict(row[0])


def rollups(conn: psycopg.Connection[Any], tenant: str, recomputed: bool = False) -> list[tuple[Any, ...]]:
    """The tenant's rollup rows (or a fresh group-by over its facts), sorted, amounts as Decimal."""
    source = ("private.analytics_rollups_recomputed(%s)" if recomputed
              else "public.analytics_daily_rollups where tenant_id = %s")
    rows = conn.execute(
        f"select day, metric, channel, direction, actor, dimension, currency, count, amount from {source}",
        (tenant,),
    ).fetchall()
    return sorted((*r[:8], Decimal(r[8]).normalize()) for r in rows)
