"""objection_price: analyse a price objection and answer it by offering alternatives, not discounts."""

# The texts use typographic dashes (German and English copy), not hyphens.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from salesflow.ai.scenarios.base import LeadFacts, Locale, Scenario, mentions, shorten


class PriceObjectionInput(BaseModel):
    objection: str = Field(min_length=1, max_length=4000, description="What the lead said about the price.")
    offer: str = Field(default="", max_length=2000, description="The offer or product under discussion.")
    lead: LeadFacts | None = None


class PriceObjection(BaseModel):
    analysis: str = Field(min_length=10, max_length=800, description="What is behind the objection.")
    reply: str = Field(min_length=10, max_length=800, description="A reply offering alternatives.")
    alternatives: list[str] = Field(min_length=1, max_length=4)


_KINDS = {
    "comparison": ("günstiger", "konkurrenz", "anderes angebot", "cheaper", "competitor", "other offer"),
    "budget": ("budget", "kein geld", "nicht leisten", "can't afford", "cannot afford", "no money"),
}
_TEXT: dict[Locale, dict[str, str]] = {
    "de": {
        "comparison": "Der Lead vergleicht mit einem günstigeren Angebot; es geht um den wahrgenommenen "
        "Mehrwert, nicht nur um den Preis.",
        "budget": "Der Lead hat ein Budgetproblem; der Bedarf scheint da zu sein, die Finanzierung nicht.",
        "value": "Der Lead hält den Preis für zu hoch im Verhältnis zum erwarteten Nutzen.",
        "reply": "Verstehe ich gut{name} – {offer}soll sich für Sie rechnen. Wir könnten mit einem "
        "kleineren Paket starten, die Kosten monatlich verteilen oder erst eine kurze Pilotphase machen. "
        "Was davon passt am besten zu Ihnen?",
        "alternatives": "Kleineres Einstiegspaket|Monatliche Raten statt Einmalzahlung|Pilotphase mit "
        "klarer Erfolgsmessung",
    },
    "en": {
        "comparison": "The lead compares with a cheaper offer; this is about perceived value, not price "
        "alone.",
        "budget": "The lead has a budget problem; the need seems real, the funding is not.",
        "value": "The lead finds the price too high for the value they expect.",
        "reply": "I understand{name} – {offer}has to pay off for you. We could start with a smaller "
        "package, spread the cost monthly, or begin with a short pilot. Which of these suits you best?",
        "alternatives": "Smaller starter package|Monthly instalments instead of one payment|Pilot phase "
        "with clear success criteria",
    },
}


def _local(inp: PriceObjectionInput, locale: Locale, today: date) -> PriceObjection:
    text = _TEXT[locale]
    kind = next((k for k, phrases in _KINDS.items() if mentions(inp.objection, phrases)), "value")
    name = f", {inp.lead.first_name}" if inp.lead else ""
    offer = f"{shorten(inp.offer, 60)} " if inp.offer else ("das Angebot " if locale == "de" else "the offer ")
    return PriceObjection(
        analysis=text[kind],
        reply=text["reply"].format(name=name, offer=offer),
        alternatives=text["alternatives"].split("|"),
    )


def _variables(inp: PriceObjectionInput, locale: Locale) -> dict[str, str]:
    unknown = {"de": "(unbekannt)", "en": "(unknown)"}[locale]
    return {
        "objection": inp.objection,
        "offer": inp.offer or unknown,
        "lead": inp.lead.describe(locale) if inp.lead else unknown,
    }


SCENARIO = Scenario(
    name="objection_price",
    description="Analyse a price objection and reply with alternatives (smaller package, instalments, pilot).",
    input_model=PriceObjectionInput,
    output_model=PriceObjection,
    variables=_variables,
    local=_local,
    model_group="smart",
    max_tokens=600,
    temperature=0.5,
    prompts={
        "de": [
            {
                "role": "system",
                "content": "Du bist Vertriebstrainer. Analysiere einen Preiseinwand (analysis), formuliere "
                "eine wertschätzende Antwort in Sie-Form, die Alternativen anbietet statt Rabatte (reply), "
                "und liste 1–4 konkrete Alternativen (alternatives). Antworte nur mit JSON.",
            },
            {
                "role": "user",
                "content": "Einwand:\n{{objection}}\n\nAngebot:\n{{offer}}\n\nLead:\n{{lead}}",
            },
        ],
        "en": [
            {
                "role": "system",
                "content": "You are a sales trainer. Analyse a price objection (analysis), write an "
                "appreciative reply that offers alternatives instead of discounts (reply), and list 1–4 "
                "concrete alternatives (alternatives). Answer only with JSON.",
            },
            {
                "role": "user",
                "content": "Objection:\n{{objection}}\n\nOffer:\n{{offer}}\n\nLead:\n{{lead}}",
            },
        ],
    },
)
