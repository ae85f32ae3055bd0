"""`salesflow demo generate`: synthetic history through the real tables and triggers, deterministic for a seed,
plausible, consistent with the rollups and journeys the triggers keep, and leaving nothing for the listener."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from salesflow.analytics.generate import GenerateError, GenerateSpec, generate
from salesflow.cli.main import app

UNTIL = date(2026, 11, 30)
LEADS = 200
runner = CliRunner()


def _tenant(url: str) -> str:
    tenant = str(uuid.uuid4())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into public.tenants (id, name) values (%s, %s)", (tenant, f"demo {tenant[:8]}"))
    return tenant


@pytest.fixture(scope="module")
def generated(analytics_database: str) -> Iterator[tuple[str, str, Any]]:
    """Two tenants with the history of seed 7 (no members: no owner ids that differ between them)."""
    first, second = _tenant(analytics_database), _tenant(analytics_database)
    result = generate(analytics_database, GenerateSpec(uuid.UUID(first), LEADS, days=120, seed=7, until=UNTIL,
                                                       chunk=90))
    generate(analytics_database, GenerateSpec(uuid.UUID(second), LEADS, days=120, seed=7, until=UNTIL))
    yield first, second, result
    with psycopg.connect(analytics_database, autocommit=True) as conn:
        conn.execute("delete from public.tenants where id = any(%s::uuid[])", ([first, second],))


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _reports(url: str, tenant: str) -> dict[str, Any]:
    scope = (date(2026, 8, 1), UNTIL, "UTC")
    funnel = _one(url, "select public.analytics_funnel(%s, %s, %s, 90, %s)", *scope, tenant)
    attribution = {m: _one(url, "select public.analytics_attribution(%s, 'channel', %s, %s, %s, %s)", m, *scope, tenant)
                   for m in ("linear", "time_decay", "w_shaped")}
    paths = _one(url, "select public.analytics_touch_paths('channel', %s, %s, %s, %s)", *scope, tenant)
    return {"funnel": funnel, "attribution": attribution, "paths": paths}


def test_the_same_seed_gives_the_same_numbers(analytics_database: str, generated: tuple[str, str, Any]) -> None:
    """Generated in chunks of 90 leads or of 2,000, in another tenant: the same reports, number for number."""
    first, second, _ = generated
    assert _reports(analytics_database, first) == _reports(analytics_database, second)


def test_the_history_is_plausible(analytics_database: str, generated: tuple[str, str, Any]) -> None:
    tenant, _, result = generated
    assert result.leads == LEADS
    assert result.touchpoints == result.messages
    assert 10 * LEADS <= result.touchpoints <= 30 * LEADS
    assert 0.02 * LEADS <= result.won <= 0.25 * LEADS
    assert result.lost > result.won
    assert result.meetings > result.won
    assert result.enrollments > 0 and result.ai_usage > 0
    funnel = _one(analytics_database, "select public.analytics_funnel(%s, %s, 'UTC', 365, %s)",
                  date(2025, 1, 1), UNTIL, tenant)
    counts = [s["count"] for s in funnel["stages"]]
    assert counts[0] == LEADS
    assert counts == sorted(counts, reverse=True)  # a funnel: never grows down
    assert counts[-1] == result.won
    with psycopg.connect(analytics_database) as conn:
        actors = dict(conn.execute("select actor, count(*) from public.analytics_touchpoints where tenant_id = %s "
                                   "group by actor", (tenant,)).fetchall())
        assert set(actors) == {"lead", "human", "sequence", "autopilot"}
        # replies come after what they answer, minutes to days later, never before the lead existed
        early = conn.execute("select count(*) from public.analytics_touchpoints t "
                             "join public.leads l on l.id = t.lead_id where t.tenant_id = %s "
                             "and t.occurred_at < l.created_at", (tenant,)).fetchone()
        assert early == (0,)
        ai = conn.execute("select coalesce(sum(amount), 0) from public.analytics_daily_rollups where tenant_id = %s "
                          "and metric = 'ai_cost'", (tenant,)).fetchone()
        assert ai is not None and ai[0] > 0
        # sequence touches name their sequence and step; the enrollment a reply stopped says so
        unnamed = conn.execute("select count(*) from public.analytics_touchpoints where tenant_id = %s and "
                               "actor = 'sequence' and (sequence_id is null or step_id is null)", (tenant,)).fetchone()
        assert unnamed == (0,)
        states = dict(conn.execute("select state, count(*) from public.sequence_enrollments where tenant_id = %s "
                                   "group by state", (tenant,)).fetchall())
        assert states.get("stopped", 0) > 0


def test_rollups_and_journeys_are_the_triggers_own(analytics_database: str, generated: tuple[str, str, Any]) -> None:
    """What the statement triggers kept equals a fresh recomputation from the facts."""
    tenant, _, _ = generated
    with psycopg.connect(analytics_database) as conn:
        differ = conn.execute(
            "select count(*) from ((select tenant_id, day, metric, channel, direction, actor, dimension, currency, "
            "count, amount from public.analytics_daily_rollups where tenant_id = %(t)s "
            "except select * from private.analytics_rollups_recomputed(%(t)s)) union all "
            "(select * from private.analytics_rollups_recomputed(%(t)s) except select tenant_id, day, metric, "
            "channel, direction, actor, dimension, currency, count, amount from public.analytics_daily_rollups "
            "where tenant_id = %(t)s)) d", {"t": tenant}).fetchone()
        assert differ == (0,)
        columns = ("lead_id, lead_created, lead_qualified, first_contact, first_response, engaged, meeting_scheduled, "
                   "meeting_completed, proposal_sent, negotiation, deal_closed_won, lost, churned, won_value, "
                   "won_currency")
        stale = conn.execute(f"select count(*) from (select {columns} from public.analytics_lead_journeys "
                             f"where tenant_id = %(t)s except select {columns} from "
                             f"private.analytics_journeys_of(%(t)s, null)) d", {"t": tenant}).fetchone()
        assert stale == (0,)


def test_a_rebuild_derives_the_same_reports(analytics_database: str) -> None:
    """The generated messages and leads are what the facts say: re-deriving them changes no number."""
    tenant = _tenant(analytics_database)
    generate(analytics_database, GenerateSpec(uuid.UUID(tenant), 80, days=60, seed=3, until=UNTIL))
    before = _reports(analytics_database, tenant)
    with psycopg.connect(analytics_database, autocommit=True) as conn:
        rebuilt = conn.execute("select public.analytics_rebuild(%s)", (tenant,)).fetchone()
    assert rebuilt is not None and rebuilt[0]["touchpoints_removed"] == 0
    assert _reports(analytics_database, tenant) == before


def test_the_listener_finds_nothing_to_do(analytics_database: str, generated: tuple[str, str, Any]) -> None:
    """The events the writes published are history: marked processed, none pending for any handler."""
    tenant, _, result = generated
    with psycopg.connect(analytics_database) as conn:
        statuses = dict(conn.execute("select status, count(*) from public.events where tenant_id = %s group by status",
                                     (tenant,)).fetchall())
        kinds = {r[0] for r in conn.execute("select distinct type from public.events where tenant_id = %s",
                                            (tenant,)).fetchall()}
    assert statuses == {"processed": result.events_marked_processed}
    assert {"lead.created", "conversation.created", "message.received", "autopilot.action_executed"} <= kinds


def test_a_seed_is_generated_once_per_tenant(analytics_database: str, generated: tuple[str, str, Any]) -> None:
    tenant, _, _ = generated
    with pytest.raises(GenerateError, match="--seed"):
        generate(analytics_database, GenerateSpec(uuid.UUID(tenant), 5, seed=7))
    with pytest.raises(GenerateError, match="--tenant"):
        generate(analytics_database, GenerateSpec(uuid.uuid4(), 5, seed=7))


@pytest.mark.parametrize(("args", "option"), [
    (["--tenant", "nope", "--leads", "5"], "--tenant"),
    (["--leads", "0"], "--leads"),
    (["--leads", "5", "--days", "0"], "--days"),
    (["--leads", "5", "--seed", "-1"], "--seed"),
    (["--leads", "5", "--until", "30.11.2026"], "--until"),
])
def test_bad_input_exits_2_naming_the_option(analytics_database: str, args: list[str], option: str) -> None:
    if "--tenant" not in args:
        args = ["--tenant", str(uuid.uuid4()), *args]
    result = runner.invoke(app, ["demo", "generate", *args, "--database-url", analytics_database])
    assert result.exit_code == 2
    assert f"error: {option}:" in result.output


def test_the_command_prints_what_it_wrote(analytics_database: str) -> None:
    tenant = _tenant(analytics_database)
    result = runner.invoke(app, ["demo", "generate", "--tenant", tenant, "--leads", "20", "--days", "30",
                                 "--until", UNTIL.isoformat(), "--json", "--database-url", analytics_database])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["leads"] == 20 and counts["touchpoints"] == counts["messages"] > 0
    again = runner.invoke(app, ["demo", "generate", "--tenant", tenant, "--leads", "20", "--database-url",
                                analytics_database])
    assert again.exit_code == 2 and "error: --seed:" in again.output
