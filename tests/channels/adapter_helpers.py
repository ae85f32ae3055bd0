"""Shared pieces of the adapter tests: an outbound message, a pinned clock and fake credentials."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from salesflow.channels import OutboundMessage

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
WHATSAPP_SECRETS = {"access_token": "EAAG-test-token", "app_secret": "app-secret", "verify_token": "verify-me",
                    "api_base_url": "https://graph.test/v21.0"}
INSTAGRAM_SECRETS = {**WHATSAPP_SECRETS}
TWILIO_SECRETS = {"account_sid": ACCOUNT_SID, "auth_token": "twilio-token", "api_base_url": "https://twilio.test"}
LEAD_PHONE = "+4915112345678"
OUR_NUMBER = "+4930123456789"


def clock() -> datetime:
    return NOW


def outbound(channel: str = "whatsapp", *, hours_since_inbound: float | None = 1.0, **changes: Any) -> OutboundMessage:
    """A text message to a lead who last wrote `hours_since_inbound` hours before NOW (None: never)."""
    fields: dict[str, Any] = {
        "message_id": uuid.uuid4(), "tenant_id": uuid.uuid4(), "lead_id": uuid.uuid4(), "channel": channel,
        "to": {"email": "anna@example.com", "instagram": "17841400000000001"}.get(channel, LEAD_PHONE),
        "sender": {"email": "sales@acme.example", "instagram": "17841499999999999"}.get(channel, OUR_NUMBER),
        "body": "Hallo Anna, passt Ihnen Donnerstag?",
        "last_inbound_at": None if hours_since_inbound is None else NOW - timedelta(hours=hours_since_inbound),
    }
    fields.update(changes)
    return OutboundMessage(**fields)
