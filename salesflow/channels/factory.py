"""Building the adapter for one channel connection: its provider, channel, address and secrets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from salesflow.channels.addresses import normalise_address
from salesflow.channels.credentials import (
    CredentialsError,
    InboundEmailSecrets,
    InstagramMessagingSecrets,
    SmtpSecrets,
    TwilioSecrets,
    WhatsAppCloudSecrets,
    parse_secrets,
)
from salesflow.channels.email_smtp import SmtpEmailAdapter
from salesflow.channels.instagram import InstagramAdapter
from salesflow.channels.outbox import OutboxAdapter
from salesflow.channels.port import ChannelAdapter
from salesflow.channels.twilio_sms import TwilioSmsAdapter
from salesflow.channels.whatsapp_cloud import WhatsAppCloudAdapter
from salesflow.conversations.vocabulary import CHANNEL_PROVIDERS, MESSAGE_CHANNELS, PROVIDER_CHANNELS


def check_provider_serves(provider: str, channel: str) -> None:
    """Raise ValueError naming both when `provider` does not carry `channel` (the database's rule too)."""
    if channel not in MESSAGE_CHANNELS:
        raise ValueError(f"channel: {channel!r} is not a channel; allowed: {', '.join(MESSAGE_CHANNELS)}")
    if provider not in CHANNEL_PROVIDERS:
        raise ValueError(f"provider: {provider!r} is not a provider; allowed: {', '.join(CHANNEL_PROVIDERS)}")
    if channel not in PROVIDER_CHANNELS[provider]:
        serving = sorted(p for p, channels in PROVIDER_CHANNELS.items() if channel in channels)
        raise ValueError(f"provider: {provider} does not serve channel {channel}; "
                         f"{channel} is served by {', '.join(serving)}")


def build_adapter(
    provider: str,
    channel: str,
    address: str,
    secrets: Mapping[str, Any],
    *,
    http: httpx.AsyncClient | None = None,
    external_account_id: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ChannelAdapter:
    """The adapter for one connection. Raises ValueError (CredentialsError for secrets) naming what is wrong.

    `external_account_id` is the connection's provider account id: WhatsApp's phone_number_id (required for
    whatsapp_cloud), the Instagram account id (`me` when absent). `http` is shared by the HTTP providers
    (tests pass a respx-mocked client); `clock` decides windows at send time (tests pin it).
    """
    check_provider_serves(provider, channel)
    sender = normalise_address(channel, address)
    parsed = parse_secrets(provider, secrets)
    if provider == "outbox":
        return OutboxAdapter(channel, sender, external_account_id, clock=clock)
    if isinstance(parsed, WhatsAppCloudSecrets) and provider == "whatsapp_cloud":
        if not external_account_id:
            raise CredentialsError("whatsapp_cloud: external_account_id: required (the WhatsApp phone_number_id)")
        return WhatsAppCloudAdapter(sender, external_account_id, parsed, http=http, clock=clock)
    if isinstance(parsed, InstagramMessagingSecrets):
        return InstagramAdapter(sender, external_account_id or "me", parsed, http=http, clock=clock)
    if isinstance(parsed, TwilioSecrets):
        return TwilioSmsAdapter(sender, parsed, http=http, clock=clock)
    if isinstance(parsed, SmtpSecrets | InboundEmailSecrets):
        if not parsed.host:
            raise CredentialsError(f"{provider} secrets: host: required to send email ({provider} receives email "
                                   f"through its webhook; give its SMTP host, port, username and password to send)")
        return SmtpEmailAdapter(sender, parsed, provider=provider, clock=clock)
    raise AssertionError(f"no adapter for {provider}")  # pragma: no cover - every provider is handled above


def build_adapter_for_connection(
    connection: Mapping[str, Any],
    secrets: Mapping[str, Any] | None,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ChannelAdapter:
    """`build_adapter` from a `channel_connections` row (provider, channel, address, external_account_id)."""
    return build_adapter(str(connection["provider"]), str(connection["channel"]), str(connection["address"]),
                         secrets or {}, http=http, external_account_id=connection.get("external_account_id"),
                         clock=clock)


def outbox_adapter(channel: str, address: str = "outbox", *,
                   clock: Callable[[], datetime] | None = None) -> ChannelAdapter:
    """The outbox for a channel with no connection at all (records what would be sent)."""
    return OutboxAdapter(channel, address, clock=clock)
