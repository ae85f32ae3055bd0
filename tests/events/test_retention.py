"""Retention: processed events and their deliveries go once they are older than the retention, in small
batches, by the listener's maintenance or `salesflow events prune`; failed, pending and recent events stay;
one pruner at a time."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from engine_helpers import emit, running_engine, wait_until
from typer.testing import CliRunner

from salesflow.cli.main import app
from salesflow.events import Event, HandlerContext
from salesflow.events.engine import EngineSettings
from salesflow.events.registry import Registry
from salesflow.settings import PROJECT_ROOT, Settings

Conn = psycopg.Connection[Any]
runner = CliRunner()


def cli(database: str, *args: str) -> Any:
    return runner.invoke(app, ["events", "prune", *args, "--database-url", database])


def one(db: Conn, query: str, *params: Any) -> Any:
    row = db.execute(query, params).fetchone()
    db.commit()
    assert row is not None
    return row[0]


def aged(db: Conn, status: str, days: float, deliveries: int = 1) -> str:
    """An event that reached `status` `days` ago, with `deliveries` delivery rows."""
    eid = emit(db, "lead.updated")
    db.execute("update public.events set status = %s, processed_at = case when %s = 'processed' "
               "then now() - make_interval(days => %s) end, failed_at = case when %s = 'failed' "
               "then now() - make_interval(days => %s) end where id = %s",
               (status, status, days, status, days, eid))
    for n in range(deliveries):
        db.execute("insert into public.event_deliveries (event_id, handler, tenant_id, status) "
                   "select id, %s, tenant_id, 'succeeded' from public.events where id = %s", (f"h{n}", eid))
    db.commit()
    return eid


def surviving(db: Conn, ids: list[str]) -> set[str]:
    rows = db.execute("select id::text from public.events where id = any(%s::uuid[])", (ids,)).fetchall()
    db.commit()
    return {r[0] for r in rows}


def test_prune_deletes_old_processed_events_with_their_deliveries_and_keeps_failed_pending_and_recent(
    outbox: Conn, database: str
) -> None:
    old = [aged(outbox, "processed", 8, deliveries=2) for _ in range(5)]
    recent = aged(outbox, "processed", 6)
    old_failed = aged(outbox, "failed", 30)
    pending = emit(outbox, "lead.updated")
    result = cli(database, "--older-than", "7d", "--batch", "2")  # three batches of at most two
    assert result.exit_code == 0, result.output
    assert "deleted 5 processed event(s) older than 7d" in result.output
    assert surviving(outbox, [*old, recent, old_failed, pending]) == {recent, old_failed, pending}
    assert one(outbox, "select count(*) from public.event_deliveries where event_id = any(%s::uuid[])", old) == 0
    assert one(outbox, "select count(*) from public.event_deliveries where event_id = any(%s::uuid[])",
               [recent, old_failed]) == 2


def test_a_dry_run_counts_what_would_go_and_deletes_nothing(outbox: Conn, database: str) -> None:
    old = [aged(outbox, "processed", 8) for _ in range(3)]
    result = cli(database, "--older-than", "7d", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would delete 3 processed event(s) older than 7d" in result.output
    assert surviving(outbox, old) == set(old)
    assert one(outbox, "select count(*) from public.event_deliveries where event_id = any(%s::uuid[])", old) == 3


def test_one_pruner_at_a_time(outbox: Conn, database: str) -> None:
    old = [aged(outbox, "processed", 8) for _ in range(3)]
    with psycopg.connect(database) as pruner:
        # A pruner's batch in progress (its transaction not yet committed) holds the pruning lock.
        assert pruner.execute("select public.prune_events(86400 * 7, 1)").fetchone() == (1,)
        assert one(outbox, "select public.prune_events(86400 * 7, 1000)") is None  # answered at once
        result = cli(database, "--older-than", "7d")
        assert result.exit_code == 1
        assert "another pruner is running" in result.output
        pruner.commit()
    assert len(surviving(outbox, old)) == 2
    assert one(outbox, "select public.prune_events(86400 * 7, 1000)") == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--older-than", "7x"], "--older-than: '7x' is not a duration like 30m, 12h, 7d or 2w"),
    (["--older-than", "-1d"], "--older-than: '-1d' is not a duration"),
    (["--batch", "0"], "--batch: must be between 1 and 100000 (got 0)"),
])
def test_bad_options_are_refused_naming_them(session_database: str, args: list[str], message: str) -> None:
    result = cli(session_database, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_prune_help_names_its_options(session_database: str) -> None:
    result = runner.invoke(app, ["events", "prune", "--help"])
    assert result.exit_code == 0
    assert "--older-than" in result.output and "--dry-run" in result.output


async def test_the_listeners_maintenance_prunes_past_the_retention_on_its_own(outbox: Conn, database: str) -> None:
    old = [aged(outbox, "processed", 8) for _ in range(3)]
    recent = aged(outbox, "processed", 1)
    old_failed = aged(outbox, "failed", 30)
    registry = Registry()

    @registry.handles("test.fast")
    async def fast(event: Event, context: HandlerContext) -> None:
        return None

    async with running_engine(database, registry, retention_seconds=7 * 86400, prune_interval=0.1,
                              prune_batch=2, maintenance_interval=0.1):
        await wait_until(lambda: surviving(outbox, old) == set())
        assert surviving(outbox, [recent, old_failed]) == {recent, old_failed}


def test_the_retention_setting_defaults_to_what_env_example_and_the_engine_say() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    documented = re.search(r"^# ?SALESFLOW_EVENT_RETENTION=(\S+)$", example, flags=re.MULTILINE)
    assert documented is not None
    default = Settings().SALESFLOW_EVENT_RETENTION
    assert documented[1] == default
    assert Settings().event_retention_seconds() == EngineSettings().retention_seconds
