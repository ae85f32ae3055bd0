"""The inbox's German and English keyword rules: interest, delay requests and refusals, and sentences that
must match nothing."""

from __future__ import annotations

import pytest

from salesflow.inbox.signals import read_signal


@pytest.mark.parametrize("body", [
    "Ja, ich bin interessiert!", "Preis?", "Was kostet das Paket?", "Wann können wir telefonieren?",
    "Klingt gut, erzählen Sie mehr", "Wie teuer ist die Pro-Version?", "Großes Interesse, bitte melden",
    "Können wir einen Termin vereinbaren?", "Schicken Sie mir ein Angebot",
    "Sounds good!", "Let's talk tomorrow", "lets talk", "I'm interested", "How much is it?", "Pricing?",
    "When can we start?", "Can we book a call?", "Please send me a quote",
])
def test_words_of_interest_need_a_person(body: str) -> None:
    signal = read_signal(body)
    assert (signal.kind, signal.sentiment) == ("interest", "positive"), body


@pytest.mark.parametrize("body", [
    "Später.", "vielleicht später", "Melden Sie sich bitte nächsten Monat", "Bitte erst nächstes Quartal",
    "In ein paar Wochen gerne wieder", "Im Moment leider nicht", "Derzeit keine Zeit", "Nach dem Urlaub!",
    "Lieber später nochmal", "Not now, thanks", "not right now", "Maybe later", "Talk to me next month",
    "in a few weeks please", "Check back in a couple of months", "after the holidays",
    # A delay wins over interest: the lead said when, not now.
    "Klingt gut, aber erst nächsten Monat", "Sounds good, but in a few weeks",
])
def test_a_request_to_wait_is_a_delay(body: str) -> None:
    signal = read_signal(body)
    assert (signal.kind, signal.sentiment) == ("delay", "neutral"), body


@pytest.mark.parametrize("body", [
    "Kein Interesse.", "Ich bin nicht interessiert", "Nicht mehr interessiert, danke", "Kein Bedarf",
    "Not interested", "no thanks", "No thank you, we're set", "Please leave me alone",
])
def test_a_refusal_is_negative_and_never_interest(body: str) -> None:
    signal = read_signal(body)
    assert (signal.kind, signal.sentiment) == ("none", "negative"), body


@pytest.mark.parametrize("body", [
    "Danke, erhalten.", "Wer ist da?", "Hallo", "Die spätere Lieferung kam an", "Wir haben ein Preisausschreiben",
    "Our price list is attached", "The later version crashed", "See you at the meeting", "OK", "",
    "Ich habe mich später angemeldet", "Monatsbericht anbei", "Thanks, got it",
    # Opt-out keywords are the opt-out handler's, not a refusal or a delay here.
    "STOP", "ABMELDEN",
])
def test_ordinary_sentences_carry_no_signal(body: str) -> None:
    signal = read_signal(body)
    assert (signal.kind, signal.sentiment) == ("none", None), (body, signal.phrase)
