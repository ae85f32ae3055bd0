"""How alerting runs, from the environment (the listener's and the CLI's; nothing of it is per tenant)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field, ValidationError


class AlertSettings(BaseModel):
    """SALESFLOW_ALERT_* variables; `from_env` names the variable a bad value came from."""

    # Seconds between evaluations (across all listeners: the SQL skips a round inside the interval).
    interval_seconds: float = Field(30.0, ge=0)
    # A failed send (5xx, timeout, SMTP 4xx) is tried again after base * 2^(attempt-1) seconds, up to max_attempts.
    retry_base_seconds: float = Field(30.0, ge=0)
    retry_max_seconds: float = Field(3600.0, ge=0)
    max_attempts: int = Field(8, ge=1, le=100)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # Where the dashboard lives, for links from a notification to the failing events (optional).
    dashboard_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "alerts@salesflow.invalid"
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(15.0, gt=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str | None] | None = None) -> AlertSettings:
        """From `env` (default: the process settings, i.e. the environment over `.env`)."""
        if env is None:
            from salesflow.settings import settings

            env = settings().model_dump()
        names = {field: f"SALESFLOW_ALERT_{field.upper()}" for field in cls.model_fields}
        names["dashboard_url"] = "SALESFLOW_DASHBOARD_URL"
        for field in ("interval_seconds", "retry_base_seconds", "retry_max_seconds", "webhook_timeout_seconds",
                      "smtp_timeout_seconds"):
            names[field] = names[field].removesuffix("_SECONDS")
        values = {field: env[name] for field, name in names.items() if env.get(name) not in (None, "")}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            raise ValueError(f"{names.get(field, field)}: {first['msg']}") from None
