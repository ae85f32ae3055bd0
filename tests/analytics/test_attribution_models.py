"""Every attribution model on hand-computed fixtures: the credits the definitions give (docs/analytics.md),
per touch and per channel, summing to 1 for every won deal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.analytics.history import Lead, Touch, new_tenant, write

Conn = psycopg.Connection[Any]
MODELS = ["first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path"]


def at(day: int, hour: int = 9, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def five_touch_lead() -> Lead:
    """Writes in on WhatsApp (which creates it), gets an email, an autopilot SMS, a proposal, replies, and
    signs after a sequence email: 1,000 EUR."""
    return Lead(
        created_at=at(1), source_channel="whatsapp", source="whatsapp_click",
        touches=[Touch("whatsapp", "in", "lead", at(1)), Touch("email", "out", "human", at(2)),
                 Touch("sms", "out", "autopilot", at(8)), Touch("whatsapp", "in", "lead", at(10)),
                 Touch("email", "out", "sequence", at(15))],
        stages=[("proposal_sent", at(9))],
        won=(at(15), 1000.0, "EUR"),
    )


def two_touch_lead() -> Lead:
    return Lead(created_at=at(3), source_channel="email", source="cold_email",
                touches=[Touch("email", "out", "human", at(3, 10)), Touch("whatsapp", "in", "lead", at(4, 10))],
                won=(at(5, 10), 500.0, "EUR"))


def untouched_lead() -> Lead:
    return Lead(created_at=at(18), source_channel="referral", source="trade_fair", won=(at(20), 200.0, "EUR"))


FIVE = {
    "first_touch": [1, 0, 0, 0, 0],
    "last_touch": [0, 0, 0, 0, 1],
    "linear": [0.2] * 5,
    # 2^(-Δt/7d) to the win on June 15: 14, 13, 7, 5 and 0 days before, normalised
    "time_decay": [w / sum(ws) for ws in [[2 ** -2, 2 ** (-13 / 7), 2 ** -1, 2 ** (-5 / 7), 1.0]] for w in ws],
    "u_shaped": [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4],
    # first touch = lead-creation touch (the WhatsApp message that created it): 30 + 30; the SMS is the last
    # touch before the proposal (the opportunity): 30; the other three share 10
    "w_shaped": [0.6, 0.1 / 3, 0.3, 0.1 / 3, 0.1 / 3],
    # and the closing touch (the sequence email) 22.5; the two others share 10
    "full_path": [0.45, 0.05, 0.225, 0.05, 0.225],
}
TWO = {
    "first_touch": [1, 0], "last_touch": [0, 1], "linear": [0.5, 0.5],
    "time_decay": [2 ** (-2 / 7) / (2 ** (-2 / 7) + 2 ** (-1 / 7)), 2 ** (-1 / 7) / (2 ** (-2 / 7) + 2 ** (-1 / 7))],
    "u_shaped": [0.5, 0.5],
    # no touch before the creation: the first takes that role too (60); the second is the opportunity touch
    # (the win itself); nobody else, so the 10 goes to the three roles: 2/3 and 1/3
    "w_shaped": [2 / 3, 1 / 3],
    "full_path": [0.5, 0.5],
}


@pytest.fixture
def fixture(db: Conn) -> str:
    tenant = new_tenant(db)
    write(db, tenant, [five_touch_lead(), two_touch_lead(), untouched_lead()])
    return tenant


def touch_credits(db: Conn, tenant: str, model: str) -> dict[str, list[float]]:
    rows = db.execute(
        "select campaign, credit from public.analytics_touch_credits(%s, '2026-06-01', '2026-06-30', 'UTC', %s) "
        "order by campaign, touch", (model, tenant)).fetchall()
    out: dict[str, list[float]] = {}
    for campaign, credit in rows:
        out.setdefault(campaign, []).append(credit)
    return out


@pytest.mark.parametrize("model", MODELS)
def test_each_model_gives_the_hand_computed_credits(db: Conn, fixture: str, model: str) -> None:
    got = touch_credits(db, fixture, model)
    assert got["whatsapp_click"] == pytest.approx(FIVE[model], abs=1e-12)
    assert got["cold_email"] == pytest.approx(TWO[model], abs=1e-12)
    assert got["trade_fair"] == pytest.approx([1.0], abs=1e-12), "a deal without touches goes to how it came in"


@pytest.mark.parametrize("model", MODELS)
def test_every_conversions_credits_sum_to_one(db: Conn, fixture: str, model: str) -> None:
    sums = db.execute(
        "select lead_id, sum(credit) from public.analytics_touch_credits(%s, '2026-06-01', '2026-06-30', 'UTC', %s) "
        "group by lead_id", (model, fixture)).fetchall()
    assert len(sums) == 3
    assert all(s == pytest.approx(1.0, abs=1e-12) for _, s in sums)


def test_u_shaped_by_channel_with_revenue(db: Conn, fixture: str) -> None:
    report = db.execute("select public.analytics_attribution('u_shaped', 'channel', '2026-06-01', '2026-06-30', "
                        "'UTC', %s)", (fixture,)).fetchone()[0]  # type: ignore[index]
    assert report["conversions"] == 3
    assert report["revenue"] == {"EUR": 1700}
    by_channel = {c["channel"]: c for c in report["credits"]}
    assert by_channel["whatsapp"]["conversions"] == pytest.approx(0.4 + 0.2 / 3 + 0.5)
    assert by_channel["email"]["conversions"] == pytest.approx(0.2 / 3 + 0.4 + 0.5)
    assert by_channel["sms"]["conversions"] == pytest.approx(0.2 / 3)
    assert by_channel["referral"]["conversions"] == pytest.approx(1.0)
    assert by_channel["whatsapp"]["revenue"]["EUR"] == pytest.approx(1000 * (0.4 + 0.2 / 3) + 500 * 0.5)
    assert sum(c["conversions"] for c in report["credits"]) == pytest.approx(3.0)


def test_ai_and_human_touches_are_told_apart(db: Conn, fixture: str) -> None:
    report = db.execute("select public.analytics_attribution('linear', 'actor', '2026-06-01', '2026-06-30', "
                        "'UTC', %s)", (fixture,)).fetchone()[0]  # type: ignore[index]
    by_actor = {c["actor"]: c["conversions"] for c in report["credits"]}
    assert by_actor == pytest.approx({"lead": 0.4 + 0.5, "human": 0.2 + 0.5, "autopilot": 0.2, "sequence": 0.2,
                                      "none": 1.0})


def test_deals_won_outside_the_period_are_not_credited(db: Conn, fixture: str) -> None:
    report = db.execute("select public.analytics_attribution('linear', 'campaign', '2026-06-16', '2026-06-30', "
                        "'UTC', %s)", (fixture,)).fetchone()[0]  # type: ignore[index]
    assert report["conversions"] == 1
    assert [(c["campaign"], c["conversions"]) for c in report["credits"]] == [("trade_fair", 1.0)]


def test_an_unknown_model_or_dimension_is_refused_by_name(db: Conn, fixture: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="p_model: must be one of"):
        db.execute("select public.analytics_attribution('data_driven', 'channel', null, null, null, %s)", (fixture,))
    db.rollback()
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="p_dimension: must be one of"):
        db.execute("select public.analytics_attribution('linear', 'planet', null, null, null, %s)", (fixture,))
