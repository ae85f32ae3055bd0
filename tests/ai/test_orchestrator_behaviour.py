"""Orchestrator promises around the edges: result cache, stale prompts, lost leads, stale reservations."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import psycopg
import pytest

from salesflow.ai import AIRuntime, LeadNotFound, StoreUnavailable
from salesflow.ai.prompts import PromptCache
from salesflow.ai.store_postgres import PostgresAIStore
from tests.conftest import ACME, NORDLICHT

NORDLICHT_LEAD = "20000000-0000-4000-8000-000000000001"


async def test_a_cacheable_scenario_answers_a_repeat_from_memory(
    shared_store: PostgresAIStore, local_runtime: AIRuntime
) -> None:
    orchestrator = local_runtime.orchestrator(shared_store)
    text = {"text": "Ich bin Lena Fischer, lena@fischer.example"}
    first = await orchestrator.run("lead_extraction", tenant_id=ACME, input=text)
    again = await orchestrator.run("lead_extraction", tenant_id=ACME, input=text)
    other_tenant = await orchestrator.run("lead_extraction", tenant_id=NORDLICHT, input=text)
    assert (first.from_cache, again.from_cache, other_tenant.from_cache) == (False, True, False)
    assert again.output == first.output
    assert [u["outcome"] for u in again.usage] == ["cache_hit"]
    # Scoring is not cacheable: a lead's score must follow its latest data.
    lead = {"lead": {"name": "Lena"}}
    assert not (await orchestrator.run("lead_scoring", tenant_id=ACME, input=lead)).from_cache
    assert not (await orchestrator.run("lead_scoring", tenant_id=ACME, input=lead)).from_cache


async def test_a_cached_prompt_outlives_a_database_outage(shared_store: PostgresAIStore) -> None:
    now = [0.0]
    cache = PromptCache(ttl_seconds=10, clock=lambda: now[0])
    fresh = await cache.get(shared_store, "followup_message", NORDLICHT)

    class Away:
        async def resolve_prompt(self, *args: object) -> None:
            raise StoreUnavailable("database unreachable")

    now[0] = 60.0  # expired, and the database is gone: the last good version beats the packaged one
    stale = await cache.get(Away(), "followup_message", NORDLICHT)  # type: ignore[arg-type]
    assert stale is fresh and stale.source == "database"


async def test_a_lead_of_another_tenant_is_not_found(shared_store: PostgresAIStore, local_runtime: AIRuntime) -> None:
    with pytest.raises(LeadNotFound, match=NORDLICHT_LEAD):
        await local_runtime.orchestrator(shared_store).run("lead_scoring", tenant_id=ACME, lead_id=NORDLICHT_LEAD)


async def test_a_reservation_left_by_a_dead_worker_is_released_after_30_minutes(
    store: PostgresAIStore, database: str
) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) values (%s, 1, 'refuse')",
                     (ACME,))
        conn.execute(
            "insert into public.ai_budget_periods (tenant_id, scenario, period, reserved_usd) "
            "values (%s, null, date_trunc('month', now() at time zone 'utc')::date, 1)", (ACME,))
        conn.execute(
            "insert into public.ai_budget_reservations (tenant_id, scenario, period, amount_usd, created_at) "
            "values (%s, 'lead_scoring', date_trunc('month', now() at time zone 'utc')::date, 1, "
            "now() - interval '31 minutes')", (ACME,))
    result = await store.reserve_budget(ACME, "lead_scoring", "openai", ["gpt-4o-mini"], 1000, 400)
    assert result["allowed"] is True
    with psycopg.connect(database) as conn:
        reserved = conn.execute("select reserved_usd from public.ai_budget_periods where tenant_id = %s",
                                (ACME,)).fetchone()
    assert reserved == (Decimal("0.00039000"),)  # the dead worker's dollar released, the new call's reserved


async def test_concurrent_calls_share_a_few_usage_writes(
    shared_store: PostgresAIStore, session_database: str, local_runtime: AIRuntime
) -> None:
    writes: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(shared_store, name)

        async def track_usage(self, rows: list[dict[str, object]]) -> object:
            writes.append(len(rows))
            return await shared_store.track_usage(rows)

    orchestrator = local_runtime.orchestrator(Counting())  # type: ignore[arg-type]
    results = await asyncio.gather(*[
        orchestrator.run("lead_scoring", tenant_id=ACME, input={"lead": {"name": f"Lead {i}"}}) for i in range(100)
    ])
    assert sum(writes) == 100 and len(writes) <= 6  # not one round trip per call
    ids = [r.usage[0]["id"] for r in results]
    with psycopg.connect(session_database) as conn:
        stored = conn.execute("select count(*) from public.ai_usage where id = any(%s::uuid[])", (ids,)).fetchone()
    assert stored == (100,)
