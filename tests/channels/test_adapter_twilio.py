"""Twilio SMS: the REST request, segments, classified errors and the lookup that reconciles a crash."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from salesflow.channels import PermanentSendError, RetryableSendError, build_adapter
from salesflow.channels.twilio_sms import TwilioSmsAdapter
from tests.channels.adapter_helpers import ACCOUNT_SID, LEAD_PHONE, NOW, OUR_NUMBER, TWILIO_SECRETS, clock, outbound

ACCOUNT = f"https://twilio.test/2010-04-01/Accounts/{ACCOUNT_SID}"
MESSAGES = f"{ACCOUNT}/Messages.json"


def created(sid: str = "SM" + "a" * 32, status: str = "queued", segments: str = "1") -> dict:
    return {"sid": sid, "status": status, "num_segments": segments, "to": LEAD_PHONE, "from": OUR_NUMBER,
            "body": "Hallo", "error_code": None, "error_message": None}


def twilio_error(code: int, message: str, status: int = 400) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


@pytest.fixture
def adapter() -> TwilioSmsAdapter:
    built = build_adapter("twilio", "sms", OUR_NUMBER, TWILIO_SECRETS, clock=clock)
    assert isinstance(built, TwilioSmsAdapter)
    return built


@respx.mock
async def test_an_sms_is_created_with_basic_auth_the_status_callback_and_twilios_segment_count(
    adapter: TwilioSmsAdapter,
) -> None:
    route = respx.post(MESSAGES).mock(return_value=httpx.Response(201, json=created(segments="2")))
    message = outbound("sms", body="Hallo Anna", status_callback_url="https://acme.example/functions/v1/twilio-webhook")

    receipt = await adapter.send(message)

    assert receipt.provider_message_id == "SM" + "a" * 32
    assert receipt.segments == 2
    request = route.calls.last.request
    assert request.headers["authorization"].startswith("Basic ")
    assert parse_qs(request.content.decode()) == {
        "To": [LEAD_PHONE], "From": [OUR_NUMBER], "Body": ["Hallo Anna"],
        "StatusCallback": ["https://acme.example/functions/v1/twilio-webhook"]}


@respx.mock
async def test_a_429_is_retryable_with_retry_after(adapter: TwilioSmsAdapter) -> None:
    respx.post(MESSAGES).mock(return_value=httpx.Response(
        429, headers={"Retry-After": "30"}, json=twilio_error(20429, "Too Many Requests", 429)))
    with pytest.raises(RetryableSendError) as busy:
        await adapter.send(outbound("sms"))
    assert busy.value.code == "twilio_20429" and busy.value.retry_after == 30


@respx.mock
async def test_a_5xx_is_retryable(adapter: TwilioSmsAdapter) -> None:
    respx.post(MESSAGES).mock(return_value=httpx.Response(500, json=twilio_error(20500, "Internal Server Error", 500)))
    with pytest.raises(RetryableSendError, match="twilio_20500"):
        await adapter.send(outbound("sms"))


@respx.mock
async def test_a_timeout_is_retryable(adapter: TwilioSmsAdapter) -> None:
    respx.post(MESSAGES).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(RetryableSendError) as late:
        await adapter.send(outbound("sms"))
    assert late.value.code == "timeout" and late.value.maybe_accepted


@respx.mock
@pytest.mark.parametrize(("code", "words"), [
    (21211, "The 'To' number +4915112345678 is not a valid phone number."),
    (21610, "Attempt to send to unsubscribed recipient"),
    (21614, "'To' number is not a valid mobile number"),
])
async def test_invalid_or_opted_out_numbers_fail_permanently_with_twilios_code(
    adapter: TwilioSmsAdapter, code: int, words: str,
) -> None:
    respx.post(MESSAGES).mock(return_value=httpx.Response(400, json=twilio_error(code, words)))
    with pytest.raises(PermanentSendError) as refused:
        await adapter.send(outbound("sms"))
    assert refused.value.code == f"twilio_{code}"
    assert refused.value.provider_code == str(code)
    assert words in refused.value.reason


@respx.mock
async def test_look_up_finds_the_message_twilio_accepted_before_a_crash(adapter: TwilioSmsAdapter) -> None:
    message = outbound("sms", body="Hallo", sending_at=NOW)
    older = {**created("SM" + "o" * 32, "delivered"), "date_created": format_datetime(NOW - timedelta(days=1))}
    ours = {**created("SM" + "b" * 32, "delivered"), "date_created": format_datetime(NOW + timedelta(seconds=1))}
    other_body = {**ours, "sid": "SM" + "c" * 32, "body": "Something else"}
    route = respx.get(MESSAGES).mock(return_value=httpx.Response(200, json={"messages": [other_body, ours, older]}))

    found = await adapter.look_up(message)

    assert found is not None and found.status == "delivered" and found.provider_message_id == "SM" + "b" * 32
    assert route.calls.last.request.url.params["To"] == LEAD_PHONE
    assert route.calls.last.request.url.params["From"] == OUR_NUMBER


@respx.mock
async def test_look_up_says_not_found_when_twilio_never_accepted_it(adapter: TwilioSmsAdapter) -> None:
    older = {**created(status="delivered"), "date_created": format_datetime(NOW - timedelta(hours=2))}
    respx.get(MESSAGES).mock(return_value=httpx.Response(200, json={"messages": [older]}))
    found = await adapter.look_up(outbound("sms", body="Hallo", sending_at=NOW))
    assert adapter.can_look_up and found is not None and found.status == "not_found"


@respx.mock
async def test_look_up_reports_a_failed_message_with_twilios_error(adapter: TwilioSmsAdapter) -> None:
    failed = {**created(status="undelivered"), "error_code": 30003, "error_message": "Unreachable destination handset",
              "date_created": format_datetime(NOW)}
    respx.get(MESSAGES).mock(return_value=httpx.Response(200, json={"messages": [failed]}))
    found = await adapter.look_up(outbound("sms", body="Hallo", sending_at=NOW))
    assert found is not None and (found.status, found.error_code) == ("failed", "twilio_30003")


@respx.mock
async def test_verify_checks_the_account_and_that_the_number_is_on_it(adapter: TwilioSmsAdapter) -> None:
    respx.get(f"{ACCOUNT}.json").mock(return_value=httpx.Response(
        200, json={"sid": ACCOUNT_SID, "friendly_name": "ACME", "status": "active"}))
    numbers = respx.get(f"{ACCOUNT}/IncomingPhoneNumbers.json").mock(return_value=httpx.Response(
        200, json={"incoming_phone_numbers": [{"phone_number": OUR_NUMBER}]}))
    assert await adapter.verify() == f"twilio account ACME (active), number {OUR_NUMBER}"
    numbers.mock(return_value=httpx.Response(200, json={"incoming_phone_numbers": []}))
    with pytest.raises(PermanentSendError, match="is not a number of Twilio account"):
        await adapter.verify()


@respx.mock
async def test_verify_with_a_wrong_token_names_twilios_auth_error(adapter: TwilioSmsAdapter) -> None:
    respx.get(f"{ACCOUNT}.json").mock(return_value=httpx.Response(
        401, json=twilio_error(20003, "Authenticate", 401)))
    with pytest.raises(PermanentSendError) as refused:
        await adapter.verify()
    assert refused.value.code == "twilio_20003"


def test_an_sms_over_1600_characters_is_refused(adapter: TwilioSmsAdapter) -> None:
    adapter.check(outbound("sms", body="x" * 1600), NOW)
    with pytest.raises(PermanentSendError, match="over the channel's limit of 1600"):
        adapter.check(outbound("sms", body="x" * 1601), NOW)


@respx.mock
async def test_an_unreadable_message_list_is_never_taken_for_not_found(adapter: TwilioSmsAdapter) -> None:
    respx.get(MESSAGES).mock(return_value=httpx.Response(200, text="<html>proxy says hi</html>"))
    with pytest.raises(RetryableSendError, match="twilio_unreadable_listing"):
        await adapter.look_up(outbound("sms", body="Hallo", sending_at=NOW))


@respx.mock
async def test_an_html_page_instead_of_an_answer_may_have_been_accepted(adapter: TwilioSmsAdapter) -> None:
    respx.post(MESSAGES).mock(return_value=httpx.Response(201, text="<html>created?</html>"))
    with pytest.raises(RetryableSendError) as odd:
        await adapter.send(outbound("sms"))
    assert odd.value.maybe_accepted
