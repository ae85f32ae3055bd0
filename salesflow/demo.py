"""The demo `./scripts/run` shows: a WhatsApp message from an unknown number becomes a lead, a reply goes out, a
follow-up sequence sends its first step, the lead's answer stops it, and an approved autopilot draft is sent.

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
6. Follow-up: the lead is enrolled (`public.enroll_leads`, as Anna through PostgREST or as service code) in a
   small demo sequence, not the default persistence sequence (whose first step is a task and whose first
   message is due after 48 hours): a WhatsApp message due at once in a window open every day, all day, then a
   call task. The step handler sends the message through the outbox (`sequence.step_executed`, `message.sent`)
   and the task leaves the enrollment paused, so no step waits in the outbox for days.
7. The lead replies with a second signed webhook ("Klingt gut, was kostet das?"): the reply rule stops the
   enrollment; the autopilot, in assist mode for this lead (a lead-scoped `autopilot_settings` row, so the
   tenant's setting is untouched), drafts an answer that waits for a person (the pricing guard
   `sensitive_topic`); the demo approves it through `public.autopilot_decide` (Anna through PostgREST, or
   service code on postgres) and the send job sends it (`autopilot.action_executed`, `message.sent`).

Every line comes from a response, a row or an event; nothing is published by hand. The demo is done when every
event of the demo's lead is processed (or failed), and it succeeds only if all were processed, the reply, the
step's message and the approved draft were sent, and the reply stopped the enrollment.

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
from datetime import time as dt_time
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import dict_row

from salesflow.channels.port import ChannelAdapter
from salesflow.events.ports import TenantData, TenantDataFactory
from salesflow.sequences.models import SequenceSpec, StepSpec

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"

#: The demo's WhatsApp Business number and its Cloud API phone_number_id (the webhook routes by the latter).
DEMO_NUMBER = "+493055501000"
DEMO_PHONE_NUMBER_ID = "109000000000001"
#: The demo connection's access token: not a Meta token; `offline_adapters` sends its messages to the outbox.
DEMO_ACCESS_TOKEN = "salesflow-demo-offline"
DEMO_MEMBER = "anna@acme.test"

DEMO_SEQUENCE = "Demo: WhatsApp-Nachfassen"
FOLLOW_UP_TEXT = ("Hallo {{first_name}}, kurze Nachfrage: Soll ich Ihnen für {{company | Ihr Team}} auch eine "
                  "Demo zeigen?")
REPLY_TEXT = "Klingt gut, was kostet das?"
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
    elif kind == "sequence.step_due":
        what = f"step {p.get('step')} of enrollment {str(p.get('enrollment_id'))[:8]} (version {p.get('version')})"
    elif kind == "sequence.step_executed":
        what = f"step {p.get('step')} {p.get('channel')} message {str(p.get('message_id'))[:8]}"
    elif kind == "autopilot.action_executed":
        what = f"{p.get('action')} {p.get('mode')} {p.get('verdict')} message {str(p.get('message_id'))[:8]}"
    else:
        what = ", ".join(f"{k}={v}" for k, v in p.items() if k in ("channel", "status", "method", "tail_tokens"))
    handlers = ", ".join(row["handlers"] or []) or "no handler"
    return f"{row['status']:<9} {kind:<25} {what[:72]:<50} [{handlers}]"


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

    async def rpc(self, function: str, args: dict[str, Any]) -> Any:
        """Call `public.<function>` through /rest/v1/rpc with her token (the tenant from the token)."""
        return await asyncio.to_thread(lambda: self.client.rpc(function, args).execute().data)

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
        function, response = await _post_whatsapp(stack, app_secret, sender, text, wamid)
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
        problem = await _follow_up(db, data, stack, member, follow, app_secret, sender, lead_id, say)
        if problem is not None:
            return follow.outcome(problem)
        await follow.until(_all_finished)
        source_demo = await _one(db, "select count(*) as n from public.events where seq > %s and source = 'demo'",
                                 (first_seq,))
        problem = None if source_demo and source_demo["n"] == 0 else "events published by hand"
        return follow.outcome(problem)


async def _post_whatsapp(stack: DemoStack, app_secret: str, sender: str, text: str,
                         wamid: str) -> tuple[str, httpx.Response]:
    """POST what Meta would: the delivery signed with `X-Hub-Signature-256` under the connection's app secret."""
    from salesflow.channels.inbound.signatures import meta_signature

    raw = json.dumps(whatsapp_delivery(sender, "Lena Vogt", text, wamid), separators=(",", ":")).encode()
    function = f"{stack.api_url}/functions/v1/whatsapp-webhook"
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.post(function, content=raw, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(app_secret, raw)})
    return function, response


def demo_sequence() -> SequenceSpec:
    """The demo's follow-up sequence: a WhatsApp message due at once in a window open all week, all day (the
    default persistence sequence starts with a task and sends after 48 hours, too slow to watch), then a call
    task, which pauses the enrollment until a person does it (so no step waits in the outbox for days)."""
    return SequenceSpec(
        name=DEMO_SEQUENCE, send_days=[1, 2, 3, 4, 5, 6, 7], send_from=dt_time(0, 0),
        send_until=dt_time(23, 59, 59), on_reply="stop",
        steps=[StepSpec(kind="message", channel="whatsapp", template=FOLLOW_UP_TEXT),
               StepSpec(kind="task", task="Lead anrufen: Bedarf und Teamgröße klären")],
    )


async def ensure_demo_sequence(data: TenantData) -> str:
    """The tenant's demo sequence (created by the first demo run, found by name afterwards); its id."""
    spec = demo_sequence()
    found = [s for s in await data.select("sequences", {"name": spec.name}, columns=["id", "status"])
             if s["status"] == "active"]
    if found:
        return str(found[0]["id"])
    created: list[dict[str, Any]] = await data.insert("sequences", [spec.sequence_row()])
    sequence_id = str(created[0]["id"])
    await data.insert("sequence_steps", [{"sequence_id": sequence_id, **row} for row in spec.step_rows()])
    return sequence_id


async def _follow_up(db: psycopg.AsyncConnection[Any], data: TenantDataFactory, stack: DemoStack, member: _Member,
                     follow: _Follower, app_secret: str, sender: str, lead_id: str,
                     say: Callable[[str], None]) -> str | None:
    """The follow-up part of the story: enrolled in a sequence, its first step sent, the lead replies (a second
    signed webhook), the reply stops the enrollment, the autopilot (assist mode for this lead) drafts an answer
    that waits for a person, the demo member approves it, and it is sent. Returns what went wrong, or None."""
    tenant = data.for_tenant(UUID(ACME))
    sequence_id = await ensure_demo_sequence(tenant)
    if stack.browser:
        enrolled = await member.rpc("enroll_leads", {"p_sequence_id": sequence_id, "p_lead_ids": [lead_id]})
        how = f"{stack.email} through PostgREST"
    else:
        row = await _one(db, "select public.enroll_leads(%s, array[%s]::uuid[], %s) as r",
                         (sequence_id, lead_id, ACME))
        enrolled = row["r"] if row else None
        how = "service code (SQL)"
    say(f"demo: enrolled the lead in {DEMO_SEQUENCE!r} through public.enroll_leads as {how}: {enrolled}")
    enrollment = await _one(db, "select id from public.sequence_enrollments where lead_id = %s and sequence_id = %s",
                            (lead_id, sequence_id))
    if enrollment is None:
        return "the lead was not enrolled"
    enrollment_id = str(enrollment["id"])
    executed = await follow.until(lambda rows: _finished("sequence.step_executed", enrollment_id=enrollment_id)(rows)
                                  and _finished("message.sent")(rows) and _all_finished(rows)
                                  and _enrollment_settled(rows))
    step = await _one(db, "select r.status, r.body, m.status as message_status, m.provider_message_id "
                          "from public.sequence_step_runs r left join public.messages m on m.id = r.message_id "
                          "where r.enrollment_id = %s and r.position = 1", (enrollment_id,))
    if not executed or step is None or step["message_status"] != "sent":
        return "the sequence's first step was not sent"
    say(f"demo: sequence step 1 {step['status']}: {step['body']!r}, message {step['message_status']} "
        f"({step['provider_message_id']})")
    state = await _enrollment(db, enrollment_id)
    say(f"demo: enrollment {state['state']} ({state['pause_reason'] or state['stop_reason'] or 'no reason'}), "
        f"at step {state['current_step']}: a task waits for a person")

    # Assist mode for this lead only (a lead-scoped settings row): every draft waits for a person.
    await tenant.insert("autopilot_settings", [{"lead_id": lead_id, "mode": "assist"}])
    say("demo: autopilot set to assist for this lead (public.autopilot_settings)")
    wamid = "wamid.DEMO" + uuid.uuid4().hex.upper()
    function, response = await _post_whatsapp(stack, app_secret, sender, REPLY_TEXT, wamid)
    say(f"demo: POST {function} (the lead replies {REPLY_TEXT!r}, signed): HTTP {response.status_code}")
    reply = await _one(db, "select id from public.messages where tenant_id = %s and channel = 'whatsapp' "
                           "and provider_message_id = %s", (ACME, wamid))
    if response.status_code != 200 or reply is None:
        return f"the lead's reply was not recorded (HTTP {response.status_code})"
    answered = await follow.until(lambda rows: _finished("message.received", message_id=str(reply["id"]))(rows)
                                  and _all_finished(rows))
    if not answered:
        return "the lead's reply was not processed in time"
    state = await _enrollment(db, enrollment_id)
    say(f"demo: enrollment {state['state']} by the reply rule (reason {state['stop_reason']})")
    if state["state"] != "stopped":
        return f"the reply did not stop the enrollment (state {state['state']})"
    action = await _one(db, "select id, status, mode, scenario, prompt_version, confidence, guards, draft, cost_usd "
                            "from public.autopilot_actions where trigger_message_id = %s", (reply["id"],))
    if action is None or action["status"] != "queued_for_approval":
        return f"the autopilot left no draft for a person ({action and action['status']})"
    say(f"demo: autopilot drafted ({action['scenario']} v{action['prompt_version']}, confidence "
        f"{action['confidence']}, guards {', '.join(action['guards']) or 'none'}): {action['draft']!r} "
        f"- {action['status']}")
    action_id = str(action["id"])
    if stack.browser:
        decided = await member.rpc("autopilot_decide", {"p_action_id": action_id, "p_verdict": "approved"})
        how = f"{stack.email} through PostgREST"
    else:
        row = await _one(db, "select public.autopilot_decide(%s, 'approved', null, %s) as r", (action_id, ACME))
        decided = row["r"] if row else None
        how = "service code (SQL)"
    status = decided.get("status") if isinstance(decided, dict) else decided
    say(f"demo: draft approved through public.autopilot_decide as {how}: {status}")
    sent = await follow.until(lambda rows: _finished("autopilot.action_executed", action_id=action_id)(rows)
                              and any(r["type"] == "message.sent" and r["status"] in FINISHED
                                      and r["payload"].get("message_id") == _message_of(rows, action_id)
                                      for r in rows))
    final = await _one(db, "select a.status, a.verdict, m.status as message_status, m.provider_message_id, m.sent_by "
                           "from public.autopilot_actions a left join public.messages m on m.id = a.message_id "
                           "where a.id = %s", (action_id,))
    if not sent or final is None or final["message_status"] != "sent":
        return "the approved draft was not sent"
    say(f"demo: draft {final['status']} (verdict {final['verdict']}), message {final['message_status']} by the send "
        f"job (sent_by {final['sent_by']}, {final['provider_message_id']})")
    return None


def _message_of(rows: list[dict[str, Any]], action_id: str) -> str | None:
    for row in rows:
        if row["type"] == "autopilot.action_executed" and row["payload"].get("action_id") == action_id:
            return str(row["payload"].get("message_id"))
    return None


def _enrollment_settled(rows: list[dict[str, Any]]) -> bool:
    # The step after the message is a task: its step_due ran and left the enrollment waiting (two step_due events).
    return sum(r["type"] == "sequence.step_due" and r["status"] in FINISHED for r in rows) >= 2


async def _enrollment(db: psycopg.AsyncConnection[Any], enrollment_id: str) -> dict[str, Any]:
    row = await _one(db, "select state, current_step, pause_reason, stop_reason from public.sequence_enrollments "
                         "where id = %s", (enrollment_id,))
    assert row is not None
    return row

