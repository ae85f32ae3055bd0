"""Only the operator's models spend the operator's money: a prompt names allowed, priced models only (refused
at publish time, over PostgREST too), a stored prompt naming any other model is refused before a request
is sent, and budgets never count an unknown cost as zero."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import respx
from typer.testing import CliRunner

from salesflow.ai import AIRuntime
from salesflow.ai.errors import ModelNotAllowed, RequestRejected
from salesflow.ai.store_postgres import PostgresAIStore
from salesflow.cli.main import app
from salesflow.devstack import DevStack
from salesflow.settings import settings
from tests.ai.conftest import COMPLETIONS, chat_completion
from tests.conftest import ACME, NORDLICHT

GOOD_SCORE = json.dumps({"score": 72, "temperature": "hot", "reasons": ["Asked for a quote"]})
LEAD_INPUT = {"lead": {"name": "Julia Becker", "company": "Becker Logistik"}}
MESSAGES = [{"role": "user", "content": "Bewerte: {{lead}} {{conversation}}"}]


def stored_versions(url: str, name: str, tenant_id: str | None) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from public.ai_prompts where name = %s and tenant_id is not distinct from %s",
            (name, tenant_id)).fetchone()
    assert row is not None
    return int(row[0])


def allow_unpriced(url: str, model: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("insert into public.ai_models (provider, model) values ('openai', %s)", (model,))


async def publish(store: PostgresAIStore, models: list[str], tenant_id: str | None = ACME) -> dict[str, Any]:
    return dict(await store.rpc("ai_publish_prompt", {
        "p_name": "lead_scoring", "p_locale": "de", "p_messages": MESSAGES, "p_model_config": {"models": models},
        "p_tenant_id": tenant_id, "p_labels": ["production"],
    }))


async def test_a_tenant_admin_cannot_publish_an_unlisted_model_over_postgrest(database: str) -> None:
    before = stored_versions(database, "dm_opener", NORDLICHT)
    async with DevStack(database) as stack, httpx.AsyncClient(base_url=stack.url) as http:
        # Max is an admin of Nordlicht (his active tenant): he may publish his tenant's prompt versions.
        token = (await http.post("/auth/v1/token", params={"grant_type": "password"},
                                 json={"email": "max@consult.test", "password": "salesflow-dev"},
                                 headers={"apikey": stack.anon_key})).json()["access_token"]
        headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {token}", "Prefer": "return=representation"}

        def version(number: int, models: list[str]) -> dict[str, Any]:
            return {"name": "dm_opener", "locale": "en", "tenant_id": NORDLICHT, "version": number,
                    "messages": [{"role": "user", "content": "Hi {{lead}} on {{channel}}: {{context}}"}],
                    "model_config": {"models": models}}

        refused = await http.post("/rest/v1/ai_prompts", json=version(1, ["gpt-4.1", "o1-pro"]), headers=headers)
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert 'model "o1-pro" is not on the operator\'s allow-list' in body["message"]
        assert "models[1]" in body["message"] and "gpt-4o-mini" in body["hint"]
        assert stored_versions(database, "dm_opener", NORDLICHT) == before

        # The same insert with allowed models is stored: the refusal is about the model, nothing else.
        allowed = await http.post("/rest/v1/ai_prompts", json=version(1, ["gpt-4.1"]), headers=headers)
        assert allowed.status_code == 201, allowed.text
    assert stored_versions(database, "dm_opener", NORDLICHT) == before + 1


async def test_publishing_a_listed_model_without_a_price_is_refused(store: PostgresAIStore, database: str) -> None:
    allow_unpriced(database, "gpt-5-preview")
    with pytest.raises(RequestRejected, match='model "gpt-5-preview" has no price in ai_model_prices'):
        await publish(store, ["gpt-5-preview"])
    with pytest.raises(RequestRejected, match='model "o1-pro" is not on the operator\'s allow-list'):
        await publish(store, ["o1-pro"], tenant_id=None)  # the operator's global prompts are held to it too
    # A name that merely starts like a priced model is not priced as it (only dated snapshots are).
    allow_unpriced(database, "gpt-4.1-pro")
    with pytest.raises(RequestRejected, match=re.escape('model "gpt-4.1-pro" has no price')):
        await publish(store, ["gpt-4.1-pro"])
    assert stored_versions(database, "lead_scoring", ACME) == 0
    assert (await publish(store, ["gpt-4o-mini"]))["version"] == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model": "o1-pro"}, "model_config.model: unknown setting"),
        ({"models": "gpt-4o"}, "model_config.models: must be a non-empty list"),
        ({"models": [4]}, "model_config.models[0]: must be a model name"),
        ({"temperature": "hot"}, "model_config.temperature: must be a number from 0 to 2"),
        ({"max_tokens": 0.5}, "model_config.max_tokens: must be a whole number"),
    ],
)
async def test_a_model_config_the_orchestrator_would_misread_is_refused(
    store: PostgresAIStore, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestRejected, match=re.escape(message)):
        await store.rpc("ai_publish_prompt", {"p_name": "lead_scoring", "p_locale": "de", "p_messages": MESSAGES,
                                              "p_model_config": config})


@pytest.fixture
def cli_offline(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.cache_clear()
    yield
    settings.cache_clear()


def test_the_publish_command_refuses_an_unlisted_model_with_exit_2(
    database: str, tmp_path: Path, cli_offline: None
) -> None:
    prompt = tmp_path / "scoring.json"
    prompt.write_text(json.dumps({
        "name": "lead_scoring", "labels": ["production"], "tenant_id": ACME,
        "locales": {"de": {"messages": MESSAGES, "model_config": {"models": ["gpt-4o-mini"]}},
                    "en": {"messages": MESSAGES, "model_config": {"models": ["gpt-4o-mini", "o1-pro"]}}},
    }))
    result = CliRunner().invoke(app, ["ai", "prompts", "publish", str(prompt), "--database-url", database])
    assert result.exit_code == 2, result.stdout
    assert 'model "o1-pro" is not on the operator\'s allow-list' in result.stderr
    assert "allowed models: gpt-4.1, gpt-4.1-mini" in result.stderr
    assert stored_versions(database, "lead_scoring", ACME) == 0  # the German half is not stored either


def bypass_the_publish_check(url: str, model: str) -> None:
    """A version that names an unlisted model, written as the database owner with triggers off (as a restore or
    a row from before the allow-list would be)."""
    with psycopg.connect(url) as conn:
        conn.execute("set local session_replication_role = replica")
        row = conn.execute(
            "insert into public.ai_prompts (name, locale, tenant_id, version, messages, model_config) "
            "values ('lead_scoring', 'de', %s, 1, %s, %s) returning id",
            (ACME, json.dumps(MESSAGES), json.dumps({"models": [model]}))).fetchone()
        assert row is not None
        conn.execute("insert into public.ai_prompt_labels (prompt_id, label, name, locale, tenant_id, version) "
                     "values (%s, 'production', 'lead_scoring', 'de', %s, 1)", (row[0], ACME))


def listed_unpriced_bypassing_the_check(url: str, model: str) -> None:
    allow_unpriced(url, model)
    bypass_the_publish_check(url, model)


def price_withdrawn(url: str, model: str) -> None:
    """A version published while the model was priced; the operator has withdrawn the price since."""
    with psycopg.connect(url) as conn:
        conn.execute("select public.ai_publish_prompt('lead_scoring', 'de', %s, %s, %s, '[\"production\"]')",
                     (json.dumps(MESSAGES), json.dumps({"models": [model]}), ACME))
        conn.execute("delete from public.ai_model_prices where provider = 'openai' and model = %s", (model,))


@pytest.mark.parametrize(
    ("stored", "model", "problem"),
    [
        (bypass_the_publish_check, "o1-pro", "is not on the operator's allow-list"),
        (listed_unpriced_bypassing_the_check, "gpt-5-preview", "has no price"),
        (price_withdrawn, "gpt-4o", "has no price"),
    ],
)
async def test_a_stored_prompt_naming_a_refused_model_sends_no_request(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter,
    stored: Callable[[str, str], None], model: str, problem: str,
) -> None:
    stored(database, model)
    route = llm.post(COMPLETIONS).respond(json=chat_completion(GOOD_SCORE, model=model))
    orchestrator = openai_runtime().orchestrator(store)
    with pytest.raises(ModelNotAllowed, match=problem) as refused:
        await orchestrator.run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    assert refused.value.model == model and repr(model) in str(refused.value)
    assert route.call_count == 0
    with psycopg.connect(database) as conn:
        assert conn.execute("select count(*) from public.ai_usage").fetchone() == (0,)


async def test_an_operator_route_with_an_unpriced_model_sends_no_request(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter,
) -> None:
    allow_unpriced(database, "gpt-5-preview")
    route = llm.post(COMPLETIONS).respond(json=chat_completion(GOOD_SCORE))
    runtime = openai_runtime(model_groups={"fast": ("gpt-4o-mini", "gpt-5-preview"), "smart": ("gpt-4.1",)})
    with pytest.raises(ModelNotAllowed, match="'gpt-5-preview' \\(openai\\) has no price"):
        await runtime.orchestrator(store).run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    assert route.call_count == 0


@pytest.mark.parametrize("with_budget", [True, False])
async def test_a_reservation_for_an_unpriced_model_is_refused_not_estimated_at_zero(
    store: PostgresAIStore, database: str, with_budget: bool
) -> None:
    # Decided: refuse. There is no honest upper bound for a model without a price.
    allow_unpriced(database, "gpt-5-preview")
    if with_budget:
        with psycopg.connect(database) as conn:
            conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) "
                         "values (%s, 10, 'refuse')", (ACME,))
    unpriced = await store.reserve_budget(ACME, "lead_scoring", "openai", ["gpt-4o-mini", "gpt-5-preview"], 1000, 400)
    assert (unpriced["allowed"], unpriced["reason"], unpriced["model"]) == (False, "model_unpriced", "gpt-5-preview")
    unlisted = await store.reserve_budget(ACME, "lead_scoring", "openai", ["o1-pro"], 1000, 400)
    assert (unlisted["allowed"], unlisted["reason"], unlisted["model"]) == (False, "model_not_allowed", "o1-pro")
    assert "gpt-4o-mini" in unlisted["allowed_models"] and "gpt-5-preview" not in unlisted["allowed_models"]
    with psycopg.connect(database) as conn:
        assert conn.execute("select count(*) from public.ai_budget_reservations").fetchone() == (0,)
        assert conn.execute("select coalesce(sum(reserved_usd), 0) from public.ai_budget_periods").fetchone() == (0,)


async def test_an_answer_under_an_unpriced_name_costs_what_the_requested_model_costs(
    store: PostgresAIStore, database: str, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter,
) -> None:
    # An OpenAI-compatible server may report a model name of its own; the call still spends the budget.
    with psycopg.connect(database) as conn:
        conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) values (%s, 10, 'refuse')",
                     (ACME,))
    llm.post(COMPLETIONS).respond(json=chat_completion(GOOD_SCORE, model="acme-llm-70b", prompt_tokens=1_000_000,
                                                       completion_tokens=0))
    runtime = openai_runtime(model_groups={"fast": ("gpt-4o-mini",), "smart": ("gpt-4.1",)})
    result = await runtime.orchestrator(store).run("lead_scoring", tenant_id=ACME, input=LEAD_INPUT)
    assert result.usage[0]["model"] == "acme-llm-70b"
    assert Decimal(str(result.usage[0]["cost_usd"])) == Decimal("0.15")  # gpt-4o-mini: $0.15 per million input
    with psycopg.connect(database) as conn:
        assert conn.execute("select spent_usd from public.ai_budget_periods where tenant_id = %s",
                            (ACME,)).fetchone() == (Decimal("0.15000000"),)


async def test_a_usage_row_of_unknown_cost_settles_at_the_reserved_amount(
    store: PostgresAIStore, database: str
) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) values (%s, 10, 'refuse')",
                     (ACME,))
    reserved = await store.reserve_budget(ACME, "lead_scoring", "openai", ["gpt-4o-mini"], 1000, 400)
    assert reserved["allowed"] and Decimal(str(reserved["estimate_usd"])) == Decimal("0.00039")
    # The price vanished mid-call: the row's cost is unknown.
    with psycopg.connect(database) as conn:
        conn.execute("delete from public.ai_model_prices where model = 'gpt-4o-mini'")
    [written] = await store.track_usage([{
        "id": "00000000-0000-4000-8000-0000000000aa", "tenant_id": ACME,
        "call_id": "00000000-0000-4000-8000-0000000000bb",
        "scenario": "lead_scoring", "provider": "openai", "model": "gpt-4o-mini-2024-07-18",
        "requested_model": "gpt-4o-mini", "input_tokens": 800, "output_tokens": 100, "outcome": "success",
        "reservation_id": reserved["reservation_id"],
    }])
    assert written["cost_usd"] is None
    settled = await store.settle_budget(str(reserved["reservation_id"]))
    assert Decimal(str(settled["actual_usd"])) == Decimal("0.00039")
    with psycopg.connect(database) as conn:
        assert conn.execute("select reserved_usd, spent_usd from public.ai_budget_periods where tenant_id = %s",
                            (ACME,)).fetchone() == (Decimal(0), Decimal("0.00039000"))


def test_the_operator_allows_prices_and_removes_models_from_the_command_line(
    database: str, tmp_path: Path, cli_offline: None
) -> None:
    def ai(*args: str) -> Any:
        return CliRunner().invoke(app, ["ai", "models", *args, "--database-url", database])

    unpriced = ai("allow", "gpt-5")
    assert unpriced.exit_code == 2 and "'gpt-5' (openai) has no price" in unpriced.stderr
    partly = ai("allow", "gpt-5", "--input-usd", "1.25")
    assert partly.exit_code == 2 and "missing: --cached-input-usd, --output-usd" in partly.stderr
    listed = json.loads(ai("list", "--json").stdout)
    assert "gpt-5" not in [m["model"] for m in listed]
    allow_unpriced(database, "gpt-5-preview")  # listed in SQL without a price: the table says so
    table = {line.split()[1]: line.split()[2:] for line in ai("list").stdout.splitlines()[2:]}
    assert table["gpt-5-preview"] == ["(no", "price:", "refused)"]
    assert table["gpt-4o-mini"] == ["gpt-4o-mini", "0.150000", "0.075000", "0.600000"]

    priced = ai("allow", "gpt-5", "--input-usd", "1.25", "--cached-input-usd", "0.125", "--output-usd", "10")
    assert priced.exit_code == 0, priced.stderr
    listed = json.loads(ai("list", "--json").stdout)
    assert {"provider": "openai", "model": "gpt-5", "priced_as": "gpt-5", "input_usd_per_mtok": 1.25,
            "cached_input_usd_per_mtok": 0.125, "output_usd_per_mtok": 10.0} in listed
    prompt = tmp_path / "scoring.json"
    prompt.write_text(json.dumps({"name": "lead_scoring", "locale": "de", "messages": MESSAGES, "tenant_id": ACME,
                                  "labels": ["production"], "model_config": {"models": ["gpt-5"]}}))
    published = CliRunner().invoke(app, ["ai", "prompts", "publish", str(prompt), "--database-url", database])
    assert published.exit_code == 0, published.stderr

    removed = ai("remove", "gpt-5")
    assert removed.exit_code == 0 and "1 labelled prompt version(s) name it" in removed.stderr
    assert ai("remove", "gpt-5").exit_code == 2
    again = CliRunner().invoke(app, ["ai", "prompts", "publish", str(prompt), "--database-url", database])
    assert again.exit_code == 2 and 'model "gpt-5" is not on the operator\'s allow-list' in again.stderr
