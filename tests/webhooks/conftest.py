"""Fixtures of the webhook tests: one running `salesflow dev` stack per module, with Acme's channels connected.

Connections are written with SQL as the database owner (the fixture's business is the webhook, not how a
channel is connected); every test then talks to the functions over HTTP only and reads the outcome back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import RunningStack, running_stack  # noqa: F401  (the module-scoped stack)

# Every table a delivery could write to: "nothing stored" is asserted on all of them.
STORED_TABLES = ("leads", "channel_identities", "identity_links", "conversations", "messages", "inbound_webhooks",
                 "events")


@dataclass(frozen=True)
class Channel:
    """A connected channel of a test tenant, with its secrets."""

    id: str
    tenant_id: str
    channel: str
    provider: str
    address: str
    external_account_id: str | None
    secrets: dict[str, Any]


WHATSAPP = Channel("cc000000-0000-4000-8000-0000000000a1", ACME, "whatsapp", "whatsapp_cloud", "+493012345678",
                   "106540352242922", {"access_token": "EAAG-test", "app_secret": "acme-app-secret",
                                       "verify_token": "acme-verify-token"})
INSTAGRAM = Channel("cc000000-0000-4000-8000-0000000000a2", ACME, "instagram", "instagram_messaging",
                    "17841400000000001", "17841400000000001",
                    {"access_token": "IGQ-test", "app_secret": "acme-ig-secret", "verify_token": "acme-ig-verify"})
SMS = Channel("cc000000-0000-4000-8000-0000000000a3", ACME, "sms", "twilio", "+4930111222333", "AC" + "a" * 32,
              {"account_sid": "AC" + "a" * 32, "auth_token": "acme-twilio-token"})
EMAIL = Channel("cc000000-0000-4000-8000-0000000000a4", ACME, "email", "postmark", "inbox@acme.test", None,
                {"inbound_username": "postmark", "inbound_password": "acme-inbound-pw"})
# Nordlicht's WhatsApp number: a delivery for it must never land in Acme.
NORDLICHT_WHATSAPP = Channel("cc000000-0000-4000-8000-0000000000b1", NORDLICHT, "whatsapp", "whatsapp_cloud",
                             "+494012345678", "206540352242922",
                             {"access_token": "EAAG-nord", "app_secret": "nordlicht-app-secret",
                              "verify_token": "nordlicht-verify-token"})
CHANNELS = (WHATSAPP, INSTAGRAM, SMS, EMAIL, NORDLICHT_WHATSAPP)


def connect(stack: RunningStack, channel: Channel) -> None:
    """Connect `channel` (upsert of the connection and its secrets)."""
    stack.sql(
        "insert into public.channel_connections (id, tenant_id, channel, provider, address, external_account_id) "
        "values (%s, %s, %s, %s, %s, %s) on conflict (id) do nothing",
        (channel.id, channel.tenant_id, channel.channel, channel.provider, channel.address,
         channel.external_account_id))
    stack.sql(
        "insert into private.channel_credentials (connection_id, tenant_id, secrets) values (%s, %s, %s) "
        "on conflict (connection_id) do update set secrets = excluded.secrets",
        (channel.id, channel.tenant_id, json.dumps(channel.secrets)))


@pytest.fixture(scope="module")
def stack(running_stack: RunningStack) -> Iterator[RunningStack]:  # noqa: F811
    """The module's running stack with every test channel connected."""
    for channel in CHANNELS:
        connect(running_stack, channel)
    yield running_stack


def counts(stack: RunningStack) -> dict[str, int]:
    """Row counts of every table a webhook could write (for "nothing stored" assertions)."""
    query = " union all ".join(f"select '{t}', count(*) from public.{t}" for t in STORED_TABLES)
    return {name: int(n) for name, n in stack.sql(query)}


def function_url(stack: RunningStack, name: str) -> str:
    return f"{stack.url}/functions/v1/{name}"
