"""Webhook functions keep found connections for a few seconds; a change to a connection still applies at once:
a rotated app secret signs the next delivery, the old one no longer does, and a channel connected anew
(another connection id) receives without a failed delivery."""

from __future__ import annotations

import json

import httpx

from tests.conftest import ACME
from tests.devstack.conftest import RunningStack
from tests.webhooks.conftest import Channel, connect, counts, function_url
from tests.webhooks.payloads import encoded, meta_headers, whatsapp_message

ROTATING = Channel("cc000000-0000-4000-8000-0000000000c1", ACME, "whatsapp", "whatsapp_cloud", "+493077777777",
                   "306540352242922", {"app_secret": "first-secret", "verify_token": "rotating-verify"})


def deliver(stack: RunningStack, secret: str, sender: str, phone_number_id: str,
            display_number: str = "493077777777") -> httpx.Response:
    raw = encoded(whatsapp_message(phone_number_id, sender, display_number=display_number))
    return httpx.post(function_url(stack, "whatsapp-webhook"), content=raw, headers=meta_headers(secret, raw))


def test_a_rotated_app_secret_applies_to_the_next_delivery(stack: RunningStack) -> None:
    connect(stack, ROTATING)
    assert deliver(stack, "first-secret", "4917811111111", ROTATING.external_account_id or "").status_code == 200
    stack.sql("update private.channel_credentials set secrets = %s where connection_id = %s",
              (json.dumps({**ROTATING.secrets, "app_secret": "second-secret"}), ROTATING.id))
    assert deliver(stack, "second-secret", "4917811111112", ROTATING.external_account_id or "").status_code == 200
    before = counts(stack)
    assert deliver(stack, "first-secret", "4917811111113", ROTATING.external_account_id or "").status_code == 401
    assert counts(stack) == before


def test_a_channel_connected_anew_receives_at_once(stack: RunningStack) -> None:
    anew = Channel("cc000000-0000-4000-8000-0000000000c2", ACME, "whatsapp", "whatsapp_cloud", "+493066666666",
                   "406540352242922", {"app_secret": "anew-secret"})
    connect(stack, anew)
    assert deliver(stack, "anew-secret", "4917822222221", anew.external_account_id or "").status_code == 200
    stack.sql("delete from public.channel_connections where id = %s", (anew.id,))
    again = Channel("cc000000-0000-4000-8000-0000000000c3", ACME, "whatsapp", "whatsapp_cloud", "+493066666666",
                    "406540352242922", {"app_secret": "anew-secret"})
    connect(stack, again)
    response = deliver(stack, "anew-secret", "4917822222222", again.external_account_id or "")
    assert response.status_code == 200, response.text
    assert stack.sql("select w.connection_id::text from public.inbound_webhooks w join public.messages m "
                     "on m.provider_message_id = w.external_id join public.channel_identities i "
                     "on i.lead_id = m.lead_id where i.address = '+4917822222222'") == [(again.id,)]


def test_a_disconnected_channel_stops_receiving(stack: RunningStack) -> None:
    gone = Channel("cc000000-0000-4000-8000-0000000000c4", ACME, "whatsapp", "whatsapp_cloud", "+493055550000",
                   "506540352242922", {"app_secret": "gone-secret"})
    connect(stack, gone)
    assert deliver(stack, "gone-secret", "4917833333331", gone.external_account_id or "").status_code == 200
    stack.sql("delete from public.channel_connections where id = %s", (gone.id,))
    before = counts(stack)
    response = deliver(stack, "gone-secret", "4917833333332", gone.external_account_id or "")
    # the delivery names the rotating number as its display number: that connection's secret did not sign it
    assert response.status_code == 401, response.text
    assert counts(stack) == before
    unknown = deliver(stack, "gone-secret", "4917833333333", gone.external_account_id or "",
                      display_number="493055550000")
    assert unknown.status_code == 404, unknown.text
    assert counts(stack) == before
