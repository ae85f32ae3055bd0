"""The outbox: records what would be sent, sends nothing (the default for a channel without credentials).

It applies the channel's rules exactly as the real provider's adapter does (24 h window, human-agent tag,
lengths), and renders the exact request that provider would get: the Graph API JSON for WhatsApp and
Instagram, Twilio's form for SMS, the whole MIME mail for email. That rendering is the receipt's
`detail["rendered"]`, and the provider message id is `outbox:<message_id>`. So everything runs offline, and a
demo or test shows what a lead would have received.

Sending through the outbox has no effect outside the database, and the same message always renders the same
way; `look_up` therefore answers `not_found` (nothing was ever handed to anyone), and sending again after a
crash is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from salesflow.channels import email_smtp, instagram, twilio_sms, whatsapp_cloud
from salesflow.channels.port import LookupResult, OutboundMessage, SendReceipt
from salesflow.channels.rules import check_message
from salesflow.channels.sms_segments import count_segments

#: Which provider's request the outbox renders for each channel.
RENDERS_AS: Final = {"whatsapp": "whatsapp_cloud", "instagram": "instagram_messaging", "sms": "twilio",
                     "email": "smtp"}
PREFIX: Final = "outbox:"


def outbox_message_id(message: OutboundMessage) -> str:
    """The provider message id the outbox gives `message`."""
    return f"{PREFIX}{message.message_id}"


class OutboxAdapter:
    """Records what would be sent on one channel connection."""

    provider = "outbox"
    can_look_up = True

    def __init__(self, channel: str, address: str, external_account_id: str | None = None, *,
                 from_name: str | None = None, clock: Callable[[], datetime] | None = None) -> None:
        if channel not in RENDERS_AS:
            raise ValueError(f"channel: {channel!r} is not a channel; allowed: {', '.join(RENDERS_AS)}")
        self.channel = channel
        self.address = address
        self.external_account_id = external_account_id
        self.from_name = from_name
        self._clock = clock or (lambda: datetime.now(UTC))

    def check(self, message: OutboundMessage, now: datetime) -> None:
        """The same rules as the channel's real provider."""
        check_message(message, now)

    def render(self, message: OutboundMessage, now: datetime) -> dict[str, Any]:
        """The request the channel's provider would get, JSON-ready."""
        if self.channel == "whatsapp":
            return whatsapp_cloud.render(message, self.external_account_id or "outbox").as_dict()
        if self.channel == "instagram":
            return instagram.render(message, self.external_account_id or "me", now).as_dict()
        if self.channel == "sms":
            return twilio_sms.render(message, "outbox", self.address).as_dict()
        mail = email_smtp.render(message, self.address, self.from_name, now)
        return email_smtp.rendered_detail(mail, self.address, [message.to])

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Check, render and record: the receipt's detail holds the rendered request."""
        now = self._clock()
        self.check(message, now)
        rendered = self.render(message, now)
        segments = count_segments(message.body or "").segments if self.channel == "sms" else None
        return SendReceipt(provider_message_id=outbox_message_id(message), accepted_at=now, segments=segments,
                           detail={"rendered": rendered, "renders_as": RENDERS_AS[self.channel]})

    async def look_up(self, message: OutboundMessage) -> LookupResult | None:
        """Nothing ever left: `not_found`, so the send job may simply record it again."""
        return LookupResult(status="not_found")

    async def verify(self) -> str:
        """Always fine: the outbox needs nothing."""
        return f"outbox: {self.channel} messages are recorded, nothing leaves this machine"
