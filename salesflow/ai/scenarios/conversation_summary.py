"""conversation_summary: a summary of a conversation, its key facts and the lead's sentiment."""

# The texts use typographic dashes (German and English copy), not hyphens.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import Locale, Scenario, last_line, mentions, shorten

Sentiment = Literal["positive", "neutral", "negative"]


class ConversationInput(BaseModel):
    conversation: str = Field(min_length=1, max_length=50000, description="The transcript, one message a line.")


class ConversationSummary(BaseModel):
    summary: str = Field(min_length=10, max_length=1000)
    key_facts: list[str] = Field(max_length=8)
    sentiment: Sentiment


POSITIVE = (
    "danke", "super", "gern", "perfekt", "klingt gut", "interessant", "passt", "freue",
    "thanks", "great", "perfect", "sounds good", "interested", "love", "happy",
)
NEGATIVE = (
    "zu teuer", "kein interesse", "leider", "enttäuscht", "schlecht", "ärgerlich", "nicht zufrieden",
    "too expensive", "not interested", "unfortunately", "disappointed", "bad", "annoyed", "unhappy",
)
_FACT_WORDS = (
    "preis", "budget", "termin", "angebot", "lieferung", "vertrag", "euro", "€", "$",
    "price", "meeting", "offer", "delivery", "contract", "deadline",
)


def sentiment_of(text: str) -> Sentiment:
    """Lexicon sentiment: more positive than negative phrases is positive, and the reverse."""
    pos, neg = len(mentions(text, POSITIVE)), len(mentions(text, NEGATIVE))
    return "positive" if pos > neg else "negative" if neg > pos else "neutral"


def _messages(conversation: str) -> list[str]:
    return [line.strip() for line in conversation.splitlines() if line.strip()]


def _local(inp: ConversationInput, locale: Locale, today: date) -> ConversationSummary:
    messages = _messages(inp.conversation)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", inp.conversation) if s.strip()]
    facts = [shorten(s, 160) for s in sentences if re.search(r"\d", s) or mentions(s, _FACT_WORDS)][:5]
    last = shorten(last_line(inp.conversation), 160)
    if locale == "de":
        summary = f"Gespräch mit {len(messages)} Nachricht(en). Zuletzt: „{last}“"
    else:
        summary = f"Conversation with {len(messages)} message(s). Last: “{last}”"
    return ConversationSummary(summary=summary, key_facts=facts, sentiment=sentiment_of(inp.conversation))


def _variables(inp: ConversationInput, locale: Locale) -> dict[str, str]:
    return {"conversation": inp.conversation}


SCENARIO = Scenario(
    name="conversation_summary",
    description="Summarise a conversation: summary, key facts, sentiment.",
    input_model=ConversationInput,
    output_model=ConversationSummary,
    variables=_variables,
    local=_local,
    model_group="fast",
    max_tokens=500,
    temperature=0.2,
    cacheable=True,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Fasse Verkaufsgespräche für das Vertriebsteam zusammen: summary (2–4 Sätze), "
                "key_facts (bis zu 8 Fakten wie Budget, Termine, Anforderungen) und sentiment des Leads "
                "(positive, neutral, negative). Antworte nur mit JSON, auf Deutsch.",
            },
            {"role": "user", "content": "Gesprächsverlauf:\n{{conversation}}"},
        ],
        "en": [
            {
                "role": "system",
                "content": "Summarise sales conversations for the sales team: summary (2–4 sentences), "
                "key_facts (up to 8 facts such as budget, dates, requirements) and the lead's sentiment "
                "(positive, neutral, negative). Answer only with JSON, in English.",
            },
            {"role": "user", "content": "Conversation:\n{{conversation}}"},
        ],
    },
)
