"""The prompt store: seeded prompts, tenant overrides, labels through the cache, variables, fallback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import respx

from salesflow.ai import AIRuntime, MissingPromptVariable
from salesflow.ai.errors import PromptNotFound, RequestRejected
from salesflow.ai.prompts import PromptCache
from salesflow.ai.scenarios import LOCALES, SCENARIOS
from salesflow.ai.store_postgres import PostgresAIStore
from tests.ai.conftest import COMPLETIONS, chat_completion
from tests.conftest import ACME, NORDLICHT

JULIA = "10000000-0000-4000-8000-000000000001"  # an Acme lead


async def publish(store: PostgresAIStore, name: str, locale: str, content: str, **kwargs: Any) -> int:
    result = await store.rpc(
        "ai_publish_prompt",
        {"p_name": name, "p_locale": locale, "p_messages": [{"role": "user", "content": content}], **kwargs},
    )
    return int(result["version"])


def test_every_scenario_ships_in_german_and_english_as_packaged(session_database: str) -> None:
    # What the migrations label `production` is what the package serves when the database is away: a new
    # packaged text needs a migration that publishes it and moves the label.
    with psycopg.connect(session_database) as conn:
        rows = conn.execute(
            "select p.name, p.locale, p.messages from public.ai_prompts p "
            "join public.ai_prompt_labels l on l.prompt_id = p.id and l.label = 'production' "
            "where p.tenant_id is null"
        ).fetchall()
    seeded = {(name, locale): messages for name, locale, messages in rows}
    for name, scenario in SCENARIOS.items():
        for locale in LOCALES:
            assert seeded[(name, locale)] == list(scenario.prompts[locale]), (name, locale)


async def test_the_tenants_locale_picks_the_prompt(shared_store: PostgresAIStore, local_runtime: AIRuntime) -> None:
    orchestrator = local_runtime.orchestrator(shared_store)
    german = await orchestrator.run("followup_message", tenant_id=ACME, input={"lead": {"name": "Julia Becker"}})
    english = await orchestrator.run("followup_message", tenant_id=NORDLICHT, input={"lead": {"name": "Olivia"}})
    assert (german.prompt_locale, english.prompt_locale) == ("de", "en")
    assert german.output.message.startswith("Hallo Julia")  # type: ignore[attr-defined]
    assert english.output.message.startswith("Hi Olivia")  # type: ignore[attr-defined]
    assert german.usage[0]["prompt_version"] == 1


async def test_a_tenants_prompt_overrides_the_global_one(
    store: PostgresAIStore, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter
) -> None:
    route = llm.post(COMPLETIONS).respond(
        json=chat_completion(json.dumps({"score": 61, "temperature": "warm", "reasons": ["override"]}))
    )
    version = await publish(store, "lead_scoring", "de", "ACME-EIGENER PROMPT {{lead}}",
                            p_tenant_id=ACME, p_labels=["production"])
    runtime = openai_runtime()
    acme = await runtime.orchestrator(store).run("lead_scoring", tenant_id=ACME, lead_id=JULIA)
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"] == [{"role": "user", "content": sent["messages"][0]["content"]}]
    assert sent["messages"][0]["content"].startswith("ACME-EIGENER PROMPT")
    assert (acme.prompt_version, acme.usage[-1]["prompt_version"]) == (version, version)

    # Another tenant still gets the global prompt.
    await runtime.orchestrator(store).run(
        "lead_scoring", tenant_id=NORDLICHT, input={"lead": {"name": "Olivia"}}
    )
    other = json.loads(route.calls.last.request.content)
    assert "ACME-EIGENER PROMPT" not in json.dumps(other)


async def test_moving_the_production_label_takes_effect_within_the_cache_ttl(store: PostgresAIStore) -> None:
    now = [1000.0]
    cache = PromptCache(ttl_seconds=10, clock=lambda: now[0])
    first = await cache.get(store, "dm_opener", ACME)
    assert first.version == 1
    version = await publish(store, "dm_opener", "de", "Neu: {{lead}} {{context}} {{channel}}")
    await store.rpc("ai_set_prompt_label", {"p_name": "dm_opener", "p_locale": "de", "p_version": version,
                                            "p_label": "production"})
    now[0] += 5
    assert (await cache.get(store, "dm_opener", ACME)).version == 1  # still cached
    now[0] += 6
    moved = await cache.get(store, "dm_opener", ACME)
    assert moved.version == version and moved.messages[0]["content"].startswith("Neu:")
    # A label that is not production is only served when asked for.
    await store.rpc("ai_set_prompt_label", {"p_name": "dm_opener", "p_locale": "de", "p_version": 1,
                                            "p_label": "staging"})
    assert (await cache.get(store, "dm_opener", ACME, label="staging")).version == 1


async def test_the_prompt_cache_stays_bounded_and_evicts_the_least_recently_used(
    shared_store: PostgresAIStore,
) -> None:
    fetched: list[str | None] = []

    class Counted:
        async def resolve_prompt(self, name: str, tenant_id: str | None, label: str, locale: str | None) -> Any:
            fetched.append(tenant_id)
            return await shared_store.resolve_prompt(name, tenant_id, label, locale)

    store: Any = Counted()
    cache = PromptCache(ttl_seconds=3600, max_entries=8)
    # A listener serving many tenants: one key per tenant (each gets the global prompt).
    tenants = [str(uuid.UUID(int=i + 1)) for i in range(40)]
    for i, tenant in enumerate(tenants):
        await cache.get(store, "dm_opener", tenant)
        await cache.get(store, "dm_opener", tenants[0])  # the busy tenant is used all the time
        assert len(cache) <= 8, i
    assert len(cache) == 8 and len(fetched) == 40  # the busy tenant was never fetched again
    fetched.clear()
    await cache.get(store, "dm_opener", tenants[0])
    for tenant in tenants[-7:]:
        await cache.get(store, "dm_opener", tenant)
    assert fetched == []  # the eight most recently used are cached
    await cache.get(store, "dm_opener", tenants[1])
    assert fetched == [tenants[1]]  # long evicted, fetched again


async def test_a_missing_variable_fails_before_any_request(
    store: PostgresAIStore, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter
) -> None:
    route = llm.post(COMPLETIONS).respond(json=chat_completion("{}"))
    await publish(store, "lead_scoring", "de", "Lead {{lead}}, Budget {{budget_hint}}",
                  p_tenant_id=ACME, p_labels=["production"])
    with pytest.raises(MissingPromptVariable, match=r"\{\{budget_hint\}\}"):
        await openai_runtime().orchestrator(store).run("lead_scoring", tenant_id=ACME, lead_id=JULIA)
    assert route.call_count == 0


async def test_the_packaged_prompt_serves_only_when_the_database_is_unreachable(
    local_runtime: AIRuntime,
) -> None:
    away = PostgresAIStore("postgresql://postgres@127.0.0.1:1/nowhere", connect_timeout=0.5)
    try:
        result = await local_runtime.orchestrator(away).run(
            "lead_scoring", tenant_id=ACME, input={"lead": {"name": "Julia Becker"}}
        )
    finally:
        await away.close()
    assert (result.prompt_source, result.prompt_version, result.prompt_locale) == ("packaged", 0, "de")
    assert result.output.score >= 0  # type: ignore[attr-defined]
    assert result.recorded is False


async def test_an_unknown_prompt_is_an_error_not_a_fallback(shared_store: PostgresAIStore) -> None:
    with pytest.raises(PromptNotFound, match=r"lead_scoring.*label 'canary'"):
        await PromptCache().get(shared_store, "lead_scoring", ACME, label="canary")


async def test_publishing_numbers_versions_and_refuses_bad_labels(store: PostgresAIStore) -> None:
    assert await publish(store, "reply_suggestion", "en", "v2 {{last_message}}") == 2
    assert await publish(store, "reply_suggestion", "en", "v3 {{last_message}}") == 3
    assert await publish(store, "reply_suggestion", "de", "v2 {{last_message}}") == 2
    with pytest.raises(RequestRejected, match="has no version 9"):
        await store.rpc("ai_set_prompt_label", {"p_name": "reply_suggestion", "p_locale": "en", "p_version": 9,
                                                "p_label": "production"})
    with pytest.raises(RequestRejected, match=r"messages\[0\]\.role"):
        await store.rpc("ai_publish_prompt", {"p_name": "reply_suggestion", "p_locale": "en",
                                              "p_messages": [{"role": "robot", "content": "x"}]})
