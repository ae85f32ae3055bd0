"""What a scenario is: a named task with its input and output models, prompts, model route and limits.

A scenario module defines one `SCENARIO = Scenario(...)`; `salesflow.ai.scenarios` collects them, so adding
a task is one module (its seeded prompts come from the same module, see `packaged_prompts`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salesflow.ai.errors import InvalidScenarioInput

Locale = Literal["de", "en"]
LOCALES: tuple[Locale, ...] = ("de", "en")

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)

PromptMessages = Sequence[Mapping[str, str]]


class LeadFacts(BaseModel):
    """What the scenarios may know about a lead: the columns of `public.leads` that describe it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=300)
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    whatsapp: str | None = None
    instagram: str | None = None
    linkedin: str | None = None
    status: str = "new"
    source: str | None = None
    source_channel: str = "unknown"
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)
    score: int | None = None
    temperature: str | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0]

    def describe(self, locale: Locale) -> str:
        """The lead as labelled lines in the prompt's language (fields without a value are left out)."""
        labels = _LEAD_LABELS[locale]
        values: dict[str, Any] = {
            "name": self.name,
            "company": self.company,
            "email": self.email,
            "phone": self.phone or self.whatsapp,
            "status": self.status,
            "source_channel": self.source_channel,
            "source": self.source,
            "tags": ", ".join(self.tags) if self.tags else None,
            "notes": self.notes,
        }
        return "\n".join(f"{labels[k]}: {v}" for k, v in values.items() if v not in (None, ""))


_LEAD_LABELS: dict[Locale, dict[str, str]] = {
    "de": {
        "name": "Name", "company": "Firma", "email": "E-Mail", "phone": "Telefon", "status": "Status",
        "source_channel": "Kanal", "source": "Quelle", "tags": "Tags", "notes": "Notizen",
    },
    "en": {
        "name": "Name", "company": "Company", "email": "Email", "phone": "Phone", "status": "Status",
        "source_channel": "Channel", "source": "Source", "tags": "Tags", "notes": "Notes",
    },
}


@dataclass(frozen=True)
class Scenario(Generic[InT, OutT]):
    """A named AI task.

    `model_group` names a route in `salesflow.ai.routes`; `max_tokens` and `temperature` are the limits a
    prompt's model config may not exceed; `cacheable` lets identical requests reuse a result;
    `needs_contact_details` keeps emails and phone numbers unmasked in the prompt (only tasks whose job is
    contact data need them). `prompts` are the packaged prompts: seeded as version 1 and served only when
    the database cannot be reached; a test keeps them equal to the global `production` version the
    migrations ship, so changing the text goes with a migration that publishes it (`ai_publish_prompt`).
    `local` is the deterministic offline implementation.
    """

    name: str
    description: str
    input_model: type[InT]
    output_model: type[OutT]
    prompts: Mapping[Locale, PromptMessages]
    variables: Callable[[InT, Locale], dict[str, str]]
    local: Callable[[InT, Locale, date], OutT]
    model_group: str = "fast"
    max_tokens: int = 600
    temperature: float = 0.3
    cacheable: bool = False
    needs_contact_details: bool = False
    from_lead: Callable[[Mapping[str, Any]], InT] | None = None

    def parse_input(self, data: Mapping[str, Any] | BaseModel) -> InT:
        """Validate caller input against the input model; errors name the first offending field."""
        if isinstance(data, self.input_model):
            return data
        raw = data.model_dump() if isinstance(data, BaseModel) else data
        try:
            return self.input_model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(input)"
            raise InvalidScenarioInput(self.name, field, first["msg"]) from exc

    def input_from_lead(self, lead: Mapping[str, Any]) -> InT:
        """The input for a stored lead (scenarios that work on one lead define `from_lead`)."""
        if self.from_lead is None:
            raise InvalidScenarioInput(self.name, "lead", "this scenario does not work from a lead; pass --input")
        try:
            return self.from_lead(lead)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InvalidScenarioInput(self.name, f"lead.{field}", first["msg"]) from exc


def lead_only(model: type[InT]) -> Callable[[Mapping[str, Any]], InT]:
    """`from_lead` for inputs shaped `{lead: LeadFacts, conversation: str}`."""

    def build(lead: Mapping[str, Any]) -> InT:
        return model.model_validate({"lead": dict(lead), "conversation": lead.get("conversation") or ""})

    return build


# --- small text helpers shared by the local implementations ------------------------------------------

_WORD = re.compile(r"[\wäöüÄÖÜß]+", re.UNICODE)


def words(text: str) -> set[str]:
    """Lower-cased words of `text` (for keyword checks)."""
    return {w.lower() for w in _WORD.findall(text)}


def mentions(text: str, phrases: Sequence[str]) -> list[str]:
    """Which of `phrases` occur in `text` (case-insensitive; phrases may span words)."""
    lowered = text.lower()
    return [p for p in phrases if p in lowered]


def shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def last_line(conversation: str) -> str:
    """The last non-empty line of a transcript, without a `Speaker:` prefix."""
    lines = [line.strip() for line in conversation.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line.split(":", 1)[1].strip() if re.match(r"^[\w .-]{1,40}:", line) else line


NO_CONVERSATION: dict[Locale, str] = {"de": "(noch kein Gesprächsverlauf)", "en": "(no conversation yet)"}
