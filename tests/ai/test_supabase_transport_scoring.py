"""Lead scoring on the Supabase transport: the orchestrator's every database call goes through PostgREST
RPC (the handler's TenantData), OpenAI is mocked with respx, and a budget is reserved and settled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import respx

from salesflow.ai import AIRuntime, RpcAIStore
from salesflow.ai.providers.openai import OpenAIProvider
from salesflow.devstack import DevStack
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry
from salesflow.handlers.lead_scoring import score_new_lead
from salesflow.transports.supabase import open_supabase
from tests.ai.conftest import COMPLETIONS, FAST_POLICY, LLM_BASE, chat_completion
from tests.conftest import ACME
from tests.polling import wait_until


async def test_a_lead_created_through_postgrest_is_scored_by_openai_over_rpc(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) values (%s, 10, 'refuse')",
                     (ACME,))
        # Seeded leads were created before the listener: mark them scored so only the new lead is scored.
        conn.execute("update public.leads set scored_at = now()")
    registry = Registry()
    registry.handles("lead.created", name="lead_scoring.score_new_lead")(score_new_lead)
    runtime = AIRuntime(remote=OpenAIProvider(api_key="sk-test", base_url=LLM_BASE), policy=FAST_POLICY)

    with respx.mock(assert_all_mocked=False) as llm:
        route = llm.post(COMPLETIONS).respond(json=chat_completion(
            json.dumps({"score": 83, "temperature": "hot", "reasons": ["Fragt nach einem Angebot"]}),
            prompt_tokens=900, completion_tokens=40))
        llm.route().pass_through()  # PostgREST, Auth and Realtime of the local stack are real
        async with DevStack(database) as stack:
            transport = open_supabase(stack.url, stack.service_role_key)
            engine = Engine(
                transport.store, transport.data, registry,
                EngineSettings(poll_interval=0.5, lease_seconds=10, backoff_base_seconds=0.05,
                               maintenance_interval=0.5),
                wakeup=transport.wakeup,
                services={"ai": lambda context: runtime.orchestrator(RpcAIStore(context.data.rpc))},
            )
            task = asyncio.create_task(engine.run())
            try:
                async with httpx.AsyncClient() as http:
                    token = (await http.post(
                        f"{stack.url}/auth/v1/token", params={"grant_type": "password"},
                        json={"email": "anna@acme.test", "password": "salesflow-dev"},
                        headers={"apikey": stack.anon_key})).json()["access_token"]
                    created = await http.post(
                        f"{stack.url}/rest/v1/leads",
                        json={"name": "Paul Weber", "email": "paul@weber-bau.de", "company": "Weber Bau"},
                        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}",
                                 "Prefer": "return=representation"})
                    assert created.status_code == 201, created.text
                    lead_id = created.json()[0]["id"]

                def scored() -> Any:
                    with psycopg.connect(database) as conn:
                        return conn.execute("select score, temperature, score_reasons from public.leads "
                                            "where id = %s and scored_at is not null", (lead_id,)).fetchone()

                assert await wait_until(scored, in_thread=True) == (83, "hot", ["Fragt nach einem Angebot"])
            finally:
                engine.stop()
                await asyncio.wait_for(task, 30)
                await transport.close()
                await runtime.aclose()

    sent = json.loads(route.calls.last.request.content)
    assert "paul@weber-bau.de" not in json.dumps(sent) and "[email]" in json.dumps(sent)
    with psycopg.connect(database) as conn:
        usage = conn.execute("select provider, outcome, input_tokens, cost_usd, reservation_id is not null "
                             "from public.ai_usage where lead_id = %s", (lead_id,)).fetchall()
        spent = conn.execute("select reserved_usd, spent_usd from public.ai_budget_periods "
                             "where tenant_id = %s", (ACME,)).fetchone()
    assert [u[:3] for u in usage] == [("openai", "success", 900)]
    assert usage[0][4] is True  # the attempt belongs to a reservation made over RPC
    assert spent is not None and spent[0] == 0 and spent[1] == usage[0][3]  # settled to the real cost
