"""Masking of contact details in prompts for scenarios that do not need them.

A provider only needs an email address or phone number when the task is about contact data
(`Scenario.needs_contact_details`); everywhere else they are replaced by a placeholder before the prompt
leaves the process, so the model still sees that the lead has one.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w@])(?:\+|00)?\d[\d ()/.-]{5,20}\d(?![\w@])")
DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


def _phone_or_not(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = sum(c.isdigit() for c in candidate)
    # Dates, amounts and postcodes are digit runs too: a phone number has 7 to 15 digits and is no date.
    if 7 <= digits <= 15 and not DATE.fullmatch(candidate.strip()):
        return PHONE_MASK
    return candidate


def mask_contact_details(text: str) -> str:
    """`text` with email addresses and phone numbers replaced by `[email]` and `[phone]`."""
    if "@" in text:
        text = EMAIL.sub(EMAIL_MASK, text)
    return PHONE.sub(_phone_or_not, text)


def mask_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Chat messages with contact details masked in every content."""
    return [{**m, "content": mask_contact_details(m["content"])} for m in messages]
