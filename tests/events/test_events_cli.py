"""`salesflow events ...` as an operator uses it: clear refusals for bad input, readable and JSON output."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from engine_helpers import ACME, emit
from typer.testing import CliRunner

from salesflow.cli.main import app

Conn = psycopg.Connection[Any]
runner = CliRunner()


def cli(database: str, *args: str, stdin: str | None = None) -> Any:
    return runner.invoke(app, ["events", *args, "--database-url", database], input=stdin)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["publish", "lead.created", "--tenant", "99999999-9999-4999-8999-999999999999"],
         "--tenant: no tenant with id 99999999-9999-4999-8999-999999999999"),
        (["publish", "lead.created", "--tenant", "acme"], "--tenant: 'acme' is not a UUID"),
        (["publish", "lead.exploded", "--tenant", ACME], "TYPE: unknown event type 'lead.exploded'; known types:"),
        (["publish", "lead.created", "--tenant", ACME, "--payload", '{"lead_id": '],
         "--payload: not valid JSON (Expecting value at line 1 column 13)"),
        (["publish", "lead.created", "--tenant", ACME, "--payload", "[1, 2]"],
         "--payload: must be a JSON object, got a JSON list"),
        (["publish", "lead.created", "--tenant", ACME, "--max-attempts", "0"],
         "--max-attempts: must be between 1 and 100"),
        (["list", "--status", "done"], "--status: must be one of pending, processing, processed, failed"),
        (["list", "--since", "yesterday"], "--since: 'yesterday' is neither a duration"),
        (["replay"], "give either an EVENT_ID or --failed"),
    ],
)
def test_bad_input_is_refused_naming_the_field(session_database: str, args: list[str], message: str) -> None:
    result = cli(session_database, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_an_over_large_payload_is_refused_with_the_limit(session_database: str) -> None:
    big = json.dumps({"notes": "x" * 300_000})
    result = cli(session_database, "publish", "lead.created", "--tenant", ACME, "--payload", "-", stdin=big)
    assert result.exit_code == 2
    assert "--payload: 300013 bytes is over the limit of 262144 bytes (256 KiB)" in result.output


def test_publish_list_show_and_replay_an_event(db: Conn, database: str) -> None:
    published = cli(database, "publish", "message.sent", "--tenant", ACME, "--payload",
                    '{"channel": "email", "latency_ms": 80}', "--ordering-key", "lead-1")
    assert published.exit_code == 0, published.output
    event_id = published.output.strip()

    listed = json.loads(cli(database, "list", "--type", "message.sent", "--json").output)
    assert [e["id"] for e in listed] == [event_id] and listed[0]["status"] == "pending"

    shown = json.loads(cli(database, "show", event_id, "--json").output)
    assert shown["event"]["payload"] == {"channel": "email", "latency_ms": 80}
    assert shown["event"]["source"] == "cli" and shown["deliveries"] == []

    refused = cli(database, "replay", event_id)
    assert refused.exit_code == 2 and "only processed or failed events can be replayed" in refused.output
    db.execute("update public.events set status = 'failed', failed_at = now() where id = %s", (event_id,))
    db.commit()
    replayed = cli(database, "replay", "--failed", "--type", "message.sent")
    assert replayed.exit_code == 0 and "replayed 1 failed event(s)" in replayed.output
    assert json.loads(cli(database, "show", event_id, "--json").output)["event"]["status"] == "pending"


def test_status_reports_counts_lag_failures_and_lease_expiries(db: Conn, database: str) -> None:
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    emit(db, "lead.updated")
    failed = emit(db, "lead.updated")
    db.execute("update public.events set status = 'failed', failed_at = now(), lease_expiries = 1, "
               "last_lease_expired_at = now() where id = %s", (failed,))
    db.commit()
    report = json.loads(cli(database, "status", "--json").output)
    assert report["by_status"] == {"processed": 12, "pending": 1, "failed": 1}
    assert {"type": "lead.updated", "status": "failed", "count": 1} in report["by_type"]
    assert report["failed_last_hour"] == 1
    assert report["lease_expiries_total"] == 1 and report["lease_expiries_last_hour"] == 1
    assert report["oldest_pending_age_seconds"] is not None
    assert report["held_back_behind_their_key"] == 0


def test_status_and_show_tell_which_events_wait_behind_their_key(db: Conn, database: str) -> None:
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    head, follower = emit(db, "lead.updated", ordering_key="lead-1"), emit(db, "lead.updated", ordering_key="lead-1")
    db.execute("select * from public.claim_events('w1', 10, 30)").fetchall()  # takes head, passes over follower
    db.commit()
    assert json.loads(cli(database, "status", "--json").output)["held_back_behind_their_key"] == 1
    shown = json.loads(cli(database, "show", follower, "--json").output)["event"]
    assert (shown["status"], shown["held_back"]) == ("pending", True)
    db.execute("select public.finish_events('w1', %s::jsonb)", (json.dumps([{"id": head, "outcome": "processed"}]),))
    db.commit()
    assert json.loads(cli(database, "show", follower, "--json").output)["event"]["held_back"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "--concurrency: must be >= 1 (got 0)"),
        (["--batch", "1001"], "--batch: must be between 1 and 1000 (got 1001)"),
        (["--lease", "0.5"], "--lease: must be >= 1 second (got 0.5)"),
        (["--window-ms", "-1"], "--window-ms: must be between 0 and 10000 (got -1.0)"),
        (["--transport", "carrier-pigeon"], "--transport: must be one of postgres, supabase"),
        (["--metrics-port", "70000"], "--metrics-port: must be between 1 and 65535 (got 70000)"),
    ],
)
def test_listen_refuses_bad_options_naming_them(session_database: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["listen", *args, "--database-url", session_database])
    assert result.exit_code == 2, result.output
    assert message in result.output
