"""The default four-phase persistence sequence of IDPS, on the sequence engine (salesflow/sequences).

  phase 1  0 h    manual first contact: a task for a person (the enrollment waits until it is done)
  phase 2  48 h   trust: a short, helpful message without an ask
  phase 3  120 h  clarity: what the offer is, in one sentence, and one question
  phase 4  288 h  pivot: a different angle, or permission to close the thread
Delays are after the previous step (0, 48, 72, 168 hours), so the phases land 0 / 48 / 120 / 288 hours after
the first contact, moved into the sequence's sending window on the lead's clock by the engine. Phases 2 to 4 are
sent only while the lead has not replied (condition no_reply; a reply stops the enrollment anyway). They are
templates, not AI-generated text, so nothing needs a draft; an AI-personalised variant (kind ai_message,
drafts through autopilot) is the autopilot part's to add.
"""

from __future__ import annotations

from datetime import time
from itertools import pairwise
from typing import Any, Final

from salesflow.events.ports import TenantData
from salesflow.sequences.models import SequenceSpec, StepSpec

NAME: Final = "IDPS persistence ({channel}, {locale})"
#: Hours after the first contact at which each phase is due (before the sending window moves it).
PHASE_HOURS: Final = (0, 48, 120, 288)

_TEXTS: Final[dict[str, tuple[str, str, str, str]]] = {
    "de": (
        "Erstkontakt: den Lead persönlich anschreiben (Bezug auf Quelle und Anliegen).",
        "Hallo {{first_name}}, kurz zur Einordnung: Wir helfen Teams wie {{company | Ihrem}} dabei, keine "
        "Anfrage mehr liegen zu lassen. Falls Fragen aufkommen, schreiben Sie einfach hier.",
        "Hallo {{first_name}}, damit es klar ist: Wir übernehmen die Nachverfolgung Ihrer Leads auf allen "
        "Kanälen. Passt das gerade zu Ihnen, oder eher nicht?",
        "Hallo {{first_name}}, ich will nicht nerven: Soll ich mich in ein paar Monaten wieder melden, oder "
        "schließen wir das Thema für jetzt?",
    ),
    "en": (
        "First contact: write to the lead personally (mention where they came from and what they asked).",
        "Hi {{first_name}}, quick context: we help teams like {{company | yours}} stop losing enquiries. If "
        "anything comes up, just reply here.",
        "Hi {{first_name}}, to be clear: we take over following up your leads on every channel. Is that "
        "relevant for you right now, or not really?",
        "Hi {{first_name}}, I don't want to be a bother: shall I check back in a few months, or close this "
        "for now?",
    ),
}


def persistence_sequence(channel: str = "whatsapp", locale: str = "de") -> SequenceSpec:
    """The four-phase sequence for DMs on `channel`, in German (`de`) or English (`en`)."""
    if locale not in _TEXTS:
        raise ValueError(f"locale: must be one of {', '.join(_TEXTS)} (got {locale!r})")
    task, trust, clarity, pivot = _TEXTS[locale]
    gaps = [b - a for a, b in pairwise(PHASE_HOURS)]
    return SequenceSpec(
        name=NAME.format(channel=channel, locale=locale),
        send_days=[1, 2, 3, 4, 5, 6], send_from=time(9, 0), send_until=time(19, 0),
        on_reply="stop",
        steps=[
            StepSpec(kind="task", task=task),
            StepSpec(kind="message", channel=channel, template=trust, delay_hours=gaps[0], condition="no_reply"),
            StepSpec(kind="message", channel=channel, template=clarity, delay_hours=gaps[1], condition="no_reply"),
            StepSpec(kind="message", channel=channel, template=pivot, delay_hours=gaps[2], condition="no_reply"),
        ],
    )


async def ensure_persistence_sequence(data: TenantData, channel: str = "whatsapp", locale: str = "de") -> str:
    """The tenant's persistence sequence for `channel` and `locale` (created the first time); its id.

    Found by name, so calling it again returns the same sequence (one that a member archived is made anew)."""
    spec = persistence_sequence(channel, locale)
    found = [s for s in await data.select("sequences", {"name": spec.name}, columns=["id", "status"])
             if s["status"] != "archived"]
    if found:
        return str(found[0]["id"])
    created: list[dict[str, Any]] = await data.insert("sequences", [spec.sequence_row()])
    sequence_id = str(created[0]["id"])
    await data.insert("sequence_steps", [{"sequence_id": sequence_id, **row} for row in spec.step_rows()])
    return sequence_id
