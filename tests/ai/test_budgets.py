"""Budgets: reserved atomically before a call, settled to the real cost, enforced at the limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
import respx

from salesflow.ai import AIRuntime, BudgetExceeded
from salesflow.ai.store_postgres import PostgresAIStore
from tests.ai.conftest import COMPLETIONS, chat_completion
from tests.conftest import ACME

GOOD_SCORE = json.dumps({"score": 72, "temperature": "hot", "reasons": ["Asked for a quote"]})
LEAD_INPUT = {"lead": {"name": "Julia Becker", "company": "Becker Logistik"}}


def set_budget(url: str, limit_usd: str, at_limit: str, scenario: str | None = None) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into public.ai_budgets (tenant_id, scenario, monthly_limit_usd, at_limit) values (%s, %s, %s, %s)",
            (ACME, scenario, limit_usd, at_limit),
        )


def budget_events(url: str) -> list[dict[str, object]]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(
            "select payload from public.events where type = 'ai.budget_exceeded' and tenant_id = %s", (ACME,)
        ).fetchall()]


def period(url: str) -> tuple[Decimal, Decimal]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select reserved_usd, spent_usd from public.ai_budget_periods where tenant_id = %s and scenario is null",
            (ACME,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_concurrent_reservations_at_the_edge_cannot_all_pass(store: PostgresAIStore, database: str) -> None:
    # One reservation of gpt-4o-mini for 1,000 input and 400 output tokens is $0.00039: $0.0012 fits three.
    set_budget(database, "0.0012", "refuse")
    results = await asyncio.gather(*[
        store.reserve_budget(ACME, "lead_scoring", "openai", ["gpt-4o-mini"], 1000, 400) for _ in range(8)
    ])
    allowed = [r for r in results if r["allowed"]]
    assert len(allowed) == 3
    assert period(database)[0] == Decimal("0.00117000")
    assert len(budget_events(database)) == 1  # refused five times, announced once


async def test_a_call_settles_to_what_its_usage_rows_cost(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter
) -> None:
    set_budget(database, "5", "refuse")
    llm.post(COMPLETIONS).respond(json=chat_completion(GOOD_SCORE, prompt_tokens=1000, completion_tokens=100))
    result = await openai_runtime().orchestrator(store).run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    reserved, spent = period(database)
    assert reserved == 0
    assert spent == Decimal("0.00021000") == Decimal(str(result.cost_usd))  # 1000 * 0.15 + 100 * 0.60 per M


async def test_at_the_limit_fallback_local_answers_offline_and_announces_once(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter
) -> None:
    set_budget(database, "0", "fallback_local")
    route = llm.post(COMPLETIONS).respond(json=chat_completion(GOOD_SCORE))
    orchestrator = openai_runtime().orchestrator(store)
    first = await orchestrator.run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    second = await orchestrator.run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    assert (first.provider, second.provider) == ("local", "local")
    assert route.call_count == 0
    [event] = budget_events(database)
    assert event["at_limit"] == "fallback_local" and event["limit_usd"] == 0


async def test_at_the_limit_refuse_raises_and_records_the_refusal(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter
) -> None:
    set_budget(database, "0.01", "refuse", scenario="lead_scoring")
    with psycopg.connect(database) as conn:  # this month's scenario spending is already at the limit
        conn.execute(
            "insert into public.ai_budget_periods (tenant_id, scenario, period, spent_usd) "
            "values (%s, 'lead_scoring', date_trunc('month', now() at time zone 'utc')::date, 0.01)", (ACME,))
    followup = json.dumps({"message": "Hallo Julia, ich wollte kurz nachfragen."})
    route = llm.post(COMPLETIONS).respond(json=chat_completion(followup))
    orchestrator = openai_runtime().orchestrator(store)
    for _ in range(2):
        with pytest.raises(BudgetExceeded, match=r"scenario 'lead_scoring'.*limit \$0\.01"):
            await orchestrator.run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    assert route.call_count == 0
    # Other scenarios are not limited by the lead_scoring budget.
    other = await orchestrator.run("followup_message", tenant_id=ACME, input=LEAD_INPUT)
    assert other.provider == "openai" and route.call_count == 1
    with psycopg.connect(database) as conn:
        outcomes = [r[0] for r in conn.execute(
            "select outcome from public.ai_usage where tenant_id = %s and scenario = 'lead_scoring'", (ACME,))]
    assert outcomes == ["budget_exceeded", "budget_exceeded"]
    [event] = budget_events(database)
    assert event["scenario"] == "lead_scoring" and event["at_limit"] == "refuse"


async def test_two_concurrent_calls_at_the_edge_of_the_limit_cannot_both_pass(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter
) -> None:
    """Through the orchestrator: the limit fits one call's reservation but not two."""
    estimates: list[Decimal] = []

    class Observed:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def reserve_budget(self, *args: object) -> dict[str, object]:
            result = await store.reserve_budget(*args)  # type: ignore[arg-type]
            estimates.append(Decimal(str(result["estimate_usd"])))
            return result

    # The answer reports so many tokens that one call alone spends the whole budget: whichever way the two
    # calls interleave, exactly one may pass.
    route = llm.post(COMPLETIONS).respond(json=chat_completion(GOOD_SCORE, prompt_tokens=1_000_000,
                                                                completion_tokens=100))
    runtime = openai_runtime()
    await runtime.orchestrator(Observed()).run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)  # type: ignore[arg-type]
    assert estimates and estimates[0] > 0
    with psycopg.connect(database) as conn:
        conn.execute("delete from public.ai_usage where tenant_id = %s", (ACME,))
    set_budget(database, str(estimates[0] * Decimal("1.5")), "refuse")
    calls_before = route.call_count

    orchestrator = runtime.orchestrator(store)
    results = await asyncio.gather(
        *[orchestrator.run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT) for _ in range(2)],
        return_exceptions=True)
    passed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert (len(passed), len(refused)) == (1, 1), results
    assert route.call_count - calls_before == 1  # the refused call never reached the provider
    assert len(budget_events(database)) == 1
    reserved, spent = period(database)
    assert reserved == 0 and spent == Decimal(str(passed[0].cost_usd))  # type: ignore[union-attr]
