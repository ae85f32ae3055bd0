"""Property tests on generated histories: the SQL funnel and attribution equal the brute-force reference
(tests/analytics/reference.py), and the rollups always equal a fresh recomputation from the facts, after
random replays of the facts and after a rebuild."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics import reference
from tests.analytics.history import Lead, Touch, facts, new_tenant, record, rollups, write

Conn = psycopg.Connection[Any]
BASE = datetime(2026, 6, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
MODELS = ["first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path"]
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])

touches = st.lists(st.builds(
    lambda channel, kind, hours, cost: (channel, *kind, hours, cost),
    st.sampled_from(["whatsapp", "email", "sms", "instagram"]),
    st.sampled_from([("in", "lead"), ("out", "human"), ("out", "sequence"), ("out", "autopilot")]),
    st.integers(min_value=0, max_value=900),
    st.sampled_from([0.0, 0.0125]),
), max_size=5)


@st.composite
def lead(draw: st.DrawFn) -> Lead:
    created = BASE + timedelta(minutes=draw(st.integers(min_value=-3 * 1440, max_value=45 * 1440)))
    result = Lead(created_at=created, source_channel=draw(st.sampled_from(["web", "whatsapp", "email", "referral"])),
                  source=draw(st.sampled_from([None, "ads", "fair"])))
    for channel, direction, actor, hours, cost in draw(touches):
        result.touches.append(Touch(channel, direction, actor, created + timedelta(hours=hours, minutes=7),
                                    cost if direction == "out" else 0.0))
    for stage in draw(st.lists(st.sampled_from(["lead_qualified", "first_contact", "proposal_sent", "negotiation",
                                                "lost"]), unique=True, max_size=4)):
        result.stages.append((stage, created + timedelta(hours=draw(st.integers(min_value=0, max_value=1000)))))
    if draw(st.booleans()):
        booked = created + timedelta(hours=draw(st.integers(min_value=1, max_value=700)))
        held = booked + timedelta(hours=24) if draw(st.booleans()) else None
        result.meetings.append((booked, held))
    if draw(st.booleans()):
        result.won = (created + timedelta(hours=draw(st.integers(min_value=1, max_value=1500)), minutes=3),
                      draw(st.sampled_from([100.0, 250.5])), "EUR")
    return result


histories = st.lists(lead(), min_size=1, max_size=7)
periods = st.tuples(st.integers(min_value=-5, max_value=20), st.integers(min_value=0, max_value=60),
                    st.sampled_from(ZONES))


def period(p: tuple[int, int, str]) -> tuple[date, date, str]:
    first = BASE.date() + timedelta(days=p[0])
    return first, first + timedelta(days=p[1]), p[2]


@SETTINGS
@given(history=histories, p=periods, window=st.sampled_from([7, 30, 90]))
def test_the_funnel_equals_the_brute_force_count(db: Conn, history: list[Lead], p: tuple[int, int, str],
                                                 window: int) -> None:
    first, last, tz = period(p)
    try:
        tenant = new_tenant(db)
        write(db, tenant, history, messages=False)
        got = db.execute("select public.analytics_funnel(%s, %s, %s, %s, %s)",
                         (first, last, tz, window, tenant)).fetchone()[0]  # type: ignore[index]
        want = reference.funnel(history, first, last, tz, window)
        assert got["leads"] == want["leads"]
        assert got["exits"]["lost"]["count"] == want["lost"]
        for g, w in zip(got["stages"], want["stages"], strict=True):
            assert g["stage"] == w["stage"]
            for key, value in w.items():
                if isinstance(value, float):
                    assert g[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (w["stage"], key)
                else:
                    assert g[key] == value, (w["stage"], key)
    finally:
        db.rollback()


@SETTINGS
@given(history=histories, p=periods, model=st.sampled_from(MODELS))
def test_attribution_equals_the_brute_force_credits(db: Conn, history: list[Lead], p: tuple[int, int, str],
                                                    model: str) -> None:
    first, last, tz = period(p)
    try:
        tenant = new_tenant(db)
        write(db, tenant, history, messages=False)
        rows = db.execute(
            "select lead_id, credit from public.analytics_touch_credits(%s, %s, %s, %s, %s) order by lead_id, touch",
            (model, first, last, tz, tenant)).fetchall()
        got: dict[str, list[float]] = {}
        for lead_id, credit in rows:
            got.setdefault(str(lead_id), []).append(credit)
        want: dict[str, list[float]] = {}
        for c in reference.credits(history, model, first, last, tz):
            want.setdefault(str(c.lead.id), []).append(c.credit)
        assert got.keys() == want.keys()
        for lead_id, credits in want.items():
            assert got[lead_id] == pytest.approx(credits, abs=1e-9), lead_id
            assert sum(got[lead_id]) == pytest.approx(1.0, abs=1e-9)
        report = db.execute("select public.analytics_attribution(%s, 'channel', %s, %s, %s, %s)",
                            (model, first, last, tz, tenant)).fetchone()[0]  # type: ignore[index]
        by_channel = {c["channel"]: c["conversions"] for c in report["credits"]}
        assert by_channel == pytest.approx(reference.attribution(history, model, first, last, tz), abs=1e-9)
    finally:
        db.rollback()


@SETTINGS
@given(history=histories, zone=st.sampled_from(ZONES), seed=st.integers(min_value=0, max_value=10_000))
def test_rollups_equal_recomputation_after_replays_and_a_rebuild(db: Conn, history: list[Lead], zone: str,
                                                                 seed: int) -> None:
    rng = random.Random(seed)
    try:
        tenant = new_tenant(db, timezone=zone)
        write(db, tenant, history)
        assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
        before = rollups(db, tenant)
        # at-least-once delivery: random facts arrive again, in any order
        everything = facts(history)
        replay = {kind: rng.sample(rows, k=rng.randint(0, len(rows))) for kind, rows in everything.items()}
        assert record(db, tenant, history, only=replay) == {"touchpoints": 0, "stage_entries": 0, "meetings": 0,
                                                            "deal_outcomes": 0}
        assert rollups(db, tenant) == before
        # a rebuild from the tables changes nothing that was right, and mends what was lost
        db.execute("delete from public.analytics_daily_rollups where tenant_id = %s and random() < 0.5", (tenant,))
        db.execute("select public.analytics_rebuild(%s)", (tenant,))
        assert rollups(db, tenant) == before
        assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)
    finally:
        db.rollback()


@SETTINGS
@given(history=histories, p=periods)
def test_touch_paths_equal_the_brute_force_paths(db: Conn, history: list[Lead], p: tuple[int, int, str]) -> None:
    first, last, tz = period(p)
    try:
        tenant = new_tenant(db)
        write(db, tenant, history, messages=False)
        report = db.execute("select public.analytics_touch_paths('channel', %s, %s, %s, %s)",
                            (first, last, tz, tenant)).fetchone()[0]  # type: ignore[index]
        got = {tuple(row["path"]): (row["conversions"], row["non_conversions"],
                                    round(float(row["revenue"].get("EUR", 0.0)), 2)) for row in report["paths"]}
        brute = reference.touch_paths(history, first, last, tz)
        want = {path: (c, n, round(r, 2)) for path, (c, n, r) in brute.items()}
        assert got == want
    finally:
        db.rollback()
