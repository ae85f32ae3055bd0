"""A member's verdict on an autopilot draft made by the real handler: approve queues exactly one message
(sent_by autopilot) and publishes one autopilot.action_executed, an edit sends the member's text and records
the edit distance, a rejection sends nothing, an expired draft never sends; an AI failure sends nothing, and a
redelivered message drafts and pays nothing new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from salesflow.autopilot import decide
from salesflow.transports.postgres_data import PostgresTenantDataFactory
from tests.autopilot.helpers import (
    FailingAI,
    action_of,
    answered,
    autopilot,
    autopilot_messages,
    executed_events,
    known_lead,
    set_settings,
)
from tests.conversations.inbound import ACME, event_of, handled
from tests.polling import wait_until

MEETING = "Können wir am Dienstag einen kurzen Termin machen?"


async def _drafted(database: str, conn: psycopg.Connection[Any], body: str = MEETING) -> tuple[str, dict[str, Any]]:
    set_settings(conn, mode="one_click")
    lead = known_lead(conn)
    async with autopilot(database):
        msg = await answered(conn, lead, body)
    action = action_of(conn, msg.message_id)
    assert action is not None and action["status"] == "queued_for_approval"
    return lead, action


@pytest.fixture
async def factory(database: str) -> AsyncIterator[PostgresTenantDataFactory]:
    f = PostgresTenantDataFactory(database, pool_size=2)
    try:
        yield f
    finally:
        await f.close()


async def test_approving_a_draft_queues_exactly_one_autopilot_message_and_one_event(database: str,
        factory: PostgresTenantDataFactory) -> None:
    with psycopg.connect(database) as conn:
        lead, action = await _drafted(database, conn)
        decided = await decide(factory.for_tenant(ACME), action["id"], "approved")
        assert (decided["status"], decided["verdict"]) == ("sent", "approved")
        assert autopilot_messages(conn, lead) == [(action["draft"], "queued", f"autopilot:{action['id']}")]
        [event] = executed_events(conn, lead)
        assert (event["action_id"], event["verdict"], event["scenario"]) == (str(action["id"]), "approved",
                                                                            "reply_suggestion")
        assert event["message_id"] == str(decided["message_id"])
        with pytest.raises(Exception, match="only a draft waiting for approval"):
            await decide(factory.for_tenant(ACME), action["id"], "approved")
        assert len(autopilot_messages(conn, lead)) == 1 and len(executed_events(conn, lead)) == 1


async def test_an_edit_sends_the_member_s_text_and_records_the_distance(database: str,
        factory: PostgresTenantDataFactory) -> None:
    with psycopg.connect(database) as conn:
        lead, action = await _drafted(database, conn)
        text = action["draft"] + " Viele Grüße"
        decided = await decide(factory.for_tenant(ACME), action["id"], "edited", text)
        assert (decided["verdict"], decided["edit_distance"], decided["final_text"]) == ("edited", 12, text)
        assert [m[0] for m in autopilot_messages(conn, lead)] == [text]
        # Feedback per prompt version: the verdicts of the rows with the draft's version.
        feedback = conn.execute("select scenario, prompt_version, verdict, edit_distance from public.autopilot_actions "
                                "where id = %s", (action["id"],)).fetchone()
        assert feedback == ("reply_suggestion", action["prompt_version"], "edited", 12)


async def test_a_rejected_draft_sends_nothing(database: str,
        factory: PostgresTenantDataFactory) -> None:
    with psycopg.connect(database) as conn:
        lead, action = await _drafted(database, conn)
        decided = await decide(factory.for_tenant(ACME), action["id"], "rejected")
        assert (decided["status"], decided["message_id"]) == ("rejected", None)
        assert autopilot_messages(conn, lead) == [] and executed_events(conn, lead) == []


async def test_an_expired_draft_never_sends(database: str,
        factory: PostgresTenantDataFactory) -> None:
    with psycopg.connect(database) as conn:
        lead, action = await _drafted(database, conn)
        conn.execute("update public.autopilot_actions set expires_at = now() - interval '1 second' where id = %s",
                     (action["id"],))
        conn.commit()
        decided = await decide(factory.for_tenant(ACME), action["id"], "approved")
        assert decided["status"] == "expired"
        # Nor can service code slip its message past the send path.
        with pytest.raises(psycopg.errors.CheckViolation, match="expired"):
            conn.execute("update public.autopilot_actions set status = 'approved' where id = %s", (action["id"],))
            conn.execute("insert into public.messages (tenant_id, conversation_id, direction, status, body, sent_by, "
                         "idempotency_key) values (%s, %s, 'out', 'queued', 'x', 'autopilot', %s)",
                         (ACME, action["conversation_id"], f"autopilot:{action['id']}"))
        conn.rollback()
        assert autopilot_messages(conn, lead) == [] and executed_events(conn, lead) == []


@pytest.mark.parametrize("mode", ["auto", "assist"])
async def test_an_ai_failure_sends_nothing_and_leaves_it_to_a_person(database: str,
        factory: PostgresTenantDataFactory, mode: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode=mode, min_confidence=0)
        lead = known_lead(conn)
        async with autopilot(database, ai=FailingAI):
            msg = await answered(conn, lead, MEETING)
        action = action_of(conn, msg.message_id)
        assert action is not None
        assert (action["status"], action["guards"], action["draft"]) == ("failed", ["ai_failure"], None)
        assert "AllRoutesFailed" in action["error"]
        with pytest.raises(Exception, match="is failed"):
            await decide(factory.for_tenant(ACME), action["id"], "approved")
        assert autopilot_messages(conn, lead) == [] and executed_events(conn, lead) == []


async def test_a_redelivered_message_drafts_and_pays_nothing_new(database: str,
        factory: PostgresTenantDataFactory) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0.5)
        lead = known_lead(conn)
        async with autopilot(database):
            msg = await answered(conn, lead, MEETING)
            conn.execute("select public.replay_event(%s, true)", (event_of(conn, msg.message_id),))
            conn.commit()
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        actions = conn.execute("select count(*) from public.autopilot_actions where lead_id = %s", (lead,)).fetchone()
        assert actions == (1,)
        assert len(autopilot_messages(conn, lead)) == 1 and len(executed_events(conn, lead)) == 1
        calls = conn.execute("select count(*) from public.ai_usage where lead_id = %s", (lead,)).fetchone()
        assert calls == (1,)
