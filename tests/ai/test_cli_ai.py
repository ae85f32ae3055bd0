"""`salesflow ai`: run a scenario, manage prompts, report usage (offline: the local provider)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from salesflow.cli.main import app
from salesflow.settings import settings
from tests.conftest import ACME, NORDLICHT

JULIA = "10000000-0000-4000-8000-000000000001"
runner = CliRunner()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No API key, whatever the developer's environment says."""
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.delenv("OPENAI_API_KEY")
    settings.cache_clear()
    yield
    settings.cache_clear()


def ai(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["ai", *args, "--database-url", url])
    return result.exit_code, result.stdout, result.stderr


def test_run_on_a_lead_prints_the_result_and_its_usage_row(session_database: str) -> None:
    code, out, err = ai(session_database, "run", "lead_scoring", "--lead", JULIA)
    assert code == 0, err
    assert '"score":' in out and "Kontaktdaten vorhanden" in out  # Acme is German
    assert "prompt lead_scoring v1 (de, database); answered by local/local-rules" in out
    usage_id = out.strip().splitlines()[-1].split()[-1]
    with psycopg.connect(session_database) as conn:
        row = conn.execute("select tenant_id::text, lead_id::text, outcome from public.ai_usage where id = %s",
                           (usage_id,)).fetchone()
    assert row == (ACME, JULIA, "success")


def test_run_on_input_as_json(session_database: str) -> None:
    code, out, err = ai(session_database, "run", "lead_extraction", "--tenant", NORDLICHT, "--json", "--input",
                        json.dumps({"text": "Hi, I'm Tom Miller from Acme Ltd, tom@acme.example"}))
    assert code == 0, err
    result = json.loads(out)
    assert result["output"]["email"] == {"value": "tom@acme.example", "confidence": 0.95}
    assert result["prompt"]["locale"] == "en"
    assert [u["outcome"] for u in result["usage"]] == ["success"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "lead_scoring", "--tenant", ACME, "--input", '{"lead": {}}'], "lead_scoring input.lead.name"),
        (["run", "lead_scoring", "--tenant", ACME, "--input", "{not json"], "--input is not valid JSON"),
        (["run", "lead_scoring"], "exactly one of --lead ID or --input JSON"),
        (["run", "lead_scoring", "--input", "{}"], "--tenant is required with --input"),
        (["run", "lead_magic", "--lead", JULIA], "unknown scenario 'lead_magic'"),
        (["run", "lead_scoring", "--lead", "42"], "--lead must be a UUID"),
        (["usage", "--month", "2026-13"], "--month must be YYYY-MM"),
        (["prompts", "label", "lead_scoring", "1", "production"], "has version 1 in de and en: pass --locale"),
    ],
)
def test_bad_input_exits_2_naming_the_field(session_database: str, args: list[str], message: str) -> None:
    def written() -> tuple[object, ...] | None:
        with psycopg.connect(session_database) as conn:
            return conn.execute("select (select count(*) from public.ai_usage), "
                                "(select count(*) from public.ai_prompts), "
                                "(select count(*) from public.ai_prompt_labels)").fetchone()

    before = written()
    code, _, err = ai(session_database, *args)
    assert code == 2
    assert message in err
    assert written() == before  # refused before anything was called or recorded


def test_publish_list_show_and_label(database: str, tmp_path: Path) -> None:
    prompt = tmp_path / "followup.json"
    prompt.write_text(json.dumps({
        "name": "followup_message",
        "labels": ["production"],
        "commit_message": "shorter",
        "locales": {
            "de": {"messages": [{"role": "user", "content": "Kurz: {{lead}} {{context}}"}]},
            "en": {"messages": [{"role": "user", "content": "Short: {{lead}} {{context}}"}]},
        },
    }))
    code, out, err = ai(database, "prompts", "publish", str(prompt))
    assert code == 0, err
    assert "published followup_message (de) version 2 [production]" in out
    assert "published followup_message (en) version 2 [production]" in out

    code, out, _ = ai(database, "prompts", "list", "--json")
    versions = [(p["locale"], p["version"], p["labels"]) for p in json.loads(out) if p["name"] == "followup_message"]
    assert versions == [("de", 1, ""), ("de", 2, "production"), ("en", 1, ""), ("en", 2, "production")]

    code, out, _ = ai(database, "prompts", "show", "followup_message", "--locale", "en")
    assert json.loads(out)["messages"][0]["content"] == "Short: {{lead}} {{context}}"

    code, out, err = ai(database, "prompts", "label", "followup_message", "1", "production", "--locale", "de")
    assert code == 0, err
    code, out, _ = ai(database, "prompts", "show", "followup_message", "--tenant", ACME)
    assert json.loads(out)["version"] == 1  # Acme is German: the label moved back there

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "followup_message", "locale": "fr", "messages": []}))
    code, _, err = ai(database, "prompts", "publish", str(bad))
    assert code == 2 and "locale: must be one of de, en" in err


def test_usage_by_scenario_and_model(database: str) -> None:
    for _ in range(2):
        assert ai(database, "run", "lead_scoring", "--lead", JULIA)[0] == 0
    assert ai(database, "run", "dm_opener", "--lead", JULIA)[0] == 0
    code, out, _ = ai(database, "usage", "--tenant", ACME, "--json")
    assert code == 0
    rows = {(r["scenario"], r["model"]): r for r in json.loads(out)}
    assert rows[("lead_scoring", "local-rules")]["calls"] == 2
    assert rows[("dm_opener", "local-rules")]["calls"] == 1
    code, out, _ = ai(database, "usage", "--tenant", NORDLICHT)
    assert code == 0 and out.strip().endswith("0 call(s), $0.000000")
    code, out, _ = ai(database, "usage", "--tenant", ACME, "--month", "2020-01", "--json")
    assert json.loads(out) == []


def test_budget_set_and_show(database: str) -> None:
    code, out, err = ai(database, "budget", "set", "--tenant", ACME, "--limit", "25", "--at-limit", "refuse")
    assert code == 0, err
    assert "$25.00 a month, at the limit: refuse" in out
    assert ai(database, "budget", "set", "--tenant", ACME, "--limit", "5", "--scenario", "lead_scoring")[0] == 0
    assert ai(database, "budget", "set", "--tenant", ACME, "--limit", "30", "--at-limit", "refuse")[0] == 0
    code, out, _ = ai(database, "budget", "show", "--json")
    budgets = {(b["scenario"], b["limit_usd"], b["at_limit"]) for b in json.loads(out)}
    assert budgets == {("(all)", 30.0, "refuse"), ("lead_scoring", 5.0, "fallback_local")}
    code, _, err = ai(database, "budget", "set", "--tenant", ACME, "--limit", "-1")
    assert code == 2 and "--limit must be >= 0" in err
    code, _, err = ai(database, "budget", "set", "--tenant", ACME, "--limit", "1", "--at-limit", "block")
    assert code == 2 and "--at-limit must be fallback_local or refuse" in err


def test_seed_stores_the_packaged_prompts_of_a_scenario_without_any(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("delete from public.ai_prompts where name = 'dm_opener'")
    code, out, err = ai(database, "run", "dm_opener", "--lead", JULIA)
    assert code == 2 and "ai prompts seed" in err
    code, out, err = ai(database, "prompts", "seed")
    assert code == 0, err
    assert "seeded dm_opener (de) version 1 [production]" in out and out.strip().endswith("2 prompt(s) seeded")
    assert ai(database, "run", "dm_opener", "--lead", JULIA)[0] == 0
    assert ai(database, "prompts", "seed")[1].strip().endswith("0 prompt(s) seeded")
