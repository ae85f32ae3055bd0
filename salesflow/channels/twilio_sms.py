"""Twilio Programmable Messaging (SMS, MMS): the REST API, with status callbacks and segment counts.

`POST {api_base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded `To`, `From`, `Body`,
`StatusCallback`, `MediaUrl`; basic auth with the account SID and auth token); the answer's `sid` (`SM...`)
is the provider message id that status callbacks name. Segments are counted before sending (GSM-7 or UCS-2,
`salesflow.channels.sms_segments`) and reported as Twilio bills them.

Twilio keeps a list of an account's messages, so `can_look_up` is true: after a crash, `look_up` lists the
messages from our number to the lead created since the message went `sending` and finds ours by its body;
none found means Twilio never accepted it, and sending it is safe.

Plain `httpx` rather than the `twilio` SDK: the SDK's client is synchronous by default and its async client
needs its own HTTP stack, which `respx` cannot mock the same way as the other adapters; the REST calls are
three small requests. The SDK's `RequestValidator` is what checks Twilio's webhook signatures
(`salesflow.channels.inbound`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from salesflow.channels.credentials import TwilioSecrets
from salesflow.channels.errors import json_object, twilio_error
from salesflow.channels.http import HttpCaller, RenderedRequest
from salesflow.channels.port import (
    LookupResult,
    LookupStatus,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendReceipt,
)
from salesflow.channels.rules import check_message, media_url
from salesflow.channels.sms_segments import count_segments

TWILIO_API: Final = "https://api.twilio.com"
#: Clock skew allowed between our `sending_at` and Twilio's `date_created` when reconciling.
LOOKUP_SKEW: Final = timedelta(minutes=2)
_LOOKUP_STATUS: Final[dict[str, LookupStatus]] = {
    "accepted": "sent", "scheduled": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "read", "partially_delivered": "delivered",
    "failed": "failed", "undelivered": "failed", "canceled": "failed",
}


def render(message: OutboundMessage, account_sid: str, sender: str, api_base_url: str | None = None) -> RenderedRequest:
    """The Messages.json request for `message`."""
    form: dict[str, Any] = {"To": message.to, "From": sender, "Body": message.body or ""}
    if message.status_callback_url:
        form["StatusCallback"] = message.status_callback_url
    if message.content_type == "image":
        form["MediaUrl"] = media_url(message)
    return RenderedRequest("POST", f"{api_base_url or TWILIO_API}/2010-04-01/Accounts/{account_sid}/Messages.json",
                           form=form)


def _created(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parsedate_to_datetime(value)  # Twilio dates are RFC 2822 ("Wed, 02 Dec 2026 03:00:00 +0000")
    except (TypeError, ValueError):
        return None


class TwilioSmsAdapter:
    """One Twilio number sending SMS."""

    provider = "twilio"
    channel = "sms"
    can_look_up = True

    def __init__(self, address: str, secrets: TwilioSecrets, *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.address = address
        self._secrets = secrets
        self._base = secrets.api_base_url or TWILIO_API
        self._http = HttpCaller(self.channel, http)
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def _auth(self) -> tuple[str, str]:
        return (self._secrets.account_sid, self._secrets.auth_token.get_secret_value())

    @property
    def _account_url(self) -> str:
        return f"{self._base}/2010-04-01/Accounts/{self._secrets.account_sid}"

    def check(self, message: OutboundMessage, now: datetime) -> None:
        """Content and length (1600 characters; Twilio splits it into segments)."""
        check_message(message, now)

    def render(self, message: OutboundMessage) -> RenderedRequest:
        return render(message, self._secrets.account_sid, self.address, self._base)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Create the message at Twilio; the receipt carries Twilio's segment count (or ours)."""
        self.check(message, self._clock())
        counted = count_segments(message.body or "")
        response = await self._http.send(self.render(message), auth=self._auth)
        if response.status_code >= 400:
            raise twilio_error(response)
        data = json_object(response)
        if not isinstance(data, dict) or not data.get("sid"):
            raise RetryableSendError("twilio_no_sid", f"sms: accepted without a message sid: {data!r}"[:300],
                                     maybe_accepted=True, http_status=response.status_code)
        billed = data.get("num_segments")
        segments = int(billed) if isinstance(billed, int | str) and str(billed).isdigit() else counted.segments
        return SendReceipt(
            provider_message_id=str(data["sid"]),
            accepted_at=self._clock(),
            segments=segments,
            detail={"status": data.get("status"), "encoding": counted.encoding, "counted_segments": counted.segments},
        )

    async def look_up(self, message: OutboundMessage) -> LookupResult | None:
        """Find the message among those from our number to the lead created since it went `sending`."""
        since = message.sending_at or message.queued_at
        request = RenderedRequest("GET", f"{self._account_url}/Messages.json",
                                  params={"To": message.to, "From": self.address, "PageSize": 100})
        response = await self._http.send(request, auth=self._auth)
        if response.status_code >= 400:
            raise twilio_error(response)
        listing = json_object(response).get("messages")
        if not isinstance(listing, list):
            # An unreadable answer is not "never accepted": saying not_found here could send the message twice.
            raise RetryableSendError("twilio_unreadable_listing", f"sms: the message list could not be read: "
                                     f"{response.text[:200]!r}", http_status=response.status_code)
        for item in listing:
            created = _created(item.get("date_created"))
            if since is not None and created is not None and created < since - LOOKUP_SKEW:
                continue
            if (item.get("body") or "") != (message.body or ""):
                continue
            status = _LOOKUP_STATUS.get(str(item.get("status")), "sent")
            return LookupResult(
                status=status,
                provider_message_id=item.get("sid"),
                error_code=f"twilio_{item['error_code']}" if item.get("error_code") else None,
                error_message=item.get("error_message"),
            )
        return LookupResult(status="not_found")

    async def verify(self) -> str:
        """GET the account (proves SID and token), then that the sending number is on it."""
        response = await self._http.send(RenderedRequest("GET", f"{self._account_url}.json"), auth=self._auth)
        if response.status_code >= 400:
            raise twilio_error(response)
        account = json_object(response)
        numbers = await self._http.send(
            RenderedRequest("GET", f"{self._account_url}/IncomingPhoneNumbers.json",
                            params={"PhoneNumber": self.address}), auth=self._auth)
        if numbers.status_code >= 400:
            raise twilio_error(numbers)
        if not json_object(numbers).get("incoming_phone_numbers"):
            raise PermanentSendError("twilio_number_not_on_account",
                                     f"sms: {self.address} is not a number of Twilio account "
                                     f"{self._secrets.account_sid}")
        name, status = account.get("friendly_name", "?"), account.get("status", "?")
        return f"twilio account {name} ({status}), number {self.address}"
