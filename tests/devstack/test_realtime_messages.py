"""Realtime on the inbox tables: `conversations` and `messages` are in the publication, so a signed-in
member sees their own tenant's new conversations and messages live, and never another tenant's."""

from __future__ import annotations

from typing import Any

import psycopg

from salesflow.devstack import DevStack
from supabase import AsyncClient, acreate_client
from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import PASSWORD
from tests.polling import wait_until

JULIA = "10000000-0000-4000-8000-000000000001"  # seed lead of Acme
OLIVIA = "20000000-0000-4000-8000-000000000001"  # seed lead of Nordlicht


async def signed_in(stack: DevStack, email: str) -> AsyncClient:
    client = await acreate_client(stack.url, stack.anon_key)
    await client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    return client


async def subscribe_to_inbox(client: AsyncClient, name: str, received: list[dict[str, Any]]) -> None:
    """One channel with INSERT bindings on conversations and messages, as an inbox screen would join."""
    channel = client.channel(name)
    for table in ("conversations", "messages"):
        channel.on_postgres_changes("INSERT", schema="public", table=table,  # type: ignore[arg-type]
                                    callback=lambda payload: received.append(dict(payload["data"])))
    await channel.subscribe()


def inbound_message(database: str, tenant_id: str, lead_id: str, body: str) -> tuple[str, str]:
    """What a provider webhook records, as service code (here the superuser): a conversation with the lead on
    WhatsApp and the lead's first message in it, in one transaction. Returns (conversation id, message id)."""
    with psycopg.connect(database) as conn:
        row = conn.execute("insert into public.conversations (tenant_id, lead_id, channel) "
                           "values (%s, %s, 'whatsapp') returning id", (tenant_id, lead_id)).fetchone()
        assert row is not None
        conversation_id = str(row[0])
        message = conn.execute("insert into public.messages (conversation_id, direction, body) "
                               "values (%s, 'in', %s) returning id", (conversation_id, body)).fetchone()
        assert message is not None
        return conversation_id, str(message[0])


def follow_up(database: str, conversation_id: str, body: str) -> str:
    with psycopg.connect(database) as conn:
        row = conn.execute("insert into public.messages (conversation_id, direction, body) "
                           "values (%s, 'in', %s) returning id", (conversation_id, body)).fetchone()
        assert row is not None
        return str(row[0])


def seen(received: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(change["table"], str(change["record"]["id"])) for change in received]


async def test_a_member_sees_their_tenants_new_conversations_and_messages_live_never_anothers(
        database: str) -> None:
    async with DevStack(database) as stack:
        anna, bea = await signed_in(stack, "anna@acme.test"), await signed_in(stack, "bea@nordlicht.test")
        anna_got: list[dict[str, Any]] = []
        bea_got: list[dict[str, Any]] = []
        await subscribe_to_inbox(anna, "anna-inbox", anna_got)
        await subscribe_to_inbox(bea, "bea-inbox", bea_got)

        # Changes reach a subscriber in commit order: each member waits for a row of their own committed after
        # the other tenant's rows, so once it has arrived, a foreign row that was going to arrive would have.
        nord_conversation, nord_message = inbound_message(database, NORDLICHT, OLIVIA, "Hi, is the offer still on?")
        acme_conversation, acme_message = inbound_message(database, ACME, JULIA, "Hallo, ich habe eine Frage")
        nord_sentinel = follow_up(database, nord_conversation, "And what does delivery cost?")

        await wait_until(lambda: ("messages", acme_message) in seen(anna_got), what="Anna sees Julia's message")
        await wait_until(lambda: ("messages", nord_sentinel) in seen(bea_got), what="Bea sees Olivia's follow-up")
        assert seen(anna_got) == [("conversations", acme_conversation), ("messages", acme_message)]
        assert seen(bea_got) == [("conversations", nord_conversation), ("messages", nord_message),
                                 ("messages", nord_sentinel)]
        assert {change["record"]["tenant_id"] for change in anna_got} == {ACME}
        assert {change["record"]["tenant_id"] for change in bea_got} == {NORDLICHT}
        # The inbox renders the row from the change itself: the message arrives whole, with its lead and body.
        julia_says = anna_got[1]["record"]
        assert (julia_says["lead_id"], julia_says["conversation_id"], julia_says["direction"],
                julia_says["status"], julia_says["body"]) == (JULIA, acme_conversation, "in", "received",
                                                              "Hallo, ich habe eine Frage")
        for client in (anna, bea):
            await client.remove_all_channels()
