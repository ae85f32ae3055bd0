"""`salesflow messages send | reconcile`: the operator's way to queue a message and sweep stalled sends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from salesflow.cli.messages import app
from tests.polling import wait_until_sync
from tests.sending.conftest import ACME, Listener

Conn = psycopg.Connection[Any]
JULIA = "10000000-0000-4000-8000-000000000001"  # seed: phone +49 151 2345678, email julia.becker@example.de
MIA = "10000000-0000-4000-8000-000000000005"  # seed: a phone, no email


def run(database: str, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--database-url", database])


def test_send_queues_the_message_and_prints_its_id_and_status(outbox_db: Conn, database: str) -> None:
    result = run(database, "send", "--lead", JULIA, "--channel", "sms", "--text", "Hallo Julia", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["status"] == "queued"
    row = outbox_db.execute("select tenant_id::text, body, sent_by, status from public.messages where id = %s",
                            (shown["id"],)).fetchone()
    assert row == (ACME, "Hallo Julia", "user", "queued")
    identity = outbox_db.execute("select address from public.channel_identities where lead_id = %s "
                                 "and channel = 'sms'", (JULIA,)).fetchone()
    assert identity == ("+491512345678",)  # the lead's phone, normalised, is now its identity on sms
    events = outbox_db.execute("select count(*) from public.events where type = 'message.queued' "
                               "and payload ->> 'message_id' = %s", (shown["id"],)).fetchone()
    assert events == (1,)


def test_the_same_idempotency_key_queues_one_message(outbox_db: Conn, database: str) -> None:
    args = ("send", "--lead", JULIA, "--channel", "sms", "--text", "Einmal", "--idempotency-key", "click-42", "--json")
    first, second = run(database, *args), run(database, *args)
    assert json.loads(first.output)["id"] == json.loads(second.output)["id"]
    count = outbox_db.execute("select count(*) from public.messages where idempotency_key = 'click-42'").fetchone()
    assert count == (1,)


def test_wait_follows_the_message_until_the_send_job_sent_it(
    outbox_db: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    listener = listener_factory(database).start()
    result = run(database, "send", "--lead", JULIA, "--channel", "whatsapp", "--template", "welcome",
                 "--var", "name=Julia", "--wait", "--timeout", "120", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["status"] == "sent"
    assert shown["provider_message_id"] == f"outbox:{shown['id']}"  # no WhatsApp connection: the outbox
    assert listener.terminate() == 0


@pytest.mark.parametrize(("args", "error"), [
    (("--lead", JULIA, "--channel", "fax", "--text", "x"), "error: channel: must be one of whatsapp, instagram"),
    (("--lead", JULIA, "--channel", "sms"), "error: text: give exactly one of text or template"),
    (("--lead", JULIA, "--channel", "sms", "--text", "x", "--template", "t"), "error: text: give exactly one"),
    (("--lead", JULIA, "--channel", "sms", "--text", "x" * 1601), "error: text: 1601 characters, over the sms limit"),
    (("--lead", JULIA, "--channel", "sms", "--template", "welcome"), "error: template: templates are sent on"),
    (("--lead", JULIA, "--channel", "whatsapp", "--template", "welcome", "--var", "name"), "error: --var: expected"),
    (("--lead", "julia", "--channel", "sms", "--text", "x"), "error: --lead: 'julia' is not a UUID"),
    (("--lead", MIA, "--channel", "email", "--text", "x"), "error: channel: lead 10000000-0000-4000-8000-000000000005 "
                                                            "has no address on email"),
    (("--lead", JULIA, "--channel", "sms", "--text", "x", "--sent-by", "robot"), "error: sent_by: must be one of"),
], ids=["channel", "neither", "both", "too-long", "template-on-sms", "var", "lead-uuid", "no-address", "sent-by"])
def test_bad_input_exits_2_naming_the_field(outbox_db: Conn, database: str, args: tuple[str, ...], error: str) -> None:
    result = run(database, "send", *args)
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert outbox_db.execute("select count(*) from public.messages where direction = 'out'").fetchone() == (0,)


def test_an_opted_out_lead_is_refused_naming_the_consent(outbox_db: Conn, database: str) -> None:
    consent = outbox_db.execute(
        "insert into public.consents (tenant_id, lead_id, channel, status, method, evidence) "
        "values (%s, %s, 'sms', 'opted_out', 'inbound_keyword', 'STOPP') returning id", (ACME, JULIA)).fetchone()
    outbox_db.commit()
    assert consent is not None
    result = run(database, "send", "--lead", JULIA, "--channel", "sms", "--text", "Angebot")
    assert result.exit_code == 2
    assert f"error: lead_id: the lead opted out of sms (consent {consent[0]}" in result.output


def test_reconcile_hands_a_stalled_send_back_to_the_send_job(outbox_db: Conn, database: str) -> None:
    sent = json.loads(run(database, "send", "--lead", JULIA, "--channel", "sms", "--text", "Hängt", "--json").output)
    # Its send job began, then died for good (dead-lettered) while the message was in the provider's hands.
    outbox_db.execute("select public.begin_sending(%s, %s)", (ACME, sent["id"]))
    outbox_db.execute("update public.events set status = 'failed', failed_at = now() where type = 'message.queued'")
    outbox_db.execute("update private.message_send_attempts set started_at = now() - interval '1 hour'")
    outbox_db.execute("update public.messages set queued_at = now() - interval '1 hour', "
                      "sending_at = now() - interval '1 hour' where id = %s", (sent["id"],))
    outbox_db.commit()
    result = run(database, "reconcile", "--older-than", "10m", "--json")
    assert result.exit_code == 0, result.output
    assert [(r["message_id"], r["status"]) for r in json.loads(result.output)] == [(sent["id"], "sending")]
    again = run(database, "reconcile", "--older-than", "10m", "--json")
    assert json.loads(again.output) == []  # its new send job is pending: nothing more to hand back
    assert run(database, "reconcile", "--older-than", "soon").exit_code == 2


def test_reconcile_then_the_listener_settles_the_stalled_send(
    outbox_db: Conn, database: str, listener_factory: Callable[..., Listener]
) -> None:
    sent = json.loads(run(database, "send", "--lead", JULIA, "--channel", "sms", "--text", "Hängt", "--json").output)
    outbox_db.execute("select public.begin_sending(%s, %s)", (ACME, sent["id"]))
    outbox_db.execute("update public.events set status = 'failed', failed_at = now() where type = 'message.queued'")
    outbox_db.execute("update private.message_send_attempts set started_at = now() - interval '1 hour'")
    outbox_db.commit()
    assert run(database, "reconcile", "--older-than", "0s").exit_code == 0
    listener = listener_factory(database).start()

    def status() -> str | None:
        row = outbox_db.execute("select status from public.messages where id = %s", (sent["id"],)).fetchone()
        outbox_db.commit()
        return row[0] if row and row[0] != "sending" else None

    # The outbox can be asked: it never handed the message to anyone, so the send job sends it now.
    assert wait_until_sync(status, timeout=120, what="settled") == "sent"
    assert listener.terminate() == 0
