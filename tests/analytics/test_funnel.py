"""The funnel on a hand-computed fixture: counts, conversions, drop-off, times to convert, the window, the
time zone of the days, exits, cohorts and breakdowns (docs/analytics.md, "Funnel")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.analytics.history import Lead, Touch, new_tenant, write

Conn = psycopg.Connection[Any]


def at(day: int, hour: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def leads() -> list[Lead]:
    a = Lead(created_at=at(1), source_channel="web",
             touches=[Touch("email", "out", "human", at(1, 1)), Touch("email", "in", "lead", at(1, 3)),
                      Touch("email", "in", "lead", at(2))],
             meetings=[(at(3), at(5))], stages=[("proposal_sent", at(6))], won=(at(10), 900.0, "EUR"))
    b = Lead(created_at=at(2), source_channel="web", stages=[("lead_qualified", at(2, 12)), ("lost", at(4))],
             touches=[Touch("sms", "out", "autopilot", at(3))])
    c = Lead(created_at=at(3), source_channel="whatsapp")
    # won 46 days after creation: outside a 30-day window, so it counts as created only
    d = Lead(created_at=at(4), source_channel="whatsapp", won=(at(20, month=7), 100.0, "EUR"))
    # 23:00 UTC on May 31 is June 1 in Berlin
    e = Lead(created_at=at(31, 23, month=5), source_channel="instagram")
    return [a, b, c, d, e]


@pytest.fixture
def tenant(db: Conn) -> str:
    tenant = new_tenant(db)
    write(db, tenant, leads())
    return tenant


def funnel(db: Conn, tenant: str, tz: str = "UTC", window: int = 30) -> dict[str, Any]:
    row = db.execute("select public.analytics_funnel('2026-06-01', '2026-06-30', %s, %s, %s)",
                     (tz, window, tenant)).fetchone()
    assert row is not None
    return dict(row[0])


def test_counts_conversions_and_drop_off_per_stage(db: Conn, tenant: str) -> None:
    report = funnel(db, tenant)
    assert report["leads"] == 4
    stages = {s["stage"]: s for s in report["stages"]}
    assert [s["stage"] for s in report["stages"]] == [
        "lead_created", "lead_qualified", "first_contact", "first_response", "engaged", "meeting_scheduled",
        "meeting_completed", "proposal_sent", "negotiation", "deal_closed_won"]
    # A went all the way (negotiation implied by the win); B was qualified and contacted; C and D only entered
    assert [s["count"] for s in report["stages"]] == [4, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    assert stages["lead_qualified"]["step_conversion"] == 0.5
    assert stages["first_contact"]["step_conversion"] == 1.0
    assert stages["first_response"]["step_conversion"] == 0.5
    assert stages["deal_closed_won"]["overall_conversion"] == 0.25
    assert [s["drop_off"] for s in report["stages"]] == [None, 2, 0, 1, 0, 0, 0, 0, 0, 0]
    assert stages["lead_qualified"]["drop_off_rate"] == 0.5


def test_median_and_mean_time_to_convert(db: Conn, tenant: str) -> None:
    stages = {s["stage"]: s for s in funnel(db, tenant)["stages"]}
    # qualified: A at its first contact (+1 h, a later stage implies it), B at +12 h
    assert stages["lead_qualified"]["median_hours_from_created"] == pytest.approx(6.5)
    assert stages["lead_qualified"]["mean_hours_from_created"] == pytest.approx(6.5)
    # first contact: A +1 h, B +24 h; from the previous stage: A 0 h, B 12 h
    assert stages["first_contact"]["median_hours_from_created"] == pytest.approx(12.5)
    assert stages["first_contact"]["median_hours_from_previous"] == pytest.approx(6.0)
    assert stages["first_response"]["mean_hours_from_created"] == pytest.approx(3.0)
    assert stages["engaged"]["median_hours_from_created"] == pytest.approx(24.0)
    assert stages["meeting_completed"]["median_hours_from_created"] == pytest.approx(96.0)
    assert stages["deal_closed_won"]["median_hours_from_created"] == pytest.approx(216.0)
    assert stages["lead_created"]["median_hours_from_previous"] is None


def test_a_longer_window_counts_the_late_win(db: Conn, tenant: str) -> None:
    # D's win 46 days in implies every stage before it, all reached then
    counts = [s["count"] for s in funnel(db, tenant, window=60)["stages"]]
    assert counts == [4, 3, 3, 2, 2, 2, 2, 2, 2, 2]


def test_days_are_the_time_zones(db: Conn, tenant: str) -> None:
    berlin = funnel(db, tenant, tz="Europe/Berlin")
    assert berlin["leads"] == 5
    assert berlin["tz"] == "Europe/Berlin"
    assert berlin["stages"][0]["count"] == 5


def test_exits_cohorts_and_breakdowns(db: Conn, tenant: str) -> None:
    report = funnel(db, tenant)
    assert report["exits"]["lost"] == {"count": 1, "rate": 0.25}
    assert report["exits"]["churned"]["count"] == 0
    assert [(c["week"], c["leads"], c["won"]) for c in report["cohorts"]] == [("2026-06-01", 4, 1)]
    by_channel = {r["source_channel"]: r for r in report["by_source_channel"]}
    assert (by_channel["web"]["leads"], by_channel["web"]["won"], by_channel["web"]["conversion"]) == (2, 1, 0.5)
    assert by_channel["whatsapp"]["stages"]["lead_created"] == 2
    assert by_channel["whatsapp"]["won"] == 0


def test_an_empty_period_reports_zero_leads_with_every_stage(db: Conn, tenant: str) -> None:
    report = dict(db.execute("select public.analytics_funnel('2025-01-01', '2025-01-31', 'UTC', 30, %s)",
                             (tenant,)).fetchone()[0])  # type: ignore[index]
    assert report["leads"] == 0
    assert [s["count"] for s in report["stages"]] == [0] * 10
    assert report["cohorts"] == []


def test_bad_arguments_are_refused_by_name(db: Conn, tenant: str) -> None:
    for call, message in [
        ("select public.analytics_funnel(null, null, 'Mars/Olympus', 30, %s)", "p_tz: 'Mars/Olympus' is not"),
        ("select public.analytics_funnel('2026-07-01', '2026-06-01', null, 30, %s)", "p_from: 2026-07-01 is after"),
        ("select public.analytics_funnel(null, null, null, 0, %s)", "p_window_days: must be between"),
        ("select public.analytics_funnel(null, null, null, 30, null::uuid) where %s::uuid is not null",
         "p_tenant_id: service code names the tenant"),
    ]:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message.replace("(", r"\(")):
            db.execute(call, (tenant,))
        db.rollback()
