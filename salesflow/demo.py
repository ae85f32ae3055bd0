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


def _create_activity(conn: psycopg.Connection[Any], run: str) -> None:
    """Write the demo's changes; the triggers and publish_event put its events in the outbox."""
    leads = [
        (ACME, f"Clara Demo {run}", "instagram_dm", "instagram"),
        (ACME, f"Jonas Demo {run}", "website_form", "web"),
        (NORDLICHT, f"Ava Demo {run}", "google_ads", "web"),
    ]
    ids = []
    for tenant, name, source, channel in leads:
        row = conn.execute(
            "insert into public.leads (tenant_id, name, source, source_channel, tags) "
            "values (%s, %s, %s, %s, '{demo}') returning id",
            (tenant, name, source, channel),
        ).fetchone()
        assert row is not None
        ids.append((tenant, row["id"], channel))
    # Along the pipeline: each step is a lead.status_changed event, in order per lead (ordering_key).
    for _, lead_id, _ in ids:
        for status in ("contacted", "qualified"):
            conn.execute("update public.leads set status = %s where id = %s", (status, lead_id))
    conn.execute("update public.leads set score = 61, temperature = 'warm' where id = %s", (ids[0][1],))
    for tenant, lead_id, channel in ids:
        conn.execute(
            "select public.publish_event(%s, 'message.sent', %s::jsonb, %s, null, null, null, 'demo')",
            (tenant, Jsonb({
                "lead_id": str(lead_id), "channel": channel, "conversation_id": str(uuid.uuid4()),
                "message_id": str(uuid.uuid4()), "latency_ms": 420,
            }), str(lead_id)),
        )
    tenant, lead_id, channel = ids[0]
    conn.execute(
        "select public.publish_event(%s, 'sequence.step_executed', %s::jsonb, %s, null, null, null, 'demo')",
        (tenant, Jsonb({
            "lead_id": str(lead_id), "enrollment_id": str(uuid.uuid4()), "step": 1, "channel": channel,
            "ai_personalized": True,
        }), str(lead_id)),
    )
    conn.execute(
        "select public.publish_event(%s, 'autopilot.action_executed', %s::jsonb, %s, null, null, null, 'demo')",
        (tenant, Jsonb({
            "lead_id": str(lead_id), "action": "send_followup", "channel": channel, "cost_usd": 0.0021,
        }), str(lead_id)),
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
    claims = session.session.access_token if session.session else ""
    say(f"demo: signed in as {api.email} through {api.api_url}/auth/v1 (token carries the tenant claim)"
        if claims else f"demo: sign-in as {api.email} returned no session")
    created: list[dict[str, Any]] = cast(list[dict[str, Any]], user.table("leads").insert([
        {"name": f"Clara Demo {run}", "source": "instagram_dm", "source_channel": "instagram", "tags": ["demo"]},
        {"name": f"Jonas Demo {run}", "source": "website_form", "source_channel": "web", "tags": ["demo"]},
    ]).execute().data)
    for lead in created:
        for status in ("contacted", "qualified"):
            user.table("leads").update({"status": status}).eq("id", lead["id"]).execute()
    user.table("leads").update({"score": 61, "temperature": "warm"}).eq("id", created[0]["id"]).execute()
    service = create_client(api.api_url, api.service_role_key)
    for lead in created:
        service.rpc("publish_event", {
            "p_tenant_id": lead["tenant_id"], "p_type": "message.sent", "p_ordering_key": lead["id"],
            "p_source": "demo", "p_payload": {
                "lead_id": lead["id"], "channel": lead["source_channel"], "conversation_id": str(uuid.uuid4()),
                "message_id": str(uuid.uuid4()), "latency_ms": 420},
        }).execute()
    first = created[0]
    service.rpc("publish_event", {
        "p_tenant_id": first["tenant_id"], "p_type": "sequence.step_executed", "p_ordering_key": first["id"],
        "p_source": "demo", "p_payload": {
            "lead_id": first["id"], "enrollment_id": str(uuid.uuid4()), "step": 1,
            "channel": first["source_channel"], "ai_personalized": True},
    }).execute()
    service.rpc("publish_event", {
        "p_tenant_id": first["tenant_id"], "p_type": "autopilot.action_executed", "p_ordering_key": first["id"],
        "p_source": "demo", "p_payload": {
            "lead_id": first["id"], "action": "send_followup", "channel": first["source_channel"], "cost_usd": 0.0021},
    }).execute()
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
