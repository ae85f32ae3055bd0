"""Inbound processing as deployed: a message recorded by ingest (`record_inbound_message`, Zero-Input) is
handled by the conversation handlers on the supabase transport (PostgREST RPC, served by `salesflow dev`):
the unknown sender's lead gets its name, email and company from what it wrote. And an exhausted AI budget
that refuses calls is no error: nothing is extracted, nothing is paid, the event is processed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import respx

from salesflow.ai import AIRuntime, RpcAIStore
from salesflow.ai.providers.openai import OpenAIProvider
from salesflow.devstack import DevStack
from salesflow.events.engine import Engine, EngineSettings
from salesflow.transports.supabase import open_supabase
from tests.ai.conftest import COMPLETIONS, FAST_POLICY, LLM_BASE
from tests.conversations.inbound import ACME, conversation_handlers, handled, scalar
from tests.polling import wait_until


def _ingest(conn: psycopg.Connection[Any], sender: str, name: str, body: str) -> dict[str, Any]:
    """What the WhatsApp webhook records for one delivery from `sender`."""
    connection = conn.execute(
        "insert into public.channel_connections (tenant_id, channel, provider, address, external_account_id) "
        "values (%s, 'whatsapp', 'whatsapp_cloud', '+4930900000001', '100200300') "
        "on conflict do nothing returning id", (ACME,)).fetchone()
    if connection is None:
        connection = conn.execute("select id from public.channel_connections where address = '+4930900000001'"
                                  ).fetchone()
    assert connection is not None
    wamid = f"wamid.{uuid.uuid4().hex}"
    row = conn.execute("select public.record_inbound_message(%s, %s, %s, %s, %s, %s)",
                       (connection[0], wamid, wamid, sender, name, body)).fetchone()
    conn.commit()
    assert row is not None
    return dict(row[0])


@contextlib.asynccontextmanager
async def _listener(database: str, runtime: AIRuntime) -> AsyncIterator[None]:
    async with DevStack(database) as stack:
        transport = open_supabase(stack.url, stack.service_role_key)
        engine = Engine(transport.store, transport.data, conversation_handlers(),
                        EngineSettings(poll_interval=0.3, lease_seconds=10, backoff_base_seconds=0.05,
                                       maintenance_interval=0.5),
                        wakeup=transport.wakeup,
                        services={"ai": lambda context: runtime.orchestrator(RpcAIStore(context.data.rpc))})
        task = asyncio.create_task(engine.run())
        try:
            yield
        finally:
            engine.stop()
            await asyncio.wait_for(task, 30)
            await transport.close()
            await runtime.aclose()


def _message_of(conn: psycopg.Connection[Any], sender: str) -> tuple[str, str]:
    row = conn.execute("select m.id::text, m.lead_id::text from public.messages m join public.channel_identities i "
                       "on i.lead_id = m.lead_id and i.channel = m.channel where i.address = %s", (sender,)).fetchone()
    conn.commit()
    assert row is not None
    return row[0], row[1]


async def test_a_zero_input_lead_is_filled_from_its_first_message_over_postgrest(database: str) -> None:
    with psycopg.connect(database) as conn:
        _ingest(conn, "+4917011122233", "Paul",
                "Guten Tag, ich bin Paul Weber von der Weber Bau GmbH. Meine Mail: paul.weber@weber-bau.de")
        message, lead = _message_of(conn, "+4917011122233")
        assert scalar(conn, "select name from public.leads where id = %s", (lead,)) == "Paul"  # the profile name
        async with _listener(database, AIRuntime()):
            await wait_until(lambda: handled(conn, message), in_thread=True, what="message.received handled")
        row = conn.execute("select name, email, company, scored_at is not null from public.leads where id = %s",
                           (lead,)).fetchone()
        assert row == ("Paul Weber", "paul.weber@weber-bau.de", "Weber Bau GmbH", True)
        facts = conn.execute("select key from public.lead_facts where lead_id = %s and source_message_id = %s "
                             "and origin = 'extraction' order by key", (lead, message)).fetchall()
        assert [f[0] for f in facts] == ["company", "email", "name"]


async def test_an_exhausted_budget_that_refuses_calls_is_not_an_error(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("insert into public.ai_budgets (tenant_id, monthly_limit_usd, at_limit) values (%s, 0, 'refuse')",
                     (ACME,))
        conn.commit()
        _ingest(conn, "+4917011122244", "Anna", "Ich bin Anna Roth von Roth Design GmbH, anna@roth-design.de")
        message, lead = _message_of(conn, "+4917011122244")
        runtime = AIRuntime(remote=OpenAIProvider(api_key="sk-test", base_url=LLM_BASE), policy=FAST_POLICY)
        with respx.mock(assert_all_mocked=False, assert_all_called=False) as llm:
            route = llm.post(COMPLETIONS).respond(500)
            llm.route().pass_through()  # the local stack is real
            async with _listener(database, runtime):
                await wait_until(lambda: handled(conn, message), in_thread=True)
        assert not route.called
        assert scalar(conn, "select count(*) from public.lead_facts where lead_id = %s", (lead,)) == 0
        assert scalar(conn, "select count(*) from public.lead_review_tasks where lead_id = %s", (lead,)) == 0
        outcomes = conn.execute("select scenario, outcome from public.ai_usage where lead_id = %s order by scenario",
                                (lead,)).fetchall()
        assert outcomes == [("lead_extraction", "budget_exceeded"), ("lead_scoring", "budget_exceeded")]
        failed = scalar(conn, "select count(*) from public.event_deliveries d join public.events e "
                              "on e.id = d.event_id where e.payload->>'message_id' = %s and d.status <> 'succeeded'",
                        (message,))
        assert failed == 0
