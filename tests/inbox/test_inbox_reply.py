"""Replying from the inbox: the DM is queued with sent_by inbox, the send job sends it through the outbox
adapter and publishes message.sent; `salesflow inbox` lists by priority and refuses bad input with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest

from salesflow.conversations.sending import SendRefused
from salesflow.inbox.reply import reply
from salesflow.transports.postgres import PostgresTenantDataFactory
from tests.conversations.inbound import ACME, new_lead, receive, scalar
from tests.polling import wait_until
from tests.sending.conftest import ROOT, send_job_running

Conn = psycopg.Connection[Any]


def cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "salesflow.cli.main", "inbox", *args, "--database-url", database],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def sent_event(db: Conn, message_id: str) -> dict[str, Any] | None:
    row = db.execute("select payload from public.events where type = 'message.sent' and payload->>'message_id' = %s",
                     (message_id,)).fetchone()
    db.commit()
    return None if row is None else dict(row[0])


async def test_a_reply_from_the_inbox_is_sent_and_publishes_message_sent(db: Conn, database: str) -> None:
    lead = new_lead(db)
    inbound = receive(db, lead, "Was kostet das?")
    factory = PostgresTenantDataFactory(database, pool_size=2)
    try:
        row = await reply(factory.for_tenant(uuid.UUID(ACME)), inbound.conversation_id, "49 € im Monat.",
                          idempotency_key="inbox-test-1")
        again = await reply(factory.for_tenant(uuid.UUID(ACME)), inbound.conversation_id, "49 € im Monat.",
                            idempotency_key="inbox-test-1")
    finally:
        await factory.close()
    assert again["id"] == row["id"], "a double click queues one message"
    assert (row["sent_by"], row["status"], row["channel"]) == ("inbox", "queued", "whatsapp")
    async with send_job_running(database):
        event = await wait_until(lambda: sent_event(db, str(row["id"])), in_thread=True, timeout=90,
                                 what="message.sent")
    assert event["lead_id"] == lead
    assert scalar(db, "select provider_message_id from public.messages where id = %s", (row["id"],)) \
        == f"outbox:{row['id']}"
    assert scalar(db, "select inbox_status from public.conversations where id = %s", (inbound.conversation_id,)) \
        == "dm_initiated_no_response"


async def test_a_reply_to_another_tenants_conversation_is_refused(db: Conn, database: str) -> None:
    inbound = receive(db, new_lead(db), "Hallo")
    factory = PostgresTenantDataFactory(database, pool_size=2)
    try:
        with pytest.raises(SendRefused) as refused:
            await reply(factory.for_tenant(uuid.UUID("22222222-2222-4222-8222-222222222222")),
                        inbound.conversation_id, "Hallo zurück")
    finally:
        await factory.close()
    assert refused.value.field == "conversation_id"


def test_the_cli_lists_by_priority_and_replies(db: Conn, database: str) -> None:
    hot = new_lead(db, address="+4915100000701", name="Hot CLI Lead", score=95)
    cold = new_lead(db, address="+4915100000702", name="Cold CLI Lead", score=5)
    receive(db, cold, "Hallo")
    hot_message = receive(db, hot, "Wann können wir sprechen?")
    db.execute("select public.inbox_apply_signal(%s, %s, 'interest', 'positive')", (ACME, hot_message.message_id))
    db.commit()
    listed = cli(database, "--tenant", ACME, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    names = [r["lead_name"] for r in rows]
    assert names.index("Hot CLI Lead") < names.index("Cold CLI Lead")
    attention = json.loads(cli(database, "--tenant", ACME, "--needs-attention", "--json").stdout)
    assert [r["lead_name"] for r in attention] == ["Hot CLI Lead"]
    answered = cli(database, "reply", hot_message.conversation_id, "--text", "Morgen um 10?", "--json")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["sent_by"] == "inbox"


@pytest.mark.parametrize(("args", "field"), [
    (["--tenant", "nope"], "--tenant"),
    (["--limit", "0"], "--limit"),
    ([], "--tenant"),  # the seed has two tenants: which one?
    (["reply", "not-a-uuid", "--text", "x"], "conversation_id"),
    (["reply", str(uuid.uuid4()), "--text", "x"], "conversation_id"),
    (["persistence-sequence", "--tenant", ACME, "--channel", "fax"], "--channel"),
    (["persistence-sequence", "--tenant", ACME, "--locale", "fr"], "--locale"),
])
def test_the_cli_refuses_bad_input_naming_the_field(database: str, args: list[str], field: str) -> None:
    answer = cli(database, *args)
    assert answer.returncode == 2
    assert answer.stderr.startswith(f"error: {field}: ")


def test_the_cli_creates_the_persistence_sequence_once(database: str) -> None:
    first = cli(database, "persistence-sequence", "--tenant", ACME, "--json")
    assert first.returncode == 0, first.stderr
    again = cli(database, "persistence-sequence", "--tenant", ACME, "--json")
    assert json.loads(again.stdout)["sequence_id"] == json.loads(first.stdout)["sequence_id"]
