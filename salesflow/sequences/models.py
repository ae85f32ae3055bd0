"""A sequence definition as a person writes it (the CLI's YAML, an API body): validated before anything is
stored, with the same rules as the SQL checks of supabase/migrations/20261202180000_sequences.sql, and errors
that name the field (`steps.2.template: ...`)."""

from __future__ import annotations

from datetime import time
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from salesflow.conversations.vocabulary import MESSAGE_CHANNELS
from salesflow.sequences.rendering import placeholders_in
from salesflow.sequences.schedule import SendingWindow, holiday_calendar

WEEKDAYS: Final = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
StepKind = Literal["message", "ai_message", "task"]
Condition = Literal["always", "no_reply", "engaged"]


class StepSpec(BaseModel):
    """One step: what is sent (or done), on which channel, how long after the previous step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: StepKind = "message"
    channel: str | None = None
    template: str | None = Field(default=None, min_length=1, max_length=4096)
    task: str | None = Field(default=None, min_length=1, max_length=500)
    delay_hours: float = Field(default=0, ge=0, le=8760)
    delay_business_days: int = Field(default=0, ge=0, le=365)
    condition: Condition = "always"

    @field_validator("template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders_in(value)
        return value

    @model_validator(mode="after")
    def _coherent(self) -> StepSpec:
        if self.kind != "task" and self.channel not in MESSAGE_CHANNELS:
            raise ValueError(f"channel: must be one of {', '.join(MESSAGE_CHANNELS)} (got {self.channel!r})")
        if self.kind == "message":
            if self.template is None:
                raise ValueError("template: a message step needs a template")
        elif self.template is not None:
            raise ValueError(f"template: only message steps have one ({self.kind} steps do not)")
        if self.kind == "task" and self.task is None:
            raise ValueError("task: a task step needs the task's text")
        if self.delay_hours and self.delay_business_days:
            raise ValueError("delay_hours: give delay_hours or delay_business_days, not both")
        return self


class SequenceSpec(BaseModel):
    """A sequence with its window, holidays, caps and steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    status: Literal["active", "paused"] = "active"
    send_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], min_length=1, max_length=7)
    send_from: time = time(9, 0)
    send_until: time = time(17, 0)
    timezone: str = "Europe/Berlin"
    holiday_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    holiday_subdivision: str | None = Field(default=None, max_length=10)
    daily_cap_tenant: int | None = Field(default=None, ge=1)
    daily_cap_sender: int | None = Field(default=None, ge=1)
    on_reply: Literal["stop", "pause"] = "stop"
    steps: list[StepSpec] = Field(min_length=1, max_length=100)

    @field_validator("send_days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [WEEKDAYS.get(str(v).lower()[:3], v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("send_days")
    @classmethod
    def _days_range(cls, value: list[int]) -> list[int]:
        if any(d not in range(1, 8) for d in value):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday) or mon … sun")
        return sorted(set(value))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Vienna)") from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> SequenceSpec:
        if self.send_from >= self.send_until:
            raise ValueError(f"send_from: {self.send_from} must be before send_until {self.send_until}")
        if self.holiday_subdivision and not self.holiday_country:
            raise ValueError("holiday_subdivision: needs holiday_country")
        if self.holiday_country:
            holiday_calendar(self.holiday_country, self.holiday_subdivision)
        return self

    def window(self) -> SendingWindow:
        return SendingWindow(frozenset(self.send_days), self.send_from, self.send_until, self.holiday_country,
                             self.holiday_subdivision)

    def sequence_row(self) -> dict[str, Any]:
        """The `sequences` row (without tenant and id)."""
        row = self.model_dump(exclude={"steps"})
        row["send_from"] = self.send_from.isoformat()
        row["send_until"] = self.send_until.isoformat()
        return row

    def step_rows(self) -> list[dict[str, Any]]:
        """The `sequence_steps` rows in order (position 1, 2, …)."""
        return [{"position": i, **step.model_dump()} for i, step in enumerate(self.steps, start=1)]


def window_of(sequence: dict[str, Any]) -> SendingWindow:
    """The sending window of a stored `sequences` row."""
    return SendingWindow(
        frozenset(int(d) for d in sequence["send_days"]),
        time.fromisoformat(str(sequence["send_from"])),
        time.fromisoformat(str(sequence["send_until"])),
        sequence.get("holiday_country"),
        sequence.get("holiday_subdivision"),
    )


def describe_error(exc: ValidationError) -> str:
    """The first problem of a validation error as `field.path: what is allowed`."""
    err = exc.errors()[0]
    parts = list(err["loc"])
    if len(parts) > 1 and parts[0] == "steps" and isinstance(parts[1], int):
        parts[1] += 1  # steps are numbered from 1, as their positions
    loc = ".".join(str(p) for p in parts)
    message = str(err["msg"]).removeprefix("Value error, ")
    if ": " in message and not loc.endswith(message.split(": ", 1)[0]):
        field, _, rest = message.partition(": ")
        if " " not in field:
            return f"{loc + '.' if loc else ''}{field}: {rest}"
    return f"{loc or 'file'}: {message}"
