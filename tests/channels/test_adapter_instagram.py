"""Instagram Messaging: RESPONSE inside 24 h, a person's reply with the HUMAN_AGENT tag up to 7 days."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx

from salesflow.channels import PermanentSendError, RetryableSendError, build_adapter
from salesflow.channels.instagram import InstagramAdapter
from tests.channels.adapter_helpers import INSTAGRAM_SECRETS, NOW, clock, outbound

SEND_URL = "https://graph.test/v21.0/17841499999999999/messages"
ACCEPTED = {"recipient_id": "17841400000000001", "message_id": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx"}


@pytest.fixture
def adapter() -> InstagramAdapter:
    built = build_adapter("instagram_messaging", "instagram", "17841499999999999", INSTAGRAM_SECRETS,
                          external_account_id="17841499999999999", clock=clock)
    assert isinstance(built, InstagramAdapter)
    return built


@respx.mock
async def test_a_reply_inside_24_hours_is_a_response(adapter: InstagramAdapter) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    receipt = await adapter.send(outbound("instagram", hours_since_inbound=23))
    assert receipt.provider_message_id == ACCEPTED["message_id"]
    assert json.loads(route.calls.last.request.content) == {
        "recipient": {"id": "17841400000000001"}, "message": {"text": "Hallo Anna, passt Ihnen Donnerstag?"},
        "messaging_type": "RESPONSE"}


@respx.mock
async def test_a_persons_reply_between_24_hours_and_7_days_carries_the_human_agent_tag(
    adapter: InstagramAdapter,
) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    message = outbound("instagram", last_inbound_at=NOW - timedelta(days=6, hours=23), human_agent=True)
    receipt = await adapter.send(message)
    sent = json.loads(route.calls.last.request.content)
    assert sent["messaging_type"] == "MESSAGE_TAG"
    assert sent["tag"] == "HUMAN_AGENT"
    assert receipt.detail["tag"] == "HUMAN_AGENT"


def test_an_automated_reply_after_24_hours_is_refused_naming_the_human_agent_rule(adapter: InstagramAdapter) -> None:
    with pytest.raises(PermanentSendError) as refused:
        adapter.check(outbound("instagram", last_inbound_at=NOW - timedelta(hours=24, seconds=1)), NOW)
    assert refused.value.code == "window_closed"
    assert "HUMAN_AGENT" in refused.value.reason and "7 days" in refused.value.reason


@respx.mock
async def test_even_a_persons_reply_is_refused_after_7_days_without_calling_meta(adapter: InstagramAdapter) -> None:
    route = respx.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    message = outbound("instagram", last_inbound_at=NOW - timedelta(days=7, seconds=1), human_agent=True)
    with pytest.raises(PermanentSendError) as refused:
        await adapter.send(message)
    assert "more than 7 days" in refused.value.reason
    assert route.call_count == 0


def test_instagram_conversations_start_with_the_lead(adapter: InstagramAdapter) -> None:
    with pytest.raises(PermanentSendError, match="start with the lead"):
        adapter.check(outbound("instagram", hours_since_inbound=None, human_agent=True), NOW)


def test_instagram_has_no_templates(adapter: InstagramAdapter) -> None:
    with pytest.raises(PermanentSendError) as refused:
        adapter.check(outbound("instagram", content_type="template", template_name="follow_up", body=None), NOW)
    assert refused.value.code == "content_unsupported"


@respx.mock
async def test_metas_window_error_from_instagram_is_permanent_with_code_and_subcode(adapter: InstagramAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(400, json={"error": {
        "message": "(#10) This message is sent outside of allowed window.", "type": "OAuthException", "code": 10,
        "error_subcode": 2018278, "fbtrace_id": "Xyz"}}))
    with pytest.raises(PermanentSendError) as refused:
        await adapter.send(outbound("instagram"))
    assert refused.value.code == "meta_10_2018278"
    assert "window closed" in refused.value.reason


@respx.mock
async def test_a_transient_meta_error_is_retryable(adapter: InstagramAdapter) -> None:
    respx.post(SEND_URL).mock(return_value=httpx.Response(500, json={"error": {
        "message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException",
        "code": 2, "is_transient": True}}))
    with pytest.raises(RetryableSendError, match="meta_2"):
        await adapter.send(outbound("instagram"))


def test_a_body_over_1000_characters_is_refused(adapter: InstagramAdapter) -> None:
    adapter.check(outbound("instagram", body="x" * 1000), NOW)
    with pytest.raises(PermanentSendError, match="1001 characters, over the channel's limit of 1000"):
        adapter.check(outbound("instagram", body="x" * 1001), NOW)


def test_instagram_counts_utf8_bytes_so_a_german_reply_hits_the_limit_early(adapter: InstagramAdapter) -> None:
    adapter.check(outbound("instagram", body="ü" * 500), NOW)  # 1000 bytes
    with pytest.raises(PermanentSendError) as refused:
        adapter.check(outbound("instagram", body="ü" * 501), NOW)  # 501 characters, 1002 bytes
    assert refused.value.code == "too_long"
    assert "1002 bytes of UTF-8, over the channel's limit of 1000 bytes" in refused.value.reason
