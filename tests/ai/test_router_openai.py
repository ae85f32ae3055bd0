"""The router over the openai SDK (HTTP mocked with respx): usage, retries, fallbacks, repair, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import respx

from salesflow.ai import AIRuntime
from salesflow.ai.store_postgres import PostgresAIStore
from tests.ai.conftest import COMPLETIONS, chat_completion
from tests.conftest import ACME, NORDLICHT

GOOD_SCORE = json.dumps({"score": 72, "temperature": "hot", "reasons": ["Asked for a quote"]})
LEAD_INPUT = {"lead": {"name": "Olivia Carter", "email": "olivia@carter.example", "phone": "+44 7700 900123",
                       "company": "Carter Ltd"}}


def usage_rows(url: str, call_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "select attempt, provider, model, outcome, input_tokens, output_tokens, cached_tokens, cost_usd, "
            "error_class, prompt_name, prompt_version, latency_ms from public.ai_usage where call_id = %s "
            "order by attempt",
            (call_id,),
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def sent_models(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["model"] for call in route.calls]


async def test_a_success_records_the_reported_usage_and_its_cost(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    route = llm.post(COMPLETIONS).respond(
        json=chat_completion(GOOD_SCORE, prompt_tokens=1200, completion_tokens=80, cached_tokens=200)
    )
    result = await openai_runtime().orchestrator(shared_store).run(
        "lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT
    )
    assert result.output.score == 72  # type: ignore[attr-defined]
    assert (result.provider, result.model) == ("openai", "gpt-4o-mini-2024-07-18")
    sent = json.loads(route.calls.last.request.content)
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True
    [row] = usage_rows(session_database, result.call_id)
    assert (row["outcome"], row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (
        "success", 1200, 80, 200)
    # gpt-4o-mini: $0.15 per M input, $0.075 per M cached input, $0.60 per M output.
    assert row["cost_usd"] == Decimal("0.00021300")  # (1000 * 0.15 + 200 * 0.075 + 80 * 0.60) / 1e6
    assert (row["prompt_name"], row["prompt_version"]) == ("lead_scoring", 1)
    assert result.cost_usd == float(row["cost_usd"])


async def test_a_429_is_retried_then_succeeds(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    route = llm.post(COMPLETIONS).mock(side_effect=[
        httpx.Response(429, json={"error": {"message": "Rate limit reached", "type": "requests"}},
                       headers={"retry-after": "0"}),
        httpx.Response(200, json=chat_completion(GOOD_SCORE)),
    ])
    result = await openai_runtime().orchestrator(shared_store).run(
        "lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT
    )
    assert sent_models(route) == ["gpt-4o-mini", "gpt-4o-mini"]
    rows = usage_rows(session_database, result.call_id)
    assert [(r["outcome"], r["error_class"]) for r in rows] == [("rate_limited", "RateLimitError"), ("success", None)]
    assert rows[0]["cost_usd"] == 0


async def test_repeated_500s_fall_back_to_the_next_model(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "gpt-4o-mini":
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return httpx.Response(200, json=chat_completion(GOOD_SCORE, model="gpt-4.1-mini-2025-04-14"))

    route = llm.post(COMPLETIONS).mock(side_effect=server)
    result = await openai_runtime().orchestrator(shared_store).run(
        "lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT
    )
    assert sent_models(route) == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4.1-mini"]
    assert result.model == "gpt-4.1-mini-2025-04-14"
    rows = usage_rows(session_database, result.call_id)
    assert [r["outcome"] for r in rows] == ["server_error", "server_error", "success"]
    assert rows[2]["cost_usd"] > 0  # priced by the gpt-4.1-mini row


async def test_a_timeout_falls_back(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "gpt-4o-mini":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json=chat_completion(GOOD_SCORE, model="gpt-4.1-mini"))

    llm.post(COMPLETIONS).mock(side_effect=server)
    result = await openai_runtime().orchestrator(shared_store).run(
        "lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT
    )
    rows = usage_rows(session_database, result.call_id)
    assert [(r["model"], r["outcome"]) for r in rows] == [
        ("gpt-4o-mini", "timeout"), ("gpt-4o-mini", "timeout"), ("gpt-4.1-mini", "success")]
    assert rows[0]["error_class"] == "APITimeoutError"


async def test_invalid_json_gets_one_repair_then_falls_back_to_local(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    route = llm.post(COMPLETIONS).respond(json=chat_completion('{"score": "very high"'))
    runtime = openai_runtime(model_groups={"fast": ("gpt-4o-mini",), "smart": ("gpt-4.1",)})
    result = await runtime.orchestrator(shared_store).run("lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT)
    assert route.call_count == 2
    repair = json.loads(route.calls[1].request.content)["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"score": "very high"'}
    assert "not valid JSON" in repair[-1]["content"]
    assert result.provider == "local"
    rows = usage_rows(session_database, result.call_id)
    assert [(r["provider"], r["outcome"]) for r in rows] == [
        ("openai", "invalid_output"), ("openai", "invalid_output"), ("local", "success")]
    assert rows[0]["input_tokens"] == 1200  # an invalid answer still cost tokens, and is recorded


async def test_a_repaired_answer_is_used(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    llm.post(COMPLETIONS).mock(side_effect=[
        httpx.Response(200, json=chat_completion("Sure! Here is the score: 72")),
        httpx.Response(200, json=chat_completion(GOOD_SCORE)),
    ])
    result = await openai_runtime().orchestrator(shared_store).run(
        "lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT
    )
    assert result.output.score == 72  # type: ignore[attr-defined]
    assert [r["outcome"] for r in usage_rows(session_database, result.call_id)] == ["invalid_output", "repaired"]


async def test_a_refusal_is_recorded_as_such(
    shared_store: PostgresAIStore, session_database: str, openai_runtime: Callable[..., AIRuntime],
    llm: respx.MockRouter,
) -> None:
    llm.post(COMPLETIONS).respond(json=chat_completion(None, refusal="I can't help with that."))
    runtime = openai_runtime(model_groups={"fast": ("gpt-4o-mini",), "smart": ("gpt-4.1",)})
    result = await runtime.orchestrator(shared_store).run("lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT)
    rows = usage_rows(session_database, result.call_id)
    assert [(r["outcome"], r["error_class"]) for r in rows] == [("refusal", "Refusal"), ("success", None)]
    assert result.provider == "local"


async def test_a_model_that_keeps_failing_cools_down(
    shared_store: PostgresAIStore, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter,
) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "gpt-4o-mini":
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        return httpx.Response(200, json=chat_completion(GOOD_SCORE, model="gpt-4.1-mini"))

    route = llm.post(COMPLETIONS).mock(side_effect=server)
    orchestrator = openai_runtime().orchestrator(shared_store)
    for _ in range(2):
        await orchestrator.run("lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT)
    before = route.call_count
    third = await orchestrator.run("lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT)
    assert sent_models(route)[before:] == ["gpt-4.1-mini"]  # the failing model is skipped
    assert [r["model"] for r in third.usage] == ["gpt-4.1-mini"]


async def test_contact_details_are_masked_unless_the_scenario_needs_them(
    shared_store: PostgresAIStore, openai_runtime: Callable[..., AIRuntime], llm: respx.MockRouter,
) -> None:
    extraction = {"name": {"value": "Olivia", "confidence": 0.9}, "email": {"value": None, "confidence": 0},
                  "phone": {"value": None, "confidence": 0}, "company": {"value": None, "confidence": 0}}

    def server(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        name = body["response_format"]["json_schema"]["name"]
        return httpx.Response(200, json=chat_completion(json.dumps(extraction) if name == "LeadExtraction"
                                                        else GOOD_SCORE))

    route = llm.post(COMPLETIONS).mock(side_effect=server)
    orchestrator = openai_runtime().orchestrator(shared_store)
    await orchestrator.run("lead_scoring", tenant_id=NORDLICHT, input=LEAD_INPUT)
    scoring_prompt = route.calls.last.request.content.decode()
    assert "olivia@carter.example" not in scoring_prompt and "7700 900123" not in scoring_prompt
    assert "[email]" in scoring_prompt and "[phone]" in scoring_prompt
    await orchestrator.run("lead_extraction", tenant_id=ACME,
                           input={"text": "Olivia, olivia@carter.example, +44 7700 900123"})
    extraction_prompt = route.calls.last.request.content.decode()
    assert "olivia@carter.example" in extraction_prompt and "+44 7700 900123" in extraction_prompt


def test_every_scenario_has_a_strict_structured_output_schema() -> None:
    from openai.lib._parsing import type_to_response_format_param

    from salesflow.ai.scenarios import SCENARIOS

    for name, scenario in SCENARIOS.items():
        fmt: Any = type_to_response_format_param(scenario.output_model)
        schema = fmt["json_schema"]["schema"]
        assert fmt["json_schema"]["strict"] is True, name
        # Strict mode needs every property required and no extra properties, at every level.
        objects = [schema, *schema.get("$defs", {}).values()]
        for obj in objects:
            assert obj.get("additionalProperties") is False, name
            assert set(obj["required"]) == set(obj["properties"]), name
