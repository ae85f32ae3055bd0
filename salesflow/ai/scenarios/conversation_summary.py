"""conversation_summary: a rolling summary of a conversation, its key facts and the lead's sentiment.

The summary rolls: the input is the previous summary (what happened before, possibly empty) and the messages
since it, and the output summarises both, so a conversation of thousands of messages is summarised a tail at
a time (salesflow/conversations/summaries.py decides when).
"""

# The texts use typographic dashes and quotes (German and English copy), not hyphens.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import Locale, Scenario, mentions, shorten

Sentiment = Literal["positive", "neutral", "negative"]


class ConversationInput(BaseModel):
    conversation: str = Field(min_length=1, max_length=50000, description="The transcript, one message a line.")
    previous_summary: str = Field(default="", max_length=4000,
                                  description="The summary of the messages before these (empty at the start).")


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
# Words that say nothing about a topic (the local summary names the conversation's most frequent others).
_STOPWORDS_TEXT = (
    "aber alle also auch auf aus bei bin bis bitte da das dass dem den der des die dir doch du ein eine einen "
    "einer es für gerne gibt habe haben hallo hat heute ich ihr ihre ihnen im in ist ja kann können mal mit "
    "mir morgen nach nicht noch nur oder schon sehr sie sind so um und uns unser unsere vom von vor war was "
    "wie wir wird wo zu zum zur über danke brauchen gern kommt kommen möchte würde "
    "about after all also and any are back but can could did for from get got have hello her here him his "
    "how just let like more not now our out please she that the their them then there they this thanks "
    "today tomorrow was week what when which will with would you your need needs want lead wir we"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_SPEAKER = re.compile(r"^(?:\[[^\]]*\]\s*)?(?P<who>[\w .-]{1,40}):\s*(?P<text>.*)$")
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


def sentiment_of(text: str) -> Sentiment:
    """Lexicon sentiment: more positive than negative phrases is positive, and the reverse."""
    pos, neg = len(mentions(text, POSITIVE)), len(mentions(text, NEGATIVE))
    return "positive" if pos > neg else "negative" if neg > pos else "neutral"


def _lines(conversation: str) -> list[tuple[str, str]]:
    """(speaker, text) of each transcript line; a line without a `Speaker:` prefix has speaker ''."""
    out = []
    for line in conversation.splitlines():
        if not line.strip():
            continue
        match = _SPEAKER.match(line.strip())
        out.append((match["who"].strip(), match["text"]) if match else ("", line.strip()))
    return out


def topics_of(text: str, limit: int = 4) -> list[str]:
    """The most frequent content words of `text` (ties in order of first use): what it was about."""
    counts = Counter(w.lower() for w in _WORD.findall(text) if w.lower() not in _STOPWORDS)
    return [w for w, _ in counts.most_common(limit)]


def _local(inp: ConversationInput, locale: Locale, today: date) -> ConversationSummary:
    lines = _lines(inp.conversation)
    from_lead = [t for who, t in lines if who.lower() == "lead"]
    said = " ".join(t for _, t in lines)
    topics = topics_of(said)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", said) if s.strip()]
    facts = [shorten(s, 160) for s in sentences if re.search(r"\d", s) or mentions(s, _FACT_WORDS)][:5]
    last = shorten(from_lead[-1] if from_lead else (lines[-1][1] if lines else ""), 160)
    previous = shorten(inp.previous_summary, 500) if inp.previous_summary.strip() else ""
    if locale == "de":
        parts = [f"Bisher: {previous}"] if previous else []
        parts.append(f"{len(lines)} neue Nachricht(en), {len(from_lead)} davon vom Lead")
        if topics:
            parts.append("Themen: " + ", ".join(topics))
        parts.append(f"Zuletzt schrieb der Lead: „{last}“" if from_lead else f"Zuletzt: „{last}“")
    else:
        parts = [f"Before: {previous}"] if previous else []
        parts.append(f"{len(lines)} new message(s), {len(from_lead)} of them from the lead")
        if topics:
            parts.append("Topics: " + ", ".join(topics))
        parts.append(f"The lead last wrote: “{last}”" if from_lead else f"Last: “{last}”")
    summary = shorten(". ".join(parts), 1000)
    return ConversationSummary(summary=summary, key_facts=facts, sentiment=sentiment_of(said))


def _variables(inp: ConversationInput, locale: Locale) -> dict[str, str]:
    none = {"de": "(noch keine)", "en": "(none yet)"}[locale]
    return {"conversation": inp.conversation, "previous_summary": inp.previous_summary.strip() or none}


SCENARIO = Scenario(
    name="conversation_summary",
    description="Summarise a conversation (rolling: previous summary + new messages): summary, key facts, sentiment.",
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
                "(positive, neutral, negative). Die bisherige Zusammenfassung deckt die älteren Nachrichten ab: "
                "führe sie mit den neuen Nachrichten zu einer Zusammenfassung des ganzen Gesprächs zusammen. "
                "Antworte nur mit JSON, auf Deutsch.",
            },
            {
                "role": "user",
                "content": "Bisherige Zusammenfassung:\n{{previous_summary}}\n\nNeue Nachrichten:\n{{conversation}}",
            },
        ],
        "en": [
            {
                "role": "system",
                "content": "Summarise sales conversations for the sales team: summary (2–4 sentences), "
                "key_facts (up to 8 facts such as budget, dates, requirements) and the lead's sentiment "
                "(positive, neutral, negative). The previous summary covers the older messages: merge it with "
                "the new messages into one summary of the whole conversation. Answer only with JSON, in English.",
            },
            {
                "role": "user",
                "content": "Previous summary:\n{{previous_summary}}\n\nNew messages:\n{{conversation}}",
            },
        ],
    },
)
