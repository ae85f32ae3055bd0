"""Identity stitching from what a lead writes: an email or phone in an inbound message, in normal form.

The database does the matching (`public.apply_lead_extraction`): a normalised address that another lead of
the tenant already has is that lead's (nothing is merged silently; see the migration for what is linked and
how it is undone), an unclaimed one becomes an identity of the writing lead. Python's part is the normal form,
which must equal what ingest writes into `channel_identities` (`salesflow.channels.addresses`), so the two
spellings of one number never miss each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers

from salesflow.channels.addresses import try_normalise_address


def phone_region(lead: Mapping[str, Any], sender_address: str | None, tenant_locale: str | None) -> str | None:
    """The region to read a national number in ("0151 ...") : the sender's own number's country when it
    writes from a phone channel, else Germany for a German-speaking tenant, else none (international only)."""
    for raw in (sender_address, lead.get("whatsapp"), lead.get("phone")):
        if raw and str(raw).startswith("+"):
            try:
                region = phonenumbers.region_code_for_number(phonenumbers.parse(str(raw), None))
            except phonenumbers.NumberParseException:
                continue
            if region and region != "ZZ":
                return str(region)
    return "DE" if tenant_locale == "de" else None


def identity_address(field: str, value: str | None, region: str | None) -> str | None:
    """The normalised identity address of an extracted `email` or `phone`, or None (other fields, or not one)."""
    if not value:
        return None
    if field == "email":
        return try_normalise_address("email", value)
    if field == "phone":
        return try_normalise_address("sms", value, region)
    return None
