"""Autopilot settings: one row per tenant, overridable per channel and per lead (public.autopilot_settings).

The most specific non-null value wins field by field: lead row, then channel row, then the tenant row, then
`DEFAULTS` (mode off: no tenant gets AI drafts it did not ask for).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import time
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["off", "assist", "one_click", "auto"]
MODES: Final[tuple[str, ...]] = ("off", "assist", "one_click", "auto")
FIELDS: Final[tuple[str, ...]] = (
    "mode", "min_confidence", "max_per_lead_per_day", "max_per_tenant_per_day", "quiet_start", "quiet_end",
    "kill_switch", "draft_ttl_hours",
)


class AutopilotSettings(BaseModel):
    """The settings that apply to one lead on one channel."""

    model_config = ConfigDict(frozen=True)

    mode: Mode = "off"
    min_confidence: float = Field(default=0.8, ge=0, le=1)
    max_per_lead_per_day: int = Field(default=3, ge=0, le=1000)
    max_per_tenant_per_day: int = Field(default=200, ge=0, le=1_000_000)
    quiet_start: time | None = None
    quiet_end: time | None = None
    kill_switch: bool = False
    draft_ttl_hours: int = Field(default=24, ge=1, le=720)


DEFAULTS: Final = AutopilotSettings()


class SettingsUpdate(BaseModel):
    """A change to one settings row (CLI `--set key=value`, the dashboard): only the given fields change."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    max_per_lead_per_day: int | None = Field(default=None, ge=0, le=1000)
    max_per_tenant_per_day: int | None = Field(default=None, ge=0, le=1_000_000)
    quiet_start: time | None = None
    quiet_end: time | None = None
    kill_switch: bool | None = None
    draft_ttl_hours: int | None = Field(default=None, ge=1, le=720)

    @model_validator(mode="after")
    def _quiet_hours_pair(self) -> SettingsUpdate:
        given = self.model_fields_set
        if ("quiet_start" in given) != ("quiet_end" in given):
            raise ValueError("quiet_start: set quiet_start and quiet_end together (HH:MM each, or both empty)")
        return self

    def row(self) -> dict[str, Any]:
        """The columns to write (JSON-ready)."""
        return {k: (v.isoformat() if isinstance(v, time) else v)
                for k, v in self.model_dump(include=self.model_fields_set).items()}


def _specificity(row: Mapping[str, Any]) -> int:
    return 2 if row.get("lead_id") else 1 if row.get("channel") else 0


def resolve(rows: Iterable[Mapping[str, Any]]) -> AutopilotSettings:
    """The effective settings from the rows that apply (tenant, channel, lead), most specific value first."""
    values: dict[str, Any] = {}
    for row in sorted(rows, key=_specificity):
        for name in FIELDS:
            if row.get(name) is not None:
                values[name] = row[name]
    if (values.get("quiet_start") is None) != (values.get("quiet_end") is None):
        values.pop("quiet_start", None)
        values.pop("quiet_end", None)
    return AutopilotSettings.model_validate(values)
