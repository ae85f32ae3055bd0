"""`salesflow run --demo` (what `./scripts/run --demo` calls) prepares the database, processes every demo
event and exits 0."""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg
import pytest
from engine_helpers import ROOT


@pytest.mark.timeout(120)
def test_run_demo_processes_every_demo_event_and_exits_zero(empty_database: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "salesflow.cli.main", "run", "--demo", "--database-url", empty_database],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Other handlers (e.g. AI lead scoring) may add follow-up events; every one of them must be processed.
    done = re.search(r"demo: (\d+) of (\d+) events processed\n", result.stdout)
    assert done is not None and done[1] == done[2] and int(done[1]) >= 15, result.stdout
    with psycopg.connect(empty_database) as conn:
        left = conn.execute("select count(*) from public.events where status <> 'processed'").fetchone()
        # Every processed event of the four analytics types left exactly one fact.
        unrecorded = conn.execute(
            "select count(*) from public.events e where e.type in ('lead.created', 'message.sent', "
            "'sequence.step_executed', 'autopilot.action_executed') and (select count(*) "
            "from public.analytics_events a where a.event_id = e.id and a.handler like 'analytics.%') <> 1"
        ).fetchone()
        facts = conn.execute("select count(*) from public.analytics_events").fetchone()
    assert left == (0,)
    assert unrecorded == (0,)
    assert facts is not None and facts[0] >= 12 + 1  # the seed's leads and at least one demo event
