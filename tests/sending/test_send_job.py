"""The send job end to end: a queued message goes through the real engine and a real adapter to a provider
on 127.0.0.1 (or the outbox), and ends sent, failed or unknown, with one provider request at most."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.polling import wait_until
from tests.sending.conftest import (
    ACME,
    attempts,
    connect_twilio,
    connect_whatsapp,
    make_leads,
    message,
    queue,
    send_job_running,
)
from tests.sending.provider_mock import ProviderMock

Conn = psycopg.Connection[Any]
WAIT = 90.0  # generous: the machine is shared and noisy; nothing here is timed


def final(db: Conn, message_id: str) -> Any:
    row = message(db, message_id)
    return row if row["status"] in ("sent", "failed", "unknown") else None


def events_of(db: Conn, event_type: str, message_id: str) -> int:
    row = db.execute("select count(*) from public.events where type = %s and payload ->> 'message_id' = %s",
                     (event_type, message_id)).fetchone()
    db.commit()
    assert row is not None
    return int(row[0])


async def test_a_queued_sms_is_sent_once_with_twilios_id_and_one_message_sent_event(
    outbox_db: Conn, database: str, provider: ProviderMock
) -> None:
    connect_twilio(outbox_db, provider)
    [(lead, phone)] = make_leads(outbox_db, "sms", 1)
    mid = queue(outbox_db, lead, "sms", "Guten Tag, Ihr Angebot ist fertig.")
    async with send_job_running(database):
        sent = await wait_until(lambda: final(outbox_db, mid), in_thread=True, timeout=WAIT, what="message sent")
    assert sent["status"] == "sent"
    assert sent["provider_message_id"] == provider.accepted[phone.lstrip("+")]
    assert sent["provider_detail"]["segments"] == 1
    assert provider.counts() == {phone.lstrip("+"): 1}
    assert events_of(outbox_db, "message.sent", mid) == 1
    assert attempts(outbox_db, mid) == ["accepted"]


async def test_without_a_connection_the_outbox_records_what_would_be_sent(outbox_db: Conn, database: str) -> None:
    [(lead, _)] = make_leads(outbox_db, "whatsapp", 1, inbound=True)
    mid = queue(outbox_db, lead, "whatsapp", "Danke für Ihre Nachricht!")
    async with send_job_running(database):
        sent = await wait_until(lambda: final(outbox_db, mid), in_thread=True, timeout=WAIT, what="message sent")
    assert sent["status"] == "sent"
    assert sent["provider_message_id"] == f"outbox:{mid}"
    rendered = sent["provider_detail"]["rendered"]
    assert rendered["json"]["text"]["body"] == "Danke für Ihre Nachricht!"
    assert events_of(outbox_db, "message.sent", mid) == 1


async def test_free_form_whatsapp_outside_the_24h_window_fails_naming_the_rule_without_a_request(
    outbox_db: Conn, database: str, provider: ProviderMock
) -> None:
    connect_whatsapp(outbox_db, provider)
    [(lead, _)] = make_leads(outbox_db, "whatsapp", 1)
    # The lead last wrote 24 h + 1 s ago: the customer-service window has just closed.
    outbox_db.execute("update public.conversations set last_inbound_at = now() - interval '24 hours 1 second' "
                      "where lead_id = %s", (lead,))
    outbox_db.commit()
    free_form = queue(outbox_db, lead, "whatsapp", "Hallo, noch Interesse?")
    template = queue(outbox_db, lead, "whatsapp", template="follow_up")
    async with send_job_running(database):
        failed = await wait_until(lambda: final(outbox_db, free_form), in_thread=True, timeout=WAIT, what="refused")
        sent = await wait_until(lambda: final(outbox_db, template), in_thread=True, timeout=WAIT, what="template sent")
    assert (failed["status"], failed["error_code"]) == ("failed", "window_closed")
    assert "template" in failed["error_message"]
    assert sent["status"] == "sent"
    assert sum(provider.counts().values()) == 1  # the template only
    assert attempts(outbox_db, free_form) == []  # refused before any attempt
    assert events_of(outbox_db, "message.sent", free_form) == 0


async def test_a_lead_who_opts_out_while_the_message_waits_is_not_sent_to(
    outbox_db: Conn, database: str, provider: ProviderMock
) -> None:
    connect_twilio(outbox_db, provider)
    [(lead, _)] = make_leads(outbox_db, "sms", 1)
    mid = queue(outbox_db, lead, "sms", "Letzte Chance!")
    outbox_db.execute("insert into public.consents (tenant_id, lead_id, channel, status, method, evidence) "
                      "values (%s, %s, 'sms', 'opted_out', 'inbound_keyword', 'STOP')", (ACME, lead))
    outbox_db.commit()
    async with send_job_running(database):
        failed = await wait_until(lambda: final(outbox_db, mid), in_thread=True, timeout=WAIT, what="failed")
        await wait_until(lambda: events_of(outbox_db, "message.queued", mid) == 1 and _processed(outbox_db, mid),
                         in_thread=True, timeout=WAIT, what="send job done")
    assert (failed["status"], failed["error_code"]) == ("failed", "opted_out")
    assert "consent" in failed["error_message"]
    assert provider.counts() == {}


def _processed(db: Conn, message_id: str) -> bool:
    row = db.execute("select bool_and(status = 'processed') from public.events where type = 'message.queued' "
                     "and payload ->> 'message_id' = %s", (message_id,)).fetchone()
    db.commit()
    return bool(row and row[0])


async def test_a_429_is_retried_with_back_off_and_sent_once(
    outbox_db: Conn, database: str, provider: ProviderMock
) -> None:
    connect_twilio(outbox_db, provider)
    [(lead, phone)] = make_leads(outbox_db, "sms", 1)
    provider.script[phone.lstrip("+")] = ["429", "429"]
    mid = queue(outbox_db, lead, "sms", "Ihr Termin morgen um 10 Uhr")
    async with send_job_running(database):
        sent = await wait_until(lambda: final(outbox_db, mid), in_thread=True, timeout=WAIT, what="sent after retries")
    assert sent["status"] == "sent"
    assert sent["error_code"] is None  # the refusals are cleared once it went through
    assert provider.counts() == {phone.lstrip("+"): 3}  # two refused, one accepted
    assert attempts(outbox_db, mid) == ["refused", "refused", "accepted"]
    assert events_of(outbox_db, "message.sent", mid) == 1


async def test_a_dropped_answer_on_whatsapp_leaves_the_message_unknown_and_never_resent(
    outbox_db: Conn, database: str, provider: ProviderMock
) -> None:
    connect_whatsapp(outbox_db, provider)
    [(lead, phone)] = make_leads(outbox_db, "whatsapp", 1, inbound=True)
    provider.script[phone.lstrip("+")] = ["drop"]
    mid = queue(outbox_db, lead, "whatsapp", "Hier ist das Angebot")
    async with send_job_running(database):
        unknown = await wait_until(lambda: final(outbox_db, mid), in_thread=True, timeout=WAIT, what="unknown")
        await wait_until(lambda: _processed(outbox_db, mid), in_thread=True, timeout=WAIT, what="send job done")
    assert (unknown["status"], unknown["error_code"]) == ("unknown", "outcome_unknown")
    assert "not sent again" in unknown["error_message"]
    assert provider.counts() == {phone.lstrip("+"): 1}
    assert attempts(outbox_db, mid) == ["unanswered"]


async def test_a_twilio_send_interrupted_after_the_accept_is_found_by_look_up_not_sent_again(
    outbox_db: Conn, database: str, provider: ProviderMock
) -> None:
    connect_twilio(outbox_db, provider)
    [(lead, phone), (lead2, phone2)] = make_leads(outbox_db, "sms", 2)
    provider.script[phone.lstrip("+")] = ["drop"]  # Twilio accepted, the answer was lost
    accepted = queue(outbox_db, lead, "sms", "Bitte bestätigen Sie den Termin")
    # The second: the run stopped after `sending` was recorded but before the request left.
    never = queue(outbox_db, lead2, "sms", "Ihre Rechnung")
    outbox_db.execute("select public.begin_sending(%s, %s)", (ACME, never))
    outbox_db.execute("update private.message_send_attempts set started_at = now() - interval '1 minute' "
                      "where message_id = %s", (never,))
    outbox_db.commit()
    async with send_job_running(database):
        # the dropped answer is looked up after the grace period; backdate it so the test need not wait
        await wait_until(lambda: attempts(outbox_db, accepted) == [None], in_thread=True, timeout=WAIT, what="in doubt")

        def past_the_grace() -> Any:
            outbox_db.execute("update private.message_send_attempts set started_at = now() - interval '1 minute' "
                              "where message_id = %s", (accepted,))
            outbox_db.execute("update public.events set run_after = now() where status = 'pending' "
                              "and payload ->> 'message_id' = %s", (accepted,))
            outbox_db.commit()
            return final(outbox_db, accepted)

        found = await wait_until(past_the_grace, in_thread=True, timeout=WAIT, every=0.2, what="reconciled")
        resent = await wait_until(lambda: final(outbox_db, never), in_thread=True, timeout=WAIT,
                                  what="sent after look-up")
    assert found["status"] == "sent"
    assert found["provider_message_id"] == provider.accepted[phone.lstrip("+")]
    assert found["provider_detail"]["reconciled"] is True
    assert resent["status"] == "sent"
    assert provider.counts() == {phone.lstrip("+"): 1, phone2.lstrip("+"): 1}
    assert attempts(outbox_db, never) == ["not_found", "accepted"]
    assert events_of(outbox_db, "message.sent", accepted) == 1
