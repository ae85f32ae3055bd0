"""`salesflow conversations list | show`: what an operator reads about conversations, filtered as asked, and
bad options refused with exit code 2 naming the option."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from salesflow.cli.main import app
from tests.conversations.inbound import ACME, NORDLICHT, new_lead, receive

runner = CliRunner()


def cli(database: str, *args: str) -> Any:
    return runner.invoke(app, ["conversations", *args, "--database-url", database])


@pytest.fixture
def conversations(db: psycopg.Connection[Any]) -> dict[str, Any]:
    anna = new_lead(db, name="Anna Kunde")
    first = receive(db, anna, "Hallo, was kostet das Paket?")
    db.execute("insert into public.messages (conversation_id, direction, body, sent_by) values (%s, 'out', %s, 'user')",
               (first.conversation_id, "Gern, 49 Euro im Monat."))
    db.execute("update public.conversations set unread_count = 0 where id = %s", (first.conversation_id,))
    db.commit()
    email_lead = new_lead(db, channel="email", address="kunde@example.de", name="Mail Kunde")
    mail = receive(db, email_lead, "Bitte rufen Sie mich an.", channel="email")
    other = new_lead(db, tenant=NORDLICHT, address="+447700900999", name="Nora North")
    theirs = receive(db, other, "Hello there", tenant=NORDLICHT)
    return {"whatsapp": first, "email": mail, "nordlicht": theirs}


def test_list_filters_by_tenant_lead_channel_and_unread(database: str, conversations: dict[str, Any]) -> None:
    everything = json.loads(cli(database, "list", "--json").stdout)
    assert {c["id"] for c in everything} == {str(c.conversation_id) for c in conversations.values()}
    acme = json.loads(cli(database, "list", "--tenant", ACME, "--json").stdout)
    assert {c["lead_name"] for c in acme} == {"Anna Kunde", "Mail Kunde"}
    email = json.loads(cli(database, "list", "--channel", "email", "--json").stdout)
    assert [c["lead_name"] for c in email] == ["Mail Kunde"]
    unread = json.loads(cli(database, "list", "--tenant", ACME, "--unread", "--json").stdout)
    assert [c["lead_name"] for c in unread] == ["Mail Kunde"]
    by_lead = json.loads(cli(database, "list", "--lead", conversations["whatsapp"].lead_id, "--json").stdout)
    assert [(c["channel"], c["messages"]) for c in by_lead] == [("whatsapp", 2)]


def test_show_lists_the_messages_with_direction_status_and_times(database: str, conversations: dict[str, Any]) -> None:
    result = cli(database, "show", conversations["whatsapp"].conversation_id, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["conversation"]["lead_name"] == "Anna Kunde"
    messages = shown["messages"]
    assert [(m["direction"], m["status"], m["body"]) for m in messages] == [
        ("in", "received", "Hallo, was kostet das Paket?"), ("out", "queued", "Gern, 49 Euro im Monat.")]
    assert messages[0]["received_at"] is not None and messages[1]["queued_at"] is not None


@pytest.mark.parametrize(("args", "named"), [
    (["list", "--channel", "fax"], "--channel: must be one of whatsapp, instagram, sms, email"),
    (["list", "--tenant", "acme"], "--tenant: 'acme' is not a UUID"),
    (["list", "--lead", "42"], "--lead: '42' is not a UUID"),
    (["list", "--limit", "0"], "--limit: must be between 1 and 1000"),
    (["show", "not-an-id"], "ID: 'not-an-id' is not a UUID"),
])
def test_bad_options_exit_2_naming_the_option(database: str, args: list[str], named: str) -> None:
    result = cli(database, *args)
    assert result.exit_code == 2 and f"error: {named}" in result.stderr


def test_show_of_an_unknown_conversation_says_so(database: str) -> None:
    result = cli(database, "show", "00000000-0000-4000-8000-000000000000")
    assert result.exit_code == 1 and "no conversation with id" in result.stderr
