"""The README's first command, as a user runs it: `./scripts/run --demo` on a fresh database."""

from __future__ import annotations

import os
import re
import subprocess

import psycopg
import pytest

from salesflow.settings import PROJECT_ROOT
from tests.e2e.demo_story import demo_story


@pytest.mark.parametrize("transport", ["supabase", "postgres"])
def test_scripts_run_demo_follows_a_signed_whatsapp_webhook_to_a_sent_reply_a_sequence_and_an_approved_draft(
        empty_database: str, transport: str) -> None:
    """The default is the production path (local stack, Realtime, PostgREST, a signed-in demo member); postgres is
    the self-hosting path (LISTEN/NOTIFY), with the same signed webhook over HTTP to the same function."""
    env = {**os.environ, "DATABASE_URL": empty_database, "SALESFLOW_DEV_PORT": "0"}
    env.pop("SUPABASE_URL", None)
    args = ["--demo"] if transport == "supabase" else ["--demo", "--transport", "postgres"]
    result = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "run"), *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    done = re.search(r"demo: (\d+) of (\d+) events processed", output)
    assert done, output
    assert done[1] == done[2] and int(done[2]) > 0, output
    assert re.search(r"POST http://127\.0\.0\.1:\d+/functions/v1/whatsapp-webhook .*: HTTP 200", output), output
    assert "sequence step 1 sent" in output and "enrollment stopped by the reply rule" in output, output
    assert "guards sensitive_topic" in output and "draft sent (verdict approved)" in output, output
    if transport == "supabase":
        assert "signed in as anna@acme.test" in output
        assert "moved the lead to qualified through PostgREST" in output
        assert "enroll_leads as anna@acme.test through PostgREST" in output
        assert "autopilot_decide as anna@acme.test through PostgREST" in output
    # Not only what the script says: the rows and events tell the same story (demo_story asserts it).
    (lead,) = demo_story(empty_database)
    assert int(done[2]) == len(lead["events"]), (output, lead["events"])
    with psycopg.connect(empty_database) as conn:
        touched = conn.execute("select count(*) from public.analytics_events where lead_id = %s",
                               (lead["id"],)).fetchone()
    assert touched is not None and touched[0] >= 4  # its source touchpoint, the reply's, the step's, the draft's


def test_readme_starts_with_the_two_commands() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "./scripts/run" in first_block and "./scripts/test" in first_block
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci
