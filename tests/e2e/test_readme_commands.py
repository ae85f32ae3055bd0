"""The README's first command, as a user runs it: `./scripts/run --demo` on a fresh database."""

from __future__ import annotations

import os
import re
import subprocess

import psycopg
import pytest

from salesflow.settings import PROJECT_ROOT


@pytest.mark.parametrize("transport", ["supabase", "postgres"])
def test_scripts_run_demo_processes_every_demo_event(empty_database: str, transport: str) -> None:
    """The default is the production path (local stack, Realtime, PostgREST, a signed-in demo user)."""
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
    if transport == "supabase":
        assert "signed in as anna@acme.test" in output
        assert "created through PostgREST" in output
    # Not only what the script says: the database shows the demo's leads, their events all processed by
    # the project's handlers (each lead scored, its touchpoints recorded).
    with psycopg.connect(empty_database) as conn:
        leads = conn.execute("select id, scored_at is not null from public.leads where 'demo' = any(tags) "
                             "and name like '%%Demo%%'").fetchall()
        assert leads, output
        assert all(scored for _, scored in leads), leads
        ids = [str(lead_id) for lead_id, _ in leads]
        states = dict(conn.execute("select status, count(*) from public.events where ordering_key = any(%s) "
                                   "group by 1", (ids,)).fetchall())
        assert set(states) == {"processed"} and states["processed"] >= 3 * len(ids), states
        touched = conn.execute("select count(distinct lead_id) from public.analytics_events "
                               "where lead_id = any(%s::uuid[])", (ids,)).fetchone()
        assert touched == (len(ids),)


def test_readme_starts_with_the_two_commands() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "./scripts/run" in first_block and "./scripts/test" in first_block
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci
