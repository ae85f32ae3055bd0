"""The autopilot's context stays cheap: the lead's time zone is checked without reading the whole time zone
database (with the same answers as before), and "has the lead had an outbound message" and the tenant's
auto-sent count of the last 24 h are answered from indexes, not by walking messages."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import ACME
from tests.conversations.inbound import new_lead, receive

JULIA = "10000000-0000-4000-8000-000000000001"  # an Acme lead in the seed

ZONES = ["Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+3", "America/Port-au-Prince", "EST5EDT",
         "GMT+0", "NZ-CHAT", "CET", "PST", "UTC+3", "Foo/Bar", "Europe/", "", "UTC", "utc"]


@pytest.mark.parametrize("zone", ZONES)
def test_the_lead_time_zone_is_kept_exactly_when_the_time_zone_database_knows_it(
    db: psycopg.Connection[Any], zone: str
) -> None:
    known = db.execute("select exists (select 1 from pg_catalog.pg_timezone_names where name = %s)",
                       (zone,)).fetchone()
    # The tenant's zone (a lead's own is checked when it is stored; the tenant's settings are free text).
    db.execute("update public.tenants set settings = settings || jsonb_build_object('timezone', %s::text) "
               "where id = %s", (zone, ACME))
    message = receive(db, new_lead(db), "hello").message_id
    context = db.execute("select public.autopilot_context(%s, %s)", (ACME, message)).fetchone()
    assert context is not None
    assert context[0]["lead"]["timezone"] == (zone if known and known[0] else "UTC")


def plan_of(db: psycopg.Connection[Any], query: str) -> str:
    db.execute("set local enable_seqscan = off")  # a small test table: ask what the planner can use
    return "\n".join(r[0] for r in db.execute("explain " + query).fetchall())


def test_first_contact_is_answered_from_an_index_of_outbound_messages(db: psycopg.Connection[Any]) -> None:
    plan = plan_of(db, f"select exists (select 1 from public.messages m where m.tenant_id = '{ACME}' "
                       f"and m.lead_id = '{JULIA}' and m.direction = 'out')")
    assert "messages_lead_outbound_idx" in plan, plan


def test_the_tenants_auto_sent_count_reads_only_the_last_day_of_actions(db: psycopg.Connection[Any]) -> None:
    plan = plan_of(db, f"select count(*) from public.autopilot_actions a where a.tenant_id = '{ACME}' "
                       "and a.status = 'sent' and a.verdict is null and a.executed_at > now() - interval '24 hours'")
    assert "autopilot_actions_auto_sent_idx" in plan and "messages" not in plan, plan
