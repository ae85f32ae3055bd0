"""Opt-out by keyword: an inbound message that *is* STOP (or one of its kin) opts the lead out of that channel.

The rule, decided once here and documented in the README: the whole message, trimmed, in any case, is one
keyword of `OPT_OUT_KEYWORDS`; punctuation around it is tolerated ("Stop!", "STOPP.", "„Abmelden“"), nothing
else is. "Please stop sending me offers" or "Stop, wer ist das?" are sentences, not keyword opt-outs: a person
reads them (the reply path and the lead's score see the rejection). Carriers and WhatsApp's own opt-out lists
work the same way (a keyword alone), and a false positive silences a lead for good, so the rule stays strict.

`record_keyword_opt_out` writes the consent through `public.record_opt_out`, which publishes `lead.opted_out`
and fails the lead's queued messages on the channel; a lead already opted out keeps its first record.
"""

from __future__ import annotations

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


def opt_out_keyword(body: str | None) -> str | None:
    """The keyword `body` consists of (upper case), or None when the message is anything else."""
    if not body:
        return None
    text = unicodedata.normalize("NFKC", body)
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
