"""reply_suggestion: a suggested answer to the lead's last message, with the intent it answers."""

# The texts use typographic dashes (German and English copy), not hyphens.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import NO_CONVERSATION, LeadFacts, Locale, Scenario, mentions

Intent = Literal["question", "price", "meeting", "objection", "positive", "negative", "other"]


class ReplySuggestionInput(BaseModel):
    last_message: str = Field(min_length=1, max_length=4000, description="The lead's message to answer.")
    conversation: str = Field(default="", max_length=50000)
    lead: LeadFacts | None = None


class ReplySuggestion(BaseModel):
    reply: str = Field(min_length=5, max_length=800)
    intent: Intent


_INTENTS: list[tuple[Intent, tuple[str, ...]]] = [
    ("negative", ("kein interesse", "nicht interessiert", "abmelden", "not interested", "unsubscribe", "stop")),
    ("objection", ("zu teuer", "too expensive", "keine zeit", "no time", "später", "later")),
    ("price", ("preis", "kosten", "kostet", "price", "cost", "how much", "wie viel", "wieviel")),
    ("meeting", ("termin", "treffen", "call", "meeting", "anrufen", "telefonieren", "demo")),
    ("positive", ("danke", "super", "klingt gut", "perfekt", "thanks", "great", "sounds good", "perfect")),
]
_REPLIES: dict[Locale, dict[Intent, str]] = {
    "de": {
        "negative": "Danke für Ihre offene Rückmeldung{name} – ich melde mich nicht weiter. Alles Gute!",
        "objection": "Verstehe ich{name}. Was wäre für Sie ein guter Zeitpunkt oder Rahmen, damit es passt?",
        "price": "Gern{name}! Der Preis hängt vom Umfang ab – darf ich Ihnen zwei passende Pakete schicken?",
        "meeting": "Sehr gern{name}! Passt Ihnen Dienstag oder Donnerstag für ein kurzes Gespräch?",
        "positive": "Freut mich sehr{name}! Ich schicke Ihnen gleich die nächsten Schritte.",
        "question": "Gute Frage{name} – ich kläre das und melde mich heute noch mit einer Antwort.",
        "other": "Danke für Ihre Nachricht{name}! Wie kann ich Ihnen am besten weiterhelfen?",
    },
    "en": {
        "negative": "Thanks for letting me know{name} – I won't follow up further. All the best!",
        "objection": "I understand{name}. What timing or scope would work better for you?",
        "price": "Happy to help{name}! The price depends on the scope – may I send you two fitting packages?",
        "meeting": "Gladly{name}! Would Tuesday or Thursday work for a short call?",
        "positive": "Great to hear{name}! I'll send you the next steps right away.",
        "question": "Good question{name} – I'll check and get back to you today.",
        "other": "Thanks for your message{name}! How can I help you best?",
    },
}


def intent_of(message: str) -> Intent:
    """The first matching intent by keywords; a question mark alone makes it a question."""
    for intent, phrases in _INTENTS:
        if mentions(message, phrases):
            return intent
    return "question" if "?" in message else "other"


def _local(inp: ReplySuggestionInput, locale: Locale, today: date) -> ReplySuggestion:
    intent = intent_of(inp.last_message)
    name = f", {inp.lead.first_name}" if inp.lead else ""
    return ReplySuggestion(reply=_REPLIES[locale][intent].format(name=name), intent=intent)


def _variables(inp: ReplySuggestionInput, locale: Locale) -> dict[str, str]:
    unknown = {"de": "(unbekannt)", "en": "(unknown)"}[locale]
    return {
        "last_message": inp.last_message,
        "conversation": inp.conversation or NO_CONVERSATION[locale],
        "lead": inp.lead.describe(locale) if inp.lead else unknown,
    }


SCENARIO = Scenario(
    name="reply_suggestion",
    description="Suggest a reply to the lead's last message and name its intent.",
    input_model=ReplySuggestionInput,
    output_model=ReplySuggestion,
    variables=_variables,
    local=_local,
    model_group="smart",
    max_tokens=400,
    temperature=0.6,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du hilfst Vertriebsmitarbeitern, auf Nachrichten von Leads zu antworten. Schlage "
                "eine kurze, freundliche Antwort in Sie-Form vor (reply) und bestimme die Absicht der "
                "letzten Nachricht (intent: question, price, meeting, objection, positive, negative, other). "
                "Antworte nur mit JSON.",
            },
            {
                "role": "user",
                "content": "Lead:\n{{lead}}\n\nBisheriger Verlauf:\n{{conversation}}\n\n"
                "Letzte Nachricht des Leads:\n{{last_message}}",
            },
        ],
        "en": [
            {
                "role": "system",
                "content": "You help sales reps answer messages from leads. Suggest a short, friendly reply "
                "(reply) and name the intent of the last message (intent: question, price, meeting, "
                "objection, positive, negative, other). Answer only with JSON.",
            },
            {
                "role": "user",
                "content": "Lead:\n{{lead}}\n\nConversation so far:\n{{conversation}}\n\n"
                "The lead's last message:\n{{last_message}}",
            },
        ],
    },
)
