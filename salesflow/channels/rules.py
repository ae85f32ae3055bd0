"""What each channel allows, in one place: length limits, content types and the messaging windows.

Every adapter of a channel applies the same rules, the `outbox` too, so a send refused by WhatsApp in
production is refused the same way offline. A refusal is a `PermanentSendError` whose code names the rule
(`window_closed`, `too_long`, `template_required`, `content_unsupported`, `empty`) and whose reason says what
would be allowed instead. `check()` runs before `sending` is recorded, so a refusal costs no provider call.

Windows (Meta's policies):
- WhatsApp: free-form messages (text, media) only within 24 h of the lead's last inbound message (the
  customer-service window); outside it, or before the lead ever wrote, only an approved template.
- Instagram: a conversation starts with the lead; replies within 24 h of their last message; a reply a
  person wrote (`human_agent`) up to 7 days with the `HUMAN_AGENT` message tag; nothing after 7 days.
  Instagram has no templates.
- SMS and email: no window (consent is the database's rule: opted-out leads are refused in SQL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

from salesflow.channels.port import OutboundMessage, PermanentSendError

#: The longest body each channel carries, in characters (Python code points): WhatsApp Cloud API text body
#: 4096, Instagram Messaging text 1000 (and 1000 bytes, below), Twilio's Body 1600 (it splits into segments
#: itself), email generous.
LENGTH_LIMITS: Final[dict[str, int]] = {
    "whatsapp": 4096,
    "instagram": 1000,
    "sms": 1600,
    "email": 100_000,  # the messages.body check constraint; SMTP itself has no practical limit
}

#: Limits counted in UTF-8 bytes on top: Meta's Send API takes Instagram text of at most 1000 bytes, so a
#: German or emoji-rich reply reaches the limit well before 1000 characters.
BYTE_LIMITS: Final[dict[str, int]] = {"instagram": 1000}

CUSTOMER_SERVICE_WINDOW: Final = timedelta(hours=24)
HUMAN_AGENT_WINDOW: Final = timedelta(days=7)

#: Content types each channel can carry (templates are WhatsApp's; email carries text only here).
CONTENT_TYPES: Final[dict[str, frozenset[str]]] = {
    "whatsapp": frozenset({"text", "image", "audio", "document", "template"}),
    "instagram": frozenset({"text", "image", "audio", "document"}),
    "sms": frozenset({"text", "image"}),  # MMS: Twilio's MediaUrl
    "email": frozenset({"text"}),
}

InstagramMessaging = Literal["RESPONSE", "HUMAN_AGENT"]


def _since(message: OutboundMessage, now: datetime) -> timedelta | None:
    return None if message.last_inbound_at is None else now - message.last_inbound_at


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def media_url(message: OutboundMessage) -> str | None:
    """The media's public URL (`media.url`, or Meta's own word `media.link`)."""
    media = message.media or {}
    value = media.get("url") or media.get("link")
    return str(value) if value else None


def check_content(message: OutboundMessage) -> None:
    """Content type, body presence and length for the message's channel."""
    channel = message.channel
    allowed = CONTENT_TYPES.get(channel)
    if allowed is None:
        raise PermanentSendError("channel_unknown", f"{channel!r} is not a channel this adapter serves")
    if message.content_type not in allowed:
        raise PermanentSendError(
            "content_unsupported",
            f"{channel}: content type {message.content_type!r} is not sent on this channel; "
            f"allowed: {', '.join(sorted(allowed))}",
        )
    if message.content_type == "template":
        if not (message.template_name or "").strip():
            raise PermanentSendError("template_name_missing", f"{channel}: a template message needs a template name")
        return
    if message.content_type == "text" and not (message.body or "").strip():
        raise PermanentSendError("empty", f"{channel}: a text message needs a body")
    if message.content_type != "text" and not media_url(message):
        raise PermanentSendError("media_missing", f"{channel}: a {message.content_type} message needs media.url")
    limit = LENGTH_LIMITS[channel]
    length = len(message.body or "")
    if length > limit:
        raise PermanentSendError(
            "too_long", f"{channel}: the body is {length} characters, over the channel's limit of {limit}"
        )
    byte_limit = BYTE_LIMITS.get(channel)
    size = len((message.body or "").encode("utf-8"))
    if byte_limit is not None and size > byte_limit:
        raise PermanentSendError(
            "too_long", f"{channel}: the body is {size} bytes of UTF-8, over the channel's limit of {byte_limit} "
            f"bytes (ä, ö, ü count 2, most emoji 4)"
        )


def check_whatsapp_window(message: OutboundMessage, now: datetime) -> None:
    """Free-form only inside the 24 h customer-service window; a template at any time."""
    if message.content_type == "template":
        return
    since = _since(message, now)
    if since is None:
        raise PermanentSendError(
            "template_required",
            "whatsapp: the lead has never written on WhatsApp, so the 24 h customer-service window is not open; "
            "only an approved template may start the conversation",
        )
    if since > CUSTOMER_SERVICE_WINDOW:
        assert message.last_inbound_at is not None
        closed = message.last_inbound_at + CUSTOMER_SERVICE_WINDOW
        raise PermanentSendError(
            "window_closed",
            f"whatsapp: free-form messages only within the 24 h customer-service window after the lead's last "
            f"message ({_iso(message.last_inbound_at)}); it closed at {_iso(closed)}; send an approved template",
        )


def instagram_messaging_type(message: OutboundMessage, now: datetime) -> InstagramMessaging:
    """RESPONSE inside 24 h; HUMAN_AGENT for a person's reply up to 7 days; otherwise refused naming the rule."""
    since = _since(message, now)
    if since is None:
        raise PermanentSendError(
            "window_closed",
            "instagram: the lead has never written on Instagram; Instagram conversations start with the lead",
        )
    if since <= CUSTOMER_SERVICE_WINDOW:
        return "RESPONSE"
    assert message.last_inbound_at is not None
    last = _iso(message.last_inbound_at)
    if since <= HUMAN_AGENT_WINDOW:
        if message.human_agent:
            return "HUMAN_AGENT"
        raise PermanentSendError(
            "window_closed",
            f"instagram: automated replies only within 24 h of the lead's last message ({last}); "
            f"a reply written by a person may follow up to 7 days with the HUMAN_AGENT tag",
        )
    raise PermanentSendError(
        "window_closed",
        f"instagram: more than 7 days since the lead's last message ({last}); even a person's reply "
        f"(HUMAN_AGENT tag) is only allowed up to 7 days; wait for the lead to write again",
    )


def check_message(message: OutboundMessage, now: datetime) -> None:
    """Every rule of the message's channel: content, length and window."""
    check_content(message)
    if message.channel == "whatsapp":
        check_whatsapp_window(message, now)
    elif message.channel == "instagram":
        instagram_messaging_type(message, now)
