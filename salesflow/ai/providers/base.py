"""What a provider is given and returns, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from salesflow.ai.scenarios import Locale, Scenario

FailureOutcome = Literal["rate_limited", "server_error", "timeout", "connection_error", "request_error"]


@dataclass(slots=True)
class CompletionRequest:
    """One request to one model: rendered (and masked) messages plus the validated scenario input.

    `input`, `locale` and `today` serve the local provider, which answers from structured data and never
    sends anything anywhere.
    """

    scenario: Scenario[Any, Any]
    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    timeout: float
    input: BaseModel
    locale: Locale
    today: date


@dataclass(slots=True)
class Completion:
    """A provider's answer: the raw content (JSON text) or a refusal, and the usage the API reported."""

    content: str | None
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    refusal: str | None = None
    parsed: BaseModel | None = None  # set by providers that build the output model themselves


class ProviderError(Exception):
    """A failed request. `retryable` failures (429, 5xx, timeouts, connection) are retried with backoff."""

    def __init__(
        self,
        outcome: FailureOutcome,
        message: str,
        error_class: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error_class = error_class
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    """Completes a request or raises ProviderError."""

    name: str

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...
