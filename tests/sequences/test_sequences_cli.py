"""`salesflow sequences`: a YAML file becomes a sequence (or exits 2 naming the bad field or step), leads are
enrolled in one call, show lists the next sends on the leads' clocks, pause / resume / stop change the
sequence or one lead's enrollment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from salesflow.cli.main import app
from tests.sequences.conftest import ACME, Conn, enrollments, make_leads

runner = CliRunner()

GOOD = """
name: Nachfassen
timezone: Europe/Vienna
send_days: [mon, tue, wed, thu, fri]
send_from: "08:30"
send_until: "17:30"
holiday_country: AT
daily_cap_sender: 50
steps:
  - channel: email
    template: "Hallo {{first_name}}, kurze Nachfrage zu Ihrem Angebot."
  - channel: email
    delay_business_days: 2
    template: "Passt es diese Woche, {{ first_name | }}?"
  - kind: task
    task: "Anrufen"
    delay_hours: 24
"""


def cli(database: str, *args: str) -> Any:
    return runner.invoke(app, ["sequences", *args, "--database-url", database])


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sequence.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_yaml_sequence_is_created_enrolled_shown_paused_and_stopped(
    seq_db: Conn, database: str, tmp_path: Path
) -> None:
    created = cli(database, "create", write(tmp_path, GOOD), "--tenant", ACME, "--json")
    assert created.exit_code == 0, created.output
    sid = json.loads(created.output)["id"]
    leads = make_leads(seq_db, 3, timezone="America/New_York")
    enrolled = cli(database, "enroll", sid, *[a for lead in leads for a in ("--lead", lead)], "--json")
    assert enrolled.exit_code == 0, enrolled.output
    assert json.loads(enrolled.output) == {"enrolled": 3, "skipped": {}}
    again = cli(database, "enroll", sid, "--lead", leads[0], "--json")
    assert json.loads(again.output) == {"enrolled": 0, "skipped": {"already_enrolled": 1}}

    shown = json.loads(cli(database, "show", sid, "--json").output)
    assert [s["kind"] for s in shown["steps"]] == ["message", "message", "task"]
    assert shown["enrollments"] == {"active": 3}
    assert {s["time_zone"] for s in shown["next_sends"]} == {"America/New_York"}

    paused = cli(database, "pause", sid, "--lead", leads[0], "--json")
    assert json.loads(paused.output)["enrollments_changed"] == 1
    assert cli(database, "pause", sid).exit_code == 0
    listed = json.loads(cli(database, "list", "--tenant", ACME, "--json").output)
    assert [(s["name"], s["status"]) for s in listed] == [("Nachfassen", "paused")]
    assert cli(database, "resume", sid).exit_code == 0
    assert cli(database, "stop", sid).exit_code == 0
    assert {(e["state"], e["stop_reason"]) for e in enrollments(seq_db, sid)} == {("stopped", "sequence_archived")}


def test_a_bad_file_exits_2_naming_the_step_and_field_and_writes_nothing(
    seq_db: Conn, database: str, tmp_path: Path
) -> None:
    cases = {
        GOOD.replace("{{first_name}}, kurze", "{{vorname}}, kurze"):
            "error: steps.1.template: unknown placeholder {{vorname}}",
        GOOD.replace("channel: email\n    delay_business_days", "channel: fax\n    delay_business_days"):
            "error: steps.2.channel: must be one of",
        GOOD.replace("Europe/Vienna", "Europe/Atlantis"): "error: timezone:",
        GOOD.replace('send_until: "17:30"', 'send_until: "07:00"'): "error: send_from:",
        GOOD.replace("holiday_country: AT", "holiday_country: XX"): "error: holiday_country:",
        "name: [unclosed": "error: FILE:",
    }
    for text, expected in cases.items():
        result = cli(database, "create", write(tmp_path, text), "--tenant", ACME)
        assert result.exit_code == 2, (expected, result.output)
        assert expected in result.output, result.output
    row = seq_db.execute("select count(*) from public.sequences").fetchone()
    assert row is not None and row[0] == 0


def test_the_documented_example_is_a_valid_sequence() -> None:
    import yaml

    from salesflow.sequences.models import SequenceSpec

    text = (Path(__file__).resolve().parents[2] / "docs" / "sequences.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = SequenceSpec.model_validate(yaml.safe_load(example))
    assert [s.kind for s in spec.steps] == ["message", "ai_message", "task", "message"]
