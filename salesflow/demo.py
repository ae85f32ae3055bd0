"""The demo `./scripts/run` shows: leads are created and move along the pipeline, messages are sent,
a sequence step and an autopilot action run; each resulting event is shown as the listener processes it.

Everything goes through the real paths: lead rows fire the outbox triggers; the other events go through
`public.publish_event`. The demo is done when every event it caused is processed (or failed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ACME = "11111111-1111-4111-8111-111111111111"
NORDLICHT = "22222222-2222-4222-8222-222222222222"


@dataclass
class DemoOutcome:
    events: int
    processed: int
    failed: int
    unfinished: int

    @property
    def ok(self) -> bool:
        return self.events > 0 and self.processed == self.events


# The demo's leads (name suffix, source, channel) and where they go along the pipeline.
DEMO_LEADS = (("Clara", "instagram_dm", "instagram"), ("Jonas", "website_form", "web"))
PIPELINE = ("contacted", "qualified")


def _service_events(leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arguments of `public.publish_event` for what services would report about the demo's leads: a
    message sent to each, a sequence step and an autopilot action for the first."""
    events = [
        {"p_tenant_id": str(lead["tenant_id"]), "p_type": "message.sent", "p_ordering_key": str(lead["id"]),
         "p_payload": {"lead_id": str(lead["id"]), "channel": lead["source_channel"],
                       "conversation_id": str(uuid.uuid4()), "message_id": str(uuid.uuid4()), "latency_ms": 420}}
        for lead in leads
    ]
    first = leads[0]
    common = {"p_tenant_id": str(first["tenant_id"]), "p_ordering_key": str(first["id"])}
    events.append({**common, "p_type": "sequence.step_executed", "p_payload": {
        "lead_id": str(first["id"]), "enrollment_id": str(uuid.uuid4()), "step": 1,
        "channel": first["source_channel"], "ai_personalized": True}})
    events.append({**common, "p_type": "autopilot.action_executed", "p_payload": {
        "lead_id": str(first["id"]), "action": "send_followup", "channel": first["source_channel"],
        "cost_usd": 0.0021}})
    return [{**e, "p_source": "demo"} for e in events]


def _create_activity(conn: psycopg.Connection[Any], run: str) -> None:
    """Write the demo's changes directly; the triggers and publish_event put its events in the outbox.
    One lead goes to the second tenant, to show tenants side by side."""
    placements = [(ACME, *DEMO_LEADS[0]), (ACME, *DEMO_LEADS[1]), (NORDLICHT, "Ava", "google_ads", "web")]
    leads: list[dict[str, Any]] = []
    for tenant, name, source, channel in placements:
        row = conn.execute(
            "insert into public.leads (tenant_id, name, source, source_channel, tags) "
            "values (%s, %s, %s, %s, '{demo}') returning id, tenant_id, source_channel",
            (tenant, f"{name} Demo {run}", source, channel),
        ).fetchone()
        assert row is not None
        leads.append(row)
    for lead in leads:
        for status in PIPELINE:  # each step is a lead.status_changed event, in order per lead
            conn.execute("update public.leads set status = %s where id = %s", (status, lead["id"]))
    conn.execute("update public.leads set score = 61, temperature = 'warm' where id = %s", (leads[0]["id"],))
    for args in _service_events(leads):
        conn.execute(
            "select public.publish_event(p_tenant_id => %s, p_type => %s, p_payload => %s, "
            "p_ordering_key => %s, p_source => %s)",
            (args["p_tenant_id"], args["p_type"], Jsonb(args["p_payload"]), args["p_ordering_key"],
             args["p_source"]),
        )


def _describe(row: dict[str, Any]) -> str:
    p = row["payload"]
    if row["type"] == "lead.created":
        what = f"{p.get('name')} via {p.get('source_channel')}"
    elif row["type"] == "lead.status_changed":
        what = f"{p.get('from')} -> {p.get('to')}"
    elif row["type"] == "lead.updated":
        what = ", ".join(sorted(p.get("changes", {})))
    else:
        what = ", ".join(f"{k}={v}" for k, v in p.items() if k in ("channel", "action", "step", "cost_usd"))
    handlers = ", ".join(row["handlers"] or []) or "no handler"
    return f"{row['status']:<9} {row['type']:<26} {what:<40} [{handlers}]"


@dataclass(frozen=True)
class BrowserPath:
    """Where the demo acts like the browser: the API URL and keys of Supabase (or `salesflow dev`)."""

    api_url: str
    anon_key: str
    service_role_key: str
    email: str = "anna@acme.test"
    password: str = "salesflow-dev"


def _create_activity_as_browser(api: BrowserPath, run: str, say: Callable[[str], None]) -> None:
    """The same activity as `_create_activity`, but through PostgREST: leads as a signed-in user (the
    tenant comes from the token, RLS applies), service events through RPC with the service key."""
    from supabase import create_client

    user = create_client(api.api_url, api.anon_key)
    session = user.auth.sign_in_with_password({"email": api.email, "password": api.password})
    if session.session is None:
        raise RuntimeError(f"demo: sign-in as {api.email} through {api.api_url}/auth/v1 returned no session")
    say(f"demo: signed in as {api.email} through {api.api_url}/auth/v1 (token carries the tenant claim)")
    created: list[dict[str, Any]] = cast(list[dict[str, Any]], user.table("leads").insert([
        {"name": f"{name} Demo {run}", "source": source, "source_channel": channel, "tags": ["demo"]}
        for name, source, channel in DEMO_LEADS
    ]).execute().data)
    for lead in created:
        for status in PIPELINE:
            user.table("leads").update({"status": status}).eq("id", lead["id"]).execute()
    user.table("leads").update({"score": 61, "temperature": "warm"}).eq("id", created[0]["id"]).execute()
    service = create_client(api.api_url, api.service_role_key)
    for args in _service_events(created):
        service.rpc("publish_event", args).execute()
    say("demo: 2 leads created through PostgREST, moved new -> contacted -> qualified, 2 messages sent, "
        "1 sequence step and 1 autopilot action")


def run_demo(
    url: str, say: Callable[[str], None], timeout: float = 30.0, browser: BrowserPath | None = None
) -> DemoOutcome:
    """Create the demo activity (through PostgREST when `browser` is given, else directly), then report
    each of its events as it is finished; blocking."""
    run = time.strftime("%H%M%S")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        start = conn.execute("select coalesce(max(seq), 0) as s from public.events").fetchone()
        first_seq = int(start["s"]) if start else 0
        conn.commit()
        if browser is not None:
            _create_activity_as_browser(browser, run, say)
        else:
            with conn.transaction():
                _create_activity(conn, run)
            conn.commit()
            say("demo: 3 leads created, moved new -> contacted -> qualified, 3 messages sent, "
                "1 sequence step and 1 autopilot action")
        shown: set[Any] = set()
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while True:
            rows = conn.execute(
                "select e.id, e.type, e.status, e.payload, "
                "array(select d.handler from public.event_deliveries d where d.event_id = e.id "
                "      and d.status = 'succeeded' order by d.handler) as handlers "
                "from public.events e where e.seq > %s and e.source in ('db', 'demo') order by e.seq",
                (first_seq,),
            ).fetchall()
            conn.commit()
            for row in rows:
                if row["status"] in ("processed", "failed") and row["id"] not in shown:
                    shown.add(row["id"])
                    say("  " + _describe(row))
            if all(r["status"] in ("processed", "failed") for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    processed = sum(r["status"] == "processed" for r in rows)
    failed = sum(r["status"] == "failed" for r in rows)
    return DemoOutcome(len(rows), processed, failed, len(rows) - processed - failed)


async def run_demo_async(
    url: str, say: Callable[[str], None], timeout: float = 30.0, browser: BrowserPath | None = None
) -> DemoOutcome:
    """`run_demo` off the event loop, so the engine keeps running beside it."""
    return await asyncio.to_thread(run_demo, url, say, timeout, browser)
