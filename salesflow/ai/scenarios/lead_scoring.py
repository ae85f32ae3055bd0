"""lead_scoring: how likely a lead is to buy, as a score 0–100, a temperature and the reasons."""

# The texts use typographic dashes (German and English copy), not hyphens.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import NO_CONVERSATION, LeadFacts, Locale, Scenario, lead_only, mentions

Temperature = Literal["cold", "warm", "hot"]


class LeadScoringInput(BaseModel):
    lead: LeadFacts
    conversation: str = ""


class LeadScore(BaseModel):
    score: int = Field(ge=0, le=100, description="Likelihood to buy, 0 (none) to 100 (certain).")
    temperature: Temperature
    reasons: list[str] = Field(min_length=1, max_length=5, description="Short reasons for the score.")


def temperature_for(score: int) -> Temperature:
    """The temperature band of a score (one definition for the local rules and the prompts)."""
    return "hot" if score >= 70 else "warm" if score >= 40 else "cold"


BUYING_SIGNALS = (
    "angebot", "preis", "kosten", "termin", "demo", "kaufen", "interesse", "budget", "bestellen",
    "offer", "price", "pricing", "quote", "meeting", "call", "buy", "interested", "order", "trial",
)
REJECTION_SIGNALS = (
    "kein interesse", "nicht interessiert", "zu teuer", "abmelden", "keine zeit",
    "not interested", "too expensive", "unsubscribe", "no budget", "stop",
)
_CHANNEL_POINTS = {
    "referral": 20, "web": 10, "linkedin": 10, "whatsapp": 8, "email": 5, "instagram": 5, "facebook": 5,
    "telegram": 3, "sms": 3,
}
_STATUS_POINTS = {"new": 0, "contacted": 5, "qualified": 15, "proposal": 25, "negotiation": 30}

_REASONS: dict[Locale, dict[str, str]] = {
    "de": {
        "contact": "Kontaktdaten vorhanden ({fields})",
        "company": "Firma bekannt ({company})",
        "channel": "Kanal {channel} bringt erfahrungsgemäß gute Leads",
        "status": "Pipeline-Status: {status}",
        "buying": "Kaufsignale im Gespräch: {signals}",
        "rejection": "Ablehnende Signale: {signals}",
        "won": "Bereits gewonnen",
        "lost": "Als verloren markiert",
        "little": "Wenig Informationen über den Lead",
    },
    "en": {
        "contact": "Contact details present ({fields})",
        "company": "Company known ({company})",
        "channel": "The {channel} channel usually brings good leads",
        "status": "Pipeline status: {status}",
        "buying": "Buying signals in the conversation: {signals}",
        "rejection": "Rejection signals: {signals}",
        "won": "Already won",
        "lost": "Marked as lost",
        "little": "Little is known about this lead",
    },
}


def rule_score(lead: LeadFacts, conversation: str, locale: Locale) -> LeadScore:
    """Rule-based scoring from the lead's fields and conversation (the offline provider's answer)."""
    text = _REASONS[locale]
    reasons: list[str] = []
    score = 10
    contact = [f for f, v in (("email", lead.email), ("phone", lead.phone or lead.whatsapp)) if v]
    if contact:
        score += 10 * len(contact)
        reasons.append(text["contact"].format(fields=", ".join(contact)))
    if lead.company:
        score += 10
        reasons.append(text["company"].format(company=lead.company))
    channel_points = _CHANNEL_POINTS.get(lead.source_channel, 0)
    if channel_points >= 10:
        reasons.append(text["channel"].format(channel=lead.source_channel))
    score += channel_points
    status_points = _STATUS_POINTS.get(lead.status, 0)
    if status_points:
        reasons.append(text["status"].format(status=lead.status))
    score += status_points
    said = f"{lead.notes or ''}\n{conversation}"
    buying = mentions(said, BUYING_SIGNALS)
    rejection = mentions(said, REJECTION_SIGNALS)
    if buying:
        score += min(25, 10 + 5 * len(buying))
        reasons.append(text["buying"].format(signals=", ".join(buying[:4])))
    if rejection:
        score -= 25
        reasons.append(text["rejection"].format(signals=", ".join(rejection[:3])))
    if lead.status == "won":
        score = max(score, 95)
        reasons.insert(0, text["won"])
    elif lead.status == "lost":
        score = min(score, 10)
        reasons.insert(0, text["lost"])
    score = max(0, min(100, score))
    if not reasons:
        reasons.append(text["little"])
    return LeadScore(score=score, temperature=temperature_for(score), reasons=reasons[:5])


def _local(inp: LeadScoringInput, locale: Locale, today: date) -> LeadScore:
    return rule_score(inp.lead, inp.conversation, locale)


def _variables(inp: LeadScoringInput, locale: Locale) -> dict[str, str]:
    return {"lead": inp.lead.describe(locale), "conversation": inp.conversation or NO_CONVERSATION[locale]}


SCENARIO = Scenario(
    name="lead_scoring",
    description="Score a lead 0–100 with temperature (cold/warm/hot) and reasons.",
    input_model=LeadScoringInput,
    output_model=LeadScore,
    variables=_variables,
    local=_local,
    from_lead=lead_only(LeadScoringInput),
    model_group="fast",
    max_tokens=400,
    temperature=0.1,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du bist ein erfahrener Vertriebsanalyst für B2B-Teams im deutschsprachigen Raum. "
                "Bewerte, wie wahrscheinlich ein Lead kauft. Antworte nur mit JSON im vorgegebenen Schema: "
                "score (0–100), temperature (cold unter 40, warm 40–69, hot ab 70) und 1–5 kurze Gründe "
                "auf Deutsch.",
            },
            {
                "role": "user",
                "content": "Lead:\n{{lead}}\n\nGesprächsverlauf:\n{{conversation}}",
            },
        ],
        "en": [
            {
                "role": "system",
                "content": "You are an experienced sales analyst for B2B teams. Judge how likely a lead is "
                "to buy. Answer only with JSON in the given schema: score (0–100), temperature (cold "
                "below 40, warm 40–69, hot from 70) and 1–5 short reasons in English.",
            },
            {
                "role": "user",
                "content": "Lead:\n{{lead}}\n\nConversation:\n{{conversation}}",
            },
        ],
    },
)
