"""WhatsApp Cloud and Instagram webhooks through a running stack: Meta's handshake, the signature matrix
(nothing stored for any bad signature), routing by the receiving number, Zero-Input capture, identity links,
malformed bodies named, redeliveries and out-of-order statuses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from salesflow.channels.inbound.signatures import meta_signature, twilio_signature
from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import INSTAGRAM, NORDLICHT_WHATSAPP, WHATSAPP, counts, function_url
from tests.webhooks.payloads import (
    encoded,
    instagram_message,
    meta_headers,
    wamid,
    whatsapp_message,
    whatsapp_status,
)


def post(stack: RunningStack, name: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(function_url(stack, name), content=raw, headers=headers)


def test_the_handshake_echoes_the_challenge_for_a_connected_verify_token(stack: RunningStack) -> None:
    for name, token in (("whatsapp-webhook", WHATSAPP.secrets["verify_token"]),
                        ("instagram-webhook", INSTAGRAM.secrets["verify_token"])):
        response = httpx.get(function_url(stack, name), params={
            "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"})
        assert response.status_code == 200, response.text
        assert response.text == "1158201444"


def test_the_handshake_refuses_an_unknown_verify_token(stack: RunningStack) -> None:
    for token in ("not-the-token", INSTAGRAM.secrets["verify_token"], ""):
        response = httpx.get(function_url(stack, "whatsapp-webhook"), params={
            "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"})
        assert response.status_code == 403, (token, response.text)
        assert response.json()["field"] == "hub.verify_token"
        assert "42" not in response.text
    wrong_mode = httpx.get(function_url(stack, "whatsapp-webhook"), params={
        "hub.mode": "unsubscribe", "hub.verify_token": WHATSAPP.secrets["verify_token"], "hub.challenge": "42"})
    assert wrong_mode.status_code == 400 and wrong_mode.json()["field"] == "hub.mode"


def _bad_signatures(secret: str, raw: bytes) -> dict[str, tuple[bytes, dict[str, str]]]:
    """(body, headers) pairs that must all be refused: each is one way a forged or damaged delivery looks."""
    # one bit of one letter of the message text: still valid JSON, so only the signature can tell
    flipped = bytearray(raw)
    flipped[raw.index(b'?"') - 1] ^= 0x01  # both test texts end with a question
    twilio_only = {"Content-Type": "application/json",
                   "X-Twilio-Signature": twilio_signature(secret, "http://example.test/", {})}
    return {
        "wrong secret": (raw, meta_headers("not-the-app-secret", raw)),
        "one byte of the body changed": (bytes(flipped), meta_headers(secret, raw)),
        "header missing": (raw, {"Content-Type": "application/json"}),
        "another provider's header": (raw, twilio_only),
        "sha1 instead of sha256": (raw, {"Content-Type": "application/json",
                                         "X-Hub-Signature-256": meta_signature(secret, raw).replace("sha256=",
                                                                                                    "sha1=")}),
        "another tenant's secret": (raw, meta_headers(NORDLICHT_WHATSAPP.secrets["app_secret"], raw)),
    }


@pytest.mark.parametrize("name,body,secret", [
    ("whatsapp-webhook", lambda: whatsapp_message(WHATSAPP.external_account_id or "", "4917611111111"),
     WHATSAPP.secrets["app_secret"]),
    ("instagram-webhook", lambda: instagram_message(INSTAGRAM.address, "6543210987654321"),
     INSTAGRAM.secrets["app_secret"]),
], ids=["whatsapp", "instagram"])
def test_a_bad_signature_is_refused_and_stores_nothing(stack: RunningStack, name: str, body: Any,
                                                       secret: str) -> None:
    raw = encoded(body())
    before = counts(stack)
    for case, (sent, headers) in _bad_signatures(secret, raw).items():
        response = post(stack, name, sent, headers)
        assert response.status_code == 401, (case, response.status_code, response.text)
        assert response.json()["error"] == "invalid_signature", case
    assert counts(stack) == before
    valid = post(stack, name, raw, meta_headers(secret, raw))
    assert valid.status_code == 200, valid.text
    assert valid.json()["recorded"] == 1
    after = counts(stack)
    assert after["messages"] == before["messages"] + 1 and after["inbound_webhooks"] == before["inbound_webhooks"] + 1


def test_an_unknown_sender_becomes_a_lead_with_its_channel_as_source(stack: RunningStack) -> None:
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4915790000001", name="Sabine Sommer",
                                   text="Hallo, ich habe Ihre Anzeige gesehen."))
    response = post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw))
    assert response.status_code == 200, response.text
    rows = stack.sql(
        "select l.tenant_id::text, l.name, l.source_channel, l.whatsapp, i.channel, c.unread_count, m.body, "
        "m.direction "
        "from public.channel_identities i join public.leads l on l.id = i.lead_id "
        "join public.conversations c on c.lead_id = l.id join public.messages m on m.conversation_id = c.id "
        "where i.address = '+4915790000001'")
    assert rows == [(ACME, "Sabine Sommer", "whatsapp", "+4915790000001", "whatsapp", 1,
                     "Hallo, ich habe Ihre Anzeige gesehen.", "in")]
    events = stack.sql("select type from public.events e where e.payload ->> 'lead_id' = "
                       "(select lead_id::text from public.channel_identities where address = '+4915790000001') "
                       "and e.type in ('lead.created', 'conversation.created', 'message.received') "
                       "order by e.seq")
    assert [e for (e,) in events] == ["lead.created", "conversation.created", "message.received"]


def test_an_instagram_sender_without_a_profile_name_is_named_by_its_id(stack: RunningStack) -> None:
    raw = encoded(instagram_message(INSTAGRAM.address, "7000000000000123"))
    response = post(stack, "instagram-webhook", raw, meta_headers(INSTAGRAM.secrets["app_secret"], raw))
    assert response.status_code == 200, response.text
    assert stack.sql("select l.name, l.source_channel from public.leads l join public.channel_identities i "
                     "on i.lead_id = l.id where i.channel = 'instagram' and i.address = '7000000000000123'") == [
        ("7000000000000123", "instagram")]


def test_a_known_phone_writes_to_its_existing_lead(stack: RunningStack) -> None:
    # Julia Becker's phone is "+49 151 2345678" in her lead row.
    before = counts(stack)
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "491512345678", name="Julia"))
    assert post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw)).status_code == 200
    assert counts(stack)["leads"] == before["leads"]
    assert stack.sql("select l.name, k.matched_on, k.linked_by from public.identity_links k "
                     "join public.leads l on l.id = k.lead_id join public.channel_identities i on i.id = k.identity_id "
                     "where i.address = '+491512345678' and i.channel = 'whatsapp'") == [
        ("Julia Becker", "phone", "ingest")]


def test_a_delivery_for_an_unknown_number_is_404_and_stores_nothing(stack: RunningStack) -> None:
    before = counts(stack)
    raw = encoded(whatsapp_message("999999999999999", "4917622222222", display_number="15550001111"))
    # signed with a real secret: knowing some tenant's secret must not help
    response = post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw))
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "unknown_receiving_address"
    raw = encoded(instagram_message("17841499999999999", "7000000000000999"))
    assert post(stack, "instagram-webhook", raw, meta_headers(INSTAGRAM.secrets["app_secret"], raw)).status_code == 404
    assert counts(stack) == before


def test_a_delivery_lands_in_the_tenant_of_its_number(stack: RunningStack) -> None:
    raw = encoded(whatsapp_message(NORDLICHT_WHATSAPP.external_account_id or "", "447700900555", name="Olivia",
                                   display_number="494012345678"))
    assert post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw)).status_code == 401
    response = post(stack, "whatsapp-webhook", raw, meta_headers(NORDLICHT_WHATSAPP.secrets["app_secret"], raw))
    assert response.status_code == 200, response.text
    tenants = stack.sql("select tenant_id::text from public.messages m where m.lead_id = "
                        "(select lead_id from public.channel_identities where address = '+447700900555')")
    assert tenants == [(NORDLICHT,)]


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b.pop("object"), "object"),
    (lambda b: b.update(object="page"), "object"),
    (lambda b: b["entry"][0]["changes"][0]["value"]["metadata"].pop("phone_number_id"),
     "entry.0.changes.0.value.metadata.phone_number_id"),
    (lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].pop("id"),
     "entry.0.changes.0.value.messages.0.id"),
    (lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].update({"from": "not a number"}),
     "entry.0.changes.0.value.messages.0.from"),
    (lambda b: b.update(entry="nope"), "entry"),
], ids=["no object", "wrong object", "no phone_number_id", "no message id", "bad sender", "entry not a list"])
def test_a_malformed_whatsapp_body_is_400_naming_the_field(stack: RunningStack, mutate: Any, field: str) -> None:
    body = whatsapp_message(WHATSAPP.external_account_id or "", "4917633333333")
    mutate(body)
    raw = encoded(body)
    before = counts(stack)
    response = post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(field)
    assert counts(stack) == before


def test_a_body_that_is_not_json_is_400(stack: RunningStack) -> None:
    raw = b"{not json"
    response = post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw))
    assert response.status_code == 400 and response.json()["field"] == "body"


def test_a_redelivery_is_200_and_stores_nothing_new(stack: RunningStack) -> None:
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4917644444444"))
    headers = meta_headers(WHATSAPP.secrets["app_secret"], raw)
    first = post(stack, "whatsapp-webhook", raw, headers)
    assert first.status_code == 200 and first.json()["recorded"] == 1
    before = counts(stack)
    again = post(stack, "whatsapp-webhook", raw, headers)
    assert again.status_code == 200 and again.json() == {"recorded": 0, "duplicates": 1, "statuses": 0}
    assert counts(stack) == before


def _outbound(stack: RunningStack, provider_message_id: str, status: str = "sent") -> str:
    """An outbound message of Mia Schulz (Acme) already handed to the provider."""
    stack.sql("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'whatsapp') "
              "on conflict do nothing", (ACME, "10000000-0000-4000-8000-000000000005"))
    rows = stack.sql(
        "insert into public.messages (conversation_id, direction, body, sent_by, status, provider_message_id) "
        "select c.id, 'out', 'Ihr Angebot', 'user', %s, %s from public.conversations c "
        "where c.lead_id = '10000000-0000-4000-8000-000000000005' and c.channel = 'whatsapp' returning id::text",
        (status, provider_message_id))
    return str(rows[0][0])


def test_statuses_out_of_order_end_read_and_never_move_back(stack: RunningStack) -> None:
    message_id = wamid()
    row = _outbound(stack, message_id)
    secret = WHATSAPP.secrets["app_secret"]
    for status, at in (("read", 1_790_000_300), ("delivered", 1_790_000_200), ("sent", 1_790_000_100),
                       ("delivered", 1_790_000_200)):
        raw = encoded(whatsapp_status(WHATSAPP.external_account_id or "", message_id, status, at=at))
        response = post(stack, "whatsapp-webhook", raw, meta_headers(secret, raw))
        assert response.status_code == 200, response.text
    assert stack.sql("select status, extract(epoch from delivered_at)::bigint, extract(epoch from read_at)::bigint "
                     "from public.messages where id = %s", (row,)) == [("read", 1_790_000_200, 1_790_000_300)]
    # one status_changed (sent → read); the late reports changed nothing
    changes = stack.sql("select payload ->> 'from', payload ->> 'to' from public.events "
                        "where type = 'message.status_changed' and payload ->> 'message_id' = %s", (row,))
    assert changes == [("sent", "read")]
    assert stack.sql("select count(*) from public.inbound_webhooks where external_id like %s",
                     (message_id + ":%",)) == [(3,)]  # read, delivered, sent: the repeated delivered stored once


def test_a_failed_report_after_delivery_is_ignored(stack: RunningStack) -> None:
    message_id = wamid()
    row = _outbound(stack, message_id)
    secret = WHATSAPP.secrets["app_secret"]
    for status in ("delivered", "failed"):
        raw = encoded(whatsapp_status(WHATSAPP.external_account_id or "", message_id, status))
        assert post(stack, "whatsapp-webhook", raw, meta_headers(secret, raw)).status_code == 200
    assert stack.sql("select status, error_code from public.messages where id = %s", (row,)) == [("delivered", None)]


def test_an_image_with_a_caption_is_recorded_as_an_image(stack: RunningStack) -> None:
    body = whatsapp_message(WHATSAPP.external_account_id or "", "4917655555555")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="image", image={"id": "1479537139650973", "mime_type": "image/jpeg",
                                        "sha256": "abc", "caption": "So sieht es aus"})
    raw = encoded(body)
    assert post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw)).status_code == 200
    rows = stack.sql("select content_type, body, media from public.messages where provider_message_id = %s",
                     (message["id"],))
    assert rows[0][0] == "image" and rows[0][1] == "So sieht es aus"
    assert rows[0][2]["id"] == "1479537139650973"


def test_stored_deliveries_keep_the_raw_body_and_no_credentials(stack: RunningStack) -> None:
    raw = encoded(whatsapp_message(WHATSAPP.external_account_id or "", "4917666666666"))
    headers = {**meta_headers(WHATSAPP.secrets["app_secret"], raw), "Authorization": "Bearer something"}
    assert post(stack, "whatsapp-webhook", raw, headers).status_code == 200
    message_id = json.loads(raw)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    [(body, stored, outcome)] = stack.sql("select raw_body, headers, outcome from public.inbound_webhooks "
                                          "where external_id = %s", (message_id,))
    assert bytes(body) == raw
    assert "x-hub-signature-256" in stored and "authorization" not in stored
    assert outcome == "processed"


def test_a_status_echoing_our_message_id_settles_a_message_whose_provider_id_was_lost(stack: RunningStack) -> None:
    # A crash between Meta's accept and our record left the message `unknown` without its wamid; Meta's
    # status webhook carries biz_opaque_callback_data = our message id (the send job sets it).
    [(row,)] = stack.sql(
        "insert into public.messages (conversation_id, direction, body, sent_by, status) "
        "select c.id, 'out', 'Ihr Termin', 'user', 'unknown' from public.conversations c "
        "where c.lead_id = '10000000-0000-4000-8000-000000000005' and c.channel = 'whatsapp' returning id::text")
    message_id = wamid()
    body = whatsapp_status(WHATSAPP.external_account_id or "", message_id, "delivered")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = row
    raw = encoded(body)
    response = post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw))
    assert response.status_code == 200, response.text
    assert stack.sql("select status, provider_message_id, sent_at is not null from public.messages where id = %s",
                     (row,)) == [("delivered", message_id, True)]
    assert stack.sql("select count(*) from public.events where type = 'message.sent' "
                     "and payload ->> 'message_id' = %s", (row,)) == [(1,)]


def test_callback_data_naming_another_tenants_message_settles_nothing(stack: RunningStack) -> None:
    stack.sql("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'whatsapp') "
              "on conflict do nothing", (NORDLICHT, "20000000-0000-4000-8000-000000000001"))
    [(row,)] = stack.sql(
        "insert into public.messages (conversation_id, direction, body, sent_by, status) "
        "select c.id, 'out', 'Hello', 'user', 'unknown' from public.conversations c "
        "where c.lead_id = '20000000-0000-4000-8000-000000000001' and c.channel = 'whatsapp' returning id::text")
    body = whatsapp_status(WHATSAPP.external_account_id or "", wamid(), "read")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = row
    raw = encoded(body)
    assert post(stack, "whatsapp-webhook", raw, meta_headers(WHATSAPP.secrets["app_secret"], raw)).status_code == 200
    assert stack.sql("select status, provider_message_id from public.messages where id = %s", (row,)) == [
        ("unknown", None)]


def test_instagram_echoes_of_our_sends_are_skipped_and_reads_apply(stack: RunningStack) -> None:
    before = counts(stack)
    echo = instagram_message(INSTAGRAM.address, "7000000000000777", text="Danke für Ihre Nachricht!")
    echo["entry"][0]["messaging"][0]["message"]["is_echo"] = True
    raw = encoded(echo)
    response = post(stack, "instagram-webhook", raw, meta_headers(INSTAGRAM.secrets["app_secret"], raw))
    assert response.status_code == 200 and response.json()["recorded"] == 0
    assert counts(stack) == before

    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx"
    stack.sql("insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, 'instagram') "
              "on conflict do nothing", (ACME, "10000000-0000-4000-8000-000000000003"))
    [(row,)] = stack.sql(
        "insert into public.messages (conversation_id, direction, body, sent_by, status, provider_message_id) "
        "select c.id, 'out', 'Gern!', 'user', 'sent', %s from public.conversations c "
        "where c.lead_id = '10000000-0000-4000-8000-000000000003' and c.channel = 'instagram' returning id::text",
        (mid,))
    read = {"object": "instagram", "entry": [{"id": INSTAGRAM.address, "time": 1_790_000_000_000, "messaging": [{
        "sender": {"id": "7000000000000123"}, "recipient": {"id": INSTAGRAM.address},
        "timestamp": 1_790_000_000_000, "read": {"mid": mid}}]}]}
    raw = encoded(read)
    response = post(stack, "instagram-webhook", raw, meta_headers(INSTAGRAM.secrets["app_secret"], raw))
    assert response.status_code == 200, response.text
    assert stack.sql("select status, extract(epoch from read_at)::bigint from public.messages where id = %s",
                     (row,)) == [("read", 1_790_000_000)]
