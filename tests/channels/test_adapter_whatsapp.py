"""WhatsApp Cloud API: what reaches Graph, the 24 h window, and how Meta's refusals are classified."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx

from salesflow.channels import PermanentSendError, RetryableSendError, build_adapter
from salesflow.channels.whatsapp_cloud import WhatsAppCloudAdapter
from tests.channels.adapter_helpers import NOW, OUR_NUMBER, WHATSAPP_SECRETS, clock, outbound

SEND_URL = "https://graph.test/v21.0/1234567890/messages"
ACCEPTED = {"messaging_product": "whatsapp", "contacts": [{"input": "4915112345678", "wa_id": "4915112345678"}],
            "messages": [{"id": "wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjQ", "message_status": "accepted"}]}


def meta_error(code: int, message: str, subcode: int | None = None, details: str | None = None) -> dict:
    error: dict = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


@pytest.fixture
def adapter() -> WhatsAppCloudAdapter:
    built = build_adapter("whatsapp_cloud", "whatsapp", OUR_NUMBER, WHATSAPP_SECRETS,
                          external_account_id="1234567890", clock=clock)
    assert isinstance(built, WhatsAppCloudAdapter)
    return built


@respx.mock
async def test_a_text_inside_the_window_reaches_graph_with_the_token_and_returns_the_wamid(
    adapter: WhatsAppCloudAdapter,
) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    message = outbound(hours_since_inbound=23.9)

    receipt = await adapter.send(message)

    assert receipt.provider_message_id == "wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjQ"
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer EAAG-test-token"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
        "biz_opaque_callback_data": str(message.message_id),
        "type": "text", "text": {"preview_url": False, "body": "Hallo Anna, passt Ihnen Donnerstag?"},
    }


def test_free_form_is_refused_one_second_after_the_24_hour_window_naming_the_rule(
    adapter: WhatsAppCloudAdapter,
) -> None:
    message = outbound(last_inbound_at=NOW - timedelta(hours=24, seconds=1))
    with pytest.raises(PermanentSendError) as refused:
        adapter.check(message, NOW)
    assert refused.value.code == "window_closed"
    assert "24 h customer-service window" in refused.value.reason
    assert "send an approved template" in refused.value.reason
    adapter.check(outbound(last_inbound_at=NOW - timedelta(hours=24)), NOW)  # the edge itself is inside


def test_free_form_to_a_lead_who_never_wrote_needs_a_template(adapter: WhatsAppCloudAdapter) -> None:
    with pytest.raises(PermanentSendError) as refused:
        adapter.check(outbound(hours_since_inbound=None), NOW)
    assert refused.value.code == "template_required"


@respx.mock
async def test_send_refuses_a_closed_window_without_calling_graph(adapter: WhatsAppCloudAdapter) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    with pytest.raises(PermanentSendError, match="window_closed"):
        await adapter.send(outbound(last_inbound_at=NOW - timedelta(hours=24, seconds=1)))
    assert route.call_count == 0


@respx.mock
async def test_a_template_outside_the_window_is_accepted_with_its_language_and_parameters(
    adapter: WhatsAppCloudAdapter,
) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    message = outbound(last_inbound_at=NOW - timedelta(hours=24, seconds=1), content_type="template", body=None,
                       template_name="follow_up", template_language="de", template_variables=["Anna", "Donnerstag"])

    adapter.check(message, NOW)
    await adapter.send(message)

    sent = json.loads(route.calls.last.request.content)
    assert sent["type"] == "template"
    assert sent["template"] == {"name": "follow_up", "language": {"code": "de"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Anna"}, {"type": "text", "text": "Donnerstag"}]}]}


@respx.mock
async def test_a_429_is_retryable_with_the_retry_after_of_the_answer(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(
        429, headers={"Retry-After": "17"}, json=meta_error(130429, "(#130429) Rate limit hit")))
    with pytest.raises(RetryableSendError) as busy:
        await adapter.send(outbound())
    assert busy.value.code == "meta_130429"
    assert busy.value.retry_after == 17
    assert busy.value.http_status == 429
    assert not busy.value.maybe_accepted


@respx.mock
async def test_a_throughput_error_in_a_400_is_still_retryable(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(
        400, json=meta_error(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit")))
    with pytest.raises(RetryableSendError, match="meta_131056"):
        await adapter.send(outbound())


@respx.mock
async def test_a_5xx_is_retryable(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(503, text="Service Unavailable"))
    with pytest.raises(RetryableSendError) as outage:
        await adapter.send(outbound())
    assert outage.value.code == "http_503"


@respx.mock
async def test_a_timeout_is_retryable_but_may_have_been_accepted(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(RetryableSendError) as late:
        await adapter.send(outbound())
    assert late.value.code == "timeout"
    assert late.value.maybe_accepted  # the request was written: reconcile, never resend blindly


@respx.mock
async def test_a_refused_connection_is_retryable_and_was_never_accepted(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(RetryableSendError) as down:
        await adapter.send(outbound())
    assert down.value.code == "connection_error"
    assert not down.value.maybe_accepted


@respx.mock
async def test_an_invalid_number_fails_permanently_with_metas_code_and_words(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(400, json=meta_error(
        131026, "(#131026) Message Undeliverable", details="Recipient is not a valid WhatsApp user")))
    with pytest.raises(PermanentSendError) as refused:
        await adapter.send(outbound())
    assert refused.value.code == "meta_131026"
    assert refused.value.provider_code == "131026"
    assert "Message Undeliverable (Recipient is not a valid WhatsApp user)" in refused.value.reason


@respx.mock
async def test_metas_own_window_refusal_is_permanent_and_says_so(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(400, json=meta_error(
        131047, "Re-engagement message",
        details="Message failed to send because more than 24 hours have passed since the customer last replied")))
    with pytest.raises(PermanentSendError) as refused:
        await adapter.send(outbound())
    assert refused.value.code == "meta_131047"
    assert refused.value.reason.startswith("whatsapp: window closed: Re-engagement message")


@respx.mock
async def test_an_expired_token_is_permanent(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(401, json=meta_error(
        190, "Error validating access token: Session has expired", subcode=463)))
    with pytest.raises(PermanentSendError) as refused:
        await adapter.send(outbound())
    assert refused.value.code == "meta_190_463"
    assert refused.value.provider_code == "190/463"


@respx.mock
async def test_an_answer_without_a_message_id_is_never_taken_for_not_sent(adapter: WhatsAppCloudAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(200, json={"messaging_product": "whatsapp"}))
    with pytest.raises(RetryableSendError) as odd:
        await adapter.send(outbound())
    assert odd.value.maybe_accepted


async def test_the_cloud_api_cannot_be_asked_what_it_accepted(adapter: WhatsAppCloudAdapter) -> None:
    assert adapter.can_look_up is False
    assert await adapter.look_up(outbound()) is None


@respx.mock
async def test_verify_reads_the_phone_number_with_the_token(adapter: WhatsAppCloudAdapter) -> None:
    route = respx.get("https://graph.test/v21.0/1234567890").mock(return_value=httpx.Response(
        200, json={"display_phone_number": "+49 30 123456789", "verified_name": "ACME", "quality_rating": "GREEN",
                   "id": "1234567890"}))
    assert await adapter.verify() == "whatsapp number +49 30 123456789 (ACME), quality GREEN"
    assert route.calls.last.request.headers["authorization"] == "Bearer EAAG-test-token"


def test_whatsapp_cloud_needs_the_phone_number_id() -> None:
    with pytest.raises(ValueError, match="external_account_id: required"):
        build_adapter("whatsapp_cloud", "whatsapp", OUR_NUMBER, WHATSAPP_SECRETS)


@respx.mock
@pytest.mark.parametrize("media", [{"url": "https://cdn.acme.example/angebot.pdf", "filename": "Angebot.pdf"},
                                   {"link": "https://cdn.acme.example/angebot.pdf", "filename": "Angebot.pdf"}])
async def test_a_document_goes_as_a_link_with_its_caption_and_filename(adapter: WhatsAppCloudAdapter,
                                                                     media: dict) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    await adapter.send(outbound(content_type="document", body="Ihr Angebot", media=media))
    sent = json.loads(route.calls.last.request.content)
    assert sent["type"] == "document"
    assert sent["document"] == {"link": "https://cdn.acme.example/angebot.pdf", "caption": "Ihr Angebot",
                                "filename": "Angebot.pdf"}


@respx.mock
async def test_named_template_variables_go_as_named_parameters(adapter: WhatsAppCloudAdapter) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    await adapter.send(outbound(content_type="template", body=None, template_name="termin",
                                template_variables={"first_name": "Anna"}))
    template = json.loads(route.calls.last.request.content)["template"]
    assert template["language"] == {"code": "en"}
    assert template["components"] == [{"type": "body", "parameters": [
        {"type": "text", "parameter_name": "first_name", "text": "Anna"}]}]
