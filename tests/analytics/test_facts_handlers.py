"""The analytics handlers, run by the real engine on real triggers' events: a lead's whole story becomes
facts once, however often its events are delivered, and the rebuild derives the same facts from the tables."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from salesflow.events import types as t
from salesflow.events.registry import Registry
from salesflow.handlers import analytics_facts
from salesflow.transports import open_postgres
from tests.analytics.history import new_tenant, rollups
from tests.engines import engine_running
from tests.polling import wait_until

Conn = psycopg.Connection[Any]


def facts_registry() -> Registry:
    registry = Registry()
    for event_type, fn in [(t.LEAD_CREATED, analytics_facts.lead_entered_the_funnel),
                           (t.LEAD_STATUS_CHANGED, analytics_facts.lead_changed_stage),
                           (t.MESSAGE_RECEIVED, analytics_facts.inbound_touchpoint),
                           (t.MESSAGE_SENT, analytics_facts.outbound_touchpoint),
                           (t.MEETING_BOOKED, analytics_facts.meeting_booked)]:
        registry.handles(event_type)(fn)
    return registry


def pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from public.events where status in ('pending', 'processing')").fetchone()
    return int(row[0]) if row else -1


def story(url: str) -> tuple[str, str]:
    """A lead writes in on WhatsApp, the autopilot answers, it is contacted, qualified, meets and is won."""
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = new_tenant(conn)
        lead = str(uuid.uuid4())
        conn.execute("insert into public.leads (id, tenant_id, name, source, source_channel, deal_value, currency) "
                     "values (%s, %s, 'Greta', 'whatsapp_click', 'whatsapp', 1000, 'EUR')", (lead, tenant))
        conversation = conn.execute("insert into public.conversations (tenant_id, lead_id, channel) "
                                    "values (%s, %s, 'whatsapp') returning id", (tenant, lead)).fetchone()[0]  # type: ignore[index]
        conn.execute("insert into public.messages (conversation_id, direction, body) values (%s, 'in', 'Hallo?')",
                     (conversation,))
        # The database sends an autopilot message only for a live action it names.
        action = conn.execute("insert into public.autopilot_actions (tenant_id, lead_id, conversation_id, channel, "
                              "mode, scenario, draft, status, expires_at) values (%s, %s, %s, 'whatsapp', 'auto', "
                              "'reply_suggestion', 'Gern!', 'approved', now() + interval '1 day') returning id",
                              (tenant, lead, conversation)).fetchone()[0]  # type: ignore[index]
        out = conn.execute("insert into public.messages (conversation_id, direction, body, sent_by, idempotency_key) "
                           "values (%s, 'out', 'Gern!', 'autopilot', %s) returning id",
                           (conversation, f"autopilot:{action}")).fetchone()[0]  # type: ignore[index]
        conn.execute("update public.messages set status = 'sending' where id = %s", (out,))
        conn.execute("update public.messages set status = 'sent' where id = %s", (out,))
        for status in ("contacted", "qualified"):
            conn.execute("update public.leads set status = %s where id = %s", (status, lead))
        meeting = conn.execute("select public.record_meeting(%s, now() - interval '1 hour')", (lead,)).fetchone()[0]  # type: ignore[index]
        conn.execute("select public.record_meeting(%s, now() - interval '1 hour', true, %s)", (lead, meeting))
        conn.execute("update public.leads set status = 'won' where id = %s", (lead,))
    return tenant, lead


def the_facts(conn: Conn, tenant: str) -> dict[str, Any]:
    def rows(query: str) -> list[tuple[Any, ...]]:
        return conn.execute(query, (tenant,)).fetchall()

    return {
        "touchpoints": rows("select channel, direction, actor from public.analytics_touchpoints "
                            "where tenant_id = %s order by occurred_at"),
        "stages": rows("select stage from public.analytics_stage_entries where tenant_id = %s "
                       "order by entered_at, stage"),
        "outcomes": rows("select outcome, value, currency from public.analytics_deal_outcomes where tenant_id = %s"),
        "meetings": rows("select held_at is not null from public.analytics_meetings where tenant_id = %s"),
        "journey": rows("select first_contact is not null, first_response is not null, meeting_completed is not null, "
                        "deal_closed_won is not null, won_value, won_currency "
                        "from public.analytics_lead_journeys where tenant_id = %s"),
    }


EXPECTED = {
    "touchpoints": [("whatsapp", "in", "lead"), ("whatsapp", "out", "autopilot")],
    "stages": [("lead_created",), ("first_contact",), ("lead_qualified",), ("deal_closed_won",)],
    "outcomes": [("won", 1000, "EUR")],
    "meetings": [(True,)],
    # first contact is the autopilot's answer; the lead wrote before it, so there is no first response yet
    "journey": [(True, False, True, True, 1000, "EUR")],
}


async def test_a_leads_story_becomes_facts_once_however_often_it_is_delivered(analytics_database: str) -> None:
    url = analytics_database
    tenant, _ = story(url)
    async with engine_running(open_postgres(url), facts_registry(), poll_interval=0.2):
        await wait_until(lambda: pending(url) == 0, in_thread=True, what="every event handled")
    with psycopg.connect(url) as conn:
        assert the_facts(conn, tenant) == EXPECTED
        first = rollups(conn, tenant)
        assert first == rollups(conn, tenant, recomputed=True)
        # every event delivered once more
        conn.execute("select public.replay_events('processed', null, null, true)")
        conn.commit()
    async with engine_running(open_postgres(url), facts_registry(), poll_interval=0.2):
        await wait_until(lambda: pending(url) == 0, in_thread=True, what="every replayed event handled")
    with psycopg.connect(url) as conn:
        assert the_facts(conn, tenant) == EXPECTED
        assert rollups(conn, tenant) == first
        # the backfill derives the same facts from the tables and the kept events
        conn.execute("delete from public.analytics_touchpoints where tenant_id = %s", (tenant,))
        conn.execute("delete from public.analytics_stage_entries where tenant_id = %s and stage <> 'lead_created'",
                     (tenant,))
        conn.execute("delete from public.analytics_deal_outcomes where tenant_id = %s", (tenant,))
        result = conn.execute("select public.analytics_rebuild(%s)", (tenant,)).fetchone()[0]  # type: ignore[index]
        assert result["touchpoints_written"] == 2
        assert the_facts(conn, tenant) == EXPECTED
        assert rollups(conn, tenant) == first
        conn.rollback()


async def test_a_late_event_of_a_deleted_lead_writes_nothing_and_fails_nothing(analytics_database: str) -> None:
    url = analytics_database
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = new_tenant(conn)
        lead = conn.execute("insert into public.leads (tenant_id, name) values (%s, 'Gone') returning id",
                            (tenant,)).fetchone()[0]  # type: ignore[index]
        conn.execute("delete from public.leads where id = %s", (lead,))
    async with engine_running(open_postgres(url), facts_registry(), poll_interval=0.2):
        await wait_until(lambda: pending(url) == 0, in_thread=True, what="the event handled")
    with psycopg.connect(url) as conn:
        failed = conn.execute("select count(*) from public.events where tenant_id = %s and status = 'failed'",
                              (tenant,)).fetchone()[0]  # type: ignore[index]
        stored = conn.execute("select count(*) from public.analytics_stage_entries where tenant_id = %s",
                              (tenant,)).fetchone()[0]  # type: ignore[index]
    assert (failed, stored) == (0, 0)
