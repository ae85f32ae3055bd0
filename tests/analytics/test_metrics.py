"""The sales metrics on a hand-computed fixture (docs/analytics.md, "Sales metrics"): every number of
public.analytics_metrics, the stage probabilities, bad input, and the rollups equal to a recomputation after a
rebuild (the metrics then say the same)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.analytics.history import Lead, Touch, new_tenant, record, rollups, write

Conn = psycopg.Connection[Any]
STEP_1 = "5e000000-0000-4000-8000-000000000001"
STEP_2 = "5e000000-0000-4000-8000-000000000002"


def at(day: int, hour: int = 9, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def move(db: Conn, lead: uuid.UUID, *statuses: str) -> None:
    for status in statuses:
        db.execute("update public.leads set status = %s where id = %s", (status, lead))


def build(db: Conn) -> tuple[str, dict[str, Lead]]:
    """Five leads in June 2026 (UTC):

    A  web, 09:00 June 1: email out at +3 min, reply at 10:00, email out June 2 (an AI draft, 0.20 USD) answered only
       by an auto-reply; meeting booked June 3; won June 10 09:00 for 1,000 EUR.
    B  whatsapp, June 2: autopilot answers at +30 min, the lead replies; meeting June 4 (held June 5); won June 12
       09:00 for 500 EUR.
    C  sms, June 3: sequence step 1 at +2 h, step 2 June 5 11:00, reply June 5 12:00 (to step 2); lost June 20,
       300 EUR.
    D  June 4: never contacted; now at proposal with 2,000 EUR.
    E  June 5: email out at +4 min; now qualified with 400 EUR.
    """
    tenant = new_tenant(db)
    leads = {
        "A": Lead(created_at=at(1), touches=[Touch("email", "out", "human", at(1, 9, 3)),
                                             Touch("email", "in", "lead", at(1, 10)),
                                             Touch("email", "out", "human", at(2), ai_cost=0.2)],
                  meetings=[(at(3), None)], won=(at(10), 1000.0, "EUR")),
        "B": Lead(created_at=at(2), source_channel="whatsapp",
                  touches=[Touch("whatsapp", "out", "autopilot", at(2, 9, 30), ai_cost=0.5),
                           Touch("whatsapp", "in", "lead", at(2, 10))],
                  meetings=[(at(4), at(5))], won=(at(12), 500.0, "EUR")),
        "C": Lead(created_at=at(3), source_channel="sms",
                  touches=[Touch("sms", "out", "sequence", at(3, 11)), Touch("sms", "out", "sequence", at(5, 11)),
                           Touch("sms", "in", "lead", at(5, 12))]),
        "D": Lead(created_at=at(4)),
        "E": Lead(created_at=at(5), touches=[Touch("email", "out", "human", at(5, 9, 4))]),
    }
    write(db, tenant, list(leads.values()))

    # A's out-of-office, written after the rest (events arrive in any order), as the handler does: message first.
    auto = uuid.uuid4()
    db.execute("insert into public.messages (id, tenant_id, conversation_id, direction, body, provider_detail, "
               "received_at) select %s, %s, c.id, 'in', 'Ich bin im Urlaub bis zum 15.', %s, %s "
               "from public.conversations c where c.lead_id = %s and c.channel = 'email'",
               (auto, tenant, json.dumps({"subject": "Abwesenheitsnotiz"}), at(2, 9, 30), leads["A"].id))
    record(db, tenant, [], only={"touchpoints": [{
        "lead_id": str(leads["A"].id), "message_id": str(auto), "channel": "email", "direction": "in",
        "actor": "lead", "occurred_at": at(2, 9, 30).isoformat(), "handler": "test"}]})

    # C's lost deal, through the handlers' call.
    record(db, tenant, [], only={
        "stage_entries": [{"lead_id": str(leads["C"].id), "stage": "lost", "entered_at": at(20).isoformat(),
                           "handler": "test"}],
        "deal_outcomes": [{"lead_id": str(leads["C"].id), "outcome": "lost", "value": 300, "currency": "EUR",
                           "closed_at": at(20).isoformat(), "handler": "test"}]})

    # C's messages were sequence steps 1 and 2.
    sequence = db.execute("insert into public.sequences (tenant_id, name) values (%s, 'Onboarding') returning id",
                          (tenant,)).fetchone()[0]  # type: ignore[index]
    for step, position in ((STEP_1, 1), (STEP_2, 2)):
        db.execute("insert into public.sequence_steps (id, tenant_id, sequence_id, position, kind, channel, template) "
                   "values (%s, %s, %s, %s, 'message', 'sms', 'Hallo {{name}}')", (step, tenant, sequence, position))
    for touch, step in zip(leads["C"].touches[:2], (STEP_1, STEP_2), strict=True):
        db.execute("update public.analytics_touchpoints set sequence_id = %s, step_id = %s where message_id = %s",
                   (sequence, step, touch.message_id))

    # The pipeline now: statuses moved the way members move them.
    move(db, leads["A"].id, "contacted", "qualified", "proposal", "negotiation", "won")
    move(db, leads["B"].id, "contacted", "qualified", "proposal", "negotiation", "won")
    move(db, leads["C"].id, "lost")
    db.execute("update public.leads set deal_value = 2000, currency = 'EUR' where id = %s", (leads["D"].id,))
    move(db, leads["D"].id, "contacted", "qualified", "proposal")
    db.execute("update public.leads set deal_value = 400, currency = 'EUR' where id = %s", (leads["E"].id,))
    move(db, leads["E"].id, "contacted", "qualified")

    # Autopilot actions of June: one of each outcome, two edits (distances 12 and 4).
    conversation = db.execute("select id from public.conversations where lead_id = %s",
                              (leads["B"].id,)).fetchone()[0]  # type: ignore[index]
    sent_message = leads["B"].touches[0].message_id
    for status, verdict, distance, message in (
        ("sent", None, None, sent_message), ("sent", "approved", None, sent_message),
        ("sent", "edited", 12, sent_message), ("sent", "edited", 4, sent_message),
        ("rejected", "rejected", None, None), ("expired", None, None, None), ("failed", None, None, None),
        ("queued_for_approval", None, None, None),
    ):
        db.execute("insert into public.autopilot_actions (tenant_id, lead_id, conversation_id, channel, mode, "
                   "scenario, draft, status, verdict, edit_distance, message_id, error, expires_at, created_at) "
                   "values (%s, %s, %s, 'whatsapp', 'one_click', 'reply_suggestion', 'Gern!', %s, %s, %s, %s, %s, "
                   "%s, %s)",
                   (tenant, leads["B"].id, conversation, status, verdict, distance, message,
                    "timeout" if status == "failed" else None, at(7), at(6)))
    # AI usage: 2 x 0.30 USD reply suggestions, 1 x 0.40 USD follow-up.
    for scenario, cost, day in (("reply_suggestion", 0.3, 2), ("reply_suggestion", 0.3, 3),
                                ("followup_message", 0.4, 3)):
        db.execute("insert into public.ai_usage (tenant_id, call_id, scenario, provider, model, outcome, cost_usd, "
                   "created_at) values (%s, %s, %s, 'openai', 'gpt-4o-mini', 'success', %s, %s)",
                   (tenant, uuid.uuid4(), scenario, cost, at(day)))
    return tenant, leads


@pytest.fixture
def fixture(db: Conn) -> tuple[str, dict[str, Lead]]:
    return build(db)


def metrics(db: Conn, tenant: str, **kwargs: Any) -> dict[str, Any]:
    args = {"p_from": "2026-06-01", "p_to": "2026-06-30", "p_tz": None, "p_model": "linear", **kwargs}
    row = db.execute("select public.analytics_metrics(%(p_from)s, %(p_to)s, %(p_tz)s, %(tenant)s, %(p_model)s)",
                     {**args, "tenant": tenant}).fetchone()
    assert row is not None
    return dict(row[0])


def test_speed_to_lead(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    s = metrics(db, fixture[0])["speed_to_lead"]
    # first contact after 3, 30, 120 and 4 minutes; D never
    assert (s["leads"], s["contacted"], s["not_contacted"]) == (5, 4, 1)
    assert s["median_minutes"] == pytest.approx(17.0)
    assert s["mean_minutes"] == pytest.approx(39.25)
    assert s["within_5_minutes"] == pytest.approx(0.4)
    assert s["within_1_hour"] == pytest.approx(0.6)
    assert [(b["bucket"], b["leads"]) for b in s["buckets"]] == [
        ("up_to_5_minutes", 2), ("5_to_15_minutes", 0), ("15_to_60_minutes", 1), ("1_to_4_hours", 1),
        ("4_to_24_hours", 0), ("1_to_3_days", 0), ("over_3_days", 0)]


def test_reply_rate_leaves_out_auto_replies(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    r = metrics(db, fixture[0])["reply_rate"]
    # replied: A's first email, B's autopilot message, C's step 2; not: A's second (only an out-of-office came),
    # C's step 1 (the reply came after step 2), E's email
    assert (r["sends"], r["replied"], r["rate"]) == (6, 3, 0.5)
    assert (r["inbound"], r["auto_replies"], r["inbound_excluding_auto_replies"]) == (4, 1, 3)
    assert {c["channel"]: (c["sends"], c["replied"]) for c in r["by_channel"]} == {
        "email": (3, 1), "whatsapp": (1, 1), "sms": (2, 1)}
    assert {a["actor"]: (a["sends"], a["replied"], a["rate"]) for a in r["by_actor"]} == {
        "human": (3, 1, pytest.approx(1 / 3)), "autopilot": (1, 1, 1.0), "sequence": (2, 1, 0.5)}


def test_the_out_of_office_is_flagged_from_the_message(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    rows = db.execute("select auto_reply, count(*) from public.analytics_touchpoints where tenant_id = %s "
                      "and direction = 'in' group by 1 order by 1", (fixture[0],)).fetchall()
    assert rows == [(False, 3), (True, 1)]


def test_win_rate_by_count_and_value(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    w = metrics(db, fixture[0])["win_rate"]
    assert (w["won"], w["lost"]) == (2, 1)
    assert w["rate"] == pytest.approx(2 / 3)
    assert w["value"] == {"EUR": {"won": 1500, "lost": 300, "rate": pytest.approx(1500 / 1800)}}


def test_pipeline_weighted_by_the_tenants_probabilities(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    tenant = fixture[0]
    p = metrics(db, tenant)["pipeline"]
    assert (p["deals"], p["deals_without_value"]) == (2, 0)
    assert p["value"] == {"EUR": 2400}
    assert p["weighted_value"] == {"EUR": pytest.approx(2000 * 0.5 + 400 * 0.25)}
    by_status = {s["status"]: s for s in p["by_status"]}
    assert [s["status"] for s in p["by_status"]] == ["new", "contacted", "qualified", "proposal", "negotiation"]
    assert by_status["proposal"]["deals"] == 1 and by_status["proposal"]["probability"] == 0.5
    assert by_status["new"]["deals"] == 0 and by_status["new"]["value"] == {}
    # the tenant's own probabilities: proposal 60 %; a deleted row weighs its default again
    db.execute("update public.analytics_stage_probabilities set probability = 0.6 "
               "where tenant_id = %s and status = 'proposal'", (tenant,))
    db.execute("delete from public.analytics_stage_probabilities where tenant_id = %s and status = 'qualified'",
               (tenant,))
    assert metrics(db, tenant)["pipeline"]["weighted_value"] == {"EUR": pytest.approx(2000 * 0.6 + 400 * 0.25)}


def test_a_new_tenant_starts_with_the_default_probabilities(db: Conn) -> None:
    tenant = new_tenant(db)
    rows = db.execute("select status, probability::float from public.analytics_stage_probabilities "
                      "where tenant_id = %s order by probability", (tenant,)).fetchall()
    assert rows == [("new", 0.05), ("contacted", 0.1), ("qualified", 0.25), ("proposal", 0.5),
                    ("negotiation", 0.75)]


def test_sales_velocity(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    v = metrics(db, fixture[0])["sales_velocity"]
    # 2 opportunities (D proposal, E qualified) x 2/3 won x 750 EUR average / 9.5 days (9 and 10)
    assert v["opportunities"] == 2
    assert v["cycle_days"] == pytest.approx(9.5)
    assert v["average_deal"] == {"EUR": 750}
    assert v["per_day"] == {"EUR": pytest.approx(2 * (2 / 3) * 750 / 9.5)}


def test_meetings_messages_and_sequence_steps(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    m = metrics(db, fixture[0])
    assert m["meetings_booked"] == 2
    assert {(c["channel"], c["direction"]): (c["messages"], c["by_actor"]) for c in m["messages_by_channel"]} == {
        ("email", "out"): (3, {"human": 3}), ("email", "in"): (2, {"lead": 2}),
        ("whatsapp", "out"): (1, {"autopilot": 1}), ("whatsapp", "in"): (1, {"lead": 1}),
        ("sms", "out"): (2, {"sequence": 2}), ("sms", "in"): (1, {"lead": 1})}
    steps = [(s["sequence"], s["position"], s["channel"], s["sends"], s["replied"], s["reply_rate"])
             for s in m["sequence_steps"]]
    assert steps == [("Onboarding", 1, "sms", 1, 0, 0.0), ("Onboarding", 2, "sms", 1, 1, 1.0)]


def test_autopilot_acceptance_and_edits(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    a = metrics(db, fixture[0])["autopilot"]
    assert {k: a[k] for k in ("actions", "automatic", "approved", "edited", "rejected", "expired", "failed",
                              "pending", "reviewed")} == {
        "actions": 8, "automatic": 1, "approved": 1, "edited": 2, "rejected": 1, "expired": 1, "failed": 1,
        "pending": 1, "reviewed": 4}
    assert (a["acceptance_rate"], a["edit_rate"], a["mean_edit_distance"]) == (0.75, 0.5, 8.0)


def test_a_decision_moves_the_autopilot_numbers(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    tenant = fixture[0]
    db.execute("update public.autopilot_actions set status = 'rejected', verdict = 'rejected' "
               "where tenant_id = %s and status = 'queued_for_approval'", (tenant,))
    a = metrics(db, tenant)["autopilot"]
    assert (a["pending"], a["rejected"], a["reviewed"], a["acceptance_rate"]) == (0, 2, 5, 0.6)


def test_ai_cost_per_lead_won_deal_and_scenario(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    c = metrics(db, fixture[0])["ai_cost"]
    assert (c["calls"], float(c["cost_usd"]), c["leads"], c["won_deals"]) == (3, 1.0, 5, 2)
    assert float(c["per_lead"]) == pytest.approx(0.2)
    assert float(c["per_won_deal"]) == pytest.approx(0.5)
    assert [(s["scenario"], s["calls"], float(s["cost_usd"]), float(s["per_call"]), s["share"])
            for s in c["by_scenario"]] == [("reply_suggestion", 2, 0.6, 0.3, pytest.approx(0.6)),
                                           ("followup_message", 1, 0.4, 0.4, pytest.approx(0.4))]


def test_ai_roi_from_the_attribution_credits(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    tenant = fixture[0]
    roi = metrics(db, tenant)["ai_roi"]
    # linear: A's 4 touches up to the win, one an AI draft (1/4 x 1,000); B's 2, one the autopilot's (1/2 x 500)
    assert roi["model"] == "linear" and roi["won_deals"] == 2
    assert roi["ai_assisted"]["conversions"] == pytest.approx(0.75)
    assert roi["ai_assisted"]["revenue"] == {"EUR": pytest.approx(500)}
    assert roi["other"]["revenue"] == {"EUR": pytest.approx(1000)}
    assert float(roi["cost_usd"]) == 1.0
    assert roi["roi"] == {"EUR": pytest.approx(500)}
    # last touch: A's was the out-of-office (not AI), B's the lead's reply
    last = metrics(db, tenant, p_model="last_touch")["ai_roi"]
    assert last["ai_assisted"]["revenue"] == {"EUR": 0} and last["other"]["revenue"] == {"EUR": 1500}


def test_the_days_are_the_range(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    m = metrics(db, fixture[0], p_from="2026-06-01", p_to="2026-06-02")
    assert m["speed_to_lead"]["leads"] == 2
    assert (m["reply_rate"]["sends"], m["reply_rate"]["replied"]) == (3, 2)
    assert (m["win_rate"]["won"], m["win_rate"]["lost"]) == (0, 0)
    assert m["ai_cost"]["calls"] == 1
    assert (m["from"], m["to"], m["tz"], m["rollup_tz"]) == ("2026-06-01", "2026-06-02", "UTC", "UTC")


def test_rollups_equal_a_recomputation_and_survive_a_rebuild(db: Conn,
                                                             fixture: tuple[str, dict[str, Lead]]) -> None:
    tenant = fixture[0]
    assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
    kinds = {r[1] for r in rollups(db, tenant)}
    assert {"step_sends", "replies", "auto_replies", "deals_lost", "autopilot"} <= kinds
    before = metrics(db, tenant)
    db.execute("delete from public.events where tenant_id = %s", (tenant,))  # only the tables to derive from
    db.execute("select public.analytics_rebuild(%s)", (tenant,))
    assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
    after = metrics(db, tenant)
    for key in ("reply_rate", "win_rate", "meetings_booked", "messages_by_channel", "sequence_steps", "autopilot",
                "ai_cost", "ai_roi", "speed_to_lead"):
        assert after[key] == before[key], key


def test_a_late_outbound_message_takes_the_reply(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    """A message sent before C's reply but recorded after it: the reply is now the later message's."""
    tenant, leads = fixture
    late = uuid.uuid4()
    db.execute("insert into public.messages (id, tenant_id, conversation_id, direction, body, status, sent_by, "
               "queued_at, sent_at) select %s, %s, c.id, 'out', 'hi', 'sent', 'user', %s, %s "
               "from public.conversations c where c.lead_id = %s and c.channel = 'sms'",
               (late, tenant, at(5, 11, 30), at(5, 11, 30), leads["C"].id))
    record(db, tenant, [], only={"touchpoints": [{
        "lead_id": str(leads["C"].id), "message_id": str(late), "channel": "sms", "direction": "out",
        "actor": "human", "occurred_at": at(5, 11, 30).isoformat(), "handler": "test"}]})
    m = metrics(db, tenant)
    assert [(s["position"], s["replied"]) for s in m["sequence_steps"]] == [(1, 0), (2, 0)]
    assert (m["reply_rate"]["sends"], m["reply_rate"]["replied"]) == (7, 3)
    assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
    # and deleting it gives the reply back to step 2
    db.execute("delete from public.analytics_touchpoints where message_id = %s", (late,))
    assert [(s["position"], s["replied"]) for s in metrics(db, tenant)["sequence_steps"]] == [(1, 0), (2, 1)]
    assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)


def test_the_tenants_time_zone_decides_the_days(db: Conn) -> None:
    """23:30 UTC on May 31 is June 1 in Berlin: a Berlin tenant's June has the message, a UTC one's has not."""
    tenant = new_tenant(db, timezone="Europe/Berlin")
    lead = Lead(created_at=at(31, 23, 0, month=5), touches=[Touch("email", "out", "human", at(31, 23, 30, month=5))])
    write(db, tenant, [lead])
    m = metrics(db, tenant)
    assert (m["tz"], m["rollup_tz"]) == ("Europe/Berlin", "Europe/Berlin")
    assert (m["speed_to_lead"]["leads"], m["reply_rate"]["sends"]) == (1, 1)
    assert metrics(db, tenant, p_to="2026-05-31", p_from="2026-05-31")["reply_rate"]["sends"] == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"p_tz": "Mars/Olympus"}, "analytics_metrics.p_tz: 'Mars/Olympus' is not a known time zone"),
    ({"p_from": "2026-07-01", "p_to": "2026-06-01"}, "analytics_metrics.p_from: 2026-07-01 is after p_to 2026-06-01"),
    ({"p_model": "markov"}, "analytics_metrics.p_model: must be one of"),
    ({"p_model": None}, "analytics_metrics.p_model: must be one of"),
])
def test_bad_input_is_refused_naming_the_field(db: Conn, kwargs: dict[str, Any], message: str) -> None:
    tenant = new_tenant(db)
    with pytest.raises(psycopg.Error) as refused:
        metrics(db, tenant, **kwargs)
    assert refused.value.sqlstate == "22023"
    assert message in str(refused.value)


def test_a_probability_outside_0_to_1_is_refused(db: Conn) -> None:
    tenant = new_tenant(db)
    with pytest.raises(psycopg.errors.CheckViolation, match="analytics_stage_probabilities_probability_range"):
        db.execute("update public.analytics_stage_probabilities set probability = 1.5 where tenant_id = %s",
                   (tenant,))


def test_service_code_names_the_tenant(db: Conn) -> None:
    with pytest.raises(psycopg.Error, match=r"analytics_metrics\.p_tenant_id: service code names the tenant"):
        db.execute("select public.analytics_metrics('2026-06-01', '2026-06-30')")


def test_nothing_happened_is_zeros_not_errors(db: Conn) -> None:
    m = metrics(db, new_tenant(db))
    assert m["speed_to_lead"]["leads"] == 0 and m["speed_to_lead"]["median_minutes"] is None
    assert m["reply_rate"]["rate"] is None and m["win_rate"]["rate"] is None
    assert m["sales_velocity"]["per_day"] is None and m["ai_roi"]["roi"] is None
    assert m["sequence_steps"] == [] and m["messages_by_channel"] == []


def test_linear_ai_roi_equals_the_linear_attribution_credits(db: Conn, fixture: tuple[str, dict[str, Lead]]) -> None:
    """The linear ROI is counted from the deals' touches; it is what analytics_touch_credits('linear') credits."""
    tenant = fixture[0]
    row = db.execute(
        "select sum(c.credit * c.value) filter (where c.actor = 'autopilot' or coalesce(t.ai_cost_usd, 0) > 0), "
        "sum(c.credit * c.value) filter (where not (c.actor = 'autopilot' or coalesce(t.ai_cost_usd, 0) > 0)) "
        "from public.analytics_touch_credits('linear', '2026-06-01', '2026-06-30', null, %s) c "
        "left join public.analytics_touchpoints t on t.message_id = c.message_id", (tenant,)).fetchone()
    assert row is not None
    roi = metrics(db, tenant)["ai_roi"]
    assert roi["ai_assisted"]["revenue"]["EUR"] == pytest.approx(float(row[0]))
    assert roi["other"]["revenue"]["EUR"] == pytest.approx(float(row[1]))
