"""Rolling summaries: written when a conversation's unsummarised tail passes the threshold (not before),
once per range even when events are redelivered, on an event of its own that never waits on the lead's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from salesflow.ai import AIRuntime
from salesflow.ai.ports import RpcAIStore
from salesflow.conversations.summaries import SUMMARY_THRESHOLD_TOKENS
from salesflow.events import Event, HandlerContext
from salesflow.handlers.summaries import refresh_summary, schedule_summary
from salesflow.transports.postgres_data import PostgresTenantDataFactory
from tests.conftest import ACME, NORDLICHT
from tests.conversations.history import add_conversation, add_lead, add_messages

Conn = psycopg.Connection[Any]

# ~70 estimated tokens with the per-message overhead: 12 of them pass the 800-token threshold.
LINE = ("Wir planen den Umbau von drei Lagerhallen und brauchen dafür Scanner, Drucker und eine Schulung. "
        "Die Lieferung sollte bis Ende März erfolgen, damit die Inventur im April klappt.")


@pytest.fixture
async def factory(database: str) -> AsyncIterator[PostgresTenantDataFactory]:
    f = PostgresTenantDataFactory(database, pool_size=2)
    try:
        yield f
    finally:
        await f.close()


def _latest_event(db: Conn, type_: str, **payload: str) -> Event:
    condition = " and ".join(f"payload->>'{k}' = %s" for k in payload) or "true"
    row = db.execute(
        f"select id, tenant_id, type, payload, ordering_key, attempts from public.events "
        f"where type = %s and {condition} order by seq desc limit 1", (type_, *payload.values())).fetchone()
    db.commit()
    assert row is not None, f"no {type_} event"
    return Event(id=row[0], tenant_id=row[1], type=row[2], payload=row[3], ordering_key=row[4], attempts=1)


async def _run(handler: Any, event: Event, factory: PostgresTenantDataFactory) -> None:
    runtime = AIRuntime()  # the local provider only, whatever the environment says

    def ai(context: HandlerContext) -> Any:
        return runtime.orchestrator(RpcAIStore(context.data.rpc))

    context = HandlerContext(event, data=factory.for_tenant(event.tenant_id), handler=handler.__name__,
                             services={"ai": ai})
    await handler(event, context)


def _summaries(db: Conn, conversation: str) -> list[tuple[Any, ...]]:
    rows = db.execute(
        "select first_message_id::text, last_message_id::text, message_count, token_count, prompt_version, "
        "summary, covered_until = (select created_at from public.messages m where m.id = s.last_message_id) "
        "from public.conversation_summaries s where conversation_id = %s order by covered_until", (conversation,)
    ).fetchall()
    db.commit()
    return rows


def _due_events(db: Conn, conversation: str) -> list[tuple[Any, ...]]:
    rows = db.execute("select ordering_key, payload->>'lead_id' from public.events "
                      "where type = 'conversation.summary_due' and payload->>'conversation_id' = %s",
                      (conversation,)).fetchall()
    db.commit()
    return rows


async def test_a_summary_is_written_once_the_tail_passes_the_threshold_and_not_before(
    db: Conn, factory: PostgresTenantDataFactory
) -> None:
    lead = add_lead(db, ACME, "Paula Reimann")
    conversation = add_conversation(db, ACME, lead)
    first = add_messages(db, conversation, [("in" if i % 2 == 0 else "out", f"{LINE} ({i})") for i in range(6)])
    await _run(schedule_summary, _latest_event(db, "message.received", message_id=first[4]), factory)
    assert _due_events(db, conversation) == []  # ~420 tokens: not yet
    assert _summaries(db, conversation) == []

    more = add_messages(db, conversation, [("in" if i % 2 == 0 else "out", f"{LINE} ({i})") for i in range(6, 14)])
    received = _latest_event(db, "message.received", message_id=more[-2])
    await _run(schedule_summary, received, factory)
    # Its own ordering key: the summary's AI call never holds back the lead's next inbound event.
    assert _due_events(db, conversation) == [(f"summary:{conversation}", lead)]
    due = _latest_event(db, "conversation.summary_due", conversation_id=conversation)
    assert due.ordering_key != received.ordering_key == lead

    await _run(refresh_summary, due, factory)
    [summary] = _summaries(db, conversation)
    assert summary[:3] == (first[0], more[-1], 14)
    assert summary[3] >= SUMMARY_THRESHOLD_TOKENS and summary[4] == 2 and summary[6] is True
    assert "14 neue Nachricht(en)" in summary[5]  # the offline provider, in the tenant's language

    # Redelivered, both events write nothing new.
    await _run(schedule_summary, received, factory)
    await _run(refresh_summary, due, factory)
    assert len(_summaries(db, conversation)) == 1
    assert len(_due_events(db, conversation)) == 1  # the tail is summarised: nothing is due any more


async def test_the_summary_rolls_over_the_previous_one(db: Conn, factory: PostgresTenantDataFactory) -> None:
    lead = add_lead(db, NORDLICHT, "Oliver Grant", locale="en")
    conversation = add_conversation(db, NORDLICHT, lead)
    line = ("We are rebuilding three warehouses and need scanners, printers and a training for the team. "
            "Delivery should happen by the end of March so the stocktaking in April works out.")
    first = add_messages(db, conversation, [("in", f"{line} ({i})") for i in range(14)])
    await _run(schedule_summary, _latest_event(db, "message.received", message_id=first[-1]), factory)
    await _run(refresh_summary, _latest_event(db, "conversation.summary_due", conversation_id=conversation), factory)
    later = add_messages(db, conversation, [("in", f"Our budget is 40,000 EUR for the scanners and printers, "
                                                   f"installation included, if that works for you ({i}).")
                                            for i in range(30)])
    await _run(schedule_summary, _latest_event(db, "message.received", message_id=later[-1]), factory)
    # The first summary_due is still pending here (no engine marks it processed): one waiting is enough, it
    # summarises whatever the tail is when it runs.
    assert len(_due_events(db, conversation)) == 1
    await _run(refresh_summary, _latest_event(db, "conversation.summary_due", conversation_id=conversation), factory)
    older, newer = _summaries(db, conversation)
    assert newer[:3] == (first[0], later[-1], 44)  # covers everything from the first message
    assert newer[3] > older[3]
    assert newer[5].startswith("Before: ") and "budget" in newer[5]


async def test_a_long_tail_is_summarised_a_chunk_per_event(db: Conn, factory: PostgresTenantDataFactory) -> None:
    lead = add_lead(db, ACME, "Paula Reimann")
    conversation = add_conversation(db, ACME, lead)
    ids = add_messages(db, conversation, [("in", f"{LINE} ({i})") for i in range(200)])  # ~14,000 tokens
    await _run(schedule_summary, _latest_event(db, "message.received", message_id=ids[-1]), factory)
    for _ in range(10):
        pending = db.execute("select id from public.events where type = 'conversation.summary_due' "
                             "and status = 'pending' order by seq").fetchall()
        db.execute("update public.events set status = 'processed', processed_at = now() "
                   "where type = 'conversation.summary_due'")
        db.commit()
        if not pending:
            break
        await _run(refresh_summary, _latest_event(db, "conversation.summary_due", conversation_id=conversation),
                   factory)
    rows = _summaries(db, conversation)
    assert len(rows) >= 3  # 6,000-token chunks
    assert rows[-1][2] < 200 or rows[-1][1] == ids[-1]
    assert all(r[0] == ids[0] for r in rows) and [r[2] for r in rows] == sorted(r[2] for r in rows)


async def test_a_slow_summary_never_holds_back_the_leads_next_message(db: Conn, database: str) -> None:
    import asyncio

    from salesflow.events.engine import Engine, EngineSettings
    from salesflow.events.registry import Registry
    from salesflow.transports import open_postgres
    from tests.engines import FAST
    from tests.polling import wait_until

    release = asyncio.Event()
    runtime = AIRuntime()
    replied: list[str] = []

    class SlowModel:
        """The orchestrator, answering only once the test says so (a model that takes its time)."""

        def __init__(self, context: HandlerContext) -> None:
            self.inner = runtime.orchestrator(RpcAIStore(context.data.rpc))

        async def run(self, scenario: str, **kwargs: Any) -> Any:
            await release.wait()
            return await self.inner.run(scenario, **kwargs)

    async def reply(event: Event, context: HandlerContext) -> None:
        replied.append(str(event.payload["message_id"]))

    registry = Registry()
    registry.handles("message.received", name="summaries.schedule_summary")(schedule_summary)
    registry.handles("conversation.summary_due", name="summaries.refresh_summary")(refresh_summary)
    registry.handles("message.received", name="test.reply")(reply)

    lead = add_lead(db, ACME, "Paula Reimann")
    conversation = add_conversation(db, ACME, lead)
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    transport = open_postgres(database, listen=True)
    engine = Engine(transport.store, transport.data, registry, EngineSettings(**{**FAST, "poll_interval": 0.2}),
                    wakeup=transport.wakeup, services={"ai": SlowModel})
    task = asyncio.create_task(engine.run())
    try:
        first = add_messages(db, conversation, [("in", f"{LINE} ({i})") for i in range(14)])

        def summary_running() -> bool:
            row = db.execute("select count(*) from public.events where type = 'conversation.summary_due' "
                             "and status = 'processing'").fetchone()
            db.commit()
            return bool(row and row[0])

        await wait_until(lambda: summary_running() and first[-1] in replied)
        # The model is still thinking about the summary; the lead writes again and is answered meanwhile.
        [later] = add_messages(db, conversation, [("in", "Und was kostet die Schulung?")])
        await wait_until(lambda: later in replied)
        assert summary_running() and _summaries(db, conversation) == []
        release.set()
        await wait_until(lambda: len(_summaries(db, conversation)) == 1)
    finally:
        release.set()
        engine.stop()
        await asyncio.wait_for(task, 30)
        await transport.close()
