"""`salesflow autopilot settings | queue | approve | reject` on a real database: an operator sets the mode,
sees the drafts waiting for a person, and approves (or edits) or rejects them; bad input exits 2 naming it."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from typer.testing import CliRunner

from salesflow.cli.main import app
from tests.autopilot.helpers import action_of, answered, autopilot, autopilot_messages, known_lead
from tests.conversations.inbound import ACME

runner = CliRunner()


def _cli(database: str, *args: str) -> Any:
    return runner.invoke(app, ["autopilot", *args, "--database-url", database, "--json"])


async def test_an_operator_sets_assist_mode_and_approves_an_edit_of_the_queued_draft(database: str) -> None:
    set_mode = _cli(database, "settings", "--tenant", ACME, "--set", "mode=assist", "--set", "min_confidence=0.7")
    assert set_mode.exit_code == 0, set_mode.output
    assert json.loads(set_mode.output)["effective"][ACME]["mode"] == "assist"
    with psycopg.connect(database) as conn:
        lead = known_lead(conn)
        async with autopilot(database):
            first = await answered(conn, lead, "Können wir am Dienstag einen kurzen Termin machen?")
            second = await answered(conn, lead, "Oder lieber Donnerstag?")
        queued = _cli(database, "queue", "--tenant", ACME)
        assert queued.exit_code == 0, queued.output
        ids = {d["id"] for d in json.loads(queued.output)}
        a, b = action_of(conn, first.message_id), action_of(conn, second.message_id)
        assert a is not None and b is not None and ids == {str(a["id"]), str(b["id"])}
        edited = _cli(database, "approve", str(a["id"]), "--text", "Dienstag 10 Uhr passt, bis dann!")
        assert edited.exit_code == 0, edited.output
        assert json.loads(edited.output)["verdict"] == "edited"
        rejected = _cli(database, "reject", str(b["id"]))
        assert rejected.exit_code == 0 and json.loads(rejected.output)["status"] == "rejected"
        assert [m[0] for m in autopilot_messages(conn, lead)] == ["Dienstag 10 Uhr passt, bis dann!"]
        assert json.loads(_cli(database, "queue").output) == []
        again = _cli(database, "approve", str(b["id"]))
        assert again.exit_code == 2 and "is rejected" in again.output


def test_bad_settings_exit_2_naming_the_field(database: str) -> None:
    for args, field in [(["--set", "mode=yolo"], "mode"), (["--set", "min_confidence=2"], "min_confidence"),
                        (["--set", "colour=red"], "--set"), (["--set", "quiet_start=22:00"], "quiet_start")]:
        result = _cli(database, "settings", "--tenant", ACME, *args)
        assert result.exit_code == 2, (args, result.output)
        assert f"error: {field}" in result.output, result.output
    missing = _cli(database, "settings", "--set", "mode=auto")
    assert missing.exit_code == 2 and "error: --tenant" in missing.output
    assert _cli(database, "approve", "not-a-uuid").exit_code == 2
