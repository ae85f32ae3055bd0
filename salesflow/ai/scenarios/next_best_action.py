"""next_best_action: the one thing to do next for a lead — action, channel, due date, priority."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import NO_CONVERSATION, LeadFacts, Locale, Scenario
from salesflow.ai.scenarios.lead_scoring import rule_score

Channel = Literal["whatsapp", "email", "phone", "instagram", "linkedin", "sms", "meeting"]
Priority = Literal["low", "medium", "high"]


class NextBestActionInput(BaseModel):
    lead: LeadFacts
    conversation: str = ""
    today: date | None = None


class NextBestAction(BaseModel):
    action: str = Field(min_length=3, max_length=200, description="One concrete next step.")
    channel: Channel
    due_date: date
    priority: Priority


_ACTIONS: dict[Locale, dict[str, str]] = {
    "de": {
        "new": "Erstkontakt aufnehmen und Bedarf kurz erfragen",
        "contacted": "Freundlich nachfassen und einen kurzen Termin vorschlagen",
        "qualified": "Termin für eine Bedarfsanalyse vereinbaren",
        "proposal": "Zum Angebot nachfassen und offene Fragen klären",
        "negotiation": "Einwände klären und den Abschluss vorbereiten",
        "won": "Onboarding starten und nach einer Empfehlung fragen",
        "lost": "In drei Monaten unverbindlich wieder melden",
    },
    "en": {
        "new": "Make first contact and briefly ask about their needs",
        "contacted": "Follow up kindly and suggest a short call",
        "qualified": "Book a needs-analysis meeting",
        "proposal": "Follow up on the proposal and answer open questions",
        "negotiation": "Resolve objections and prepare the close",
        "won": "Start onboarding and ask for a referral",
        "lost": "Check in again, without pressure, in three months",
    },
}

_CHANNEL_OF_SOURCE: dict[str, Channel] = {
    "whatsapp": "whatsapp", "instagram": "instagram", "facebook": "instagram", "linkedin": "linkedin",
    "sms": "sms", "telegram": "whatsapp",
}


def _channel(lead: LeadFacts) -> Channel:
    if lead.status in ("qualified", "negotiation") and (lead.phone or lead.whatsapp):
        return "meeting" if lead.status == "qualified" else "phone"
    if lead.source_channel in _CHANNEL_OF_SOURCE:
        return _CHANNEL_OF_SOURCE[lead.source_channel]
    if lead.whatsapp:
        return "whatsapp"
    if lead.email:
        return "email"
    if lead.phone:
        return "phone"
    return "email"


def _local(inp: NextBestActionInput, locale: Locale, today: date) -> NextBestAction:
    lead = inp.lead
    day = inp.today or today
    temperature = lead.temperature or rule_score(lead, inp.conversation, locale).temperature
    if lead.status == "lost":
        due, priority = day + timedelta(days=90), "low"
    else:
        due = day + timedelta(days={"hot": 0, "warm": 2}.get(temperature, 7))
        priority = {"hot": "high", "warm": "medium"}.get(temperature, "low")
    action = _ACTIONS[locale].get(lead.status, _ACTIONS[locale]["new"])
    return NextBestAction(action=action, channel=_channel(lead), due_date=due, priority=priority)  # type: ignore[arg-type]


def _variables(inp: NextBestActionInput, locale: Locale) -> dict[str, str]:
    return {
        "lead": inp.lead.describe(locale),
        "conversation": inp.conversation or NO_CONVERSATION[locale],
        "today": (inp.today or date.today()).isoformat(),
    }


def _from_lead(lead: Mapping[str, Any]) -> NextBestActionInput:
    return NextBestActionInput.model_validate({"lead": dict(lead), "conversation": lead.get("conversation") or ""})


SCENARIO = Scenario(
    name="next_best_action",
    description="The single next step for a lead: action, channel, due date and priority.",
    input_model=NextBestActionInput,
    output_model=NextBestAction,
    variables=_variables,
    local=_local,
    from_lead=_from_lead,
    model_group="fast",
    max_tokens=300,
    temperature=0.2,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du bist Vertriebscoach für Sales-Teams im DACH-Raum. Schlage genau eine nächste "
                "Aktion für den Lead vor: was zu tun ist (ein Satz), über welchen Kanal (whatsapp, email, "
                "phone, instagram, linkedin, sms oder meeting), bis wann (due_date, ISO-Datum, frühestens "
                "heute) und mit welcher Priorität (low, medium, high). Antworte nur mit JSON.",
            },
            {
                "role": "user",
                "content": "Heute ist {{today}}.\n\nLead:\n{{lead}}\n\nGesprächsverlauf:\n{{conversation}}",
            },
        ],
        "en": [
            {
                "role": "system",
                "content": "You are a sales coach. Suggest exactly one next action for the lead: what to do "
                "(one sentence), over which channel (whatsapp, email, phone, instagram, linkedin, sms or "
                "meeting), by when (due_date, ISO date, today at the earliest) and with which priority "
                "(low, medium, high). Answer only with JSON.",
            },
            {
                "role": "user",
                "content": "Today is {{today}}.\n\nLead:\n{{lead}}\n\nConversation:\n{{conversation}}",
            },
        ],
    },
)
