"""`salesflow run --demo` (what `./scripts/run --demo` calls) prepares the database, follows a signed WhatsApp
webhook from an unknown number to a sent reply, a sequence step, the lead's answer stopping it and an approved
autopilot draft sent, and exits 0 once every event of it was processed."""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg
import pytest
from engine_helpers import ROOT

from salesflow.demo import DEMO_SEQUENCE
from tests.e2e.demo_story import demo_story


def _run_demo(database_url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "salesflow.cli.main", "run", "--demo", "--port", "0", "--database-url", database_url],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    done = re.search(r"demo: (\d+) of (\d+) events processed\n", result.stdout)
    # lead.created, conversation.created, two message.received, three sends (message.queued, two status changes,
    # message.sent each), two pipeline moves, two sequence.step_due, sequence.step_executed,
    # autopilot.action_executed, and the lead updates of extraction and scoring.
    assert done is not None and done[1] == done[2] and int(done[1]) >= 23, result.stdout
    return result.stdout


@pytest.mark.timeout(240)
def test_a_second_demo_run_on_the_same_database_tells_the_story_again(empty_database: str) -> None:
    first = _run_demo(empty_database)
    second = _run_demo(empty_database)
    for output in (first, second):
        assert "HTTP 200" in output and "by Zero-Input" in output and "through the outbox adapter" in output, output
        assert "enrollment stopped by the reply rule" in output and "draft sent (verdict approved)" in output, output
    leads = demo_story(empty_database)
    # Each run wrote from a new unknown number: two Zero-Input leads, one demo connection reconnected, one demo
    # sequence the second run found again.
    assert len(leads) == 2 and leads[0]["whatsapp_identity"] != leads[1]["whatsapp_identity"]
    with psycopg.connect(empty_database) as conn:
        connections = conn.execute("select count(*) from public.channel_connections").fetchone()
        sequences = conn.execute("select count(*) from public.sequences where name = %s", (DEMO_SEQUENCE,)).fetchone()
        # Due work all done; the drafts' expiry timers (autopilot.draft_expiry, due in 24 h) may still wait.
        left = conn.execute("select count(*) from public.events where status <> 'processed' "
                            "and not (status = 'pending' and run_after > now())").fetchone()
        timers = conn.execute("select count(*), count(*) filter (where type = 'autopilot.draft_expiry') "
                              "from public.events where status = 'pending' and run_after > now()").fetchone()
        assert timers is not None and timers[0] == timers[1]
        # Every processed lead.created and message.sent left exactly one analytics fact of the analytics handlers.
        unrecorded = conn.execute(
            "select count(*) from public.events e where e.type in ('lead.created', 'message.sent') "
            "and (select count(*) from public.analytics_events a "
            "     where a.event_id = e.id and a.handler like 'analytics.%') <> 1"
        ).fetchone()
    assert connections == (1,)
    assert sequences == (1,)
    assert left == (0,)
    assert unrecorded == (0,)
