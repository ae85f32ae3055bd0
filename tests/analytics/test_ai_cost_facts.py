"""What AI costs lands in the analytics: a sent message's AI cost and sequence step stay on its touchpoint
through a rebuild, and every AI usage row counts into the day's rollup by scenario."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from tests.analytics.history import Lead, Touch, new_tenant, rollups, write

Conn = psycopg.Connection[Any]


def test_a_rebuild_keeps_a_touchpoints_ai_cost_and_sequence_step(db: Conn) -> None:
    tenant = new_tenant(db)
    touch = Touch("email", "out", "autopilot", datetime(2026, 6, 2, 9, tzinfo=UTC), ai_cost=0.0125)
    lead = Lead(created_at=datetime(2026, 6, 1, tzinfo=UTC), touches=[touch])
    write(db, tenant, [lead])
    step = str(uuid.uuid4())
    db.execute("update public.analytics_touchpoints set step_id = %s where message_id = %s", (step, touch.message_id))
    db.execute("select public.analytics_rebuild(%s)", (tenant,))
    row = db.execute("select actor, ai_cost_usd, step_id::text from public.analytics_touchpoints "
                     "where message_id = %s", (touch.message_id,)).fetchone()
    assert row == ("autopilot", Decimal("0.0125"), step)
    assert [r for r in rollups(db, tenant) if r[1] == "touchpoints"] == [
        (datetime(2026, 6, 2).date(), "touchpoints", "email", "out", "autopilot", "", "", 1, Decimal("0.0125"))]


def test_ai_usage_counts_into_the_rollup_by_scenario(db: Conn) -> None:
    tenant = new_tenant(db)
    rows = [{"id": str(uuid.uuid4()), "tenant_id": tenant, "call_id": str(uuid.uuid4()), "scenario": "lead_scoring",
             "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1_000_000, "output_tokens": 0,
             "outcome": "success"} for _ in range(2)]
    db.execute("select public.ai_track_usage(%s::jsonb)", (json.dumps(rows),))
    ai = [r for r in rollups(db, tenant) if r[1] == "ai_cost"]
    assert len(ai) == 1
    assert ai[0][5] == "lead_scoring" and ai[0][7] == 2 and ai[0][8] > 0
    assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
