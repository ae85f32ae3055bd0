"""lead_extraction (Zero-Input): name, email, phone and company from a pasted chat, each with a confidence."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, Field

from salesflow.ai.privacy import DATE, EMAIL, PHONE
from salesflow.ai.scenarios.base import Locale, Scenario


class LeadExtractionInput(BaseModel):
    text: str = Field(min_length=1, max_length=20000, description="A pasted chat, email or note.")


class ExtractedField(BaseModel):
    value: str | None = Field(description="The value as written, or null when not found.")
    confidence: float = Field(ge=0, le=1)


class LeadExtraction(BaseModel):
    name: ExtractedField
    email: ExtractedField
    phone: ExtractedField
    company: ExtractedField


_NAME_WORD = r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?"
_FULL_NAME = rf"{_NAME_WORD}(?: {_NAME_WORD}){{0,2}}"
# The phrases match in any case; the name itself must be capitalised words ("ich bin julia" is no name).
_NAME_PHRASES = re.compile(
    rf"(?i:ich bin|ich heiße|ich heisse|mein name ist|hier ist|hier spricht|i'm|i am|my name is|this is|"
    rf"name:)\s+(?P<name>{_FULL_NAME})"
)
_SIGN_OFF = re.compile(
    rf"(?i:grüße|gruß|grüsse|regards|best|cheers|thanks|danke|lg|vg|mfg)[,!.]?[ \t]*\n\s*(?P<name>{_FULL_NAME})\s*$",
    re.MULTILINE,
)
_LEGAL_FORM = re.compile(
    r"(?P<company>(?:[A-ZÄÖÜ0-9][\w&.-]*\s+){1,4}(?:GmbH & Co\. KG|GmbH|AG|KG|UG|OHG|e\.K\.|Ltd\.?|LLC|"
    r"Inc\.?|SE|SA|SRL|s\.r\.o\.|ApS))(?!\w)"
)
_COMPANY_PHRASES = re.compile(
    r"(?i:firma:|company:|unternehmen:|arbeite bei|ich bin bei|von der firma|work at|working at|i'm with|"
    r"from)\s+(?P<company>[A-ZÄÖÜ][\w&-]*(?:\.[\w&-]+)*(?: [A-ZÄÖÜ][\w&-]*(?:\.[\w&-]+)*){0,3})"
)
_NOT_NAMES = {"Interesse", "Interested", "Hallo", "Hello", "Ihnen", "Danke", "Thanks", "Looking"}


def _field(value: str | None, confidence: float) -> ExtractedField:
    return ExtractedField(value=value, confidence=confidence if value else 0.0)


def _phone(text: str) -> str | None:
    for match in PHONE.finditer(text):
        candidate = match.group(0).strip()
        digits = re.sub(r"\D", "", candidate)
        # Dates, prices and postcodes are digit runs too: a phone number has 7 to 15 digits and is not a date.
        if 7 <= len(digits) <= 15 and not DATE.fullmatch(candidate):
            return candidate
    return None


def extract(text: str) -> LeadExtraction:
    """Regex-based extraction (the offline provider's answer)."""
    email = EMAIL.search(text)
    phone = _phone(EMAIL.sub(" ", text))
    name, name_conf = None, 0.0
    phrase = _NAME_PHRASES.search(text)
    if phrase and phrase.group("name").split()[0] not in _NOT_NAMES:
        name, name_conf = phrase.group("name"), 0.8
    elif sign_off := _SIGN_OFF.search(text):
        name, name_conf = sign_off.group("name"), 0.6
    company, company_conf = None, 0.0
    if legal := _LEGAL_FORM.search(text):
        company, company_conf = legal.group("company").strip(), 0.85
    elif said := _COMPANY_PHRASES.search(text):
        company, company_conf = said.group("company").strip(), 0.6
    return LeadExtraction(
        name=_field(name, name_conf),
        email=_field(email.group(0) if email else None, 0.95),
        phone=_field(phone, 0.85),
        company=_field(company, company_conf),
    )


def _local(inp: LeadExtractionInput, locale: Locale, today: date) -> LeadExtraction:
    return extract(inp.text)


def _variables(inp: LeadExtractionInput, locale: Locale) -> dict[str, str]:
    return {"text": inp.text}


SCENARIO = Scenario(
    name="lead_extraction",
    description="Zero-Input: extract name, email, phone and company from pasted text, with confidences.",
    input_model=LeadExtractionInput,
    output_model=LeadExtraction,
    variables=_variables,
    local=_local,
    model_group="fast",
    max_tokens=300,
    temperature=0.0,
    cacheable=True,
    # Extracting contact details is this task's job: they must reach the model unmasked.
    needs_contact_details=True,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du extrahierst Kontaktdaten aus eingefügten Chats, E-Mails oder Notizen. Gib für "
                "name, email, phone und company jeweils value (genau wie im Text, sonst null) und confidence "
                "(0 bis 1) zurück. Erfinde nichts. Antworte nur mit JSON.",
            },
            {"role": "user", "content": "Text:\n{{text}}"},
        ],
        "en": [
            {
                "role": "system",
                "content": "You extract contact details from pasted chats, emails or notes. For name, email, "
                "phone and company return value (exactly as written, else null) and confidence (0 to 1). "
                "Do not invent anything. Answer only with JSON.",
            },
            {"role": "user", "content": "Text:\n{{text}}"},
        ],
    },
)
