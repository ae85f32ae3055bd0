"""What a handler raises to steer its event: retry later, or fail now (dead letter)."""

from __future__ import annotations


class HandlerError(Exception):
    """Base of the exceptions a handler raises on purpose."""


class RetryLater(HandlerError):
    """Run this event again later: after `delay_seconds`, or after the engine's backoff when None.

    Retries still count towards the event's max_attempts; after the last one the event is `failed`.
    """

    def __init__(self, reason: str, delay_seconds: float | None = None) -> None:
        super().__init__(reason)
        if delay_seconds is not None and delay_seconds < 0:
            raise ValueError(f"delay_seconds must be >= 0 (got {delay_seconds})")
        self.reason = reason
        self.delay_seconds = delay_seconds


class PermanentFailure(HandlerError):
    """Retrying cannot help (bad data, a refused request): the event goes to `failed` now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedPayload(PermanentFailure):
    """The event's payload lacks a field or has the wrong type; the message names the field."""

    def __init__(self, event_type: str, field: str, problem: str) -> None:
        super().__init__(f"{event_type} payload.{field}: {problem}")
        self.field = field
