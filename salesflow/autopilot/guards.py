"""What needs a person: the guards that stop an automatic send, and what each mode does with a draft.

Always a person (in every mode): the first contact with a lead, pricing / discount / contract / legal topics
(German and English keyword rules), a detected objection, negative sentiment, and any AI failure (then nothing
is drafted or sent). In auto mode also: a confidence below the threshold, the lead's or the tenant's daily cap,
and quiet hours in the lead's time zone. The kill switch and mode off stop the autopilot altogether.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Final, Literal
from zoneinfo import ZoneInfo

from salesflow.autopilot.settings import AutopilotSettings

# Word stems (matched at the start of a word, case-insensitive), German and English.
SENSITIVE: Final[dict[str, tuple[str, ...]]] = {
    "pricing": ("preis", "kosten", "kostet", "teuer", "expensive", "price", "pricing", "cost", "how much",
                "wie viel", "wieviel", "angebot", "quote", "tarif", "budget", "€", "eur ", "euro", "$", "usd"),
    "discount": ("rabatt", "nachlass", "skonto", "discount", "günstiger", "cheaper", "coupon", "gutschein"),
    "contract": ("vertrag", "verträg", "kündig", "laufzeit", "contract", "cancel", "terminat", "renewal",
                 "agb", "terms and conditions", "unterschrift", "signature", "invoice", "rechnung"),
    "legal": ("anwalt", "rechtlich", "klage", "dsgvo", "datenschutz", "haftung", "lawyer", "legal",
              "attorney", "lawsuit", "gdpr", "liability", "compliance", "abmahnung"),
}
NEGATIVE: Final[tuple[str, ...]] = (
    "enttäusch", "ärger", "verärgert", "unverschämt", "frech", "schlecht", "katastroph", "beschwer", "nervig",
    "hör auf", "lassen sie mich", "kein interesse", "nicht interessiert", "spam",
    "disappointed", "angry", "annoy", "terrible", "awful", "worst", "complain", "rude", "ridiculous",
    "leave me alone", "not interested", "stop writing",
)
OBJECTION: Final[tuple[str, ...]] = (
    "zu teuer", "zu viel", "keine zeit", "kein bedarf", "schon einen anbieter", "bereits einen", "später",
    "too expensive", "too much", "no time", "no need", "already have", "already use", "not now", "later",
)

Guard = Literal["first_contact", "sensitive_topic", "objection", "negative_sentiment", "ai_failure",
                "low_confidence", "lead_cap", "tenant_cap", "quiet_hours", "mode"]
Outcome = Literal["skip", "queue", "send"]


def _matches(text: str, stems: tuple[str, ...]) -> list[str]:
    lowered = f" {text.lower()} "
    found = []
    for stem in stems:
        if not stem[0].isalnum():
            if stem in lowered:
                found.append(stem.strip())
        elif re.search(r"(?<![\w])" + re.escape(stem), lowered):
            found.append(stem.strip())
    return found


def sensitive_topics(text: str) -> dict[str, list[str]]:
    """The sensitive topics `text` touches (pricing, discount, contract, legal) and the words that matched."""
    return {topic: words for topic, stems in SENSITIVE.items() if (words := _matches(text, stems))}


def negative_words(text: str) -> list[str]:
    """Words of negative sentiment in `text`."""
    return _matches(text, NEGATIVE)


def objection_words(text: str) -> list[str]:
    """Words of an objection in `text`."""
    return _matches(text, OBJECTION)


def in_quiet_hours(now: datetime, zone: str, start: time | None, end: time | None) -> bool:
    """Whether `now` falls between start and end in time zone `zone` (a window may wrap midnight)."""
    if start is None or end is None or start == end:
        return False
    local = now.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    return start <= local < end if start < end else (local >= start or local < end)


@dataclass(frozen=True)
class GuardInput:
    """What the guards look at for one inbound message and its draft."""

    text: str
    settings: AutopilotSettings
    now: datetime
    timezone: str = "UTC"
    first_contact: bool = False
    intent: str | None = None
    objection: bool = False
    confidence: float | None = None
    ai_failed: bool = False
    lead_auto_sent_24h: int = 0
    tenant_auto_sent_24h: int = 0


@dataclass(frozen=True)
class Verdict:
    """What to do with a draft: skip (nothing recorded or sent), queue it for a person, or send it."""

    outcome: Outcome
    guards: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=())


def judge(g: GuardInput) -> Verdict:
    """The guard matrix: mode x confidence x guards x caps (see the module docstring)."""
    s = g.settings
    if s.kill_switch:
        return Verdict("skip", (), ("kill switch on",))
    if s.mode == "off":
        return Verdict("skip", (), ("autopilot off",))
    guards: list[str] = []
    reasons: list[str] = []
    if g.ai_failed:
        guards.append("ai_failure")
        reasons.append("the AI failed: nothing is drafted or sent")
        return Verdict("queue", tuple(guards), tuple(reasons))
    if g.first_contact:
        guards.append("first_contact")
        reasons.append("first contact with the lead: a person answers")
    if topics := sensitive_topics(g.text):
        guards.append("sensitive_topic")
        reasons.append("sensitive topic: " + "; ".join(f"{t} ({', '.join(w)})" for t, w in topics.items()))
    if g.objection or g.intent == "objection" or objection_words(g.text):
        guards.append("objection")
        reasons.append("an objection: a person answers")
    if g.intent == "negative" or negative_words(g.text):
        guards.append("negative_sentiment")
        reasons.append("negative sentiment: a person answers")
    if s.mode != "auto":
        reasons.append(f"{s.mode} mode: a member approves every draft")
        return Verdict("queue", tuple(guards), tuple(reasons))
    confidence = g.confidence or 0.0
    if confidence < s.min_confidence:
        guards.append("low_confidence")
        reasons.append(f"confidence {confidence:.2f} below {s.min_confidence:.2f}")
    if g.lead_auto_sent_24h >= s.max_per_lead_per_day:
        guards.append("lead_cap")
        reasons.append(f"{g.lead_auto_sent_24h} automatic replies to this lead in 24 h (cap {s.max_per_lead_per_day})")
    if g.tenant_auto_sent_24h >= s.max_per_tenant_per_day:
        guards.append("tenant_cap")
        reasons.append(f"{g.tenant_auto_sent_24h} automatic replies in 24 h (tenant cap {s.max_per_tenant_per_day})")
    if in_quiet_hours(g.now, g.timezone, s.quiet_start, s.quiet_end):
        guards.append("quiet_hours")
        reasons.append(f"quiet hours {s.quiet_start}–{s.quiet_end} in {g.timezone}")  # noqa: RUF001
    if guards:
        return Verdict("queue", tuple(guards), tuple(reasons))
    reasons.append(f"auto mode: confidence {confidence:.2f} ≥ {s.min_confidence:.2f}, within caps, no guard")
    return Verdict("send", (), tuple(reasons))
