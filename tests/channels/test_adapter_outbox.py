"""The outbox: the exact request each channel's provider would get, the same rules, nothing sent."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import respx

from salesflow.channels import PermanentSendError, build_adapter, build_adapter_for_connection, outbox_adapter
from salesflow.channels.outbox import OutboxAdapter
from tests.channels.adapter_helpers import LEAD_PHONE, NOW, OUR_NUMBER, clock, outbound


async def test_a_whatsapp_message_is_recorded_as_the_graph_request_and_nothing_leaves(
    respx_mock: respx.MockRouter,
) -> None:
    anything = respx_mock.route().mock(return_value=httpx.Response(500))
    adapter = build_adapter("outbox", "whatsapp", OUR_NUMBER, {}, external_account_id="1234567890", clock=clock)
    message = outbound("whatsapp")

    receipt = await adapter.send(message)

    assert receipt.provider_message_id == f"outbox:{message.message_id}"
    assert receipt.detail["renders_as"] == "whatsapp_cloud"
    assert receipt.detail["rendered"] == {
        "method": "POST", "url": "https://graph.facebook.com/v21.0/1234567890/messages",
        "json": {"messaging_product": "whatsapp", "recipient_type": "individual", "to": LEAD_PHONE.lstrip("+"),
                 "biz_opaque_callback_data": str(message.message_id), "type": "text",
                 "text": {"preview_url": False, "body": message.body}}}
    assert anything.call_count == 0


async def test_the_outbox_keeps_the_whatsapp_window_like_the_real_provider() -> None:
    with pytest.raises(PermanentSendError, match="window_closed"):
        await outbox_adapter("whatsapp", clock=clock).send(
            outbound("whatsapp", last_inbound_at=NOW - timedelta(hours=24, seconds=1)))


async def test_an_sms_is_recorded_as_twilios_form_with_its_segments() -> None:
    receipt = await build_adapter("outbox", "sms", OUR_NUMBER, {}, clock=clock).send(
        outbound("sms", body="x" * 161, status_callback_url="https://acme.example/cb"))
    assert receipt.segments == 2
    assert receipt.detail["rendered"]["form"] == {"To": LEAD_PHONE, "From": OUR_NUMBER, "Body": "x" * 161,
                                                  "StatusCallback": "https://acme.example/cb"}


async def test_an_instagram_human_reply_is_recorded_with_its_tag() -> None:
    receipt = await outbox_adapter("instagram", clock=clock).send(
        outbound("instagram", last_inbound_at=NOW - timedelta(days=3), human_agent=True))
    assert receipt.detail["rendered"]["json"]["tag"] == "HUMAN_AGENT"


async def test_an_email_is_recorded_as_the_whole_mime_mail() -> None:
    receipt = await build_adapter("outbox", "email", "Sales@ACME.example", {}, clock=clock).send(
        outbound("email", in_reply_to="<a@b.example>", unsubscribe_url="https://acme.example/u?t=1"))
    rendered = receipt.detail["rendered"]
    assert rendered["envelope_from"] == "sales@acme.example"
    assert rendered["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "In-Reply-To: <a@b.example>" in rendered["mime"]


async def test_after_a_crash_the_outbox_says_nothing_left_so_recording_again_is_safe() -> None:
    adapter = outbox_adapter("sms")
    message = outbound("sms")
    found = await adapter.look_up(message)
    assert adapter.can_look_up and found is not None and found.status == "not_found"
    first, again = await adapter.send(message), await adapter.send(message)
    assert first.provider_message_id == again.provider_message_id
    assert first.detail == again.detail


def test_a_connection_row_builds_its_adapter() -> None:
    adapter = build_adapter_for_connection(
        {"provider": "outbox", "channel": "whatsapp", "address": OUR_NUMBER, "external_account_id": "99"}, None)
    assert isinstance(adapter, OutboxAdapter) and adapter.external_account_id == "99"


@pytest.mark.parametrize(("provider", "channel", "secrets", "message"), [
    ("twilio", "whatsapp", {}, "provider: twilio does not serve channel whatsapp; whatsapp is served by outbox, "
                               "whatsapp_cloud"),
    ("smtp", "fax", {}, "channel: 'fax' is not a channel"),
    ("pigeon", "sms", {}, "provider: 'pigeon' is not a provider"),
    ("whatsapp_cloud", "whatsapp", {"access_token": "t"},
     "whatsapp_cloud secrets: app_secret: required; verify_token: required"),
    ("twilio", "sms", {"account_sid": "AC" + "0" * 32, "auth_token": "t", "acount": "x"},
     "twilio secrets: acount: not a known key"),
    ("smtp", "email", {"host": "mail.example", "use_tls": True, "starttls": True}, "use_tls and starttls: choose one"),
    ("postmark", "email", {"inbound_username": "u", "inbound_password": "p"}, "postmark secrets: host: required"),
    ("outbox", "sms", {"token": "x"}, "outbox secrets: token: not a known key"),
])
def test_a_bad_connection_is_refused_naming_what_is_wrong(provider: str, channel: str, secrets: dict,
                                                          message: str) -> None:
    with pytest.raises(ValueError) as refused:
        build_adapter(provider, channel, "+4930123456789" if channel != "email" else "a@acme.example", secrets,
                      external_account_id="1")
    assert message in str(refused.value)


def test_secrets_never_show_in_a_printed_adapter_or_model() -> None:
    from salesflow.channels.credentials import parse_secrets

    parsed = parse_secrets("twilio", {"account_sid": "AC" + "0" * 32, "auth_token": "very-secret-token"})
    assert "very-secret-token" not in repr(parsed) and "very-secret-token" not in str(parsed)
