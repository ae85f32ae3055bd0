"""Inbound email through a running stack: Postmark's JSON and SendGrid's multipart Inbound Parse, HTTP basic
auth with the receiving address's credentials, Message-ID as the provider id and In-Reply-To kept."""

from __future__ import annotations

import json

import httpx
import pytest

from salesflow.channels.inbound.signatures import basic_auth_header, meta_signature
from tests.conftest import ACME
from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import EMAIL, counts, function_url
from tests.webhooks.payloads import postmark_inbound, sendgrid_fields

AUTH = basic_auth_header(EMAIL.secrets["inbound_username"], EMAIL.secrets["inbound_password"])


def post_postmark(stack: RunningStack, body: dict[str, object], authorization: str | None = AUTH) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    return httpx.post(function_url(stack, "email-inbound"), content=json.dumps(body).encode(), headers=headers)


def post_sendgrid(stack: RunningStack, fields: dict[str, str], authorization: str | None = AUTH,
                  files: dict[str, tuple[str, bytes, str]] | None = None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization else {}
    return httpx.post(function_url(stack, "email-inbound"), data=fields, files=files or {"_": ("", b"", "")},
                      headers=headers)


def test_a_postmark_email_from_a_stranger_becomes_a_lead_with_its_thread_ids(stack: RunningStack) -> None:
    body = postmark_inbound(EMAIL.address, sender="Lena Neu <Lena.Neu@Example.org>",
                            in_reply_to="<reply-to-this@acme.test>")
    response = post_postmark(stack, body)
    assert response.status_code == 200, response.text
    message_id = body["Headers"][0]["Value"]  # type: ignore[index]
    rows = stack.sql("select l.tenant_id::text, l.name, l.email, l.source_channel, m.body, "
                     "m.provider_detail ->> 'in_reply_to', m.provider_detail ->> 'subject' "
                     "from public.messages m join public.leads l on l.id = m.lead_id where m.provider_message_id = %s",
                     (message_id,))
    assert rows == [(ACME, "Lena Neu", "lena.neu@example.org", "email",
                     "Guten Tag, ich interessiere mich für Ihr Angebot.", "<reply-to-this@acme.test>",
                     "Anfrage Angebot")]
    assert stack.sql("select provider, external_id from public.inbound_webhooks where external_id like %s",
                     (f"%{message_id}",)) == [("postmark", f"{EMAIL.address}:{message_id}")]


def test_an_email_from_a_known_address_goes_to_its_lead(stack: RunningStack) -> None:
    before = counts(stack)
    response = post_postmark(stack, postmark_inbound(EMAIL.address, sender="Felix <Felix.Braun@example.de>"))
    assert response.status_code == 200, response.text
    assert counts(stack)["leads"] == before["leads"]
    assert stack.sql("select l.name from public.channel_identities i join public.leads l on l.id = i.lead_id "
                     "where i.channel = 'email' and i.address = 'felix.braun@example.de'") == [("Felix Braun",)]


def test_a_sendgrid_inbound_parse_post_is_recorded(stack: RunningStack) -> None:
    fields = sendgrid_fields(EMAIL.address)
    response = post_sendgrid(stack, fields, files={"attachment1": ("angebot.pdf", b"%PDF-1.4 ...", "application/pdf")})
    assert response.status_code == 200, response.text
    message_id = fields["headers"].split("Message-ID: ")[1].split("\n")[0]
    rows = stack.sql("select l.name, l.email, m.body from public.messages m join public.leads l on l.id = m.lead_id "
                     "where m.provider_message_id = %s", (message_id,))
    assert rows == [("Max Käufer", "max.kaeufer@example.com", "Hallo, haben Sie noch Termine frei?")]
    assert stack.sql("select provider from public.inbound_webhooks where external_id = %s",
                     (f"{EMAIL.address}:{message_id}",)) == [("sendgrid",)]


@pytest.mark.parametrize("shape", ["postmark", "sendgrid"])
def test_bad_basic_auth_is_refused_and_stores_nothing(stack: RunningStack, shape: str) -> None:
    cases = {
        "wrong password": basic_auth_header(EMAIL.secrets["inbound_username"], "guess"),
        "wrong user": basic_auth_header("someone", EMAIL.secrets["inbound_password"]),
        "header missing": None,
        "another provider's header": None,
        "bearer instead of basic": "Bearer " + EMAIL.secrets["inbound_password"],
        "not base64": "Basic %%%",
    }
    before = counts(stack)
    for case, authorization in cases.items():
        if shape == "postmark":
            body = postmark_inbound(EMAIL.address)
            if case == "another provider's header":
                raw = json.dumps(body).encode()
                response = httpx.post(function_url(stack, "email-inbound"), content=raw, headers={
                    "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature("x", raw)})
            else:
                response = post_postmark(stack, body, authorization)
        else:
            fields = sendgrid_fields(EMAIL.address)
            if case == "another provider's header":
                response = httpx.post(function_url(stack, "email-inbound"), data=fields,
                                      files={"_": ("", b"", "")}, headers={"X-Twilio-Signature": "abc"})
            else:
                response = post_sendgrid(stack, fields, authorization)
        assert response.status_code == 401, (case, response.status_code, response.text)
    assert counts(stack) == before


def test_an_email_to_an_unknown_address_is_404_and_stores_nothing(stack: RunningStack) -> None:
    before = counts(stack)
    assert post_postmark(stack, postmark_inbound("nobody@elsewhere.test")).status_code == 404
    assert post_sendgrid(stack, sendgrid_fields("nobody@elsewhere.test")).status_code == 404
    assert counts(stack) == before


@pytest.mark.parametrize("drop,field", [("FromFull", "FromFull"), ("MessageID", "MessageID")])
def test_a_malformed_postmark_body_is_400_naming_the_field(stack: RunningStack, drop: str, field: str) -> None:
    body = postmark_inbound(EMAIL.address)
    body.pop(drop)
    before = counts(stack)
    response = post_postmark(stack, body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert counts(stack) == before


def test_a_malformed_sendgrid_form_is_400_naming_the_field(stack: RunningStack) -> None:
    fields = sendgrid_fields(EMAIL.address)
    fields.pop("from")
    response = post_sendgrid(stack, fields)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "from"


def test_a_redelivered_email_stores_nothing_new(stack: RunningStack) -> None:
    body = postmark_inbound(EMAIL.address, sender="Wiederholt <wieder@example.org>")
    assert post_postmark(stack, body).json()["recorded"] == 1
    before = counts(stack)
    again = post_postmark(stack, body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert counts(stack) == before


def test_the_stored_delivery_keeps_no_credentials(stack: RunningStack) -> None:
    body = postmark_inbound(EMAIL.address, sender="Geheim <geheim@example.org>")
    assert post_postmark(stack, body).status_code == 200
    message_id = body["Headers"][0]["Value"]  # type: ignore[index]
    [(headers,)] = stack.sql("select headers from public.inbound_webhooks where external_id = %s",
                             (f"{EMAIL.address}:{message_id}",))
    assert "authorization" not in headers
    assert EMAIL.secrets["inbound_password"] not in json.dumps(headers)
