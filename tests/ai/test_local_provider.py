"""The offline provider: every scenario answers schema-valid, sensible results in German and English."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from salesflow.ai.scenarios import LOCALES, SCENARIOS
from salesflow.ai.scenarios.base import LeadFacts

TODAY = date(2026, 11, 25)
LEAD = {
    "name": "Julia Becker", "email": "julia.becker@example.de", "phone": "+49 151 2345678",
    "company": "Becker Logistik", "status": "qualified", "source_channel": "referral",
    "notes": "Hat nach dem Preis für 20 Nutzer gefragt",
}
SAMPLE_INPUTS: dict[str, dict[str, Any]] = {
    "lead_scoring": {"lead": LEAD, "conversation": "Lead: Was kostet das Angebot? Wir hätten gern eine Demo."},
    "next_best_action": {"lead": LEAD, "conversation": "Lead: Können wir nächste Woche telefonieren?"},
    "followup_message": {"lead": LEAD, "context": "die Lagerverwaltung", "days_since_contact": 4},
    "objection_price": {"objection": "Das ist uns zu teuer, die Konkurrenz ist günstiger.", "lead": LEAD},
    "lead_extraction": {"text": "Hallo, ich bin Julia Becker von der Becker Logistik GmbH. "
                                "Tel. +49 151 2345678, Mail julia.becker@example.de"},
    "conversation_summary": {"conversation": "Lead: Hallo, wir brauchen 20 Lizenzen bis 01.02.\n"
                                             "Wir: Gern, das Angebot kommt heute.\nLead: Super, danke!"},
    "reply_suggestion": {"last_message": "Was kostet das für 20 Nutzer?", "lead": LEAD},
    "dm_opener": {"lead": {**LEAD, "source_channel": "instagram"}, "context": "unseren Reel zur Zeiterfassung"},
}


def test_every_scenario_has_a_sample_input() -> None:
    assert set(SAMPLE_INPUTS) == set(SCENARIOS)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_local_output_validates_against_the_scenario_model(name: str, locale: str) -> None:
    scenario = SCENARIOS[name]
    inp = scenario.parse_input(SAMPLE_INPUTS[name])
    output = scenario.local(inp, locale, TODAY)
    # Round-trip through JSON, as a provider's answer would arrive.
    again = scenario.output_model.model_validate_json(output.model_dump_json())
    assert again == output


LANGUAGE_NEUTRAL = {"lead_extraction"}  # values copied from the input, nothing written in a language


@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - LANGUAGE_NEUTRAL))
def test_every_written_scenario_answers_differently_in_german_and_english(name: str) -> None:
    scenario = SCENARIOS[name]
    inp = scenario.parse_input(SAMPLE_INPUTS[name])
    german, english = (scenario.local(inp, locale, TODAY).model_dump() for locale in ("de", "en"))
    assert german != english, f"{name}: the German and English answers are identical"
    assert set(LOCALES) == {"de", "en"}


@pytest.mark.parametrize("locale", LOCALES)
def test_texts_are_in_the_tenants_language(locale: str) -> None:
    followup = SCENARIOS["followup_message"]
    text = followup.local(followup.parse_input(SAMPLE_INPUTS["followup_message"]), locale, TODAY).message
    assert ("Hallo Julia" in text) == (locale == "de")
    assert ("Hi Julia" in text) == (locale == "en")
    sentences = [s for s in text.replace("?", ".").split(".") if s.strip()]
    assert 2 <= len(sentences) <= 3


def test_scoring_ranks_an_engaged_referral_above_a_bare_contact() -> None:
    scoring = SCENARIOS["lead_scoring"]
    engaged = scoring.local(scoring.parse_input(SAMPLE_INPUTS["lead_scoring"]), "de", TODAY)
    bare = scoring.local(scoring.parse_input({"lead": {"name": "Mia"}}), "de", TODAY)
    lost = scoring.local(scoring.parse_input({"lead": {**LEAD, "status": "lost"}}), "en", TODAY)
    assert engaged.score > 70 and engaged.temperature == "hot"
    assert bare.score < 40 and bare.temperature == "cold"
    assert lost.score <= 10
    assert any("Kaufsignale" in r for r in engaged.reasons)


def test_extraction_finds_contact_details_in_a_pasted_chat() -> None:
    extraction = SCENARIOS["lead_extraction"]
    out = extraction.local(extraction.parse_input(SAMPLE_INPUTS["lead_extraction"]), "de", TODAY)
    assert out.name.value == "Julia Becker"
    assert out.email.value == "julia.becker@example.de"
    assert out.phone.value == "+49 151 2345678"
    assert out.company.value == "Becker Logistik GmbH"
    assert all(0.5 <= f.confidence <= 1 for f in (out.name, out.email, out.phone, out.company))
    nothing = extraction.local(extraction.parse_input({"text": "see you on 12.03.2026"}), "en", TODAY)
    assert nothing.phone.value is None and nothing.phone.confidence == 0


def test_next_action_is_due_today_for_a_hot_lead() -> None:
    nba = SCENARIOS["next_best_action"]
    out = nba.local(nba.parse_input({"lead": {**LEAD, "temperature": "hot"}}), "en", TODAY)
    assert out.due_date == TODAY and out.priority == "high"


def test_reply_names_the_intent() -> None:
    reply = SCENARIOS["reply_suggestion"]
    out = reply.local(reply.parse_input(SAMPLE_INPUTS["reply_suggestion"]), "de", TODAY)
    assert out.intent == "price"


def test_bad_input_names_the_field() -> None:
    from salesflow.ai import InvalidScenarioInput

    with pytest.raises(InvalidScenarioInput, match=r"lead_scoring input\.lead\.name"):
        SCENARIOS["lead_scoring"].parse_input({"lead": {"name": ""}})
    with pytest.raises(InvalidScenarioInput, match=r"lead_extraction input\.text"):
        SCENARIOS["lead_extraction"].parse_input({})


def test_lead_facts_describe_in_both_languages() -> None:
    facts = LeadFacts.model_validate(LEAD)
    assert "Firma: Becker Logistik" in facts.describe("de")
    assert "Company: Becker Logistik" in facts.describe("en")
