"""`salesflow analytics`: the JSON is the SQL functions' own, Markov says when data is too thin, the rebuild
reports what it derived, and bad input exits 2 naming the option."""

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


@pytest.fixture(scope="module")
def tenant(analytics_database: str) -> str:
    base = datetime(2026, 6, 1, 9, tzinfo=UTC)
    with psycopg.connect(analytics_database) as conn:
        tenant = new_tenant(conn, timezone="Europe/Berlin")
        write(conn, tenant, [
            Lead(created_at=base, source="ads", touches=[Touch("email", "out", "human", base + timedelta(hours=1)),
                                                         Touch("email", "in", "lead", base + timedelta(hours=5))],
                 won=(base + timedelta(days=3), 800.0, "EUR")),
            Lead(created_at=base + timedelta(days=1), source_channel="whatsapp"),
        ])
        conn.commit()
    return tenant


def run(url: str, *args: str) -> Any:
    result = runner.invoke(app, ["analytics", *args, "--database-url", url])
    return result


def test_funnel_json_is_the_functions_report(analytics_database: str, tenant: str) -> None:
    result = run(analytics_database, "funnel", "--tenant", tenant, "--from", "2026-06-01", "--to", "2026-06-30",
                 "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    with psycopg.connect(analytics_database) as conn:
        direct = conn.execute("select public.analytics_funnel('2026-06-01', '2026-06-30', null, 90, %s)",
                              (tenant,)).fetchone()[0]  # type: ignore[index]
    assert report == json.loads(json.dumps(direct, default=str))
    assert report["tz"] == "Europe/Berlin", "the tenant's time zone when --tz is not given"
    assert (report["leads"], report["stages"][-1]["count"]) == (2, 1)


def test_attribution_json_and_markov_insufficient_data(analytics_database: str, tenant: str) -> None:
    result = run(analytics_database, "attribution", "--tenant", tenant, "--model", "u_shaped", "--from",
                 "2026-06-01", "--to", "2026-06-30", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"] == "u_shaped" and report["revenue"] == {"EUR": 800}
    assert [(c["channel"], c["conversions"]) for c in report["credits"]] == [("email", 1.0)]
    markov = run(analytics_database, "attribution", "--tenant", tenant, "--model", "markov", "--from", "2026-06-01",
                 "--to", "2026-06-30", "--json")
    assert markov.exit_code == 0, markov.output
    result_json = json.loads(markov.output)
    assert result_json["status"] == "insufficient_data"
    assert result_json["credits"] == []
    assert "conversions: 1 won deals, at least 30 are needed" in result_json["reasons"]


def test_rebuild_reports_what_it_derived(analytics_database: str, tenant: str) -> None:
    result = run(analytics_database, "rebuild", "--tenant", tenant, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["journeys"] == 2
    assert report["touchpoints_removed"] == 0


@pytest.mark.parametrize(("args", "message"), [
    (["attribution", "--model", "magic"], "error: --model: must be one of first_touch"),
    (["attribution", "--dimension", "planet"], "error: --dimension: must be one of channel"),
    (["funnel", "--tz", "Mars/Olympus"], "error: --tz: must be an IANA time zone name"),
    (["funnel", "--from", "2026-07-01", "--to", "2026-06-01"], "error: --from: must not be after to"),
    (["funnel", "--from", "yesterday"], "error: --from:"),
    (["funnel", "--window-days", "0"], "error: --window-days:"),
])
def test_bad_input_exits_2_naming_the_option(analytics_database: str, tenant: str, args: list[str],
                                             message: str) -> None:
    result = runner.invoke(app, ["analytics", *args, "--tenant", tenant, "--database-url", analytics_database])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_tenant_that_is_not_a_uuid_is_refused(analytics_database: str) -> None:
    result = run(analytics_database, "funnel", "--tenant", "acme")
    assert result.exit_code == 2
    assert "error: --tenant:" in result.output
