"""The data-driven model: the Markov-chain removal effect on a hand-computed chain, the minimum-data rule
(too little data says so and credits nothing, never another model), and the paths the database hands it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from salesflow.analytics.attribution import Path, markov, paths_from_json
from tests.analytics.history import Lead, Touch, new_tenant, write

Conn = psycopg.Connection[Any]


def test_removal_effects_on_a_hand_computed_chain() -> None:
    # START→A 3/4, START→B 1/4, A→B 2/3, A→NULL 1/3, B→CONV 1: P = 3/4·2/3 + 1/4 = 0.75.
    # Without A: 1/4, RE(A) = 2/3. Without B: 0, RE(B) = 1. Shares 0.4 / 0.6 of 3 conversions and 300 EUR.
    paths = [Path(("A", "B"), 2, 0, {"EUR": 200.0}), Path(("B",), 1, 0, {"EUR": 100.0}), Path(("A",), 0, 1)]
    result = markov(paths, min_conversions=1, min_non_conversions=1)
    assert result.status == "ok"
    assert result.conversion_probability == pytest.approx(0.75)
    credits = {c.key: c for c in result.credits}
    assert credits["A"].removal_effect == pytest.approx(2 / 3)
    assert credits["B"].removal_effect == pytest.approx(1.0)
    assert credits["A"].conversions == pytest.approx(1.2)
    assert credits["B"].conversions == pytest.approx(1.8)
    assert credits["B"].revenue == pytest.approx({"EUR": 180.0})
    assert sum(c.conversions for c in result.credits) == pytest.approx(3.0)


def test_repeated_touches_are_self_loops_and_credits_still_sum_to_the_conversions() -> None:
    paths = [Path(("A", "A", "B"), 40, 0), Path(("B", "C"), 10, 25), Path(("C",), 5, 20), Path(("A",), 0, 15)]
    result = markov(paths)
    assert result.status == "ok"
    assert sum(c.conversions for c in result.credits) == pytest.approx(55.0)
    assert all(c.removal_effect > 0 for c in result.credits)


def test_too_little_data_says_why_and_credits_nothing() -> None:
    result = markov([Path(("A", "B"), 29, 40), Path(("A",), 0, 1)])
    assert result.status == "insufficient_data"
    assert result.credits == ()
    assert result.reasons == ("conversions: 29 won deals, at least 30 are needed",)
    one_key = markov([Path(("A",), 30, 30)])
    assert one_key.status == "insufficient_data"
    assert one_key.reasons == ("keys: 1 distinct touch keys, at least 2 are needed",)
    assert one_key.as_json()["credits"] == []


def test_the_database_groups_the_touch_paths(db: Conn) -> None:
    base = datetime(2026, 6, 1, 9, tzinfo=UTC)
    leads = []
    for i in range(3):  # the same path thrice: whatsapp then email, won
        created = base + timedelta(hours=i)
        leads.append(Lead(created_at=created, touches=[Touch("whatsapp", "in", "lead", created),
                                                       Touch("email", "out", "human", created + timedelta(hours=1))],
                          won=(created + timedelta(days=1), 100.0, "EUR")))
    leads.append(Lead(created_at=base, touches=[Touch("sms", "out", "autopilot", base)]))  # not won
    leads.append(Lead(created_at=base, source_channel="referral"))  # neither touched nor won
    tenant = new_tenant(db)
    write(db, tenant, leads, messages=False)
    report = db.execute("select public.analytics_touch_paths('channel', '2026-06-01', '2026-06-30', 'UTC', %s)",
                        (tenant,)).fetchone()[0]  # type: ignore[index]
    assert report["paths"] == [
        {"path": ["whatsapp", "email"], "conversions": 3, "non_conversions": 0, "revenue": {"EUR": 300}},
        {"path": ["referral"], "conversions": 0, "non_conversions": 1, "revenue": {}},
        {"path": ["sms"], "conversions": 0, "non_conversions": 1, "revenue": {}},
    ]
    parsed = paths_from_json(report["paths"])
    assert parsed[0] == Path(("whatsapp", "email"), 3, 0, {"EUR": 300.0})
    assert markov(parsed).status == "insufficient_data"
