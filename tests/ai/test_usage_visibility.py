"""Who sees AI usage, budgets and prompts: members their own tenant's, anon nothing; writes go through
the service-role functions only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from salesflow.ai import AIRuntime
from salesflow.ai.store_postgres import PostgresAIStore
from tests.conftest import ACME, ANNA, BEA, NORDLICHT, member_claims


async def test_members_read_only_their_tenants_usage(
    store: PostgresAIStore, local_runtime: AIRuntime, db: psycopg.Connection[Any],
    as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]],
) -> None:
    orchestrator = local_runtime.orchestrator(store)
    acme = await orchestrator.run("dm_opener", tenant_id=ACME, input={"lead": {"name": "Julia"}})
    nord = await orchestrator.run("dm_opener", tenant_id=NORDLICHT, input={"lead": {"name": "Olivia"}})

    conn = as_claims(member_claims(ANNA, ACME))
    seen = {r[0] for r in conn.execute("select call_id::text from public.ai_usage")}
    assert seen == {acme.call_id}
    conn = as_claims(member_claims(BEA, NORDLICHT))
    assert {r[0] for r in conn.execute("select call_id::text from public.ai_usage")} == {nord.call_id}
    conn = as_claims({"role": "anon"})
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select count(*) from public.ai_usage")


def test_members_cannot_write_usage_or_call_the_ai_functions(
    as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]],
) -> None:
    conn = as_claims(member_claims(ANNA, ACME))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "insert into public.ai_usage (tenant_id, call_id, scenario, provider, model, outcome) "
            "values (%s, gen_random_uuid(), 'x', 'local', 'local-rules', 'success')", (ACME,))
    for call in ("select public.ai_track_usage('[]'::jsonb)",
                 "select public.ai_settle_budget(gen_random_uuid())",
                 "select public.ai_resolve_prompt('lead_scoring', null)"):
        conn = as_claims(member_claims(ANNA, ACME))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(call)


def test_members_read_global_prompts_and_their_own_overrides_only(
    db: psycopg.Connection[Any], as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]],
) -> None:
    db.execute("select public.ai_publish_prompt('dm_opener', 'en', '[{\"role\": \"user\", \"content\": \"n\"}]', "
               "'{}', %s, '[\"production\"]')", (NORDLICHT,))
    db.commit()
    conn = as_claims(member_claims(ANNA, ACME))
    scopes = {r[0] for r in conn.execute("select distinct tenant_id::text from public.ai_prompts")}
    assert scopes == {None}
    conn = as_claims(member_claims(BEA, NORDLICHT))
    scopes = {r[0] for r in conn.execute("select distinct tenant_id::text from public.ai_prompts")}
    assert scopes == {None, NORDLICHT}


def test_owners_set_their_own_budget_and_nobody_elses(
    as_claims: Callable[[dict[str, Any]], psycopg.Connection[Any]],
) -> None:
    conn = as_claims(member_claims(ANNA, ACME))
    conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) values (%s, 25, 'refuse')",
                 (ACME,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd) values (%s, 1)", (NORDLICHT,))
