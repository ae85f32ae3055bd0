"""Benchmark: channels (issue 10, "Speed"): webhook ingest, inbound processing and memory context, in one run.

    ./scripts/bench channels [--deliveries 2000] [--clients 16] [--rounds 2] [--rate 100] [--handled 100]
                             [--memory-messages 10000] [--memory-calls 200] [--skip a,b,c] [--json]

(a) Ingest. `salesflow dev` runs as its own process (uvicorn, the project's server) on a scratch database with a
    WhatsApp channel connected; `--clients` concurrent httpx clients POST signed WhatsApp Cloud webhooks
    (X-Hub-Signature-256 under the connection's app secret, one text message each, distinct provider message
    ids; one sender per client, whose identity and conversation exist after the warm-up) to
    `/functions/v1/whatsapp-webhook`. Counted: deliveries answered 200 with `recorded: 1` per second, and each
    request's latency (p50, p99). No listener runs meanwhile (ingest only).
    The floor, measured in the same run on the same server kind (a uvicorn process serving a minimal starlette
    app, `python bench/channels.py _floor`, psycopg pool of the same size as the stack's, 8): per request it
    reads the body, parses the JSON for the message id and sender, and in one transaction runs the two plain
    inserts the ingest must make — `inbound_webhooks` (provider, external id, raw body, headers; on conflict do
    nothing) and `messages` (the sender's existing conversation; on conflict do nothing; its triggers publish
    message.received and update the conversation) — then answers 200. No signature check, no pydantic, no
    connection lookup, no PostgREST. Rounds alternate (stack, floor, stack, floor, ...); the best round of each
    is compared. Target: >= 50 % of the floor's deliveries/s and p99 <= 50 ms. With 16 clients each waiting for
    its answer, a saturated server's latency is the queue: 16 / throughput (Little's law), so a round with
    `--clients-low` (8) clients on both sides and a paced round (`--rate` deliveries/s offered in all, on both
    sides: each request's own latency) follow; the floor's p99 of each is printed beside the stack's.
    A transport error (a connection the server dropped) counts as a refused delivery, by its name.
(b) Inbound processing. The same stack plus `salesflow listen --transport postgres` (the project's handlers) as
    its own process; `--handled` single deliveries, one at a time, the listener idle between them. The
    identity is stitched and the conversation updated inside the ingest (record_inbound_message and the
    messages trigger, committed before the 200), so the target's "message.received handled" is: from just
    before the POST to the event picked up by the listener and its conversation step delivered
    (conversations.detect_opt_out, the event's first handler). Also printed, no target: to the AI steps
    delivered too (opt-out, extract_facts and rescore_lead: two `lead_extraction`/`lead_scoring` calls on the
    local AI provider), and to the event processed (every handler, also summaries, analytics, sequences).
    Timestamps are the database's (`event_deliveries.finished_at`, `events.processed_at`) against
    the bench's clock before the POST (one machine, one clock). Measured for a returning sender (its identity
    exists; a sender of its own whose first contact is in the warm-up, so its conversation grows to `--handled`
    messages with the listener keeping its summaries) and for first contacts (Zero-Input: a new lead each).
    Target: p50 <= 30 ms (returning sender). An event's handlers run one after the other in registration
    order, and with the postgres store's claim windows the deliveries of an event are written when the event
    settles, all with one `finished_at`: so the conversation step's time is the whole event's (every handler
    one after the other). Each handler's own time (`duration_ms`, p50) and their sum are printed: where the
    time goes.
(c) Memory context for a lead with 10,000 messages: bench/channels_memory.py's `fill` and `measure` (one
    `public.lead_memory` call through the handlers' TenantData, fitted to the budget) in this run's database.
    Target: p50 <= 10 ms.
The machine is 2 shared cores: the load generator, the server and Postgres share them, as they do for the floor.
The load average is printed with the results. The scratch database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACME = "11111111-1111-4111-8111-111111111111"
NUMBER = "+493099900000"
PHONE_NUMBER_ID = "109999000000001"
APP_SECRET = "bench-app-secret"
D1_HANDLERS = ("conversations.detect_opt_out", "conversations.extract_facts", "conversations.rescore_lead")
# The message.received step the target (b) is about: identity stitched and conversation updated are the ingest's
# (record_inbound_message and the messages trigger, committed before the 200), so "handled" is the listener
# having picked the event up and run its conversation step: the opt-out check, the first handler of the event.
STEP_HANDLER = "conversations.detect_opt_out"
TEXT = "Hallo, wir interessieren uns für Ihr Paket. Was kostet es für 20 Nutzer?"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def child_env() -> dict[str, str]:
    """The processes' environment: the local AI provider (no OPENAI_API_KEY), quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SUPABASE_", "SALESFLOW_"))}
    env["SALESFLOW_LOG_LEVEL"] = "WARNING"
    return env


@contextlib.contextmanager
def process(args: list[str], health_url: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (stopped with SIGTERM at the end), waited for until `health_url` answers."""
    import httpx

    proc = subprocess.Popen(args, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while health_url is not None:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            try:
                if httpx.get(health_url, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args[:4]} did not answer {health_url}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def salesflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "salesflow.cli.main", *args]


# -- the delivery ---------------------------------------------------------------------------------------


def delivery(sender_wa_id: str, message_id: str, text: str = TEXT, name: str = "Bench Lead") -> bytes:
    """A WhatsApp Cloud API webhook body with one text message, as Meta sends it."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": NUMBER.lstrip("+"), "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": sender_wa_id}],
        "messages": [{"from": sender_wa_id, "id": message_id, "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}],
    }
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "109999000000000", "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body, separators=(",", ":")).encode()


def signed(raw: bytes) -> dict[str, str]:
    from salesflow.channels.inbound.signatures import meta_signature

    return {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(APP_SECRET, raw)}


def client_sender(client: int) -> str:
    return f"4915100{client:06d}"


# -- the floor (run as `python bench/channels.py _floor PORT URL`) -----------------------------------------


def serve_floor(port: int, url: str) -> None:
    """The bare endpoint: parse the JSON, the two inserts in one transaction, 200."""
    import uvicorn
    from psycopg.types.json import Jsonb
    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        pool = AsyncConnectionPool(url, min_size=8, max_size=8, open=False)
        await pool.open(wait=True)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "select i.address, c.id, c.lead_id, k.id from public.channel_identities i "
                "join public.conversations c on c.lead_id = i.lead_id and c.channel = 'whatsapp' "
                "join public.channel_connections k on k.address = %s "
                "where i.channel = 'whatsapp' and i.tenant_id = %s", (NUMBER, ACME))
            state["conversations"] = {a: (cv, lead, conn_id) for a, cv, lead, conn_id in await cur.fetchall()}
        state["pool"] = pool
        yield
        await pool.close()

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        value = json.loads(raw)["entry"][0]["changes"][0]["value"]
        message = value["messages"][0]
        conversation, lead, connection = state["conversations"]["+" + message["from"]]
        async with state["pool"].connection() as conn, conn.transaction():
            await conn.execute(
                "insert into public.inbound_webhooks (tenant_id, provider, connection_id, external_id, raw_body, "
                "headers) values (%s, 'whatsapp_cloud', %s, %s, %s, %s) on conflict (provider, external_id) do nothing",
                (ACME, connection, message["id"], raw, Jsonb(dict(request.headers))))
            await conn.execute(
                "insert into public.messages (tenant_id, conversation_id, lead_id, channel, direction, content_type, "
                "body, provider_message_id, received_at) values (%s, %s, %s, 'whatsapp', 'in', 'text', %s, %s, now()) "
                "on conflict (tenant_id, channel, provider_message_id) do nothing",
                (ACME, conversation, lead, message["text"]["body"], message["id"]))
        return JSONResponse({"recorded": 1, "duplicates": 0, "statuses": 0})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/", health), Route("/functions/v1/whatsapp-webhook", webhook, methods=["POST"])],
                    lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


# -- (a) ingest -----------------------------------------------------------------------------------------


async def load(base: str, deliveries: int, clients: int, label: str, rate: float | None = None) -> dict[str, Any]:
    """`clients` concurrent clients posting `deliveries` signed deliveries in all; accepted/s and latencies. With
    `rate`, the clients together offer that many deliveries per second (each waits for its next slot), so the
    latency is the request's own and not the queue's."""
    import httpx

    latencies: list[float] = []
    accepted = 0
    refused: dict[int | str, int] = {}
    per_client = deliveries // clients
    done = [0]

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal accepted
        sender = client_sender(n)
        interval = clients / rate if rate else 0.0
        slot = time.perf_counter() + (n * interval / clients)
        for _ in range(per_client):
            if rate:
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                slot += interval
            raw = delivery(sender, "wamid.BENCH" + uuid.uuid4().hex.upper())
            headers = signed(raw)
            started = time.perf_counter()
            try:
                response = await http.post("/functions/v1/whatsapp-webhook", content=raw, headers=headers)
            except httpx.TransportError as error:  # counted, not hidden: a refused delivery of its own kind
                latencies.append((time.perf_counter() - started) * 1000)
                refused[type(error).__name__] = refused.get(type(error).__name__, 0) + 1
                done[0] += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code == 200 and response.json().get("recorded") == 1:
                accepted += 1
            else:
                refused[response.status_code] = refused.get(response.status_code, 0) + 1
            done[0] += 1
            if done[0] % 500 == 0:
                progress(f"{label}: {done[0]}/{per_client * clients}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(n, http) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return {"accepted": accepted, "refused": refused, "seconds": round(elapsed, 2),
            "per_second": round(accepted / elapsed, 1), "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(percentile(latencies, 99), 2)}


def ingest(url: str, deliveries: int, clients: int, rounds: int, rate: float, clients_low: int = 0
           ) -> dict[str, Any]:
    stack_port, floor_port = free_port(), free_port()
    stack_base, floor_base = f"http://127.0.0.1:{stack_port}", f"http://127.0.0.1:{floor_port}"
    stack_runs: list[dict[str, Any]] = []
    floor_runs: list[dict[str, Any]] = []
    with process(salesflow("dev", "--port", str(stack_port), "--no-seed", "--database-url", url), stack_base + "/"):
        progress("(a) warm-up through the stack (first contacts make each client's lead and conversation)")
        asyncio.run(load(stack_base, clients * 20, clients, "warm-up"))
        with process([sys.executable, str(Path(__file__)), "_floor", str(floor_port), url], floor_base + "/"):
            asyncio.run(load(floor_base, clients * 20, clients, "floor warm-up"))
            for r in range(rounds):
                progress(f"(a) round {r + 1}/{rounds}: salesflow dev")
                stack_runs.append(asyncio.run(load(stack_base, deliveries, clients, "salesflow dev")))
                progress(f"(a) round {r + 1}/{rounds}: floor")
                floor_runs.append(asyncio.run(load(floor_base, deliveries, clients, "floor")))
            fewer = {}
            if clients_low:
                progress(f"(a) {clients_low} clients: salesflow dev, then floor")
                fewer = {"stack": asyncio.run(load(stack_base, deliveries // 2, clients_low, "dev, fewer clients")),
                         "floor": asyncio.run(load(floor_base, deliveries // 2, clients_low, "floor, fewer clients")),
                         "clients": clients_low}
            paced = {}
            if rate > 0:
                progress(f"(a) paced: {rate:.0f} deliveries/s offered by {clients} clients, each side")
                paced = {"stack": asyncio.run(load(stack_base, deliveries // 2, clients, "paced dev", rate)),
                         "floor": asyncio.run(load(floor_base, deliveries // 2, clients, "paced floor", rate)),
                         "rate": rate}
    best_stack = max(stack_runs, key=lambda x: x["per_second"])
    best_floor = max(floor_runs, key=lambda x: x["per_second"])
    return {"stack": best_stack, "floor": best_floor, "stack_rounds": stack_runs, "floor_rounds": floor_runs,
            "paced": paced, "fewer_clients": fewer,
            "ratio": round(best_stack["per_second"] / best_floor["per_second"], 3)}


# -- (b) inbound → handled ------------------------------------------------------------------------------


def handled(url: str, count: int) -> dict[str, Any]:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as db:
        # (a)'s events are not part of (b): settled by hand, so the listener starts idle
        db.execute("update public.events set status = 'processed', processed_at = now() where status = 'pending'")
    with psycopg.connect(url, autocommit=True) as db, \
            process(salesflow("dev", "--port", str(port), "--no-seed", "--database-url", url), base + "/"), \
            process(salesflow("listen", "--transport", "postgres", "--database-url", url)):
        while db.execute("select count(*) from public.events where status in ('pending', 'processing')"
                         ).fetchone()[0]:  # type: ignore[index]
            time.sleep(0.5)
        for kind in ("returning", "first_contact"):
            d1: list[float] = []
            full: list[float] = []
            ingested: list[float] = []
            step: list[float] = []
            kind_started = time.time()
            with httpx.Client(base_url=base, timeout=30) as http:
                # a returning sender of its own: (a)'s senders have thousands of messages whose summaries never
                # ran ((a)'s events were settled by hand), not a conversation as the listener keeps it
                own = f"4915300{uuid.uuid4().int % 10**6:06d}"
                for i in range(count + 5):
                    sender = own if kind == "returning" else f"4915200{uuid.uuid4().int % 10**6:06d}"
                    wamid = "wamid.HANDLED" + uuid.uuid4().hex.upper()
                    raw = delivery(sender, wamid)
                    headers = signed(raw)
                    t0 = time.time()
                    response = http.post("/functions/v1/whatsapp-webhook", content=raw, headers=headers)
                    answered = time.time()
                    assert response.status_code == 200, response.text
                    row = None
                    deadline = time.monotonic() + 30
                    while row is None and time.monotonic() < deadline:
                        row = db.execute(
                            "select extract(epoch from e.processed_at), "
                            "(select extract(epoch from max(d.finished_at)) from public.event_deliveries d "
                            " where d.event_id = e.id and d.handler = any(%s) and d.status = 'succeeded' "
                            " having count(*) = %s), "
                            "(select extract(epoch from d.finished_at) from public.event_deliveries d "
                            " where d.event_id = e.id and d.handler = %s and d.status = 'succeeded') "
                            "from public.events e join public.messages m on m.id = (e.payload ->> 'message_id')::uuid "
                            "where e.type = 'message.received' and m.provider_message_id = %s "
                            "and e.status = 'processed'",
                            (list(D1_HANDLERS), len(D1_HANDLERS), STEP_HANDLER, wamid)).fetchone()
                        if row is None:
                            time.sleep(0.005)
                    assert row is not None and row[1] is not None and row[2] is not None, f"{wamid} was not handled"
                    if i >= 5:  # warm-up (for a returning sender, its first contact among them)
                        ingested.append((answered - t0) * 1000)
                        step.append((float(row[2]) - t0) * 1000)
                        d1.append((float(row[1]) - t0) * 1000)
                        full.append((float(row[0]) - t0) * 1000)
                    # let every follow-up (lead updates, scoring) finish: the next delivery meets an idle listener
                    while db.execute("select count(*) from public.events where status in ('pending', 'processing')"
                                     ).fetchone()[0]:  # type: ignore[index]
                        time.sleep(0.005)
                    time.sleep(0.05)
                    if (i + 1) % 25 == 0:
                        progress(f"(b) {kind}: {i + 1}/{count + 5}")
            # each handler's own time on those events (event_deliveries.duration_ms): which one the event waits for
            per_handler: dict[str, Any] = dict(db.execute(
                "select d.handler, round(percentile_cont(0.5) within group (order by d.duration_ms)::numeric, 2) "
                "from public.event_deliveries d join public.events e on e.id = d.event_id "
                "join public.messages m on m.id = (e.payload ->> 'message_id')::uuid "
                "where e.type = 'message.received' and m.provider_message_id like 'wamid.HANDLED%%' "
                "and m.created_at > now() - make_interval(secs => %s) group by 1 order by 2 desc",
                (time.time() - kind_started,)).fetchall())
            order = [h for (h,) in db.execute(
                "select d.handler from public.event_deliveries d join public.events e on e.id = d.event_id "
                "join public.messages m on m.id = (e.payload ->> 'message_id')::uuid "
                "where e.type = 'message.received' and m.provider_message_id = %s order by d.finished_at",
                (wamid,)).fetchall()]
            results[kind] = {"handler_p50_ms": {k: float(v) for k, v in per_handler.items()}, "handler_order": order,
                             "ingest_p50_ms": round(statistics.median(ingested), 2),
                             "step_p50_ms": round(statistics.median(step), 2),
                             "step_p99_ms": round(percentile(step, 99), 2),
                             "d1_p50_ms": round(statistics.median(d1), 2), "d1_p99_ms": round(percentile(d1, 99), 2),
                             "processed_p50_ms": round(statistics.median(full), 2),
                             "processed_p99_ms": round(percentile(full, 99), 2), "deliveries": len(d1)}
    return results


# -- (c) memory -----------------------------------------------------------------------------------------


def memory(url: str, messages: int, calls: int) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("channels_memory", Path(__file__).with_name("channels_memory.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    progress(f"(c) filling a lead with {messages} messages (and 20 others with 1,000 each)")
    lead = module.fill(url, messages)
    progress(f"(c) {calls} memory contexts")
    newest = asyncio.run(module.measure(url, lead, calls, 2000, 5, None))
    broad = asyncio.run(module.measure(url, lead, calls, 2000, 5, "Schulung Termin Rechnung Handscanner"))
    return {"newest_inbound_query": newest, "broad_query": broad}


# -- the run --------------------------------------------------------------------------------------------


def prepare(url: str) -> None:
    from salesflow.db import migrations

    migrations.prepare(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select public.connect_channel(p_channel => 'whatsapp', p_provider => 'whatsapp_cloud', p_address => %s, "
            "p_external_account_id => %s, p_secrets => %s::jsonb, p_tenant_id => %s)",
            (NUMBER, PHONE_NUMBER_ID, json.dumps({"access_token": "bench", "app_secret": APP_SECRET,
                                                  "verify_token": "bench"}), ACME))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        serve_floor(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries per round of (a)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in (a)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of (a); the best of each counts")
    parser.add_argument("--clients-low", type=int, default=8,
                        help="clients of (a)'s round with fewer clients (0: none): the p99 without 16 in the queue")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="deliveries/s offered in (a)'s paced round (0: none): latency without queueing")
    parser.add_argument("--handled", type=int, default=100, help="deliveries measured in (b), per kind")
    parser.add_argument("--memory-messages", type=int, default=10_000)
    parser.add_argument("--memory-calls", type=int, default=200)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a, b, c")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if not skip <= {"a", "b", "c"}:
        parser.error(f"--skip: only a, b and c (got {args.skip!r})")

    from salesflow.db.locate import with_database

    dbname = f"sf_bench_channels_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = with_database(SERVER, dbname)
    result: dict[str, Any] = {"load_before": os.getloadavg()}
    try:
        progress(f"scratch database {dbname}: migrating")
        prepare(url)
        if "a" not in skip or "b" not in skip:  # (b) needs the clients' senders (a) makes
            result["ingest"] = ingest(url, args.deliveries if "a" not in skip else args.clients,
                                      args.clients, args.rounds if "a" not in skip else 1,
                                      args.rate if "a" not in skip else 0,
                                      args.clients_low if "a" not in skip else 0)
        if "b" not in skip:
            result["handled"] = handled(url, args.handled)
        if "c" not in skip:
            result["memory"] = memory(url, args.memory_messages, args.memory_calls)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
    result["load_after"] = os.getloadavg()
    rows = summary(result, skip)
    result["summary"] = rows
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    report(result, rows)


def summary(result: dict[str, Any], skip: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "a" not in skip:
        a = result["ingest"]
        rows.append({"what": "(a) signed webhook ingest, % of the floor's deliveries/s",
                     "measured": f"{a['ratio'] * 100:.0f} % ({a['stack']['per_second']} vs "
                                 f"{a['floor']['per_second']}/s)",
                     "target": ">= 50 %", "met": a["ratio"] >= 0.5})
        rows.append({"what": f"(a) ingest p99 ({a['stack']['p50_ms']} ms p50; floor p50/p99 "
                             f"{a['floor']['p50_ms']}/{a['floor']['p99_ms']} ms)",
                     "measured": f"{a['stack']['p99_ms']} ms", "target": "<= 50 ms", "met": a["stack"]["p99_ms"] <= 50})
        if a.get("fewer_clients"):
            f = a["fewer_clients"]
            rows.append({"what": f"(a) ingest p99 with {f['clients']} clients (floor p99 {f['floor']['p99_ms']} ms; "
                                 f"{f['stack']['per_second']} vs {f['floor']['per_second']}/s)",
                         "measured": f"{f['stack']['p99_ms']} ms (p50 {f['stack']['p50_ms']})", "target": "-",
                         "met": None})
        if a["paced"]:
            p = a["paced"]
            rows.append({"what": f"(a) ingest p99 at {p['rate']:.0f}/s offered (floor p99 {p['floor']['p99_ms']} ms)",
                         "measured": f"{p['stack']['p99_ms']} ms (p50 {p['stack']['p50_ms']})", "target": "-",
                         "met": None})
    if "b" not in skip:
        b = result["handled"]
        r, z = b["returning"], b["first_contact"]
        slowest = ", ".join(f"{k} {v}" for k, v in list(r["handler_p50_ms"].items())[:3])
        own = round(sum(r["handler_p50_ms"].values()), 1)
        rows.append({"what": "(b) webhook -> message.received handled (identity + conversation in the ingest, "
                             f"{STEP_HANDLER} delivered), returning sender, p50 (200 after {r['ingest_p50_ms']} ms)",
                     "measured": f"{r['step_p50_ms']} ms (p99 {r['step_p99_ms']})",
                     "target": "<= 30 ms", "met": r["step_p50_ms"] <= 30})
        rows.append({"what": "(b) webhook -> opt-out, facts (AI) and score (AI) delivered, returning sender, p50",
                     "measured": f"{r['d1_p50_ms']} ms (p99 {r['d1_p99_ms']})", "target": "-", "met": None})
        rows.append({"what": "(b) webhook -> event processed (every handler), returning sender, p50",
                     "measured": f"{r['processed_p50_ms']} ms (p99 {r['processed_p99_ms']})", "target": "-",
                     "met": None})
        rows.append({"what": f"(b) slowest handlers of those events, own p50 ms (all {len(r['handler_p50_ms'])} "
                             f"together {own} ms, one after the other)", "measured": slowest, "target": "-",
                     "met": None})
        rows.append({"what": "(b) the same for first contacts (Zero-Input lead): handled / AI steps, p50",
                     "measured": f"{z['step_p50_ms']} / {z['d1_p50_ms']} ms", "target": "-", "met": None})
    if "c" not in skip:
        c = result["memory"]
        worst = max(c["newest_inbound_query"]["p50_ms"], c["broad_query"]["p50_ms"])
        rows.append({"what": "(c) memory context, lead with 10,000 messages, p50 (newest / broad query)",
                     "measured": f"{c['newest_inbound_query']['p50_ms']} / {c['broad_query']['p50_ms']} ms",
                     "target": "<= 10 ms", "met": worst <= 10})
    return rows


def report(result: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    if "ingest" in result and "stack_rounds" in result["ingest"]:
        a = result["ingest"]
        print("(a) ingest rounds (deliveries/s, p50, p99 ms):")
        for name in ("stack", "floor"):
            for r in a[f"{name}_rounds"]:
                print(f"    {name:5}  {r['per_second']:8.1f}/s  p50 {r['p50_ms']:7.2f}  p99 {r['p99_ms']:7.2f}  "
                      f"accepted {r['accepted']}" + (f", refused {r['refused']}" if r["refused"] else ""))
        for name, r in (a.get("paced") or {}).items():
            if name != "rate":
                print(f"    {name:5}  paced at {a['paced']['rate']:.0f}/s: {r['per_second']:8.1f}/s  "
                      f"p50 {r['p50_ms']:7.2f}  p99 {r['p99_ms']:7.2f}")
    for kind, b in (result.get("handled") or {}).items():
        print(f"(b) {kind}: message.received's deliveries in the order they finished: "
              + ", ".join(b.get("handler_order") or []))
    width = max(len(r["what"]) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'measured':<44}  {'target':<9}  met")
    for r in rows:
        met = "-" if r["met"] is None else ("met" if r["met"] else "MISSED")
        print(f"{r['what']:<{width}}  {r['measured']:<44}  {r['target']:<9}  {met}")
    before, after = result["load_before"], result["load_after"]
    print(f"\nload average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
          f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} (2 shared cores)")


if __name__ == "__main__":
    main()
