"""The memory manager: what a prompt knows about a lead, within a token budget.

The context of a lead is, in this order of priority:

1. the pinned profile: the lead's describing fields and its current facts (lead_facts, valid_to null);
2. the newest rolling summary of each of its conversations (conversation_summaries);
3. up to `recall_k` older messages recalled by Postgres full-text search (in the lead's language, so
   "Angebote" finds "Angebot") for the newest inbound text: what the lead asks about now may have been
   settled months ago;
4. the newest messages, newest first, while they fit.

Everything comes from one SQL call (`public.lead_memory`, through `TenantData.rpc`), so a lead with 10,000
messages costs a few index lookups. The budget is kept by `estimate_tokens`, a cheap deterministic estimate
(tiktoken is not a dependency, and the model may not be OpenAI's): ceil(UTF-8 bytes / 3), which overestimates
English text (about 4 bytes a token) and is close for German (about 3). `LeadContext.render()` never exceeds
the budget by that estimate: every line is charged `estimate_tokens(line + "\\n")`, and the estimate of the
joined text is at most the sum of its lines' (ceil is subadditive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from salesflow.events.ports import TenantData

DEFAULT_TOKEN_BUDGET = 2000
DEFAULT_RECALL_K = 5
# The recalled messages get at most this share of what is left after the profile and summaries, so the
# newest messages (what the prompt answers) keep most of the budget.
RECALL_SHARE = 0.3
# A recalled message is an excerpt; the newest ones are quoted up to this length.
RECALLED_CHARS = 400
RECENT_CHARS = 2000
# Per message, the SQL function adds this much for role and separators (private.estimate_tokens + 4).
MESSAGE_OVERHEAD_TOKENS = 4

Locale = Literal["de", "en"]


def estimate_tokens(text: str) -> int:
    """Estimated tokens of `text`: ceil(UTF-8 bytes / 3) (private.estimate_tokens in SQL is the same rule)."""
    return math.ceil(len(text.encode("utf-8")) / 3)


class LeadNotFound(LookupError):
    """The tenant has no lead with this id."""


@dataclass(frozen=True)
class MemoryMessage:
    """A message as the context quotes it."""

    id: str
    direction: Literal["in", "out"]
    channel: str
    text: str
    at: datetime
    rank: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MemoryMessage:
        body = row.get("body")
        if not body:
            kind = row.get("content_type") or "text"
            body = f"[template {row['template_name']}]" if row.get("template_name") else f"[{kind}]"
        at = row["at"]
        return cls(
            id=str(row["id"]), direction=row["direction"], channel=row.get("channel") or "", text=str(body),
            at=at if isinstance(at, datetime) else datetime.fromisoformat(str(at)),
            rank=float(row["rank"]) if row.get("rank") is not None else None,
        )


_LABELS: dict[Locale, dict[str, str]] = {
    "de": {
        "profile": "## Lead", "facts": "## Bekannte Fakten", "summary": "## Zusammenfassung",
        "recalled": "## Frühere Nachrichten zum Thema", "recent": "## Neueste Nachrichten",
        "lead": "Lead", "us": "Wir", "covered": "bis", "messages": "Nachrichten",
        "name": "Name", "company": "Firma", "email": "E-Mail", "phone": "Telefon", "status": "Status",
        "source_channel": "Kanal", "notes": "Notizen", "tags": "Tags", "deal": "Auftragswert",
        "timezone": "Zeitzone", "temperature": "Temperatur", "facts_line": "Fakten",
    },
    "en": {
        "profile": "## Lead", "facts": "## Known facts", "summary": "## Summary",
        "recalled": "## Earlier messages on the topic", "recent": "## Newest messages",
        "lead": "Lead", "us": "We", "covered": "until", "messages": "messages",
        "name": "Name", "company": "Company", "email": "Email", "phone": "Phone", "status": "Status",
        "source_channel": "Channel", "notes": "Notes", "tags": "Tags", "deal": "Deal value",
        "timezone": "Time zone", "temperature": "Temperature", "facts_line": "Facts",
    },
}


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


@dataclass
class _Budget:
    """Lines charged against a token budget (each `estimate_tokens(line + "\\n")`)."""

    left: int
    used: int = 0

    def cost(self, line: str) -> int:
        return estimate_tokens(line + "\n")

    def take(self, line: str, *, shorten_to_fit: bool = False) -> str | None:
        """The line if it fits; else, when allowed, the longest cut of it that fits (None when nothing does)."""
        cost = self.cost(line)
        if cost <= self.left:
            self.left -= cost
            self.used += cost
            return line
        if not shorten_to_fit or self.left < 8:
            return None
        # Each token is at most 3 bytes of the estimate; cut by characters, then check.
        limit = max((self.left - 1) * 3 // 4, 1)
        while limit > 0:
            cut = _shorten(line, limit)
            if self.cost(cut) <= self.left:
                self.left -= self.cost(cut)
                self.used += self.cost(cut)
                return cut
            limit = limit * 3 // 4
        return None


@dataclass(frozen=True)
class LeadContext:
    """A lead's memory context, already fitted to `token_budget` (see the module docstring)."""

    lead_id: str
    locale: Locale
    token_budget: int
    profile: tuple[str, ...]
    summaries: tuple[str, ...]
    recalled: tuple[MemoryMessage, ...]
    recent: tuple[MemoryMessage, ...]  # oldest first, as a prompt reads them
    query: str | None = None
    lines: tuple[str, ...] = field(default=(), repr=False)

    def render(self) -> str:
        """The context as prompt text; its `estimate_tokens` is at most `token_budget`."""
        return "\n".join(self.lines)

    @property
    def tokens(self) -> int:
        """Estimated tokens of `render()`."""
        return estimate_tokens(self.render())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the CLI and scripts."""
        def message(m: MemoryMessage) -> dict[str, Any]:
            return {"id": m.id, "direction": m.direction, "channel": m.channel, "text": m.text,
                    "at": m.at.isoformat(), **({"rank": m.rank} if m.rank is not None else {})}
        return {
            "lead_id": self.lead_id, "locale": self.locale, "token_budget": self.token_budget,
            "tokens": self.tokens, "query": self.query, "profile": list(self.profile),
            "summaries": list(self.summaries), "recalled": [message(m) for m in self.recalled],
            "recent": [message(m) for m in self.recent], "text": self.render(),
        }


def _profile_lines(lead: Mapping[str, Any], facts: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> list[str]:
    lines = []
    for key in ("name", "company", "email", "phone", "status", "source_channel", "temperature", "timezone"):
        value = lead.get(key)
        if key == "phone":
            value = value or lead.get("whatsapp")
        if value not in (None, ""):
            lines.append(f"{labels[key]}: {value}")
    if lead.get("deal_value") is not None:
        lines.append(f"{labels['deal']}: {lead['deal_value']} {lead.get('currency') or ''}".rstrip())
    if lead.get("tags"):
        lines.append(f"{labels['tags']}: {', '.join(lead['tags'])}")
    if lead.get("notes"):
        lines.append(f"{labels['notes']}: {_shorten(str(lead['notes']), 500)}")
    for fact in facts:
        value = fact.get("value")
        shown = value if isinstance(value, str) else _json_short(value)
        lines.append(f"- {fact['key']}: {shown}")
    return lines


def _json_short(value: Any) -> str:
    import json

    return _shorten(json.dumps(value, ensure_ascii=False), 200)


def _message_line(m: MemoryMessage, labels: Mapping[str, str], limit: int) -> str:
    who = labels["lead"] if m.direction == "in" else labels["us"]
    return f"[{m.at:%Y-%m-%d %H:%M}] {who}: {_shorten(m.text, limit)}"


def fit_context(
    memory: Mapping[str, Any], token_budget: int = DEFAULT_TOKEN_BUDGET, recall_k: int = DEFAULT_RECALL_K
) -> LeadContext:
    """The context from `public.lead_memory`'s answer, fitted to the budget (profile, summaries, recalled
    messages, newest messages; each section's heading only when something of it fits)."""
    lead = memory["lead"]
    locale: Locale = "en" if lead.get("locale") == "en" else "de"
    labels = _LABELS[locale]
    budget = _Budget(token_budget)
    lines: list[str] = []

    def section(heading: str, candidates: Sequence[str], *, shorten_first: bool = False) -> list[str]:
        """Add the heading and as many candidate lines as fit; returns the lines taken."""
        taken: list[str] = []
        if not candidates:
            return taken
        heading_cost = budget.cost(heading)
        if heading_cost >= budget.left:
            return taken
        budget.left -= heading_cost
        for i, candidate in enumerate(candidates):
            line = budget.take(candidate, shorten_to_fit=shorten_first and i == 0)
            if line is None:
                break
            taken.append(line)
        if taken:
            lines.append(heading)
            lines.extend(taken)
            budget.used += heading_cost
        else:
            budget.left += heading_cost
        return taken

    profile = section(labels["profile"], _profile_lines(lead, memory.get("facts") or [], labels), shorten_first=True)

    summary_lines = []
    for s in memory.get("summaries") or []:
        covered = str(s.get("covered_until") or "")[:10]
        text = f"({s.get('channel')}, {s.get('message_count')} {labels['messages']} {labels['covered']} {covered}) " \
               f"{s['summary']}"
        summary_lines.append(text)
        if s.get("key_facts"):
            summary_lines.append(f"{labels['facts_line']}: " + "; ".join(str(f) for f in s["key_facts"]))
    summaries = section(labels["summary"], summary_lines, shorten_first=True)

    recent_rows = [MemoryMessage.from_row(r) for r in memory.get("recent") or []]
    recalled_rows = [MemoryMessage.from_row(r) for r in memory.get("recalled") or []][:recall_k]
    # Recall gets its share only; what it leaves goes to the newest messages.
    reserve = budget.left - int(budget.left * RECALL_SHARE)
    budget.left -= reserve
    recalled_lines = section(labels["recalled"], [_message_line(m, labels, RECALLED_CHARS) for m in recalled_rows])
    recalled = tuple(recalled_rows[: len(recalled_lines)])
    budget.left += reserve

    # Newest first while they fit (the newest one shortened if need be), then shown oldest first.
    heading_cost = budget.cost(labels["recent"])
    kept: list[tuple[MemoryMessage, str]] = []
    if recent_rows and heading_cost < budget.left:
        budget.left -= heading_cost
        for i, m in enumerate(recent_rows):
            line = budget.take(_message_line(m, labels, RECENT_CHARS), shorten_to_fit=i == 0)
            if line is None:
                break
            kept.append((m, line))
        if kept:
            budget.used += heading_cost
            lines.append(labels["recent"])
            lines.extend(line for _, line in reversed(kept))
        else:
            budget.left += heading_cost

    return LeadContext(
        lead_id=str(lead["id"]), locale=locale, token_budget=token_budget, profile=tuple(profile),
        summaries=tuple(summaries), recalled=recalled, recent=tuple(m for m, _ in reversed(kept)),
        query=memory.get("query"), lines=tuple(lines),
    )


async def build_context(
    data: TenantData,
    lead_id: str | UUID,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    recall_k: int = DEFAULT_RECALL_K,
    query: str | None = None,
) -> LeadContext:
    """The memory context of `lead_id` within `token_budget` estimated tokens (see the module docstring).

    `query` replaces the newest inbound text as what older messages are recalled for. LeadNotFound when the
    tenant has no such lead; ValueError for a negative budget or a recall_k outside 0 to 50.
    """
    if token_budget < 0:
        raise ValueError(f"token_budget: must be 0 or more (got {token_budget})")
    if not 0 <= recall_k <= 50:
        raise ValueError(f"recall_k: must be between 0 and 50 (got {recall_k})")
    memory = await data.rpc("lead_memory", {
        "p_tenant_id": str(data.tenant_id), "p_lead_id": str(lead_id), "p_query": query,
        "p_token_budget": token_budget, "p_recall_k": recall_k,
    })
    if not memory:
        raise LeadNotFound(f"lead_id: no lead {lead_id} in tenant {data.tenant_id}")
    return fit_context(memory, token_budget, recall_k)
