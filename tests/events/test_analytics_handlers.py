"""The four analytics handlers write one row per event, whatever the number of deliveries, and members
read only their own tenant's rows."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from engine_helpers import ACME, NORDLICHT, emit, running_engine, statuses, wait_until

from salesflow.events.registry import discover

Conn = psycopg.Connection[Any]


async def test_each_promised_handler_writes_its_fact_once(db: Conn, database: str) -> None:
    lead = str(uuid.uuid4())
    ids = [
        emit(db, "lead.created", {"lead_id": lead, "source": "instagram_dm", "source_channel": "instagram"}),
        emit(db, "message.sent", {"lead_id": lead, "channel": "whatsapp", "latency_ms": 840}),
        emit(db, "sequence.step_executed", {"lead_id": lead, "enrollment_id": "enr-1", "step": 2,
                                            "channel": "email", "ai_personalized": True}),
        emit(db, "autopilot.action_executed", {"lead_id": lead, "action": "send_followup", "channel": "sms",
                                               "cost_usd": 0.0042}, tenant=NORDLICHT),
    ]
    async with running_engine(database, discover()):
        await wait_until(lambda: statuses(db, ids) == {"processed": 4})
    # Replaying every handler must not double-count.
    db.execute("select public.replay_events('processed', null, null, true)")
    db.commit()
    async with running_engine(database, discover()):
        await wait_until(lambda: statuses(db) == {"processed": statuses(db).get("processed", 0)})
    rows = db.execute(
        "select type, tenant_id::text, lead_id::text, channel, funnel_stage, value, properties "
        "from public.analytics_events where event_id = any(%s::uuid[]) order by type", (ids,)
    ).fetchall()
    assert rows == [
        ("message.sent", ACME, lead, "whatsapp", None, 840.0,
         {"conversation_id": None, "message_id": None}),
        ("touchpoint.ai_assisted", NORDLICHT, lead, "sms", None, 0.0042, {"action": "send_followup"}),
        ("touchpoint.lead_source", ACME, lead, "instagram", "lead_created", None, {"source": "instagram_dm"}),
        ("touchpoint.sequence", ACME, lead, "email", None, None,
         {"enrollment_id": "enr-1", "step": 2, "ai_personalized": True}),
    ]


def test_members_read_only_their_tenants_analytics(db: Conn, as_claims: Any) -> None:
    for tenant in (ACME, NORDLICHT):
        db.execute("insert into public.analytics_events (tenant_id, event_id, handler, type) "
                   "values (%s, gen_random_uuid(), 'h', 'message.sent')", (tenant,))
    db.commit()
    anna = {"sub": "a0000000-0000-4000-8000-000000000001", "role": "authenticated", "tenant_id": ACME}
    seen = as_claims(anna).execute("select tenant_id::text from public.analytics_events").fetchall()
    assert seen == [(ACME,)]
    db.rollback()
    anon = as_claims({"role": "anon"})
    try:
        anon.execute("select count(*) from public.analytics_events")
        raise AssertionError("anon must not read analytics")
    except psycopg.errors.InsufficientPrivilege:
        db.rollback()
    member = as_claims(anna)
    try:
        member.execute("insert into public.analytics_events (event_id, handler, type) "
                       "values (gen_random_uuid(), 'h', 'forged')")
        raise AssertionError("members must not write analytics")
    except psycopg.errors.InsufficientPrivilege:
        db.rollback()
