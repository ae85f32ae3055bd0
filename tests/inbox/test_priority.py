"""The inbox's 0-100 priority (docs/inbox.md): hand-computed cases, and the inbox RPC ordered by it with what a
list needs; best contact time from when the lead writes, in the lead's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.conversations.inbound import ACME, NORDLICHT, new_lead, receive, scalar

Conn = psycopg.Connection[Any]
AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("inbound", "hours_ago", "sentiment", "interest", "score", "expected"), [
    # engagement + recency + sentiment + interest + 20 % of the score, rounded half up
    (0, None, None, False, 0, 8),              # 0 + 0 + 7.5 + 0 + 0 = 7.5 → 8
    (3, 12, "positive", True, 80, 79),         # 15 + 25·(1 - 12/168) = 23.21 + 15 + 10 + 16 = 79.21
    (10, 84, "negative", False, 50, 53),       # 30 (capped) + 12.5 + 0 + 0 + 10 = 52.5 → 53
    (2, 200, "neutral", False, 100, 38),       # 10 + 0 (over a week) + 7.5 + 0 + 20 = 37.5 → 38
    (6, 0, "positive", True, 100, 100),        # 30 + 25 + 15 + 10 + 20 = 100
    (1, -5, None, False, 0, 38),               # a clock ahead of the message counts as just now: 5 + 25 + 7.5
    (0, None, "negative", False, 0, 0),
])
def test_the_priority_is_the_documented_formula(db: Conn, inbound: int, hours_ago: float | None,
                                               sentiment: str | None, interest: bool, score: int,
                                               expected: int) -> None:
    last = None if hours_ago is None else AT - timedelta(hours=hours_ago)
    got = scalar(db, "select private.inbox_priority(%s, %s, %s, %s, %s, %s)",
                 (inbound, last, sentiment, interest, score, AT))
    assert got == expected


def _inbox(db: Conn, **args: Any) -> list[dict[str, Any]]:
    names = ", ".join(f"p_{k} => %({k})s" for k in args)
    cur = db.execute(f"select * from public.inbox({names})", args)
    columns = [c.name for c in cur.description or []]
    rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    db.commit()
    return rows


def test_the_inbox_puts_an_interested_hot_lead_first_and_shows_why(db: Conn) -> None:
    cold = new_lead(db, address="+4915100000001", name="Cold Lead", score=10)
    hot = new_lead(db, address="+4915100000002", name="Hot Lead", score=90)
    quiet = new_lead(db, address="+4915100000003", name="Quiet Lead", score=50)
    receive(db, cold, "Hallo")
    message = receive(db, hot, "Was kostet das?")
    db.execute("select public.inbox_apply_signal(%s, %s, 'interest', 'positive')", (ACME, message.message_id))
    db.execute("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'email')", (ACME, quiet))
    db.commit()
    rows = [r for r in _inbox(db, tenant_id=ACME) if str(r["lead_id"]) in (cold, hot, quiet)]
    assert [r["lead_name"] for r in rows] == ["Hot Lead", "Cold Lead", "Quiet Lead"]
    first = rows[0]
    assert first["inbox_status"] == "needs_human_attention" and first["channel"] == "whatsapp"
    assert first["last_message_preview"] == "Was kostet das?" and first["last_message_direction"] == "in"
    assert first["unread_count"] == 1
    # 5 + 25 + 15 + 10 + 18 = 73 (a message of a moment ago)
    assert first["priority"] == 73
    assert first["reasons"] == ["needs a person", "showed interest", "1 unread", "positive tone", "lead score 90"]
    assert [r["priority"] for r in rows] == sorted((r["priority"] for r in rows), reverse=True)
    attention = _inbox(db, tenant_id=ACME, needs_attention=True)
    assert [str(r["lead_id"]) for r in attention] == [hot]


def test_the_inbox_pages_by_priority_and_leaves_out_archived_and_other_tenants(db: Conn) -> None:
    leads = [new_lead(db, address=f"+49151000001{i:02d}", name=f"Lead {i}", score=i * 10) for i in range(6)]
    for lead in leads:
        receive(db, lead, "Hallo")
    archived = leads[5]
    db.execute("update public.conversations set inbox_status = 'archived' where lead_id = %s", (archived,))
    other = new_lead(db, tenant=NORDLICHT, address="+4915100000999", name="Other Tenant")
    receive(db, other, "Hallo", tenant=NORDLICHT)
    db.commit()
    first = _inbox(db, tenant_id=ACME, limit=2)
    rest = _inbox(db, tenant_id=ACME, limit=50, before_priority=first[-1]["priority"],
                  before_id=first[-1]["conversation_id"])
    names = [r["lead_name"] for r in first + rest]
    assert names == ["Lead 4", "Lead 3", "Lead 2", "Lead 1", "Lead 0"]
    assert "Other Tenant" not in names


def test_the_best_contact_time_is_when_the_lead_writes_in_their_time_zone(db: Conn) -> None:
    lead = new_lead(db, timezone="America/New_York")
    conversation = scalar(db, "insert into public.conversations (tenant_id, lead_id, channel) "
                              "values (%s, %s, 'whatsapp') returning id", (ACME, lead))
    # Tuesdays 14:xx New York (19:xx UTC in December) three times, a Friday 09:xx once.
    for at in ("2026-12-01 19:05+00", "2026-12-08 19:40+00", "2026-11-24 19:10+00", "2026-12-04 14:30+00"):
        db.execute("insert into public.messages (conversation_id, direction, body, received_at) "
                   "values (%s, 'in', 'Hi', %s)", (conversation, at))
    db.commit()
    rows = db.execute("select hour_of_week, weekday, hour, replies, time_zone "
                      "from public.lead_best_contact_hours(%s, 2)", (lead,)).fetchall()
    assert rows == [(24 + 14, 2, 14, 3, "America/New_York"), (4 * 24 + 9, 5, 9, 1, "America/New_York")]
