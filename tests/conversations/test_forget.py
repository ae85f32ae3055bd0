"""`salesflow leads forget ID`: nothing personal of the lead stays readable anywhere (every text, JSON and
byte column of every table in public and private is searched), another tenant's data is untouched, and an
opt-out keeps suppressing after the erasure."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from salesflow.cli.main import app
from tests.conftest import ACME, NORDLICHT
from tests.conversations.history import add_conversation, add_lead, add_messages

Conn = psycopg.Connection[Any]
runner = CliRunner()

NAME = "Ottilie Brandstetter"
EMAIL = "ottilie.brandstetter@example.org"
PHONE = "+491715550123"
SECRETS = ("Ottilie", "Brandstetter", "ottilie.brandstetter", "5550123", "Kranichflug", "Zwergpudel")
TEXT_TYPES = ("text", "character varying", "character", "jsonb", "json", "ARRAY", "tsvector", "bytea", "USER-DEFINED")


def _lead_with_everything(db: Conn) -> tuple[str, str]:
    """A lead whose personal data is spread over every place SalesFlow keeps it. Returns (lead, conversation)."""
    lead = add_lead(db, ACME, NAME, email=EMAIL, phone=PHONE, company="Brandstetter Zwergpudelzucht")
    conversation = add_conversation(db, ACME, lead, address=PHONE)
    db.execute("insert into public.channel_identities (tenant_id, lead_id, channel, address) "
               "values (%s, %s, 'email', %s)", (ACME, lead, EMAIL))
    ids = add_messages(db, conversation, [
        ("in", "Hallo, hier Ottilie Brandstetter: unser Projekt Kranichflug braucht 12 Lizenzen."),
        ("out", "Gern, Frau Brandstetter! Das Angebot für Kranichflug kommt heute."),
        ("in", "Meine Nummer für Rückfragen: +49 171 5550123, oder ottilie.brandstetter@example.org"),
        ("in", "STOPP"),
    ])
    db.execute("update public.leads set notes = 'Züchtet Zwergpudel; Projekt Kranichflug' where id = %s", (lead,))
    db.execute("insert into public.lead_facts (tenant_id, lead_id, key, value, origin, source_message_id) "
               "values (%s, %s, 'project', '\"Kranichflug\"', 'extraction', %s)", (ACME, lead, ids[0]))
    db.execute("insert into public.conversation_summaries (tenant_id, conversation_id, summary, first_message_id, "
               "last_message_id, covered_until, message_count, key_facts) values (%s, %s, "
               "'Ottilie Brandstetter plant Kranichflug mit 12 Lizenzen.', %s, %s, now(), 3, '[\"Kranichflug\"]')",
               (ACME, conversation, ids[0], ids[2]))
    db.execute("insert into public.consents (tenant_id, lead_id, channel, status, method, evidence, source_message_id) "
               "values (%s, %s, 'whatsapp', 'opted_out', 'inbound_keyword', 'STOPP von Ottilie', %s)",
               (ACME, lead, ids[3]))
    body = json.dumps({"entry": [{"changes": [{"value": {
        "contacts": [{"profile": {"name": NAME}, "wa_id": PHONE.lstrip("+")}],
        "messages": [{"from": PHONE.lstrip("+"), "text": {"body": "unser Projekt Kranichflug"}}]}}]}]})
    db.execute("insert into public.inbound_webhooks (tenant_id, provider, external_id, raw_body, headers, outcome, "
               "outcome_detail) values (%s, 'whatsapp_cloud', 'wamid.forget-1', convert_to(%s, 'UTF8'), "
               "'{\"x-forwarded-for\": \"Ottilie\"}', 'processed', %s)", (ACME, body, f"message {ids[0]}"))
    # What handlers leave behind: an analytics fact, an AI usage row with an error, a failed delivery.
    received = db.execute("select id from public.events where type = 'message.received' "
                          "and payload->>'message_id' = %s", (ids[0],)).fetchone()
    assert received is not None
    db.execute("update public.events set last_error = 'handler failed for Ottilie Brandstetter' where id = %s",
               (received[0],))
    db.execute("insert into public.event_deliveries (tenant_id, event_id, handler, status, last_error) "
               "values (%s, %s, 'x.y', 'failed', 'could not reach ottilie.brandstetter@example.org')",
               (ACME, received[0]))
    db.execute("insert into public.analytics_events (tenant_id, event_id, handler, type, lead_id, properties) "
               "values (%s, %s, 'x.y', 'message.received', %s, %s)",
               (ACME, received[0], lead, json.dumps({"conversation_id": conversation, "who": NAME})))
    db.execute("insert into public.ai_usage (tenant_id, lead_id, call_id, scenario, provider, model, outcome, error) "
               "values (%s, %s, gen_random_uuid(), 'lead_scoring', 'local', 'local-rules', 'invalid_output', "
               "'output quoted: Kranichflug')", (ACME, lead))
    if db.execute("select to_regclass('public.lead_review_tasks')").fetchone() != (None,):
        db.execute("insert into public.lead_review_tasks (tenant_id, lead_id, field, proposed_value, confidence, "
                   "reason) values (%s, %s, 'email', %s, 0.5, 'low_confidence')", (ACME, lead, EMAIL))
    db.commit()
    return lead, conversation


def _readable_anywhere(db: Conn, needles: tuple[str, ...]) -> list[str]:
    """`schema.table.column: needle` for every text-like column of public and private holding a needle."""
    columns = db.execute(
        "select c.table_schema, c.table_name, c.column_name, c.data_type from information_schema.columns c "
        "join information_schema.tables t on (t.table_schema, t.table_name) = (c.table_schema, c.table_name) "
        "where c.table_schema in ('public', 'private') and t.table_type = 'BASE TABLE' and c.data_type = any(%s)",
        (list(TEXT_TYPES),)).fetchall()
    found = []
    for schema, table, column, kind in columns:
        value = (sql.SQL("encode({}, 'escape')") if kind == "bytea" else sql.SQL("{}::text")).format(
            sql.Identifier(column))
        for needle in needles:
            query = sql.SQL("select 1 from {}.{} where {} ilike %s limit 1").format(
                sql.Identifier(schema), sql.Identifier(table), value)
            if db.execute(query, (f"%{needle}%",)).fetchone():
                found.append(f"{schema}.{table}.{column}: {needle}")
    db.commit()
    return found


def _tenant_snapshot(db: Conn, tenant: str) -> list[Any]:
    rows = [db.execute(f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                       f"from public.{table} t where tenant_id = %s", (tenant,)).fetchone()
            for table in ("leads", "messages", "conversations", "channel_identities", "consents", "events",
                          "lead_facts", "conversation_summaries")]
    db.commit()
    return rows


def test_after_forget_nothing_personal_of_the_lead_is_readable_anywhere(db: Conn, database: str) -> None:
    other = add_lead(db, NORDLICHT, "Bruno Nordmann", email="bruno@nordmann.example", phone="+4917012345678")
    add_messages(db, add_conversation(db, NORDLICHT, other, address="+4917012345678"),
                 [("in", "Hi, this is Bruno about the Nordlicht offer."), ("out", "Hi Bruno!")])
    lead, _ = _lead_with_everything(db)
    assert len(_readable_anywhere(db, SECRETS)) > 10  # the search finds what is there
    before = _tenant_snapshot(db, NORDLICHT)

    result = runner.invoke(app, ["leads", "forget", lead, "--json", "--database-url", database])
    assert result.exit_code == 0, result.stderr
    erased = json.loads(result.stdout)["erased"]
    assert erased["messages"] == 4 and erased["channel_identities"] == 2 and erased["suppressions"] == 1

    assert _readable_anywhere(db, SECRETS) == []
    # The lead stays as an anonymous row (pipeline counts and revenue add up), its opt-out as a bare fact.
    assert db.execute("select name, email, phone, notes, company, source_channel from public.leads where id = %s",
                      (lead,)).fetchone() == ("[erased]", None, None, None, None, "whatsapp")
    assert db.execute("select channel, status, method, evidence from public.consents where lead_id = %s",
                      (lead,)).fetchall() == [("whatsapp", "opted_out", "inbound_keyword", None)]
    assert db.execute("select count(*) from public.messages where lead_id = %s", (lead,)).fetchone() == (0,)
    assert db.execute("select count(*) from public.events where payload->>'lead_id' = %s "
                      "and not (payload ? 'redacted')", (lead,)).fetchone() == (0,)
    db.commit()
    assert _tenant_snapshot(db, NORDLICHT) == before  # another tenant's data is untouched


def test_an_opt_out_keeps_suppressing_after_the_erasure(db: Conn, database: str) -> None:
    lead, _ = _lead_with_everything(db)
    assert runner.invoke(app, ["leads", "forget", lead, "--database-url", database]).exit_code == 0
    # The same number writes again later: a new lead, and the opt-out is applied to it at once.
    again = add_lead(db, ACME, "Unbekannt")
    conversation = add_conversation(db, ACME, again, address=PHONE)
    consent = db.execute("select status, method, evidence from public.consents where lead_id = %s",
                         (again,)).fetchone()
    assert consent is not None and consent[:2] == ("opted_out", "inbound_keyword")
    assert "erasure" in consent[2]
    db.commit()
    with pytest.raises(psycopg.errors.CheckViolation, match="opted out of whatsapp"):
        db.execute("insert into public.messages (conversation_id, direction, body, sent_by) "
                   "values (%s, 'out', 'Hallo?', 'user')", (conversation,))
    db.rollback()
    # Another number is not suppressed.
    fresh = add_lead(db, ACME, "Jemand Anderes")
    add_conversation(db, ACME, fresh, address="+491715550999")
    assert db.execute("select count(*) from public.consents where lead_id = %s", (fresh,)).fetchone() == (0,)


def test_forget_refuses_an_unknown_lead_and_members(db: Conn, database: str) -> None:
    result = runner.invoke(app, ["leads", "forget", "90000000-0000-4000-8000-000000000009",
                                 "--database-url", database])
    assert result.exit_code == 2 and "error: ID: there is no lead 90000000-0000-4000-8000-000000000009" in result.stderr
    result = runner.invoke(app, ["leads", "forget", "not-a-uuid", "--database-url", database])
    assert result.exit_code == 2 and "error: ID: must be a UUID" in result.stderr
    lead = add_lead(db, ACME, NAME)
    db.execute("set role authenticated")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select public.forget_lead(%s, %s)", (ACME, lead))
    db.rollback()


async def test_after_every_handler_ran_forget_still_leaves_nothing_personal(
    db: Conn, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lead as the product makes it: an inbound message with contact details, every handler of every area
    run on it through the engine (extraction, facts, review tasks, scoring, analytics, summaries), then forget."""
    from salesflow.events.registry import discover
    from salesflow.settings import settings
    from salesflow.transports import open_postgres
    from tests.engines import engine_running
    from tests.polling import wait_until

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.cache_clear()
    db.execute("update public.events set status = 'processed', processed_at = now()")
    db.commit()
    lead = add_lead(db, ACME, PHONE, phone=PHONE)
    conversation = add_conversation(db, ACME, lead, address=PHONE)
    add_messages(db, conversation, [
        ("in", f"Hallo, hier {NAME} von der Zwergpudel GmbH. Mail: {EMAIL}, Telefon +49 171 5550123."),
        ("out", "Danke, Frau Brandstetter! Worum geht es?"),
        ("in", "Um unser Projekt Kranichflug: wir brauchen ein Angebot für 12 Lizenzen bis Ende März. " * 6),
    ] + [("in", f"Kranichflug Detail {i}: die Zwergpudel-Abteilung braucht auch Zugänge. " * 3) for i in range(10)])

    def settled() -> bool:
        row = db.execute("select count(*) from public.events where status in ('pending', 'processing')").fetchone()
        db.commit()
        return row == (0,)

    async with engine_running(open_postgres(database), discover(), poll_interval=0.2):
        await wait_until(settled, timeout=120, what="every event handled")
    assert len(_readable_anywhere(db, SECRETS)) > 5
    written = db.execute("select (select count(*) from public.conversation_summaries where conversation_id = %s), "
                         "(select count(*) from public.lead_facts where lead_id = %s)", (conversation, lead)).fetchone()
    db.commit()
    assert written is not None and written[0] >= 1 and written[1] >= 1  # the handlers wrote summary and facts

    import asyncio

    result = await asyncio.to_thread(runner.invoke, app, ["leads", "forget", lead, "--json",
                                                          "--database-url", database])
    assert result.exit_code == 0, result.stderr
    assert _readable_anywhere(db, SECRETS) == []
    settings.cache_clear()
