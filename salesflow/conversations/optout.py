"""Opt-out by keyword: an inbound message that *is* STOP (or one of its kin) opts the lead out of that channel.

The rule, decided once here and documented in the README: the whole message, trimmed, in any case, is one
keyword of `OPT_OUT_KEYWORDS`; punctuation around it is tolerated ("Stop!", "STOPP.", "„Abmelden“"), nothing
else is. For email the message is the lead's own words: the quoted thread and signature below a reply do not
count (`own_words`). "Please stop sending me offers" or "Stop, wer ist das?" are sentences, not keyword
opt-outs: a person reads them (the reply path and the lead's score see the rejection). Carriers and WhatsApp's
own opt-out lists work the same way (a keyword alone), and a false positive silences a lead for good, so the
rule stays strict.

`record_keyword_opt_out` writes the consent through `public.record_opt_out`, which publishes `lead.opted_out`
and fails the lead's queued messages on the channel; a lead already opted out keeps its first record.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final
from uuid import UUID

from salesflow.events.ports import TenantData

# English (carrier and CTIA conventions) and German keywords, upper case.
OPT_OUT_KEYWORDS: Final = frozenset({
    "STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "CANCEL",
    "STOPP", "ABMELDEN", "ABBESTELLEN",
})


def _is_edge_character(char: str) -> bool:
    # Punctuation (Unicode categories P*: . ! ? „ “ « » ...), symbols such as emoji (S*) and spaces.
    return char.isspace() or unicodedata.category(char)[0] in ("P", "S")


# Where an email reply's own words end: the quoted original ("> ..."), its attribution line ("On Mon, ... wrote:",
# "Am ... schrieb ...:"), Outlook's separator, or the signature delimiter "-- ".
_REPLY_TAIL: Final = re.compile(
    r"^(>|-- ?$|-{3,} ?(Original Message|Ursprüngliche Nachricht)|(On|Am) .{0,200}(wrote|schrieb)[^\n]{0,80}:\s*$)",
    re.IGNORECASE | re.MULTILINE,
)


def own_words(body: str, channel: str) -> str:
    """The part of a message the lead wrote: for email, what comes before the quoted thread and the signature
    (a reply "STOP" above the quoted offer is the keyword STOP); other channels carry no quotes."""
    if channel != "email":
        return body
    tail = _REPLY_TAIL.search(body)
    return body[: tail.start()] if tail else body


def opt_out_keyword(body: str | None, channel: str = "whatsapp") -> str | None:
    """The keyword `body` consists of (upper case), or None when the message is anything else."""
    if not body:
        return None
    text = unicodedata.normalize("NFKC", own_words(body, channel))
    start, end = 0, len(text)
    while start < end and _is_edge_character(text[start]):
        start += 1
    while end > start and _is_edge_character(text[end - 1]):
        end -= 1
    word = text[start:end].upper()
    return word if word in OPT_OUT_KEYWORDS else None


async def record_keyword_opt_out(
    data: TenantData, lead_id: UUID | str, channel: str, keyword: str, message_id: UUID | str
) -> dict[str, Any]:
    """Opt the lead out of `channel` because of `message_id`; returns `{consent_id, changed}`.

    `changed` is False when the lead had opted out already (nothing new is recorded or published).
    """
    result = await data.rpc("record_opt_out", {
        "p_tenant_id": str(data.tenant_id), "p_lead_id": str(lead_id), "p_channel": channel,
        "p_method": "inbound_keyword", "p_evidence": keyword, "p_source_message_id": str(message_id),
    })
    return dict(result)
