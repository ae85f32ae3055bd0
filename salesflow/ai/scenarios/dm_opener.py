"""dm_opener: the first direct message to a lead on a social channel — short, personal, one question."""

# The texts use typographic dashes (German and English copy), not hyphens.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import LeadFacts, Locale, Scenario, shorten

DmChannel = Literal["instagram", "facebook", "linkedin", "whatsapp", "telegram"]


class DmOpenerInput(BaseModel):
    lead: LeadFacts
    context: str = Field(default="", max_length=2000, description="Why we write, e.g. what they liked.")
    channel: DmChannel = "instagram"


class DmOpener(BaseModel):
    message: str = Field(min_length=10, max_length=300)


def _local(inp: DmOpenerInput, locale: Locale, today: date) -> DmOpener:
    first = inp.lead.first_name
    topic = shorten(inp.context, 70) if inp.context else ""
    formal = inp.channel == "linkedin"
    if locale == "de":
        if formal:
            about = f" – Ihr Interesse an {topic} ist mir aufgefallen" if topic else ""
            text = f"Hallo {first}, danke fürs Vernetzen{about}. Darf ich fragen, woran Sie gerade arbeiten?"
        else:
            about = f" an {topic}" if topic else ""
            text = f"Hey {first}, danke für dein Interesse{about}! Was hat dich neugierig gemacht?"
    else:
        if formal:
            about = f" – I noticed your interest in {topic}" if topic else ""
            text = f"Hi {first}, thanks for connecting{about}. May I ask what you're working on right now?"
        else:
            about = f" in {topic}" if topic else ""
            text = f"Hey {first}, thanks for your interest{about}! What caught your eye?"
    return DmOpener(message=shorten(text, 300))


def _variables(inp: DmOpenerInput, locale: Locale) -> dict[str, str]:
    none = {"de": "(kein Kontext)", "en": "(no context)"}[locale]
    return {"lead": inp.lead.describe(locale), "context": inp.context or none, "channel": inp.channel}


def _from_lead(lead: Mapping[str, Any]) -> DmOpenerInput:
    channel = lead.get("source_channel")
    data = {"lead": dict(lead), "context": lead.get("notes") or ""}
    if channel in ("instagram", "facebook", "linkedin", "whatsapp", "telegram"):
        data["channel"] = channel
    return DmOpenerInput.model_validate(data)


SCENARIO = Scenario(
    name="dm_opener",
    description="A first direct message on Instagram, Facebook, LinkedIn, WhatsApp or Telegram.",
    input_model=DmOpenerInput,
    output_model=DmOpener,
    variables=_variables,
    local=_local,
    from_lead=_from_lead,
    model_group="fast",
    max_tokens=200,
    temperature=0.8,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du schreibst die erste Direktnachricht an einen Lead auf {{channel}}: höchstens "
                "zwei kurze Sätze, persönlich, mit genau einer offenen Frage, kein Verkaufsdruck, kein Link. "
                "Auf Instagram, Facebook, WhatsApp und Telegram per du, auf LinkedIn per Sie. Antworte nur "
                "mit JSON: {\"message\": \"...\"}.",
            },
            {"role": "user", "content": "Lead:\n{{lead}}\n\nAnlass:\n{{context}}"},
        ],
        "en": [
            {
                "role": "system",
                "content": "You write the first direct message to a lead on {{channel}}: at most two short "
                "sentences, personal, with exactly one open question, no sales pressure, no link. Answer "
                "only with JSON: {\"message\": \"...\"}.",
            },
            {"role": "user", "content": "Lead:\n{{lead}}\n\nOccasion:\n{{context}}"},
        ],
    },
)
