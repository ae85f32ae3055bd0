"""Benchmark: the memory context of a lead with 10,000 messages (issue #10, speed (c): p50 <= 10 ms).

    .venv/bin/python bench/channels_memory.py [--messages 10000] [--calls 200] [--budget 2000] [--recall-k 5]
                                              [--json]

A scratch database is created, migrated and filled: one lead with `--messages` messages (half inbound,
German, months of history, a rolling summary and a few facts), plus 20 other leads with 1,000 messages each so
the indexes are not the lead's alone. Then `build_context` (salesflow/conversations/memory.py: one
`public.lead_memory` call through the handlers' TenantData, fitted to the budget in Python) runs `--calls`
times, sequentially, after 20 warm-up calls; p50 / p95 / p99 in ms, for the newest inbound text as the recall
query and for a query that matches many old messages. The plan of `lead_memory`'s statements is checked to
use the lead and full-text indexes (auto_explain is not needed: the statements are run with EXPLAIN here).
The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salesflow.conversations.memory import build_context, estimate_tokens  # noqa: E402
from salesflow.db import migrations  # noqa: E402
from salesflow.db.locate import with_database  # noqa: E402
from salesflow.transports.postgres_data import PostgresTenantDataFactory  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACME = "11111111-1111-4111-8111-111111111111"

TOPICS = [
    "Die Schulung für das Lagerteam ist für Donnerstag geplant",
    "Können Sie mir die Zugangsdaten für den Testzugang schicken",
    "Unser IT-Leiter ist diese Woche im Urlaub, wir melden uns danach",
    "Die Schnittstelle zum Warenwirtschaftssystem funktioniert jetzt",
    "Vielen Dank für die schnelle Hilfe gestern am Telefon",
    "Wir brauchen noch zwei zusätzliche Handscanner für die Halle",
    "Die Rechnung vom letzten Monat ist angekommen, danke",
    "Können wir den Termin auf nächste Woche verschieben",
]


def fill(url: str, messages: int) -> str:
    """The bench lead (returned) and the other leads, with their conversations and messages."""
    with psycopg.connect(url) as conn:
        lead = str(conn.execute(
            "insert into public.leads (tenant_id, name, email, company, source_channel, locale) values "
            "(%s, 'Paula Reimann', 'paula@reimann.example', 'Reimann Logistik', 'whatsapp', 'de') returning id",
            (ACME,)).fetchone()[0])  # type: ignore[index]
        others = [str(r[0]) for r in conn.execute(
            "insert into public.leads (tenant_id, name, source_channel) "
            "select %s, 'Lead ' || g, 'whatsapp' from generate_series(1, 20) g returning id", (ACME,)).fetchall()]
        for who, count in [(lead, messages)] + [(o, 1000) for o in others]:
            conversation = conn.execute(
                "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'whatsapp') "
                "returning id", (ACME, who)).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "insert into public.messages (conversation_id, direction, body, status, sent_by, received_at, "
                "queued_at, sent_at, created_at) "
                "select %(c)s, case when g %% 2 = 0 then 'in' else 'out' end, "
                "       (%(topics)s::text[])[1 + g %% %(n)s] || ' (' || g || ')' "
                "         || case when g %% 97 = 0 then ' Bitte schicken Sie uns ein Angebot.' else '' end, "
                "       case when g %% 2 = 0 then 'received' else 'sent' end, "
                "       case when g %% 2 = 1 then 'user' end, "
                "       case when g %% 2 = 0 then t end, case when g %% 2 = 1 then t end, "
                "       case when g %% 2 = 1 then t end, t "
                "from generate_series(1, %(count)s) g, "
                "     lateral (select now() - interval '200 days' + g * (interval '200 days' / %(count)s)) as x(t)",
                {"c": conversation, "topics": TOPICS, "n": len(TOPICS), "count": count})
            if who == lead:
                conn.execute(
                    "insert into public.conversation_summaries (tenant_id, conversation_id, summary, "
                    "first_message_id, last_message_id, covered_until, message_count, key_facts) "
                    "select %s, %s, 'Reimann Logistik führt Handscanner in drei Hallen ein; Angebot offen.', "
                    "(select id from public.messages where conversation_id = %s order by created_at limit 1), "
                    "m.id, m.created_at, %s, '[\"3 Hallen\", \"40 Nutzer\"]' from public.messages m "
                    "where m.conversation_id = %s order by m.created_at desc offset 30 limit 1",
                    (ACME, conversation, conversation, messages - 30, conversation))
                conn.execute(
                    "insert into public.lead_facts (tenant_id, lead_id, key, value, origin) values "
                    "(%s, %s, 'budget', '\"40.000 EUR\"', 'member'), (%s, %s, 'team_size', '40', 'member')",
                    (ACME, lead, ACME, lead))
        # The bench lead's newest message asks about offers ("Angebote": recalls the old "Angebot" lines).
        conn.execute(
            "insert into public.messages (conversation_id, direction, body, status, received_at, created_at) "
            "select c.id, 'in', 'Gelten Ihre Angebote vom Frühjahr noch?', 'received', now(), now() "
            "from public.conversations c where c.lead_id = %s", (lead,))
        conn.execute("update public.events set status = 'processed', processed_at = now()")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.messages")
    return lead


def plans(url: str, lead: str) -> dict[str, str]:
    """EXPLAIN of the two message statements of lead_memory, as the function runs them."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        recent = conn.execute(
            "explain (costs off) select m.id from public.messages m where m.lead_id = %s and m.tenant_id = %s "
            "order by m.created_at desc, m.id desc limit 200", (lead, ACME)).fetchall()
        out["recent"] = "\n".join(r[0] for r in recent)
        recall = conn.execute(
            "explain (costs off) select m.id, ts_rank(m.search_vector, q) as rank from public.messages m, "
            "(select string_agg(quote_literal(x.lexeme), ' | ')::tsquery as q "
            " from unnest(to_tsvector('german', 'Gelten Ihre Angebote vom Frühjahr noch?')) x) s "
            "where m.search_vector @@ s.q and m.lead_id = %s and m.tenant_id = %s and m.created_at < now() "
            "order by rank desc limit 5", (lead, ACME)).fetchall()
        out["recall"] = "\n".join(r[0] for r in recall)
    return out


async def measure(url: str, lead: str, calls: int, budget: int, recall_k: int, query: str | None) -> dict[str, Any]:
    factory = PostgresTenantDataFactory(url, pool_size=1)
    data = factory.for_tenant(uuid.UUID(ACME))
    try:
        for _ in range(20):
            await build_context(data, lead, token_budget=budget, recall_k=recall_k, query=query)
        times = []
        context = None
        for _ in range(calls):
            started = time.perf_counter()
            context = await build_context(data, lead, token_budget=budget, recall_k=recall_k, query=query)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await factory.close()
    assert context is not None
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "tokens": estimate_tokens(context.render()), "recent": len(context.recent),
        "recalled": len(context.recalled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--recall-k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    dbname = f"sf_bench_memory_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = with_database(SERVER, dbname)
    try:
        migrations.prepare(url)
        lead = fill(url, args.messages)
        newest = asyncio.run(measure(url, lead, args.calls, args.budget, args.recall_k, None))
        broad = asyncio.run(measure(url, lead, args.calls, args.budget, args.recall_k,
                                    "Schulung Termin Rechnung Handscanner"))
        explained = plans(url, lead)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
    uses_indexes = "messages_lead_idx" in explained["recent"] and (
        "messages_search_idx" in explained["recall"] or "messages_lead_idx" in explained["recall"])
    result = {
        "messages": args.messages, "calls": args.calls, "token_budget": args.budget,
        "newest_inbound_query": newest, "broad_query": broad, "target_p50_ms": 10,
        "meets_target": newest["p50_ms"] <= 10 and broad["p50_ms"] <= 10, "plans_use_indexes": uses_indexes,
        "plans": explained,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"memory context, lead with {args.messages} messages, budget {args.budget} tokens, {args.calls} calls")
    for name, r in (("newest inbound as query", newest), ("broad query", broad)):
        print(f"  {name:24} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
              f"({r['tokens']} tokens: {r['recent']} newest, {r['recalled']} recalled)")
    print(f"  target p50 <= 10 ms: {'met' if result['meets_target'] else 'MISSED'}; "
          f"plans use the indexes: {'yes' if uses_indexes else 'NO'}")
    print("  plan (newest):\n    " + explained["recent"].replace("\n", "\n    "))
    print("  plan (recall):\n    " + explained["recall"].replace("\n", "\n    "))


if __name__ == "__main__":
    main()
