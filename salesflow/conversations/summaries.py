"""Rolling conversation summaries: when the unsummarised tail of a conversation passes a token threshold,
the `conversation_summary` scenario merges the previous summary with the tail into a new one.

A summary row covers a message range: from the conversation's first summarised message (first_message_id)
to the last one of the tail it summarised (last_message_id, covered_until = that message's time), with the
count and estimated tokens of everything it covers and the prompt version that wrote it. At most one row
per (conversation, last message): summarising the same tail twice (a redelivered event) inserts nothing.

A very long tail (an imported chat) is summarised a chunk at a time, oldest first; `refresh_summary` says
whether a tail is left that is still due, so the caller can schedule the next chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from salesflow.ai.orchestrator import Orchestrator
from salesflow.ai.scenarios.base import Locale
from salesflow.ai.scenarios.conversation_summary import ConversationSummary
from salesflow.conversations.memory import estimate_tokens
from salesflow.events.ports import TenantData

# Summarise once the messages after the last summary are estimated at this many tokens (~2,400 bytes of
# chat, some 20-40 messages): small enough that the newest messages plus one summary fit a prompt, large
# enough that a summary is not rewritten on every message.
SUMMARY_THRESHOLD_TOKENS = 800
# One AI call summarises at most this much of the tail (the scenario's input is capped at 50,000 characters).
CHUNK_TOKENS = 6000
MESSAGE_CHARS = 4000

_SPEAKERS = {"de": ("Lead", "Wir"), "en": ("Lead", "We")}


@dataclass(frozen=True)
class SummaryWritten:
    """What `refresh_summary` did."""

    summary_id: str | None  # None: this range was summarised already (nothing inserted)
    conversation_id: str
    first_message_id: str
    last_message_id: str
    message_count: int
    prompt_version: int
    still_due: bool  # the remaining tail is itself past the threshold (schedule another chunk)


async def tail(data: TenantData, conversation_id: str | UUID, max_tokens: int = 0) -> Mapping[str, Any] | None:
    """The conversation's newest summary and its tail (`public.conversation_summary_tail`); None when the
    tenant has no such conversation. With `max_tokens` 0 only the tail's size."""
    result = await data.rpc("conversation_summary_tail", {
        "p_tenant_id": str(data.tenant_id), "p_conversation_id": str(conversation_id), "p_max_tokens": max_tokens,
    })
    return result or None


async def summary_due(
    data: TenantData, conversation_id: str | UUID, threshold: int = SUMMARY_THRESHOLD_TOKENS
) -> Mapping[str, Any] | None:
    """The tail's size when it passed `threshold` (so a summary is due), else None."""
    found = await tail(data, conversation_id)
    if found is None or int(found["tail_tokens"]) < threshold:
        return None
    return found


def transcript(chunk: list[Mapping[str, Any]], locale: str) -> str:
    """The messages as the scenario reads them: `[YYYY-MM-DD HH:MM] Lead: text`, one line each."""
    lead, us = _SPEAKERS["en" if locale == "en" else "de"]
    lines = []
    for m in chunk:
        text = m.get("body") or (f"[template {m['template_name']}]" if m.get("template_name")
                                 else f"[{m.get('content_type') or 'text'}]")
        text = " ".join(str(text).split())[:MESSAGE_CHARS]
        at = datetime.fromisoformat(str(m["at"]))
        lines.append(f"[{at:%Y-%m-%d %H:%M}] {lead if m['direction'] == 'in' else us}: {text}")
    return "\n".join(lines)


async def refresh_summary(
    data: TenantData,
    orchestrator: Orchestrator,
    conversation_id: str | UUID,
    *,
    threshold: int = SUMMARY_THRESHOLD_TOKENS,
    chunk_tokens: int = CHUNK_TOKENS,
    event_id: str | UUID | None = None,
) -> SummaryWritten | None:
    """Write the next rolling summary of the conversation if its tail is due; None when it is not (or the
    conversation is gone). The AI call goes through `orchestrator` (`conversation_summary`)."""
    found = await tail(data, conversation_id, max_tokens=chunk_tokens)
    if found is None or int(found["tail_tokens"]) < threshold or not found["chunk"]:
        return None
    chunk: list[Mapping[str, Any]] = found["chunk"]
    previous: Mapping[str, Any] | None = found.get("previous")
    locale: Locale = "en" if found.get("locale") == "en" else "de"
    result = await orchestrator.run(
        "conversation_summary",
        tenant_id=data.tenant_id,
        lead_id=found["lead_id"],
        event_id=event_id,
        locale=locale,
        input={"conversation": transcript(chunk, locale)[:50000],
               "previous_summary": (previous or {}).get("summary") or ""},
    )
    output = result.output
    assert isinstance(output, ConversationSummary)
    chunk_tokens_used = sum(int(m["tokens"]) for m in chunk)
    first = (previous or {}).get("first_message_id") or chunk[0]["id"]
    count = int((previous or {}).get("message_count") or 0) + len(chunk)
    rows = await data.insert(
        "conversation_summaries",
        [{
            "conversation_id": str(conversation_id),
            "summary": output.summary,
            "key_facts": list(output.key_facts),
            "sentiment": output.sentiment,
            "first_message_id": first,
            "last_message_id": chunk[-1]["id"],
            "covered_until": chunk[-1]["at"],
            "message_count": count,
            "token_count": int((previous or {}).get("token_count") or 0) + chunk_tokens_used,
            "prompt_version": result.prompt_version,
        }],
        on_conflict="conversation_id,last_message_id",
        ignore_duplicates=True,
    )
    return SummaryWritten(
        summary_id=str(rows[0]["id"]) if rows else None,
        conversation_id=str(conversation_id),
        first_message_id=str(first),
        last_message_id=str(chunk[-1]["id"]),
        message_count=count,
        prompt_version=int(result.prompt_version),
        still_due=int(found["tail_tokens"]) - chunk_tokens_used >= threshold,
    )


__all__ = [
    "CHUNK_TOKENS", "SUMMARY_THRESHOLD_TOKENS", "SummaryWritten", "estimate_tokens", "refresh_summary",
    "summary_due", "tail", "transcript",
]
