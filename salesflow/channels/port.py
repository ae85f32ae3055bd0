"""The port every channel adapter implements, and the errors it raises.

An adapter is built for one channel connection (its provider, receiving address and credentials) and knows
nothing about the database or the engine: it gets an `OutboundMessage` and returns a `SendReceipt` or raises.
Errors are classified at the adapter, because only the adapter knows its provider's codes:
`RetryableSendError` (429, 5xx, timeouts: the engine retries with backoff) or `PermanentSendError` (invalid
number, window closed, blocked, too long: the message fails with the provider's reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One queued outbound message with what its provider needs to send it.

    `to` is the lead's normalised address on the channel (E.164, lower-case email, provider-scoped id);
    `sender` is the connection's own address. `last_inbound_at` is when the lead last wrote on this channel
    (WhatsApp's and Instagram's 24 h customer-service window). `human_agent` is true for a reply a person
    wrote (sent_by user or inbox), which Instagram allows up to 7 days with the HUMAN_AGENT tag.
    `in_reply_to` / `references` are the provider message ids of earlier messages (email threading).
    """

    message_id: UUID
    tenant_id: UUID
    lead_id: UUID
    channel: str
    to: str
    sender: str
    content_type: str = "text"
    body: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_variables: Mapping[str, Any] | Sequence[Any] | None = None
    media: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    subject: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = field(default_factory=tuple)
    last_inbound_at: datetime | None = None
    human_agent: bool = False
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    status_callback_url: str | None = None
    queued_at: datetime | None = None
    sending_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The provider accepted the message: its id (unique per tenant and channel), and what it reported."""

    provider_message_id: str
    accepted_at: datetime
    segments: int | None = None  # SMS: how many segments the provider bills
    detail: Mapping[str, Any] = field(default_factory=dict)


LookupStatus = Literal["sent", "delivered", "read", "failed", "not_found"]


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What the provider knows about a message we may or may not have sent (reconciliation after a crash).

    `not_found` means the provider is sure it never accepted the message, so sending it is safe.
    """

    status: LookupStatus
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class SendError(Exception):
    """A send that did not happen. `code` is short and stable (e.g. `window_closed`, `http_429`); `reason`
    is the provider's own words where it gave any."""

    def __init__(self, code: str, reason: str, *, provider_code: str | None = None,
                 http_status: int | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        #: the provider's own code as it gave it (Meta `131047` or `10/2018278`, Twilio `21211`, SMTP `550`)
        self.provider_code = provider_code
        self.http_status = http_status


class RetryableSendError(SendError):
    """Try again later (rate limit, provider outage, timeout). `retry_after` in seconds where the provider said.

    `maybe_accepted` is true when the request may have reached the provider before the failure (a read
    timeout, a connection dropped while waiting for the answer): the provider may have accepted the message,
    so it must be reconciled (`look_up`) or marked `unknown`, never blindly sent again.
    """

    def __init__(self, code: str, reason: str, retry_after: float | None = None, *,
                 provider_code: str | None = None, http_status: int | None = None,
                 maybe_accepted: bool = False) -> None:
        super().__init__(code, reason, provider_code=provider_code, http_status=http_status)
        self.retry_after = retry_after
        self.maybe_accepted = maybe_accepted


class PermanentSendError(SendError):
    """Retrying cannot help: the message fails with this reason."""


@runtime_checkable
class ChannelAdapter(Protocol):
    """One provider on one channel connection."""

    provider: str
    channel: str
    #: whether `look_up` can tell if a message was accepted (Twilio can; WhatsApp Cloud cannot).
    can_look_up: bool

    def check(self, message: OutboundMessage, now: datetime) -> None:
        """Raise `PermanentSendError` naming the rule when the provider would refuse this message (window
        closed, too long, template needed). Called before `sending` is recorded, so a refusal costs nothing."""
        ...

    async def send(self, message: OutboundMessage) -> SendReceipt:
        """Hand the message to the provider. Raises `RetryableSendError` or `PermanentSendError`."""
        ...

    async def look_up(self, message: OutboundMessage) -> LookupResult | None:
        """What the provider knows of this message, or None when it cannot be asked (`can_look_up` false)."""
        ...


@runtime_checkable
class VerifiableAdapter(Protocol):
    """An adapter that can prove its credentials without sending anything (`salesflow channels test`)."""

    async def verify(self) -> str:
        """A short description of what the provider confirmed (e.g. the number's display name); raises
        `RetryableSendError` or `PermanentSendError`, classified as for a send, when the credentials fail."""
        ...
