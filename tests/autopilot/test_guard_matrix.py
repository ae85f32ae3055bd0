"""The autopilot guard matrix on the real handler and engine: by mode, confidence, guard and cap an inbound
message gets a draft in the approval queue, an automatic reply, or nothing; every automatic reply is one
queued message (sent_by autopilot) and one autopilot.action_executed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.autopilot.helpers import (
    action_of,
    answered,
    autopilot,
    autopilot_messages,
    executed_events,
    known_lead,
    set_settings,
)
from tests.conversations.inbound import ACME, new_lead

MEETING = "Können wir am Dienstag einen kurzen Termin machen?"  # the offline AI: intent meeting, confidence 0.9

CASES: list[tuple[str, dict[str, Any], str, str, set[str]]] = [
    # (case, tenant settings, message, status, guards)
    ("assist drafts for approval", {"mode": "assist"}, MEETING, "queued_for_approval", set()),
    ("one_click drafts for one call", {"mode": "one_click"}, MEETING, "queued_for_approval", set()),
    ("auto sends a confident safe reply", {"mode": "auto", "min_confidence": 0.8}, MEETING, "sent", set()),
    ("auto below the threshold waits", {"mode": "auto", "min_confidence": 0.95}, MEETING, "queued_for_approval",
     {"low_confidence"}),
    ("pricing needs a person", {"mode": "auto", "min_confidence": 0.1}, "Was kostet das Paket für 10 Nutzer?",
     "queued_for_approval", {"sensitive_topic"}),
    ("a discount needs a person", {"mode": "auto", "min_confidence": 0.1}, "Can you give us a discount?",
     "queued_for_approval", {"sensitive_topic"}),
    ("a contract needs a person", {"mode": "auto", "min_confidence": 0.1}, "Wie lange ist die Vertragslaufzeit?",
     "queued_for_approval", {"sensitive_topic"}),
    ("legal needs a person", {"mode": "auto", "min_confidence": 0.1}, "Is your tool GDPR compliant? Our lawyer asks.",
     "queued_for_approval", {"sensitive_topic"}),
    ("an objection needs a person", {"mode": "auto", "min_confidence": 0.1}, "Wir haben gerade keine Zeit dafür.",
     "queued_for_approval", {"objection"}),
    ("negative sentiment needs a person", {"mode": "auto", "min_confidence": 0.1},
     "Ehrlich gesagt bin ich enttäuscht von Ihrem Termin-Chaos.", "queued_for_approval", {"negative_sentiment"}),
    ("the lead's cap", {"mode": "auto", "max_per_lead_per_day": 0}, MEETING, "queued_for_approval", {"lead_cap"}),
    ("the tenant's cap", {"mode": "auto", "max_per_tenant_per_day": 0}, MEETING, "queued_for_approval",
     {"tenant_cap"}),
]


@pytest.mark.parametrize(("case", "settings", "body", "status", "guards"), CASES, ids=[c[0] for c in CASES])
async def test_the_guard_matrix_decides_draft_or_send(database: str, case: str, settings: dict[str, Any], body: str,
                                                      status: str, guards: set[str]) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, **settings)
        lead = known_lead(conn)
        async with autopilot(database):
            msg = await answered(conn, lead, body)
        action = action_of(conn, msg.message_id)
        assert action is not None, case
        assert (action["status"], set(action["guards"])) == (status, guards), action["reasons"]
        assert action["draft"] and action["confidence"] is not None and action["prompt_version"] is not None
        assert action["mode"] == settings["mode"] and action["reasons"]
        sent = autopilot_messages(conn, lead)
        if status == "sent":
            assert sent == [(action["draft"], "queued", f"autopilot:{action['id']}")]
            [event] = executed_events(conn, lead)
            assert event["action_id"] == str(action["id"]) and event["verdict"] is None
            assert event["action"] == "reply" and event["channel"] == "whatsapp" and event["latency_ms"] >= 0
        else:
            assert sent == [] and executed_events(conn, lead) == []
            # The person deciding gets the next best action beside the draft.
            assert any(r.startswith("next best action: ") for r in action["reasons"]), action["reasons"]


async def test_a_first_contact_always_waits_for_a_person(database: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0)
        lead = new_lead(conn, address="+4915100002222", name="Neu Kunde")  # never written to
        async with autopilot(database):
            msg = await answered(conn, lead, MEETING)
        action = action_of(conn, msg.message_id)
        assert action is not None and action["status"] == "queued_for_approval"
        assert action["guards"] == ["first_contact"]
        assert autopilot_messages(conn, lead) == []


@pytest.mark.parametrize("zone", ["Europe/Vienna", "America/New_York"])
async def test_quiet_hours_in_the_lead_s_time_zone_hold_an_automatic_reply(database: str, zone: str) -> None:
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start, end = (local - timedelta(hours=1)).time(), (local + timedelta(hours=1)).time()
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0.5, quiet_start=start, quiet_end=end)
        quiet = known_lead(conn, timezone=zone)
        # The same hours are daytime for a lead twelve hours away: it gets its reply.
        awake = known_lead(conn, timezone="Asia/Tokyo" if zone == "America/New_York" else "Pacific/Honolulu")
        async with autopilot(database):
            held = await answered(conn, quiet, MEETING)
            sent = await answered(conn, awake, MEETING)
        held_action, sent_action = action_of(conn, held.message_id), action_of(conn, sent.message_id)
        assert held_action is not None and sent_action is not None
        assert (held_action["status"], held_action["guards"]) == ("queued_for_approval", ["quiet_hours"])
        assert sent_action["status"] == "sent"


async def test_the_daily_cap_per_lead_counts_automatic_replies(database: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0.5, max_per_lead_per_day=1)
        lead = known_lead(conn)
        async with autopilot(database):
            first = await answered(conn, lead, MEETING)
            second = await answered(conn, lead, "Oder passt Ihnen Donnerstag für ein Treffen besser?")
        a, b = action_of(conn, first.message_id), action_of(conn, second.message_id)
        assert a is not None and b is not None
        assert a["status"] == "sent" and (b["status"], b["guards"]) == ("queued_for_approval", ["lead_cap"])
        assert len(autopilot_messages(conn, lead)) == 1 and len(executed_events(conn, lead)) == 1


@pytest.mark.parametrize(("settings", "drafted"), [
    ({"mode": "off"}, False), ({"mode": "auto", "kill_switch": True}, False), ({}, False),
], ids=["off", "kill switch", "no settings"])
async def test_off_the_kill_switch_and_no_settings_draft_nothing(database: str, settings: dict[str, Any],
                                                                drafted: bool) -> None:
    with psycopg.connect(database) as conn:
        if settings:
            set_settings(conn, **settings)
        lead = known_lead(conn)
        async with autopilot(database):
            msg = await answered(conn, lead, MEETING)
        assert (action_of(conn, msg.message_id) is not None) is drafted
        assert autopilot_messages(conn, lead) == []
        ai_calls = conn.execute("select count(*) from public.ai_usage where lead_id = %s", (lead,)).fetchone()
        assert ai_calls == (0,)


async def test_channel_and_lead_overrides_beat_the_tenant_setting(database: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0.5)
        set_settings(conn, channel="whatsapp", mode="assist")
        lead = known_lead(conn)
        trusted = known_lead(conn)
        set_settings(conn, lead_id=trusted, mode="auto")
        async with autopilot(database):
            a = await answered(conn, lead, MEETING)
            b = await answered(conn, trusted, MEETING)
        action_a, action_b = action_of(conn, a.message_id), action_of(conn, b.message_id)
        assert action_a is not None and action_b is not None
        assert (action_a["mode"], action_a["status"]) == ("assist", "queued_for_approval")
        assert (action_b["mode"], action_b["status"]) == ("auto", "sent")
        assert str(action_b["tenant_id"]) == ACME


async def test_a_price_objection_is_answered_with_alternatives_for_a_person_to_send(database: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0)
        lead = known_lead(conn)
        async with autopilot(database):
            msg = await answered(conn, lead, "Ehrlich gesagt ist uns das zu teuer.")
        action = action_of(conn, msg.message_id)
        assert action is not None and action["scenario"] == "objection_price"
        assert action["status"] == "queued_for_approval"
        assert {"sensitive_topic", "objection"} <= set(action["guards"])
        assert "Paket" in action["draft"] and "Rabatt" not in action["draft"]
        assert autopilot_messages(conn, lead) == []


async def test_an_opt_out_keyword_gets_no_draft_and_costs_nothing(database: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="auto", min_confidence=0)
        lead = known_lead(conn)
        async with autopilot(database):
            msg = await answered(conn, lead, "STOP")
        assert action_of(conn, msg.message_id) is None
        assert conn.execute("select count(*) from public.ai_usage where lead_id = %s", (lead,)).fetchone() == (0,)


async def test_an_english_speaking_lead_gets_an_english_draft(database: str) -> None:
    with psycopg.connect(database) as conn:
        set_settings(conn, mode="assist")
        lead = known_lead(conn, locale="en")
        async with autopilot(database):
            msg = await answered(conn, lead, "Could we have a short call on Tuesday?")
        action = action_of(conn, msg.message_id)
        assert action is not None and action["draft"].startswith("Gladly")
