"""Addresses are normalised once, so two spellings of one number or mailbox are one identity."""

from __future__ import annotations

import pytest

from salesflow.channels.addresses import normalise_address, try_normalise_address
from salesflow.conversations.vocabulary import address_well_formed


@pytest.mark.parametrize(
    ("channel", "raw", "region", "expected"),
    [
        ("whatsapp", "+49 151 12345678", None, "+4915112345678"),
        ("whatsapp", "4915112345678", None, "+4915112345678"),  # WhatsApp's wa_id has no plus
        ("whatsapp", "0049 (151) 123-45678", None, "+4915112345678"),
        ("sms", "0151 12345678", "DE", "+4915112345678"),
        ("sms", "0151 12345678", "de", "+4915112345678"),
        ("sms", "tel:+1 (555) 123-4567", None, "+15551234567"),
        ("email", "  Anna.Schmidt@Example.COM ", None, "anna.schmidt@example.com"),
        ("email", "Anna Schmidt <Anna@Example.com>", None, "anna@example.com"),
        ("instagram", " 17841400000000001 ", None, "17841400000000001"),
    ],
)
def test_every_spelling_of_an_address_becomes_the_one_the_database_accepts(
    channel: str, raw: str, region: str | None, expected: str
) -> None:
    assert normalise_address(channel, raw, default_region=region) == expected
    assert address_well_formed(channel, expected)


@pytest.mark.parametrize(
    ("channel", "raw", "named"),
    [
        ("whatsapp", "0151 12345678", "E.164"),  # national without a region
        ("sms", "+1 555 12", "wrong length"),
        ("sms", "+49 1234", "7 to 15 digits"),
        ("sms", "call me", "not a phone number"),
        ("email", "anna at example", "email address"),
        ("instagram", "@anna", "provider-scoped id"),
        ("whatsapp", "   ", "empty"),
    ],
)
def test_a_bad_address_is_refused_naming_the_channel_and_what_is_allowed(channel: str, raw: str, named: str) -> None:
    with pytest.raises(ValueError) as refused:
        normalise_address(channel, raw)
    message = str(refused.value)
    assert message.startswith(f"{channel}: ")
    assert named in message
    assert "allowed:" in message
    assert try_normalise_address(channel, raw) is None


def test_an_unknown_channel_is_refused_listing_the_channels() -> None:
    with pytest.raises(ValueError, match=r"channel: 'fax' is not a channel; allowed: whatsapp, instagram, sms, email"):
        normalise_address("fax", "+4915112345678")
