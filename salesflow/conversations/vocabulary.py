"""The conversation vocabulary, mirrored from the conversation migrations (tests/conversations keeps them equal).

The database enforces all of it (the domains `message_channel` and `channel_provider`, check constraints, the
status trigger); Python uses it to validate input early and to explain refusals.
"""

from __future__ import annotations

import re
from typing import Final, Literal

# The channels messages travel on: a subset of the lead sources (a lead who writes first gets the channel as
# source_channel). 20261201150000_message_channels.sql, domain public.message_channel.
MESSAGE_CHANNELS: Final = ("whatsapp", "instagram", "sms", "email")

# Who carries a channel's messages (domain public.channel_provider) and which channels each serves
# (private.channel_provider_serves). `outbox` records what would be sent.
CHANNEL_PROVIDERS: Final = ("whatsapp_cloud", "instagram_messaging", "twilio", "smtp", "postmark", "sendgrid", "outbox")
PROVIDER_CHANNELS: Final[dict[str, frozenset[str]]] = {
    "whatsapp_cloud": frozenset({"whatsapp"}),
    "instagram_messaging": frozenset({"instagram"}),
    "twilio": frozenset({"sms"}),
    "smtp": frozenset({"email"}),
    "postmark": frozenset({"email"}),
    "sendgrid": frozenset({"email"}),
    "outbox": frozenset(MESSAGE_CHANNELS),
}

# The shape of a normalised address (private.channel_address_well_formed). Normalise first (phonenumbers to
# E.164, lower-case email); these only say whether a string already is in normal form.
_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROVIDER_SCOPED_ID: Final = re.compile(r"^[0-9]{1,32}$")


def address_well_formed(channel: str, address: str) -> bool:
    """Whether `address` is a normalised address on `channel` (the database checks the same rule)."""
    if channel in ("whatsapp", "sms"):
        return bool(_E164.match(address))
    if channel == "email":
        return address == address.lower() and len(address) <= 254 and bool(_EMAIL.match(address))
    if channel == "instagram":
        return bool(_PROVIDER_SCOPED_ID.match(address))
    return False


DIRECTIONS: Final = ("in", "out")
CONTENT_TYPES: Final = ("text", "image", "audio", "document", "template")
SENT_BY: Final = ("user", "sequence", "autopilot", "inbox")
CONVERSATION_STATUSES: Final = ("open", "snoozed", "closed")
CONSENT_STATUSES: Final = ("opted_in", "opted_out")
CONSENT_METHODS: Final = ("inbound_keyword", "email_unsubscribe", "form", "import", "member", "provider")
FACT_ORIGINS: Final = ("extraction", "member", "import")
WEBHOOK_OUTCOMES: Final = ("received", "processed", "ignored", "failed")

# Inbound messages are `received`; outbound ones move along OUTBOUND_PATH or end failed / unknown.
INBOUND_STATUS: Final = "received"
OUTBOUND_PATH: Final = ("queued", "sending", "sent", "delivered", "read")
MESSAGE_STATUSES: Final = (INBOUND_STATUS, *OUTBOUND_PATH, "failed", "unknown")
# What a provider's status callback may report (public.apply_message_status).
PROVIDER_REPORTS: Final = ("sent", "delivered", "read", "failed")

StatusChange = Literal["same", "apply", "ignore", "refuse"]


def message_status_change(old: str, new: str) -> StatusChange:
    """How the database takes a status change from `old` to `new` (private.message_status_change).

    `apply` moves the message; `ignore` keeps the furthest status (a late or repeated provider report);
    `refuse` is an error (nothing returns to queued or sending; sending only from queued; sent, delivered or
    read never straight from queued).
    """
    if old == new:
        return "same"
    if INBOUND_STATUS in (old, new):
        return "refuse"
    if new in ("queued", "sending"):
        return "apply" if (old, new) == ("queued", "sending") else "refuse"
    if old == "queued":
        return "apply" if new in ("failed", "unknown") else "refuse"
    if old in ("sending", "unknown", "sent"):
        return "apply"
    if old == "delivered":
        return "apply" if new == "read" else "ignore"
    return "ignore"  # from read or failed: final
