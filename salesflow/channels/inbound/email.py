"""Inbound email webhooks: Postmark's inbound JSON and SendGrid's Inbound Parse (multipart form), read into
one provider-neutral message.

The message's provider id is its RFC 5322 Message-ID (angle brackets kept), so a reply SalesFlow sends can
name it in In-Reply-To and a redelivery is recognised; In-Reply-To and References are kept in the message's
detail for threading. The routes are the recipients (envelope first, then To, Cc), tried in order: the first
that is a connected inbound address names the tenant.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from salesflow.channels.addresses import normalise_address, try_normalise_address
from salesflow.channels.inbound.errors import InvalidDelivery, parse_json, validate
from salesflow.channels.inbound.items import InboundMessage, Route

MAX_BODY = 100_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PostmarkAddress(_Model):
    Email: str = Field(min_length=3)
    Name: str | None = None


class PostmarkHeader(_Model):
    Name: str
    Value: str


class PostmarkAttachment(_Model):
    Name: str | None = None
    ContentType: str | None = None
    ContentLength: int | None = None


class PostmarkInbound(_Model):
    FromFull: PostmarkAddress
    ToFull: list[PostmarkAddress] = []
    CcFull: list[PostmarkAddress] = []
    BccFull: list[PostmarkAddress] = []
    OriginalRecipient: str | None = None
    Subject: str = ""
    MessageID: str = Field(min_length=1)
    Date: str | None = None
    TextBody: str | None = None
    HtmlBody: str | None = None
    StrippedTextReply: str | None = None
    Headers: list[PostmarkHeader] = []
    Attachments: list[PostmarkAttachment] = []


class SendGridInbound(_Model):
    from_: str = Field(alias="from", min_length=3)
    to: str = Field(min_length=3)
    cc: str | None = None
    subject: str = ""
    headers: str = ""
    text: str | None = None
    html: str | None = None
    envelope: str | None = None
    attachments: int = Field(default=0, ge=0)


class InboundEmail:
    """An inbound email, read: its message, and the recipients that may route it (in order)."""

    def __init__(self, message: InboundMessage, recipients: list[str]) -> None:
        self.message = message
        self.recipients = recipients

    @property
    def route(self) -> Route | None:
        """The recipients as a chain of routes, first to last; None when no recipient is an address."""
        route: Route | None = None
        for address in reversed(self.recipients):
            route = Route(channel="email", address=address, fallback=route)
        return route


def _text_of_html(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _body(text: str | None, markup: str | None, subject: str) -> str:
    body = (text or "").strip() or (_text_of_html(markup) if markup else "") or subject.strip()
    return body[:MAX_BODY]


def _recipients(*groups: list[str]) -> list[str]:
    seen: list[str] = []
    for group in groups:
        for raw in group:
            address = try_normalise_address("email", raw) if raw else None
            if address and address not in seen:
                seen.append(address)
    return seen


def _sender(raw: str, field: str) -> tuple[str, str | None]:
    name, _ = parseaddr(raw)
    try:
        return normalise_address("email", raw), (name.strip() or None)
    except ValueError as error:
        raise InvalidDelivery(field, str(error)) from None


def _when(date: str | None) -> Any:
    if not date:
        return None
    try:
        return parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None


def _detail(subject: str, message_id: str, headers: dict[str, str], to: list[str]) -> dict[str, Any]:
    detail: dict[str, Any] = {"subject": subject, "message_id": message_id, "to": to}
    for key, name in (("in_reply_to", "in-reply-to"), ("references", "references")):
        if headers.get(name):
            detail[key] = headers[name].strip()
    return detail


def read_postmark(raw_body: bytes) -> InboundEmail:
    """A Postmark inbound webhook body (JSON); InvalidDelivery naming the field if malformed."""
    hook = validate(PostmarkInbound, parse_json(raw_body))
    sender, display_name = _sender(hook.FromFull.Email, "FromFull.Email")
    headers = {h.Name.lower(): h.Value for h in hook.Headers}
    message_id = (headers.get("message-id") or "").strip() or f"<{hook.MessageID}@postmark>"
    recipients = _recipients([hook.OriginalRecipient or ""], [a.Email for a in hook.ToFull],
                             [a.Email for a in hook.CcFull], [a.Email for a in hook.BccFull])
    attachments = [a.model_dump(exclude_none=True) for a in hook.Attachments]
    body = _body(hook.TextBody, hook.HtmlBody, hook.Subject)
    message = InboundMessage(
        external_id=message_id, provider_message_id=message_id, sender=sender,
        sender_name=hook.FromFull.Name or display_name,
        content_type="text" if body or not attachments else "document", body=body or None,
        media={"kind": "attachments", "items": attachments} if attachments else None,
        received_at=_when(hook.Date), detail=_detail(hook.Subject, message_id, headers, recipients))
    if message.content_type == "text" and not body:
        raise InvalidDelivery("TextBody", "an email without text, HTML, subject or attachments has nothing to record")
    return InboundEmail(message, recipients)


def read_sendgrid(fields: dict[str, str], raw_body: bytes) -> InboundEmail:
    """A SendGrid Inbound Parse form (multipart, its text fields); InvalidDelivery naming the field if malformed."""
    hook = validate(SendGridInbound, fields)
    sender, display_name = _sender(hook.from_, "from")
    parsed = HeaderParser().parsestr(hook.headers or "")
    headers = {key.lower(): str(value) for key, value in parsed.items()}
    message_id = (headers.get("message-id") or "").strip() or "<sha256." + hashlib.sha256(raw_body).hexdigest() + \
        "@sendgrid>"
    envelope_to: list[str] = []
    if hook.envelope:
        try:
            envelope = json.loads(hook.envelope)
        except ValueError:
            raise InvalidDelivery("envelope", "is not valid JSON") from None
        if isinstance(envelope, dict) and isinstance(envelope.get("to"), list):
            envelope_to = [str(x) for x in envelope["to"]]
    to = [address for _, address in getaddresses([hook.to])]
    cc = [address for _, address in getaddresses([hook.cc])] if hook.cc else []
    recipients = _recipients(envelope_to, to, cc)
    body = _body(hook.text, hook.html, hook.subject)
    attachments = hook.attachments
    message = InboundMessage(
        external_id=message_id, provider_message_id=message_id, sender=sender, sender_name=display_name,
        content_type="text" if body or not attachments else "document", body=body or None,
        media={"kind": "attachments", "count": attachments} if attachments else None,
        received_at=_when(headers.get("date")), detail=_detail(hook.subject, message_id, headers, recipients))
    if message.content_type == "text" and not body:
        raise InvalidDelivery("text", "an email without text, HTML, subject or attachments has nothing to record")
    return InboundEmail(message, recipients)
