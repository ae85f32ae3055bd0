"""Twilio SMS webhooks through a running stack: X-Twilio-Signature over the public URL (RequestValidator),
inbound messages routed by the receiving number, status callbacks applied forward-only."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from salesflow.channels.inbound.signatures import meta_signature, twilio_signature
from tests.conftest import ACME
from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import SMS, WHATSAPP, Channel, connect, counts, function_url
from tests.webhooks.payloads import (
    encoded,
    meta_headers,
    twilio_headers,
    twilio_inbound,
    twilio_sid,
    twilio_status,
    whatsapp_message,
)

TOKEN = SMS.secrets["auth_token"]


def post(stack: RunningStack, params: dict[str, str], headers: dict[str, str], query: str = "") -> httpx.Response:
    url = function_url(stack, "twilio-webhook") + (f"?{query}" if query else "")
    return httpx.post(url, content=urlencode(params).encode(), headers=headers)


def test_an_inbound_sms_from_an_unknown_number_becomes_a_lead(stack: RunningStack) -> None:
    params = twilio_inbound(SMS.address, "+4917700000001", body="Hallo, bitte um Rückruf morgen")
    response = post(stack, params, twilio_headers(TOKEN, function_url(stack, "twilio-webhook"), params))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert stack.sql("select l.tenant_id::text, l.name, l.source_channel, l.phone, m.body, m.provider_message_id "
                     "from public.messages m join public.leads l on l.id = m.lead_id "
                     "where m.provider_message_id = %s", (params["MessageSid"],)) == [
        (ACME, "+4917700000001", "sms", "+4917700000001", "Hallo, bitte um Rückruf morgen", params["MessageSid"])]


def test_a_bad_twilio_signature_is_refused_and_stores_nothing(stack: RunningStack) -> None:
    params = twilio_inbound(SMS.address, "+4917700000002")
    url = function_url(stack, "twilio-webhook")
    tampered = {**params, "Body": params["Body"][:-1] + "X"}
    cases = {
        "wrong token": (params, twilio_headers("not-the-auth-token", url, params)),
        "one byte of the body changed": (tampered, twilio_headers(TOKEN, url, params)),
        "header missing": (params, {"Content-Type": "application/x-www-form-urlencoded"}),
        "another provider's header": (params, {"Content-Type": "application/x-www-form-urlencoded",
                                               "X-Hub-Signature-256": meta_signature(TOKEN, urlencode(params)
                                                                                     .encode())}),
        "signed for another URL": (params, twilio_headers(TOKEN, "https://evil.example/twilio-webhook", params)),
        "an extra parameter": ({**params, "Extra": "1"}, twilio_headers(TOKEN, url, params)),
    }
    before = counts(stack)
    for case, (sent, headers) in cases.items():
        response = post(stack, sent, headers)
        assert response.status_code == 401, (case, response.status_code, response.text)
    assert counts(stack) == before
    assert post(stack, params, twilio_headers(TOKEN, url, params)).status_code == 200


def test_the_signature_covers_the_query_string(stack: RunningStack) -> None:
    params = twilio_inbound(SMS.address, "+4917700000003")
    base = function_url(stack, "twilio-webhook")
    signed_without = twilio_headers(TOKEN, base, params)
    before = counts(stack)
    assert post(stack, params, signed_without, query="tenant=acme").status_code == 401
    assert counts(stack) == before
    assert post(stack, params, twilio_headers(TOKEN, f"{base}?tenant=acme", params),
                query="tenant=acme").status_code == 200


def test_behind_a_proxy_the_configured_public_url_is_what_twilio_signed(stack: RunningStack) -> None:
    # Twilio calls https://crm.example.com/...; a proxy forwards to this stack. The signature is over the
    # public URL, which the connection's webhook_url names; the URL this process sees would not match.
    public = "https://crm.example.com/functions/v1/twilio-webhook"
    proxied = Channel("cc000000-0000-4000-8000-0000000000a5", ACME, "sms", "twilio", "+4930111222444", None,
                          {"auth_token": "proxied-token", "webhook_url": public})
    connect(stack, proxied)
    params = twilio_inbound(proxied.address, "+4917700000004", account_sid="AC" + "b" * 32)
    local = function_url(stack, "twilio-webhook")
    before = counts(stack)
    assert post(stack, params, twilio_headers("proxied-token", local, params)).status_code == 401
    assert counts(stack) == before
    response = post(stack, params, twilio_headers("proxied-token", public, params))
    assert response.status_code == 200, response.text


def test_an_sms_for_an_unknown_number_is_404_and_stores_nothing(stack: RunningStack) -> None:
    params = twilio_inbound("+4930999999999", "+4917700000005", account_sid="AC" + "c" * 32)
    before = counts(stack)
    response = post(stack, params, twilio_headers(TOKEN, function_url(stack, "twilio-webhook"), params))
    assert response.status_code == 404, response.text
    assert counts(stack) == before


@pytest.mark.parametrize("drop,field", [("MessageSid", "MessageSid"), ("From", "From"), ("AccountSid", "AccountSid")])
def test_a_malformed_sms_is_400_naming_the_field(stack: RunningStack, drop: str, field: str) -> None:
    params = twilio_inbound(SMS.address, "+4917700000006")
    params.pop(drop)
    before = counts(stack)
    response = post(stack, params, twilio_headers(TOKEN, function_url(stack, "twilio-webhook"), params))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert counts(stack) == before


def test_a_known_phone_texting_by_sms_writes_to_the_same_lead(stack: RunningStack) -> None:
    # Tobias Wagner's lead has phone "+49 170 9876543"; a WhatsApp identity of another lead is tested in
    # test_meta_webhooks. Here: the SMS lands on Tobias, linked and recorded.
    params = twilio_inbound(SMS.address, "+491709876543", body="Hier Tobias, passt Donnerstag?")
    response = post(stack, params, twilio_headers(TOKEN, function_url(stack, "twilio-webhook"), params))
    assert response.status_code == 200, response.text
    assert stack.sql("select l.name, k.matched_on from public.messages m join public.leads l on l.id = m.lead_id "
                     "join public.channel_identities i on i.lead_id = l.id and i.channel = 'sms' "
                     "join public.identity_links k on k.identity_id = i.id "
                     "where m.provider_message_id = %s", (params["MessageSid"],)) == [("Tobias Wagner", "phone")]


def test_whatsapp_and_sms_from_one_number_are_one_lead(stack: RunningStack) -> None:
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4915290000077", name="Paula Pohl"))
    assert httpx.post(function_url(stack, "whatsapp-webhook"), content=raw,
                      headers=meta_headers(WHATSAPP.secrets["app_secret"], raw)).status_code == 200
    params = twilio_inbound(SMS.address, "+4915290000077", body="Und per SMS")
    assert post(stack, params, twilio_headers(TOKEN, function_url(stack, "twilio-webhook"), params)).status_code == 200
    rows = stack.sql("select i.channel, l.name from public.channel_identities i "
                     "join public.leads l on l.id = i.lead_id where i.address = '+4915290000077' order by i.channel")
    assert rows == [("sms", "Paula Pohl"), ("whatsapp", "Paula Pohl")]
    leads = stack.sql("select count(*) from public.leads where name = 'Paula Pohl' or phone = '+4915290000077'")
    assert leads == [(1,)]


def _outbound_sms(stack: RunningStack, sid: str) -> str:
    stack.sql("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'sms') "
              "on conflict do nothing", (ACME, "10000000-0000-4000-8000-000000000003"))
    rows = stack.sql(
        "insert into public.messages (conversation_id, direction, body, sent_by, status, provider_message_id) "
        "select c.id, 'out', 'Termin bestätigt', 'user', 'sent', %s from public.conversations c "
        "where c.lead_id = '10000000-0000-4000-8000-000000000003' and c.channel = 'sms' returning id::text", (sid,))
    return str(rows[0][0])


def test_status_callbacks_out_of_order_end_read(stack: RunningStack) -> None:
    sid = twilio_sid()
    row = _outbound_sms(stack, sid)
    url = function_url(stack, "twilio-webhook")
    for status in ("read", "delivered", "sent", "queued", "delivered"):
        params = twilio_status(SMS.address, "+436601234567", sid, status)
        response = post(stack, params, twilio_headers(TOKEN, url, params))
        assert response.status_code == 200, (status, response.text)
    assert stack.sql("select status, delivered_at is not null, read_at is not null from public.messages "
                     "where id = %s", (row,)) == [("read", True, True)]


def test_an_undelivered_callback_fails_the_message_with_twilios_code(stack: RunningStack) -> None:
    sid = twilio_sid()
    row = _outbound_sms(stack, sid)
    params = twilio_status(SMS.address, "+436601234567", sid, "undelivered", error_code="30005")
    response = post(stack, params, twilio_headers(TOKEN, function_url(stack, "twilio-webhook"), params))
    assert response.status_code == 200, response.text
    assert stack.sql("select status, error_code from public.messages where id = %s", (row,)) == [("failed", "30005")]


def test_a_status_callback_with_a_bad_signature_changes_nothing(stack: RunningStack) -> None:
    sid = twilio_sid()
    row = _outbound_sms(stack, sid)
    params = twilio_status(SMS.address, "+436601234567", sid, "delivered")
    before = counts(stack)
    bad = {"Content-Type": "application/x-www-form-urlencoded",
           "X-Twilio-Signature": twilio_signature("wrong", function_url(stack, "twilio-webhook"), params)}
    assert post(stack, params, bad).status_code == 401
    assert counts(stack) == before
    assert stack.sql("select status from public.messages where id = %s", (row,)) == [("sent",)]
