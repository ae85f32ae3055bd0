"""The alerting vocabulary (one source: the SQL checks in the alerting migrations mirror these) and the
input model the CLI validates a rule with before it reaches the database."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# private.alert_metrics()
METRICS: Final = ("failed_events", "oldest_pending_age", "handler_failure_rate", "listener_heartbeat_missing",
                  "ai_budget", "webhook_signature_failures", "channel_send_failures")
SEVERITIES: Final = ("info", "warning", "critical")
TARGET_KINDS: Final = ("webhook", "email", "dashboard")
RATE_METRICS: Final = ("handler_failure_rate", "webhook_signature_failures")
WINDOWED_METRICS: Final = ("failed_events", "handler_failure_rate", "webhook_signature_failures",
                           "channel_send_failures")
COUNT_METRICS: Final = ("failed_events", "channel_send_failures")
AGE_METRICS: Final = ("oldest_pending_age", "listener_heartbeat_missing")
MAX_SECONDS: Final = 30 * 86400

Metric = Literal["failed_events", "oldest_pending_age", "handler_failure_rate", "listener_heartbeat_missing",
                 "ai_budget", "webhook_signature_failures", "channel_send_failures"]
Severity = Literal["info", "warning", "critical"]

# What threshold means for each metric (help texts and docs).
THRESHOLD_UNITS: Final = {
    "failed_events": "failed events in the window",
    "oldest_pending_age": "seconds the oldest due pending event has waited",
    "handler_failure_rate": "failed / finished deliveries of one handler (0..1)",
    "listener_heartbeat_missing": "seconds since a listener's last heartbeat",
    "ai_budget": "percent of the monthly AI budget",
    "webhook_signature_failures": "failed / all inbound webhooks (0..1)",
    "channel_send_failures": "failed outbound messages of one channel in the window",
}


class RuleInput(BaseModel):
    """One alert rule as given (`salesflow alerts rules add/set`); the database checks the same again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,62}$")
    metric: Metric
    window_seconds: int = Field(0, ge=0, le=MAX_SECONDS)
    threshold: float = Field(ge=0)
    min_count: int = Field(1, ge=1, le=1_000_000)
    cooldown_seconds: int = Field(3600, ge=0, le=MAX_SECONDS)
    severity: Severity = "warning"
    enabled: bool = True

    @model_validator(mode="after")
    def _fits_the_metric(self) -> RuleInput:
        m, t = self.metric, self.threshold
        if m in WINDOWED_METRICS and self.window_seconds == 0:
            raise ValueError(f"window_seconds: metric {m} counts over a window, so it must be > 0")
        if m in RATE_METRICS and t > 1:
            raise ValueError(f"threshold: metric {m} is a rate between 0 and 1, got {t:g}")
        if m == "ai_budget" and not 0 < t <= 1000:
            raise ValueError(f"threshold: metric ai_budget is a percentage of the budget (> 0 and <= 1000), got {t:g}")
        if m in COUNT_METRICS and t < 1:
            raise ValueError(f"threshold: metric {m} is a count, so it must be >= 1, got {t:g}")
        if m in AGE_METRICS and t <= 0:
            raise ValueError(f"threshold: metric {m} is an age in seconds, so it must be > 0, got {t:g}")
        return self


def severity_rank(severity: str) -> int:
    """info < warning < critical (private.alert_severity_rank)."""
    return SEVERITIES.index(severity) + 1
