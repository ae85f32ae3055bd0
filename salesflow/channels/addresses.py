"""Normalising the address of a lead or a connection on a channel, before it is written or compared.

One spelling per address, so two spellings of one number never become two identities: phone channels
(WhatsApp, SMS) in E.164 via `phonenumbers` (Google's libphonenumber metadata: national formats, trunk
prefixes, `00` international prefixes; hand-written digit stripping gets these wrong), email lower-cased,
Instagram's numeric provider-scoped id as is. The database checks the same shape
(`private.channel_address_well_formed`, mirrored by `salesflow.conversations.vocabulary.address_well_formed`).

A phone number must be *possible* (right length for its country), not *valid* by the metadata: whether a
number exists is the provider's business (it refuses with its own code), and refusing an inbound message
from a newly allocated range would lose a lead's message.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Final

import phonenumbers

from salesflow.conversations.vocabulary import MESSAGE_CHANNELS, address_well_formed

PHONE_CHANNELS: Final = frozenset({"whatsapp", "sms"})

_PHONE: Final = "an international phone number like +4915112345678 (E.164), or a national one with a default region"
_ALLOWED: Final[dict[str, str]] = {
    "whatsapp": _PHONE,
    "sms": _PHONE,
    "email": "an email address like anna@example.com (a display name form 'Anna <anna@example.com>' is accepted)",
    "instagram": "Instagram's numeric provider-scoped id (1 to 32 digits)",
}


def _refuse(channel: str, raw: str, why: str) -> ValueError:
    return ValueError(f"{channel}: {raw!r} {why}; allowed: {_ALLOWED[channel]}")


def _phone(channel: str, raw: str, default_region: str | None) -> str:
    text = raw.strip()
    for scheme in ("tel:", "whatsapp:", "sms:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme):].strip()
    region = default_region.upper() if default_region else None
    if region is None and not text.startswith("+"):
        # Providers name senders without the plus (WhatsApp's wa_id "4915112345678") or with the `00` prefix;
        # without a region to read a national number in, digits can only be international.
        digits = text[2:] if text.startswith("00") else text
        if digits[:1].isdigit() and digits[:1] != "0":
            text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise _refuse(channel, raw, f"is not a phone number ({error._msg})") from None
    if not phonenumbers.is_possible_number(number):
        raise _refuse(channel, raw, "has the wrong length for a phone number of its country")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not address_well_formed(channel, e164):
        raise _refuse(channel, raw, "is not a phone number in E.164 range (7 to 15 digits)")
    return e164


def _email(raw: str) -> str:
    _, address = parseaddr(raw.strip())
    address = address.strip().lower()
    if not address or not address_well_formed("email", address):
        raise _refuse("email", raw, "is not an email address")
    return address


def _instagram(raw: str) -> str:
    text = raw.strip()
    if not address_well_formed("instagram", text):
        raise _refuse("instagram", raw, "is not a provider-scoped id")
    return text


def normalise_address(channel: str, raw: str, default_region: str | None = None) -> str:
    """The normal form of `raw` on `channel`; raises ValueError naming the channel and what is allowed.

    `default_region` (ISO 3166 alpha-2, e.g. "DE") reads national phone numbers ("0151 12345678"); without it
    a phone number must be international ("+49 151 12345678", "0049...", or a provider's "4915112345678").
    """
    if channel not in MESSAGE_CHANNELS:
        raise ValueError(f"channel: {channel!r} is not a channel; allowed: {', '.join(MESSAGE_CHANNELS)}")
    if not isinstance(raw, str) or not raw.strip():
        raise _refuse(channel, str(raw), "is empty")
    if channel in PHONE_CHANNELS:
        return _phone(channel, raw, default_region)
    if channel == "email":
        return _email(raw)
    return _instagram(raw)


def try_normalise_address(channel: str, raw: str, default_region: str | None = None) -> str | None:
    """`normalise_address`, or None where `raw` is not an address on `channel` (e.g. a phone found in text)."""
    try:
        return normalise_address(channel, raw, default_region)
    except ValueError:
        return None
