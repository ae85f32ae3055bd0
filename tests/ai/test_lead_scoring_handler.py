"""The lead.created handler scores a new lead end to end through the real listener process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from salesflow.db.claims import act_as
from tests.conftest import ACME, ANNA, member_claims
from tests.polling import wait_until_sync

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener(database: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`salesflow listen` on the test's database, offline (no OpenAI key: the local provider scores)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    log = (tmp_path / "listener.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesflow.cli.main", "listen", "--database-url", database,
         "--poll-interval", "0.5", "--log-level", "INFO"],
        cwd=ROOT, env={**env, "SALESFLOW_LOG_FORMAT": "json"}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_a_new_lead_is_scored_and_the_score_change_is_published(
    database: str, listener: subprocess.Popen[bytes]
) -> None:
    with psycopg.connect(database) as conn:
        # A member adds a lead through the API path (RLS, tenant from the token).
        act_as(conn, member_claims(ANNA, ACME))
        lead_id = conn.execute(
            "insert into public.leads (name, email, phone, company, source_channel, notes) "
            "values ('Paul Weber', 'paul@weber-bau.de', '+49 170 1112223', 'Weber Bau', 'referral', "
            "'Möchte ein Angebot und eine Demo nächste Woche') returning id"
        ).fetchone()[0]  # type: ignore[index]
        conn.commit()

        def scored() -> Any:
            row = conn.execute(
                "select score, temperature, score_reasons, scored_at from public.leads where id = %s", (lead_id,)
            ).fetchone()
            conn.commit()
            return row if row and row[3] is not None else None

        score, temperature, reasons, _ = wait_until_sync(scored)
        assert score >= 70 and temperature == "hot"
        assert any("Kaufsignale" in r for r in reasons)  # Acme's locale is German

        created = conn.execute(
            "select id, status from public.events where type = 'lead.created' and payload->>'lead_id' = %s",
            (str(lead_id),),
        ).fetchone()
        assert created is not None
        usage = conn.execute(
            "select scenario, provider, outcome, event_id, prompt_locale from public.ai_usage where lead_id = %s",
            (lead_id,),
        ).fetchall()
        assert usage == [("lead_scoring", "local", "success", created[0], "de")]

        def updated_and_done() -> Any:
            rows = conn.execute(
                "select type, status, payload from public.events where ordering_key = %s order by seq",
                (str(lead_id),),
            ).fetchall()
            conn.commit()
            return rows if rows and all(r[1] == "processed" for r in rows) and len(rows) == 2 else None

        events = wait_until_sync(updated_and_done)
        assert [e[0] for e in events] == ["lead.created", "lead.updated"]
        assert events[1][2]["changes"]["score"] == {"from": 0, "to": score}
        # The score change did not score the lead again: still exactly one AI call for it. No sleep needed:
        # the lead.updated event is processed, so any handler it triggered has already run and written.
        count = conn.execute("select count(*) from public.ai_usage where lead_id = %s", (lead_id,)).fetchone()
        assert count == (1,)
