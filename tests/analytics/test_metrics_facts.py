"""The facts behind the reply rate: private.is_auto_reply (SQL, used when a touchpoint is written) answers as
salesflow.sequences.autoreply.is_auto_reply (Python, used by sequences and the inbox) does, and a rebuild
derives the same auto-reply flags and replies from the messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from salesflow.sequences.autoreply import is_auto_reply
from salesflow.transports import open_postgres
from tests.analytics.history import Lead, Touch, new_tenant, rollups, write
from tests.analytics.test_facts_handlers import facts_registry, pending
from tests.engines import engine_running
from tests.polling import wait_until

Conn = psycopg.Connection[Any]

SAMPLES: list[tuple[str | None, dict[str, Any] | None]] = [
    ("Thanks, sounds good!", None),
    ("Ich bin im Urlaub bis zum 15.", None),
    ("Hallo, gern am Dienstag", {"subject": "Re: Angebot"}),
    ("Danke", {"subject": "Abwesenheitsnotiz"}),
    ("Danke", {"subject": "Automatische Antwort: Ihre Anfrage"}),
    ("I am currently away until Monday", None),
    ("I'm out of office", None),
    ("On annual leave until 3 June", None),
    ("Ich bin bis zum 3. Juni nicht im Büro erreichbar", None),
    ("Ich bin ab dem 3. Juni wieder erreichbar", None),
    ("Derzeit nicht erreichbar", None),
    ("Bin außer Haus", None),
    ("Bin ausser Haus", None),
    ("Reply", {"headers": {"Auto-Submitted": "auto-replied"}}),
    ("Reply", {"headers": {"Auto-Submitted": "no"}}),
    ("Reply", {"auto_submitted": "auto-generated"}),
    ("Reply", {"headers": {"X-Autoreply": "yes"}}),
    ("Reply", {"headers": {"Precedence": "bulk"}}),
    ("Reply", {"headers": {"Precedence": "list"}}),
    ("Autoresponder", None),
    (None, None),
    ("", {"headers": "not a mapping"}),
    ("x" * 2100 + " out of office", None),
]


@pytest.mark.parametrize(("body", "detail"), SAMPLES)
def test_sql_and_python_agree_on_auto_replies(db: Conn, body: str | None, detail: dict[str, Any] | None) -> None:
    row = db.execute("select private.is_auto_reply(%s, %s::jsonb)",
                     (body, json.dumps(detail) if detail is not None else None)).fetchone()
    assert row is not None
    assert row[0] is is_auto_reply(body, detail)


def test_a_rebuild_derives_the_same_flags_and_replies(db: Conn) -> None:
    day = datetime(2026, 6, 1, 9, tzinfo=UTC)
    tenant = new_tenant(db)
    lead = Lead(created_at=day, touches=[Touch("email", "out", "human", day.replace(hour=10)),
                                         Touch("email", "in", "lead", day.replace(hour=11)),
                                         Touch("email", "out", "human", day.replace(hour=12)),
                                         Touch("email", "in", "lead", day.replace(hour=13))])
    write(db, tenant, [lead])
    db.execute("update public.messages set body = 'Out of office' where id = %s", (lead.touches[3].message_id,))
    # the touchpoints are gone (a bug, a restore): the rebuild writes them again from the messages
    db.execute("delete from public.analytics_touchpoints where tenant_id = %s", (tenant,))
    db.execute("select public.analytics_rebuild(%s)", (tenant,))
    rows = db.execute("select direction, auto_reply from public.analytics_touchpoints "
                      "where tenant_id = %s order by occurred_at", (tenant,)).fetchall()
    assert rows == [("out", False), ("in", False), ("out", False), ("in", True)]
    replies = [r for r in rollups(db, tenant) if r[1] == "replies"]
    assert [(r[2], r[4], r[7]) for r in replies] == [("email", "human", 1)], "only the first email was replied"
    assert rollups(db, tenant) == rollups(db, tenant, recomputed=True)


async def test_the_handlers_facts_give_the_reply_rate_without_the_out_of_office(analytics_database: str) -> None:
    """Through the real engine and handlers: an email goes out, an out-of-office and then the lead's answer come
    back; the send counts as replied once, the out-of-office as an auto-reply, also after every event is
    delivered again."""
    url = analytics_database
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = new_tenant(conn)
        lead = conn.execute("insert into public.leads (tenant_id, name, source_channel) values (%s, 'Greta', 'web') "
                            "returning id", (tenant,)).fetchone()[0]  # type: ignore[index]
        conversation = conn.execute("insert into public.conversations (tenant_id, lead_id, channel) "
                                    "values (%s, %s, 'email') returning id", (tenant, lead)).fetchone()[0]  # type: ignore[index]
        out = conn.execute("insert into public.messages (conversation_id, direction, body, sent_by) "
                           "values (%s, 'out', 'Guten Tag!', 'user') returning id", (conversation,)).fetchone()[0]  # type: ignore[index]
        conn.execute("update public.messages set status = 'sending' where id = %s", (out,))
        conn.execute("update public.messages set status = 'sent' where id = %s", (out,))
        conn.execute("insert into public.messages (conversation_id, direction, body, provider_detail) "
                     "values (%s, 'in', 'Danke für Ihre Nachricht.', %s)",
                     (conversation, json.dumps({"headers": {"Auto-Submitted": "auto-replied"}})))
        conn.execute("insert into public.messages (conversation_id, direction, body) values (%s, 'in', 'Gern, "
                     "rufen Sie mich an')", (conversation,))

    def reply_rate() -> dict[str, Any]:
        with psycopg.connect(url) as conn:
            row = conn.execute("select public.analytics_metrics(null, null, null, %s) -> 'reply_rate'",
                               (tenant,)).fetchone()
        assert row is not None
        return dict(row[0])

    expected = {"sends": 1, "replied": 1, "rate": 1.0, "inbound": 2, "auto_replies": 1,
                "inbound_excluding_auto_replies": 1}
    for _ in range(2):
        async with engine_running(open_postgres(url), facts_registry(), poll_interval=0.2):
            await wait_until(lambda: pending(url) == 0, in_thread=True, what="every event handled")
        assert {k: v for k, v in reply_rate().items() if k in expected} == expected
        with psycopg.connect(url) as conn:
            assert rollups(conn, tenant) == rollups(conn, tenant, recomputed=True)
            conn.execute("select public.replay_events('processed', null, null, true)")
            conn.commit()
