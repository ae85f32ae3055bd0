"""Twilio SMS webhooks: an inbound message (form POST to the number's messaging URL) and a status callback
(the `StatusCallback` URL given with a send), read into provider-neutral items.

A status callback carries `MessageStatus`; an inbound message does not (its `SmsStatus` is `received`). The
receiving number routes an inbound message (`To`), the sending number a status callback (`From`), with the
account SID as the fallback (a Messaging Service may send from a pool of numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from salesflow.channels.addresses import normalise_address, try_normalise_address
from salesflow.channels.inbound.errors import InvalidDelivery, validate
from salesflow.channels.inbound.items import Delivery, InboundMessage, Route, StatusReport


class _Form(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class TwilioInbound(_Form):
    MessageSid: str = Field(min_length=1, max_length=300)
    AccountSid: str = Field(min_length=1)
    From: str = Field(min_length=1)
    To: str = Field(min_length=1)
    Body: str = ""
    NumMedia: int = Field(default=0, ge=0, le=10)
    ProfileName: str | None = None


class TwilioStatus(_Form):
    MessageSid: str = Field(min_length=1, max_length=300)
    MessageStatus: str = Field(min_length=1)
    AccountSid: str = Field(min_length=1)
    From: str | None = None
    To: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


# Twilio's message statuses, as SalesFlow's provider reports (None: nothing to apply, e.g. queued, accepted).
STATUSES: dict[str, str] = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed",
                            "undelivered": "failed", "canceled": "failed"}


def _content_type(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("audio/"):
        return "audio"
    return "document"


def read_twilio(params: Mapping[str, str]) -> Delivery:
    """The inbound message or status report of a Twilio webhook's form parameters; InvalidDelivery if malformed."""
    delivery = Delivery()
    if "MessageStatus" in params:
        status = validate(TwilioStatus, dict(params))
        sender = try_normalise_address("sms", status.From) if status.From else None
        account = Route(provider="twilio", external_account_id=status.AccountSid)
        route = Route(channel="sms", address=sender, fallback=account) if sender else account
        failed = STATUSES.get(status.MessageStatus) == "failed"
        delivery.add_status(route, StatusReport(
            external_id=f"{status.MessageSid}:{status.MessageStatus}", provider_message_id=status.MessageSid,
            status=STATUSES.get(status.MessageStatus),
            error_code=status.ErrorCode if failed else None,
            error_message=(status.ErrorMessage or (f"Twilio error {status.ErrorCode}" if status.ErrorCode else None)
                           if failed else None)))
        return delivery
    message = validate(TwilioInbound, dict(params))
    try:
        sender = normalise_address("sms", message.From)
    except ValueError as error:
        raise InvalidDelivery("From", str(error)) from None
    receiver = try_normalise_address("sms", message.To)
    account = Route(provider="twilio", external_account_id=message.AccountSid)
    route = Route(channel="sms", address=receiver, fallback=account) if receiver else account
    media: dict[str, Any] | None = None
    content_type = "text"
    if message.NumMedia:
        items = [{"url": params.get(f"MediaUrl{i}"), "mime_type": params.get(f"MediaContentType{i}")}
                 for i in range(message.NumMedia)]
        media = {"kind": "mms", "items": items}
        if not message.Body:
            content_type = _content_type(str(items[0]["mime_type"] or ""))
    if content_type == "text" and not message.Body:
        raise InvalidDelivery("Body", "an SMS without media needs a body")
    delivery.add_message(route, InboundMessage(
        external_id=message.MessageSid, provider_message_id=message.MessageSid, sender=sender,
        sender_name=message.ProfileName, content_type=content_type, body=message.Body or None, media=media,
        detail={"segments": params.get("NumSegments")} if params.get("NumSegments") else None))
    return delivery
