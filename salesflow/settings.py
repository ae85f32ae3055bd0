"""Settings from the environment and a `.env` file.

Every setting the product reads is declared here, once. A `.env` key or a `SALESFLOW_*` variable that is
not declared, or a value that does not parse, stops start-up with a message naming the variable, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is unknown or malformed; the message names the variable and what is allowed."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    DATABASE_URL: str | None = None
    SUPABASE_URL: str | None = None
    SUPABASE_ANON_KEY: str | None = None
    SUPABASE_SERVICE_ROLE_KEY: str | None = None
    SUPABASE_JWT_SECRET: str = "super-secret-jwt-token-with-at-least-32-characters-long"
    OPENAI_API_KEY: str | None = None
    OPENAI_BASE_URL: str | None = None
    SALESFLOW_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    SALESFLOW_LOG_FORMAT: Literal["auto", "json", "text"] = "auto"
    SALESFLOW_DEV_PORT: int = Field(default=54321, ge=0, le=65535)  # 0 = any free port
    SALESFLOW_EMBEDDED_DIR: str = str(PROJECT_ROOT / ".salesflow" / "pgdata")
    SALESFLOW_TRANSPORT: Literal["postgres", "supabase"] | None = None
    # How long processed events (and their deliveries) are kept before the listener deletes them: a duration
    # like 7d, 12h, 30m, or "off" to keep them.
    SALESFLOW_EVENT_RETENTION: str = "7d"
    # Alerting (docs/alerting.md); validated by salesflow/alerts/settings.py, which names a bad one.
    SALESFLOW_ALERT_INTERVAL: str | None = None
    SALESFLOW_ALERT_RETRY_BASE: str | None = None
    SALESFLOW_ALERT_RETRY_MAX: str | None = None
    SALESFLOW_ALERT_MAX_ATTEMPTS: str | None = None
    SALESFLOW_ALERT_WEBHOOK_TIMEOUT: str | None = None
    SALESFLOW_ALERT_SMTP_HOST: str | None = None
    SALESFLOW_ALERT_SMTP_PORT: str | None = None
    SALESFLOW_ALERT_SMTP_USERNAME: str | None = None
    SALESFLOW_ALERT_SMTP_PASSWORD: str | None = None
    SALESFLOW_ALERT_SMTP_FROM: str | None = None
    SALESFLOW_ALERT_SMTP_SECURITY: str | None = None
    SALESFLOW_ALERT_SMTP_TIMEOUT: str | None = None
    SALESFLOW_DASHBOARD_URL: str | None = None

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @field_validator("SUPABASE_URL", "OPENAI_BASE_URL")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("SALESFLOW_EVENT_RETENTION")
    @classmethod
    def _retention(cls, value: str) -> str:
        if value.strip().lower() != "off":
            duration_seconds(value)  # raises ValueError naming what is allowed
        return value.strip()

    def event_retention_seconds(self) -> float | None:
        """SALESFLOW_EVENT_RETENTION in seconds; None when it is "off"."""
        value = self.SALESFLOW_EVENT_RETENTION
        return None if value.lower() == "off" else duration_seconds(value)

    @field_validator("SUPABASE_JWT_SECRET")
    @classmethod
    def _secret_length(cls, value: str) -> str:
        if len(value) < 32:
            raise ValueError("must be at least 32 characters (Supabase's JWT secret length)")
        return value


KNOWN = frozenset(Settings.model_fields)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(text: str) -> float:
    """`30s`, `15m`, `12h`, `7d`, `2w` in seconds; ValueError names what is allowed."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def load_settings(env: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read settings: process environment over `.env`; unknown or malformed values raise SettingsError."""
    environ = dict(os.environ if env is None else env)
    path = env_file if env_file is not None else PROJECT_ROOT / ".env"
    from_file: dict[str, str] = {}
    if path.exists():
        from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
        unknown = sorted(set(from_file) - KNOWN)
        if unknown:
            raise SettingsError(
                f"{path}: unknown setting {unknown[0]!r}; known settings are: {', '.join(sorted(KNOWN))}"
            )
    unknown_env = sorted(k for k in environ if k.startswith("SALESFLOW_") and k not in KNOWN)
    if unknown_env:
        raise SettingsError(
            f"unknown environment variable {unknown_env[0]!r}; known SALESFLOW_ settings are: "
            + ", ".join(sorted(k for k in KNOWN if k.startswith("SALESFLOW_")))
        )
    values: dict[str, str] = {**from_file, **{k: v for k, v in environ.items() if k in KNOWN and v != ""}}
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        raise SettingsError(f"{name}: {err['msg']} (got {values.get(name)!r})") from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
