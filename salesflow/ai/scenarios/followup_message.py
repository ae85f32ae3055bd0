"""followup_message: a short WhatsApp-style follow-up, 2–3 sentences, friendly and without pressure."""

# The texts use typographic dashes (German and English copy), not hyphens.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import LeadFacts, Locale, Scenario, shorten


class FollowupInput(BaseModel):
    lead: LeadFacts
    context: str = Field(default="", max_length=2000, description="What the last contact was about.")
    days_since_contact: int | None = Field(default=None, ge=0)


class FollowupMessage(BaseModel):
    message: str = Field(min_length=20, max_length=500, description="2–3 sentences, no pressure.")


def _local(inp: FollowupInput, locale: Locale, today: date) -> FollowupMessage:
    first = inp.lead.first_name
    topic = shorten(inp.context, 80) if inp.context else ""
    if locale == "de":
        about = f" zu unserem Gespräch über {topic}" if topic else ""
        text = (
            f"Hallo {first}, ich wollte mich kurz{about} melden. "
            "Gibt es noch offene Fragen, bei denen ich helfen kann? "
            "Ganz ohne Eile – antworten Sie einfach, wenn es passt."
        )
    else:
        about = f" about {topic}" if topic else ""
        text = (
            f"Hi {first}, just a quick follow-up{about}. "
            "Is there anything I can help you with? "
            "No rush at all – just reply whenever it suits you."
        )
    return FollowupMessage(message=text)


def _variables(inp: FollowupInput, locale: Locale) -> dict[str, str]:
    none = {"de": "(kein Kontext)", "en": "(no context)"}[locale]
    days = "" if inp.days_since_contact is None else str(inp.days_since_contact)
    return {"lead": inp.lead.describe(locale), "context": inp.context or none, "days_since_contact": days or "?"}


def _from_lead(lead: Mapping[str, Any]) -> FollowupInput:
    return FollowupInput.model_validate({"lead": dict(lead), "context": lead.get("notes") or ""})


SCENARIO = Scenario(
    name="followup_message",
    description="A short WhatsApp-style follow-up message (2–3 sentences, no pressure).",
    input_model=FollowupInput,
    output_model=FollowupMessage,
    variables=_variables,
    local=_local,
    from_lead=_from_lead,
    model_group="fast",
    max_tokens=250,
    temperature=0.7,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du schreibst kurze Follow-up-Nachrichten für WhatsApp im Namen eines "
                "Vertriebsteams. 2–3 Sätze, freundlich, persönlich, ohne Druck und ohne Floskeln; Sie-Form; "
                "keine Emojis. Antworte nur mit JSON: {\"message\": \"...\"}.",
            },
            {
                "role": "user",
                "content": "Lead:\n{{lead}}\n\nLetzter Kontakt vor {{days_since_contact}} Tagen. "
                "Worum es ging:\n{{context}}",
            },
        ],
        "en": [
            {
                "role": "system",
                "content": "You write short WhatsApp follow-up messages on behalf of a sales team. 2–3 "
                "sentences, friendly, personal, no pressure and no clichés; no emojis. Answer only with "
                "JSON: {\"message\": \"...\"}.",
            },
            {
                "role": "user",
                "content": "Lead:\n{{lead}}\n\nLast contact {{days_since_contact}} days ago. "
                "What it was about:\n{{context}}",
            },
        ],
    },
)
