"""German and English keyword rules: what an inbound message says for the inbox.

- `interest` ("interessiert", "Preis?", "wann können wir", "sounds good", "let's talk", ...): a person
  should answer now (needs_human_attention), sentiment positive.
- `delay` ("später", "nächsten Monat", "not now", "in a few weeks", ...): contact the lead again in 14 days
  (delay_requested), sentiment neutral.
- a refusal ("kein Interesse", "not interested", ...): no signal, sentiment negative (and a refusal wins over
  the words of interest inside it: "nicht interessiert" contains "interessiert").
Order: refusal, then delay, then interest — "klingt gut, aber erst nächsten Monat" is a delay.

Opt-out keywords (STOP, ABMELDEN) are not read here: `salesflow.conversations.optout` handles them and the
consent trigger makes the conversation unsubscribed. Rules are phrases with word boundaries rather than single
words, so "the later version" or "Preisausschreiben" match nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from salesflow.conversations.optout import opt_out_keyword


def _rules(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


REFUSAL: Final = _rules(
    r"\bkein(?:e|en)?\s+(?:interesse|bedarf)\b",
    r"\bnicht\s+(?:mehr\s+)?interessiert\b",
    r"\blassen\s+sie\s+mich\s+in\s+ruhe\b",
    r"\bnot\s+interested\b",
    r"\bno\s+interest\b",
    r"\bno\s+thanks?\b",
    r"\bno\s+thank\s+you\b",
    r"\bleave\s+me\s+alone\b",
)

DELAY: Final = _rules(
    r"^\s*(?:vielleicht\s+)?sp(?:ä|ae)ter\s*[.!]*\s*$",
    r"\b(?:vielleicht|lieber|gerne|eher|erst)\s+sp(?:ä|ae)ter\b",
    r"\bsp(?:ä|ae)ter\s+(?:nochmal|noch\s*mal|wieder|im\s+jahr|im\s+fr(?:ü|ue)hjahr|im\s+herbst|melden)\b",
    r"\bmelden\s+sie\s+sich\s+(?:bitte\s+)?(?:sp(?:ä|ae)ter|in\s+ein\s+paar|nach)\b",
    r"\bn(?:ä|ae)chste[nms]?\s+(?:monat|quartal|jahr|woche)\b",
    r"\bin\s+(?:ein\s+paar|einigen|zwei|drei|2|3)\s+(?:wochen|monaten)\b",
    r"\b(?:im\s+moment|momentan|derzeit|gerade|aktuell|zurzeit)\s+(?:leider\s+)?(?:nicht|keine\s+zeit)\b",
    r"\bnach\s+(?:dem|den)\s+(?:urlaub|ferien|feiertagen)\b",
    r"\bnot\s+(?:right\s+)?now\b",
    r"\bnot\s+at\s+the\s+moment\b",
    r"\bmaybe\s+later\b",
    r"\b(?:talk|speak|write|reach\s+out|get\s+back|check\s+back|come\s+back|contact\s+(?:me|us))"
    r"(?:\s+to\s+(?:me|us))?\s+(?:later|next\s+(?:month|quarter|year)|in\s+a\s+(?:few|couple\s+of)\s+(?:weeks|months))\b",
    r"\bnext\s+(?:month|quarter)\b",
    r"\bin\s+a\s+(?:few|couple\s+of)\s+(?:weeks|months)\b",
    r"\bafter\s+the\s+(?:holidays|summer|vacation)\b",
)

INTEREST: Final = _rules(
    r"\binteressiert\b",
    r"\b(?:gro(?:ß|ss)es\s+)?interesse\b",
    r"\bpreis(?:e|liste)?\s*\?",
    r"\bwas\s+(?:kostet|kosten)\b",
    r"\bwie\s+teuer\b",
    r"\bwann\s+k(?:ö|oe)nnen\s+wir\b",
    r"\bklingt\s+(?:gut|interessant|spannend)\b",
    r"\b(?:termin|telefonat|r(?:ü|ue)ckruf|demo)\s+(?:vereinbaren|ausmachen|machen)\b",
    r"\bschicken\s+sie\s+(?:mir|uns)\s+(?:ein|das)\s+angebot\b",
    r"\binterested\b",
    r"\bsounds\s+(?:good|great|interesting)\b",
    r"\blet'?s\s+talk\b",
    r"\bhow\s+much\b",
    r"\b(?:price|pricing|prices)\s*\?",
    r"\bwhat\s+(?:does\s+it|do\s+you)\s+(?:cost|charge)\b",
    r"\bwhen\s+can\s+we\b",
    r"\b(?:book|schedule|set\s+up)\s+(?:a\s+)?(?:call|demo|meeting)\b",
    r"\bsend\s+(?:me|us)\s+(?:a\s+)?(?:quote|proposal|offer)\b",
)


@dataclass(frozen=True)
class Signal:
    """What a message says for the inbox: `kind` interest | delay | none, the sentiment to record (None: say
    nothing about it) and the phrase that decided (for logs and the inbox's reasons)."""

    kind: str
    sentiment: str | None
    phrase: str | None = None


NOTHING: Final = Signal("none", None)


def read_signal(body: str | None, channel: str = "whatsapp") -> Signal:
    """The signal of an inbound message's text (see the module docstring for the order of the rules)."""
    text = (body or "").strip()
    if not text or opt_out_keyword(text, channel) is not None:
        return NOTHING
    for kind, rules, sentiment in (("none", REFUSAL, "negative"), ("delay", DELAY, "neutral"),
                                   ("interest", INTEREST, "positive")):
        found = rules.search(text)
        if found:
            return Signal(kind, sentiment, found.group(0).strip())
    return NOTHING
