"""Providers redeliver, and deliver in parallel: the database's unique indexes keep one message and one
event however many copies race (`on conflict`, not check-then-act), and a new sender's first messages
arriving at once make one lead."""

from __future__ import annotations

import asyncio
import threading

import httpx
import psycopg

from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import WHATSAPP, counts, function_url
from tests.webhooks.payloads import encoded, meta_headers, wamid, whatsapp_message

COPIES = 1000
IN_FLIGHT = 64


def test_a_thousand_concurrent_copies_of_one_message_store_one_message_and_one_event(stack: RunningStack) -> None:
    message_id = wamid()
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4917799990001", name="Parallel Petra",
                                   message_id=message_id))
    headers = meta_headers(WHATSAPP.secrets["app_secret"], raw)
    url = function_url(stack, "whatsapp-webhook")
    before = counts(stack)

    async def deliver_all() -> list[int]:
        gate = asyncio.Semaphore(IN_FLIGHT)
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            async def one() -> int:
                async with gate:
                    return (await client.post(url, content=raw, headers=headers)).status_code
            return await asyncio.gather(*(one() for _ in range(COPIES)))

    statuses = asyncio.run(deliver_all())
    assert statuses.count(200) == COPIES, {s: statuses.count(s) for s in set(statuses)}
    after = counts(stack)
    assert {t: after[t] - before[t] for t in after if t != "events"} == {
        "leads": 1, "channel_identities": 1, "identity_links": 0, "conversations": 1, "messages": 1,
        "inbound_webhooks": 1}
    assert stack.sql("select count(*) from public.events where type = 'message.received' "
                     "and payload ->> 'provider_message_id' = %s", (message_id,)) == [(1,)]
    published = stack.sql("select type, count(*) from public.events where ordering_key = "
                          "(select lead_id::text from public.channel_identities where address = '+4917799990001') "
                          "and type in ('lead.created', 'conversation.created', 'message.received') group by type")
    assert sorted(published) == [("conversation.created", 1), ("lead.created", 1), ("message.received", 1)]


def test_a_new_senders_first_messages_arriving_at_once_make_one_lead(stack: RunningStack) -> None:
    sender, workers = "+4917799990002", 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                barrier.wait()
                conn.execute("select public.record_inbound_message(%s, %s, %s, %s, 'Gleichzeitig', %s)",
                             (WHATSAPP.id, f"race-{n}-{sender}", f"race-{n}-{sender}", sender, f"Nachricht {n}"))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert stack.sql("select count(distinct i.lead_id), count(distinct c.id), count(m.id) "
                     "from public.channel_identities i join public.conversations c on c.lead_id = i.lead_id "
                     "join public.messages m on m.conversation_id = c.id where i.address = %s", (sender,)) == [
        (1, 1, workers)]
    assert stack.sql("select count(*) from public.leads where whatsapp = %s", (sender,)) == [(1,)]
