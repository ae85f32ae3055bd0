"""`salesflow analytics metrics`: the JSON is public.analytics_metrics' own, a terminal gets rich tables with the
same numbers, and bad input exits 2 naming the option."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from salesflow.cli.main import app
from tests.analytics.history import Lead, Touch, new_tenant, write

runner = CliRunner()
BASE = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def tenant(analytics_database: str) -> str:
    with psycopg.connect(analytics_database) as conn:
        tenant = new_tenant(conn, timezone="Europe/Berlin")
        write(conn, tenant, [
            Lead(created_at=BASE, touches=[Touch("email", "out", "human", BASE + timedelta(minutes=3)),
                                           Touch("email", "in", "lead", BASE + timedelta(hours=5))],
                 won=(BASE + timedelta(days=4), 800.0, "EUR")),
            Lead(created_at=BASE + timedelta(days=1), source_channel="whatsapp",
                 touches=[Touch("whatsapp", "out", "autopilot", BASE + timedelta(days=1, hours=2))]),
        ])
        conn.commit()
    return tenant


def run(url: str, *args: str) -> Any:
    return runner.invoke(app, ["analytics", "metrics", *args, "--database-url", url])


def test_json_is_the_functions_report(analytics_database: str, tenant: str) -> None:
    result = run(analytics_database, "--tenant", tenant, "--from", "2026-06-01", "--to", "2026-06-30", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    with psycopg.connect(analytics_database) as conn:
        direct = conn.execute("select public.analytics_metrics('2026-06-01', '2026-06-30', null, %s)",
                              (tenant,)).fetchone()[0]  # type: ignore[index]
    direct["pipeline"].pop("as_of")
    report["pipeline"].pop("as_of")
    assert report == json.loads(json.dumps(direct, default=str))
    assert report["tz"] == "Europe/Berlin", "the tenant's time zone when --tz is not given"
    assert (report["reply_rate"]["sends"], report["reply_rate"]["replied"]) == (2, 1)
    assert report["speed_to_lead"]["within_5_minutes"] == 0.5


def test_a_terminal_gets_tables(analytics_database: str, tenant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("salesflow.cli.analytics.is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "160")
    result = run(analytics_database, "--tenant", tenant, "--from", "2026-06-01", "--to", "2026-06-30")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Sales metrics 2026-06-01 to 2026-06-30 (Europe/Berlin)" in out
    assert "50.0 % (1 of 2 sends)" in out  # reply rate
    assert "100.0 % (1 won, 0 lost)" in out  # win rate
    assert "61.5 min" in out  # median speed to lead: 3 and 120 minutes
    for title in ("Speed to lead", "Messages by channel", "Reply rate by channel", "Pipeline now",
                  "AI cost by scenario"):
        assert title in out


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "markov"], "error: --model: must be one of first_touch"),
    (["--tz", "Mars/Olympus"], "error: --tz: must be an IANA time zone name"),
    (["--from", "2026-07-01", "--to", "2026-06-01"], "error: --from: must not be after to"),
    (["--from", "yesterday"], "error: --from:"),
])
def test_bad_input_exits_2_naming_the_option(analytics_database: str, tenant: str, args: list[str],
                                             message: str) -> None:
    result = run(analytics_database, "--tenant", tenant, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
