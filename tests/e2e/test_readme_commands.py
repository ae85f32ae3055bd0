"""The README's first command, as a user runs it: `./scripts/run --demo` on a fresh database."""

from __future__ import annotations

import os
import re
import subprocess

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


def test_readme_starts_with_the_two_commands() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "./scripts/run" in first_block and "./scripts/test" in first_block
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci
