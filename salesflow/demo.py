"""The demo `./scripts/run` shows: a WhatsApp message from an unknown number becomes a lead, and a reply goes out.

1. A demo WhatsApp channel is connected for Acme Sales through `public.connect_channel` (service code), with an
   app secret made for this run.
2. The demo sends what Meta would send: a WhatsApp Cloud API webhook, signed with `X-Hub-Signature-256` under
   that app secret, from an unknown number, to `/functions/v1/whatsapp-webhook` of the running stack (real HTTP).
3. As the listener processes each resulting event, the demo prints it, then what the rows now say: the lead
   Zero-Input created (`source_channel` whatsapp), the facts `lead_extraction` read from the text, review tasks,
   the conversation.
4. A reply is queued through `salesflow.conversations.sending.queue_message` (the call the inbox and the CLI
   make); the send job sends it through the outbox adapter, and the demo prints the message row (provider id
   `outbox:<message id>`) and its `message.sent` event.
5. The lead moves along the pipeline (new → contacted → qualified): on the supabase transport as
   `anna@acme.test` through PostgREST (signed in through `/auth/v1`, the tenant from her token), on the postgres
   transport with SQL.

Every line comes from a response, a row or an event; nothing is published by hand. The demo is done when every
event of the demo's lead is processed (or failed), and it succeeds only if all were processed and the reply was
sent.

The demo's connection carries no working access token: `salesflow run` gives the send job `offline_adapters`, so
the demo number's sends are recorded by the outbox adapter (which renders the exact Graph API request) and
nothing leaves the machine. Other connections are sent as configured.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import dict_row

from salesflow.channels.port import ChannelAdapter
from salesflow.events.ports import TenantDataFactory

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"

#: The demo's WhatsApp Business number and its Cloud API phone_number_id (the webhook routes by the latter).
DEMO_NUMBER = "+493055501000"
DEMO_PHONE_NUMBER_ID = "109000000000001"
#: The demo connection's access token: not a Meta token; `offline_adapters` sends its messages to the outbox.
DEMO_ACCESS_TOKEN = "salesflow-demo-offline"
DEMO_MEMBER = "anna@acme.test"

INBOUND_TEXT = ("Hallo! Ich bin Lena Vogt von der Vogt Logistik GmbH. Was kostet Ihr Paket für 20 Nutzer? "
                "Am besten erreichen Sie mich unter {email}")
PIPELINE = ("contacted", "qualified")
FINISHED = ("processed", "failed")


def offline_adapters(provider: str, channel: str, address: str, secrets_: Mapping[str, Any],
                     external_account_id: str | None) -> ChannelAdapter:
    """The send job's adapter factory in `salesflow run` (service `channel_adapters`): the demo connection's
    messages go to the outbox adapter (rendered as the Graph API request, recorded, never sent); every other
    connection gets its provider's adapter, as without this factory."""
    from salesflow.channels import build_adapter, outbox_adapter

    if address == DEMO_NUMBER and secrets_.get("access_token") == DEMO_ACCESS_TOKEN:
        return build_adapter("outbox", channel, address, {}, external_account_id=external_account_id)
    if provider == "outbox" and not secrets_ and address == "outbox":
        return outbox_adapter(channel)
    return build_adapter(provider, channel, address, secrets_, external_account_id=external_account_id)


@dataclass
class DemoOutcome:
    events: int
    processed: int
    failed: int
    unfinished: int
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.events > 0 and self.processed == self.events


@dataclass(frozen=True)
class DemoStack:
    """The running stack the demo talks to: the functions (and PostgREST) at `api_url`. `browser`: act as a
    signed-in member through /auth/v1 and /rest/v1 (the supabase transport); else with SQL."""

    api_url: str
    anon_key: str
    service_role_key: str
    browser: bool = True
    email: str = DEMO_MEMBER
    password: str = "salesflow-dev"


def whatsapp_delivery(sender_wa_id: str, name: str, text: str, message_id: str) -> dict[str, Any]:
    """A WhatsApp Cloud API `messages` webhook body with one text message (the shape Meta documents)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DEMO_NUMBER.lstrip("+"), "phone_number_id": DEMO_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": sender_wa_id}],
        "messages": [{"from": sender_wa_id, "id": message_id, "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}],
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "109000000000000", "changes": [{"field": "messages", "value": value}]}]}


def _describe(row: Mapping[str, Any]) -> str:
    p = row["payload"]
    kind = row["type"]
    if kind == "lead.created":
        what = f"{p.get('name')} via {p.get('source_channel')} ({p.get('source')})"
    elif kind == "lead.status_changed":
        what = f"{p.get('from')} -> {p.get('to')}"
    elif kind == "lead.updated":
        what = ", ".join(sorted(p.get("changes", {})))
    elif kind == "message.status_changed":
        what = f"{p.get('channel')} {p.get('from')} -> {p.get('to')}"
    elif kind == "message.sent":
        what = f"{p.get('channel')} {p.get('provider_message_id')} ({p.get('latency_ms')} ms)"
    elif kind == "message.received":
        what = f"{p.get('channel')} {p.get('content_type')} {p.get('provider_message_id')}"
    elif kind == "message.queued":
        what = f"{p.get('channel')} by {p.get('sent_by')}"
    else:
        what = ", ".join(f"{k}={v}" for k, v in p.items() if k in ("channel", "status", "method", "tail_tokens"))
    handlers = ", ".join(row["handlers"] or []) or "no handler"
    return f"{row['status']:<9} {kind:<22} {what[:72]:<50} [{handlers}]"


@dataclass
class _Follower:
    """Prints the demo lead's events as the listener finishes them (polling the outbox: the truth)."""

    db: psycopg.AsyncConnection[Any]
    first_seq: int
    lead_id: str
    say: Callable[[str], None]
    deadline: float
    shown: set[Any] = field(default_factory=set)
    rows: list[dict[str, Any]] = field(default_factory=list)

    async def poll(self) -> list[dict[str, Any]]:
        cursor = await self.db.execute(
            "select e.id, e.seq, e.type, e.status, e.payload, e.last_error, "
            "array(select d.handler from public.event_deliveries d where d.event_id = e.id "
            "      and d.status = 'succeeded' order by d.handler) as handlers "
            "from public.events e where e.seq > %s and e.tenant_id = %s "
            "and (e.payload ->> 'lead_id' = %s or e.ordering_key in (%s, 'send:' || %s)) order by e.seq",
            (self.first_seq, ACME, self.lead_id, self.lead_id, self.lead_id))
        self.rows = list(await cursor.fetchall())
        for row in self.rows:
            if row["status"] in FINISHED and row["id"] not in self.shown:
                self.shown.add(row["id"])
                self.say("  " + _describe(row))
                if row["status"] == "failed":
                    self.say(f"    last error: {row['last_error']}")
        return self.rows

    async def until(self, done: Callable[[list[dict[str, Any]]], bool]) -> bool:
        """Poll until `done(rows)` holds (True) or the deadline passes (False)."""
        while True:
            rows = await self.poll()
            if done(rows):
                return True
            if time.monotonic() > self.deadline:
                return False
            await asyncio.sleep(0.05)

    def outcome(self, problem: str | None) -> DemoOutcome:
        processed = sum(r["status"] == "processed" for r in self.rows)
        failed = sum(r["status"] == "failed" for r in self.rows)
        return DemoOutcome(len(self.rows), processed, failed, len(self.rows) - processed - failed, problem)


def _all_finished(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r["status"] in FINISHED for r in rows)


def _finished(kind: str, **payload: str) -> Callable[[list[dict[str, Any]]], bool]:
    def check(rows: list[dict[str, Any]]) -> bool:
        return any(r["type"] == kind and r["status"] in FINISHED
                   and all(str(r["payload"].get(k)) == v for k, v in payload.items()) for r in rows)
    return check


class _Member:
    """The demo member acting like the browser: signed in through /auth/v1, writing through /rest/v1 (RLS,
    the tenant from her token). supabase-py is synchronous: its calls run off the event loop."""

    def __init__(self, stack: DemoStack) -> None:
        self.stack = stack
        self.client: Any = None
        self.user_id: str | None = None

    async def sign_in(self) -> str:
        def go() -> str:
            from supabase import create_client

            self.client = create_client(self.stack.api_url, self.stack.anon_key)
            session = self.client.auth.sign_in_with_password({"email": self.stack.email,
                                                              "password": self.stack.password})
            if session.session is None or session.user is None:
                raise RuntimeError(f"sign-in as {self.stack.email} returned no session")
            return str(session.user.id)

        self.user_id = await asyncio.to_thread(go)
        return self.user_id

    async def move(self, lead_id: str, status: str) -> list[dict[str, Any]]:
        def go() -> list[dict[str, Any]]:
            rows = self.client.table("leads").update({"status": status}).eq("id", lead_id).execute().data
            return list(rows)

        return await asyncio.to_thread(go)


async def _connect_channel(db: psycopg.AsyncConnection[Any], stack: DemoStack, app_secret: str) -> str:
    """Connect the demo WhatsApp channel through `public.connect_channel` as service code: over PostgREST with
    the service-role key on the supabase transport, with SQL (the operator's login) on the postgres one."""
    from salesflow.channels.credentials import secrets_to_store

    stored = secrets_to_store("whatsapp_cloud", {"access_token": DEMO_ACCESS_TOKEN, "app_secret": app_secret,
                                                 "verify_token": f"demo-verify-{uuid.uuid4().hex[:8]}"})
    args = {"p_channel": "whatsapp", "p_provider": "whatsapp_cloud", "p_address": DEMO_NUMBER,
            "p_external_account_id": DEMO_PHONE_NUMBER_ID, "p_display_name": "Acme Sales WhatsApp (demo)",
            "p_secrets": stored, "p_tenant_id": ACME}
    if stack.browser:
        key = stack.service_role_key
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=15) as http:
            response = await http.post("/rest/v1/rpc/connect_channel", json=args,
                                       headers={"apikey": key, "Authorization": f"Bearer {key}"})
        response.raise_for_status()
        return str(response.json())
    cursor = await db.execute(
        "select public.connect_channel(p_channel => %(p_channel)s, p_provider => %(p_provider)s, "
        "p_address => %(p_address)s, p_external_account_id => %(p_external_account_id)s, "
        "p_display_name => %(p_display_name)s, p_secrets => %(p_secrets)s::jsonb, p_tenant_id => %(p_tenant_id)s) "
        "as id", {**args, "p_secrets": json.dumps(stored)})
    row = await cursor.fetchone()
    assert row is not None
    return str(row["id"])


async def _one(db: psycopg.AsyncConnection[Any], query: str, params: Any) -> dict[str, Any] | None:
    cursor = await db.execute(query, params)
    row = await cursor.fetchone()
    return dict(row) if row else None


async def _all(db: psycopg.AsyncConnection[Any], query: str, params: Any) -> list[dict[str, Any]]:
    cursor = await db.execute(query, params)
    return [dict(r) for r in await cursor.fetchall()]


async def run_demo(url: str, data: TenantDataFactory, stack: DemoStack, say: Callable[[str], None],
                   timeout: float = 60.0) -> DemoOutcome:
    """Run the demo story against the running stack and listener (see the module docstring)."""
    from salesflow.channels.inbound.signatures import meta_signature
    from salesflow.conversations.sending import queue_message

    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True) as db:
        start = await _one(db, "select coalesce(max(seq), 0) as s from public.events", None)
        first_seq = int(start["s"]) if start else 0
        member = _Member(stack)
        member_id: str | None
        if stack.browser:
            member_id = await member.sign_in()
            say(f"demo: signed in as {stack.email} through {stack.api_url}/auth/v1 (token carries the tenant claim)")
        else:
            found = await _one(db, "select id from auth.users where email = %s", (stack.email,))
            member_id = str(found["id"]) if found else None

        app_secret = secrets.token_hex(16)
        connection_id = await _connect_channel(db, stack, app_secret)
        connection = await _one(db, "select c.id, c.provider, c.address, c.external_account_id, t.name as tenant "
                                    "from public.channel_connections c join public.tenants t on t.id = c.tenant_id "
                                    "where c.id = %s", (connection_id,))
        assert connection is not None
        say(f"demo: connected WhatsApp {connection['address']} (provider {connection['provider']}, phone_number_id "
            f"{connection['external_account_id']}) for {connection['tenant']} through public.connect_channel")

        # An unknown sender: a number no lead of the tenant has (a random German mobile number).
        sender = f"49151{secrets.randbelow(10**8):08d}"
        wamid = "wamid.DEMO" + uuid.uuid4().hex.upper()
        text = INBOUND_TEXT.format(email=f"lena.vogt.{sender[-4:]}@vogt-logistik.example")
        raw = json.dumps(whatsapp_delivery(sender, "Lena Vogt", text, wamid), separators=(",", ":")).encode()
        function = f"{stack.api_url}/functions/v1/whatsapp-webhook"
        async with httpx.AsyncClient(timeout=15) as http:
            response = await http.post(function, content=raw, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(app_secret, raw)})
        say(f"demo: POST {function} (WhatsApp message from +{sender}, X-Hub-Signature-256 signed with the "
            f"connection's app secret): HTTP {response.status_code} {response.text.strip()}")
        message = await _one(db, "select id, lead_id, conversation_id, body from public.messages "
                                 "where tenant_id = %s and channel = 'whatsapp' and provider_message_id = %s",
                             (ACME, wamid))
        if response.status_code != 200 or message is None:
            return DemoOutcome(0, 0, 0, 0, f"the webhook was not recorded (HTTP {response.status_code})")
        lead_id = str(message["lead_id"])
        follow = _Follower(db, first_seq, lead_id, say, time.monotonic() + timeout)

        received = await follow.until(lambda rows: _finished("message.received", message_id=str(message["id"]))(rows)
                                      and _finished("lead.created")(rows) and _all_finished(rows))
        if not received:
            return follow.outcome("message.received was not processed in time")
        lead = await _one(db, "select name, source, source_channel, whatsapp, email, company, status, score, "
                              "temperature from public.leads where id = %s", (lead_id,))
        assert lead is not None
        say(f"demo: lead {lead_id} by Zero-Input: {lead['name']}, source_channel {lead['source_channel']} "
            f"(source {lead['source']}), whatsapp {lead['whatsapp']}, status {lead['status']}, score {lead['score']} "
            f"({lead['temperature']})")
        facts = await _all(db, "select key, value, confidence, origin from public.lead_facts "
                               "where lead_id = %s and valid_to is null order by key", (lead_id,))
        for fact in facts:
            say(f"demo:   fact {fact['key']} = {json.dumps(fact['value'], ensure_ascii=False)} "
                f"(confidence {fact['confidence']}, {fact['origin']})")
        if not facts:
            say("demo:   no facts recorded")
        tasks = await _all(db, "select field, proposed_value, confidence, reason from public.lead_review_tasks "
                               "where lead_id = %s and status = 'pending' order by field", (lead_id,))
        for task in tasks:
            say(f"demo:   review task {task['field']} = {task['proposed_value']!r} (confidence {task['confidence']}, "
                f"{task['reason']}) waits for a member")
        conversation = await _one(db, "select id, status, unread_count, last_inbound_at from public.conversations "
                                      "where id = %s", (message["conversation_id"],))
        assert conversation is not None
        say(f"demo: conversation {conversation['id']} on whatsapp: {conversation['status']}, "
            f"{conversation['unread_count']} unread, last inbound {conversation['last_inbound_at']:%H:%M:%S}")

        first_name = str(lead["name"]).split()[0]
        reply = await queue_message(
            data.for_tenant(UUID(ACME)), lead_id, "whatsapp",
            text=f"Hallo {first_name}, danke für Ihre Nachricht! Ich schicke Ihnen heute unser Angebot für 20 Nutzer.",
            sent_by="user", sent_by_user_id=member_id, idempotency_key=f"demo-reply:{message['id']}")
        say(f"demo: reply {reply['id']} queued through queue_message (sent_by {reply['sent_by']}"
            f"{', ' + stack.email if member_id else ''}): status {reply['status']}")
        sent = await follow.until(_finished("message.sent", message_id=str(reply["id"])))
        row = await _one(db, "select status, provider_message_id, sent_at, provider_detail from public.messages "
                             "where id = %s", (reply["id"],))
        assert row is not None
        if not sent or row["status"] != "sent":
            return follow.outcome(f"the reply was not sent (status {row['status']})")
        rendered = (row["provider_detail"] or {}).get("rendered") or {}
        request = f", renders {rendered.get('method')} {rendered.get('url')}" if rendered.get("url") else ""
        say(f"demo: reply {row['status']} by the send job through the outbox adapter: provider id "
            f"{row['provider_message_id']}{request} (recorded, not sent)")

        for status in PIPELINE:
            if stack.browser:
                moved = await member.move(lead_id, status)
                say(f"demo: {stack.email} moved the lead to {status} through PostgREST "
                    f"({len(moved)} row visible to her)")
            else:
                await db.execute("update public.leads set status = %s where id = %s", (status, lead_id))
                say(f"demo: lead moved to {status} (SQL)")
        await follow.until(lambda rows: _all_finished(rows)
                           and sum(r["type"] == "lead.status_changed" for r in rows) >= len(PIPELINE))
        source_demo = await _one(db, "select count(*) as n from public.events where seq > %s and source = 'demo'",
                                 (first_seq,))
        problem = None if source_demo and source_demo["n"] == 0 else "events published by hand"
        return follow.outcome(problem)

