"""`salesflow alerts`: bad rule input exits 2 naming the option, rules and targets are managed per tenant, and
`alerts test TARGET` really sends (a signed webhook to 127.0.0.1, a dashboard test alert)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from salesflow.cli.main import app
from salesflow.settings import settings
from tests.alerts.conftest import WebhookReceiver, alerts, evaluate, fail_event
from tests.channels.smtp_server import smtp_server
from tests.conftest import ACME

Conn = psycopg.Connection[Any]
runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    settings.cache_clear()
    yield
    settings.cache_clear()


def cli(database: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["alerts", *args, "--database-url", database], env=env)


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "cpu_load", "--threshold", "1", "--window", "5m"], "--metric (metric)"),
    (["--metric", "failed_events", "--threshold", "1", "--window", "-5m"], "--window: '-5m' is not a duration >= 0"),
    (["--metric", "failed_events", "--threshold", "-1", "--window", "5m"], "--threshold (threshold)"),
    (["--metric", "failed_events", "--threshold", "1"], "--window (window_seconds): metric failed_events counts over"),
    (["--metric", "handler_failure_rate", "--threshold", "5", "--window", "5m"], "is a rate between 0 and 1"),
    (["--metric", "failed_events", "--threshold", "1", "--window", "5m", "--severity", "panic"], "--severity"),
], ids=["unknown-metric", "negative-window", "negative-threshold", "no-window", "rate-above-1", "bad-severity"])
def test_bad_rule_input_exits_2_naming_the_field(database: str, args: list[str], message: str) -> None:
    result = cli(database, "rules", "add", "my_rule", "--tenant", ACME, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_the_database_refuses_what_the_cli_would(db: Conn) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"alert_rules\.window_seconds: must be between 0"):
        db.execute("insert into public.alert_rules (tenant_id, name, metric, window_seconds, threshold)"
                   " values (%s, 'x', 'failed_events', -1, 1)", (ACME,))


def test_rules_are_listed_added_changed_and_disabled(database: str) -> None:
    listed = json.loads(cli(database, "rules", "--tenant", ACME, "--json").output)
    assert {r["name"] for r in listed} >= {"failed_events", "ai_budget_80", "ai_budget_100", "oldest_pending_age"}
    added = cli(database, "rules", "add", "burst", "--tenant", ACME, "--metric", "failed_events", "--window", "5m",
                "--threshold", "10", "--severity", "critical", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)[0]["window_seconds"] == 300
    changed = cli(database, "rules", "set", "burst", "--tenant", ACME, "--threshold", "20", "--cooldown", "2h",
                  "--json")
    assert changed.exit_code == 0, changed.output
    assert (json.loads(changed.output)[0]["threshold"], json.loads(changed.output)[0]["cooldown_seconds"]) == (20, 7200)
    off = cli(database, "rules", "disable", "burst", "--tenant", ACME, "--json")
    assert json.loads(off.output)[0]["enabled"] is False
    duplicate = cli(database, "rules", "add", "burst", "--tenant", ACME, "--metric", "failed_events", "--window", "5m",
                    "--threshold", "1")
    assert duplicate.exit_code == 2 and "exists already" in duplicate.output
    missing = cli(database, "rules", "set", "nope", "--tenant", ACME, "--threshold", "1")
    assert missing.exit_code == 2 and "no alert rule 'nope'" in missing.output


def test_alerts_test_sends_a_signed_webhook(database: str, receiver: WebhookReceiver) -> None:
    added = cli(database, "targets", "add", "slack", "--tenant", ACME, "--kind", "webhook", "--url", receiver.url,
                "--json")
    assert added.exit_code == 0, added.output
    secret = json.loads(added.output)[0]["secret"]
    assert secret.startswith("whsec_")
    assert cli(database, "targets", "secret", "slack", "--tenant", ACME).output.strip() == secret
    result = cli(database, "test", "slack", "--tenant", ACME, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outcome"] == "sent"
    [got] = receiver.wait_for(1)
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["transition"] == "test" and payload["text"].startswith("[TEST] info · Acme Sales")


def test_alerts_test_reports_a_failed_send(database: str, receiver: WebhookReceiver) -> None:
    receiver.statuses = [404]
    cli(database, "targets", "add", "broken", "--tenant", ACME, "--kind", "webhook", "--url", receiver.url)
    result = cli(database, "test", "broken", "--tenant", ACME, "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["error"].startswith("HTTP 404")


def test_alerts_test_mails_over_smtp(database: str) -> None:
    cli(database, "targets", "add", "oncall", "--tenant", ACME, "--kind", "email", "--email", "oncall@acme.test")
    with smtp_server() as server:
        env = {"SALESFLOW_ALERT_SMTP_HOST": server.host, "SALESFLOW_ALERT_SMTP_PORT": str(server.port),
               "SALESFLOW_ALERT_SMTP_SECURITY": "none", "SALESFLOW_ALERT_SMTP_USERNAME": "mailer",
               "SALESFLOW_ALERT_SMTP_PASSWORD": "s3cret-smtp"}
        result = cli(database, "test", "oncall", "--tenant", ACME, "--json", env=env)
        assert result.exit_code == 0, result.output
        [mail] = server.mailbox.received
    assert mail.message["Subject"].startswith("[TEST]")


def test_alerts_test_of_a_dashboard_target_writes_a_test_alert(database: str, db: Conn) -> None:
    cli(database, "targets", "add", "board", "--tenant", ACME, "--kind", "dashboard")
    result = cli(database, "test", "board", "--tenant", ACME, "--json")
    assert result.exit_code == 0, result.output
    assert [(a["metric"], a["status"]) for a in alerts(db)] == [("test", "resolved")]


def test_bad_target_input_exits_2(database: str) -> None:
    result = cli(database, "targets", "add", "x", "--tenant", ACME, "--kind", "pager")
    assert result.exit_code == 2 and "--kind: must be one of webhook, email, dashboard" in result.output
    result = cli(database, "targets", "add", "x", "--tenant", ACME, "--kind", "webhook", "--url", "ftp://nope")
    assert result.exit_code == 2 and "--url" in result.output
    result = cli(database, "test", "nothing", "--tenant", ACME)
    assert result.exit_code == 2 and "no notification target 'nothing'" in result.output


def test_list_shows_firing_alerts(quiet_db: Conn, database: str) -> None:
    fail_event(quiet_db)
    evaluate(quiet_db)
    listed = json.loads(cli(database, "list", "--status", "firing", "--json").output)
    assert [(a["metric"], a["status"], a["count"]) for a in listed] == [("failed_events", "firing", 1)]
    assert cli(database, "list", "--status", "nope").exit_code == 2


def test_evaluate_runs_once_and_leaves_no_listener_behind(quiet_db: Conn, database: str) -> None:
    fail_event(quiet_db)
    result = cli(database, "evaluate", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fired"] == 1
    row = quiet_db.execute("select count(*) from private.listener_heartbeats where stopped_at is null").fetchone()
    assert row == (0,)
