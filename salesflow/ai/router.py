"""The router: tries a route's deployments in order with one retry loop, cooldowns and one repair.

Per deployment: retryable failures (429, 5xx, timeouts, connection) are retried `retries` times with
exponential backoff (honouring Retry-After); output that fails validation gets one repair request to the
same model; a refusal moves on at once. A deployment whose calls keep failing cools down for
`cooldown_seconds` and is skipped meanwhile (LiteLLM's allowed_fails / cooldown). Every request is one
`Attempt`, which the tracker turns into one usage row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from salesflow.ai.errors import AllRoutesFailed
from salesflow.ai.providers.base import Completion, CompletionRequest, Provider, ProviderError
from salesflow.ai.routes import Deployment
from salesflow.ai.scenarios import Locale

log = logging.getLogger("salesflow.ai.router")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults suit production; tests shrink the waits."""

    retries: int = 2  # per deployment, after the first request
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    timeout_seconds: float = 30.0
    cooldown_after_failures: int = 2  # failed calls in a row before a deployment cools down
    cooldown_seconds: float = 60.0

    def backoff(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        wait = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (retry - 1))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max_seconds))
        return wait


@dataclass(slots=True)
class Attempt:
    """One request to one deployment and how it went."""

    deployment: Deployment
    outcome: str  # success | repaired | invalid_output | refusal | rate_limited | server_error | ...
    latency_ms: float
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    error_class: str | None = None
    error: str | None = None


@dataclass
class RouteResult:
    output: BaseModel
    deployment: Deployment
    attempts: list[Attempt]


@dataclass
class _Health:
    failures: int = 0
    cooldown_until: float = 0.0


REPAIR_INSTRUCTION: dict[Locale, str] = {
    "de": "Deine letzte Antwort war kein gültiges JSON für das vorgegebene Schema ({error}). Antworte noch "
    "einmal, nur mit gültigem JSON.",
    "en": "Your last reply was not valid JSON for the required schema ({error}). Reply again with valid "
    "JSON only.",
}


class RouteFailed(AllRoutesFailed):
    """No deployment produced a valid result; `attempts` holds every request made."""

    def __init__(self, message: str, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.attempts = attempts


class Router:
    """Runs a route. Holds the cooldown state, so one Router serves the whole process."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.providers = dict(providers)
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._health: dict[str, _Health] = {}

    def cooling_down(self, deployment: Deployment) -> bool:
        health = self._health.get(deployment.key)
        return health is not None and health.cooldown_until > self._clock()

    def _failed(self, deployment: Deployment) -> None:
        health = self._health.setdefault(deployment.key, _Health())
        health.failures += 1
        if health.failures >= self.policy.cooldown_after_failures and deployment.paid:
            health.cooldown_until = self._clock() + self.policy.cooldown_seconds
            health.failures = 0
            log.warning(
                "deployment cools down",
                extra={"deployment": deployment.key, "cooldown_seconds": self.policy.cooldown_seconds},
            )

    def _succeeded(self, deployment: Deployment) -> None:
        self._health.pop(deployment.key, None)

    async def run(
        self,
        plan: Sequence[Deployment],
        request_for: Callable[[Deployment], CompletionRequest],
        output_model: type[BaseModel],
    ) -> RouteResult:
        """The first valid output along `plan`; RouteFailed (with the attempts) when there is none."""
        attempts: list[Attempt] = []
        for deployment in plan:
            if self.cooling_down(deployment):
                continue
            output = await self._try(deployment, request_for(deployment), output_model, attempts)
            if output is not None:
                self._succeeded(deployment)
                return RouteResult(output, deployment, attempts)
        tried = ", ".join(d.key for d in plan)
        raise RouteFailed(f"every deployment failed or is cooling down: {tried}", attempts)

    async def _try(
        self,
        deployment: Deployment,
        request: CompletionRequest,
        output_model: type[BaseModel],
        attempts: list[Attempt],
    ) -> BaseModel | None:
        provider = self.providers[deployment.provider]
        retry = 0
        repaired = False
        while True:
            started = time.perf_counter()
            try:
                completion = await provider.complete(request)
            except ProviderError as exc:
                attempts.append(
                    Attempt(deployment, exc.outcome, _ms(started), deployment.model,
                            error_class=exc.error_class, error=str(exc)[:500])
                )
                log.warning(
                    "AI request failed",
                    extra={"deployment": deployment.key, "outcome": exc.outcome, "error_class": exc.error_class,
                           "retry": retry, "will_retry": exc.retryable and retry < self.policy.retries},
                )
                if exc.retryable and retry < self.policy.retries:
                    retry += 1
                    await self._sleep(self.policy.backoff(retry, exc.retry_after))
                    continue
                self._failed(deployment)
                return None
            latency = _ms(started)
            attempt = Attempt(
                deployment, "success", latency, completion.model, completion.input_tokens,
                completion.output_tokens, completion.cached_tokens,
            )
            attempts.append(attempt)
            if completion.refusal:
                # The model declined on purpose: not a health problem, and asking again will not help.
                attempt.outcome, attempt.error_class, attempt.error = "refusal", "Refusal", completion.refusal[:500]
                log.warning("AI model refused", extra={"deployment": deployment.key})
                return None
            try:
                output = _validate(completion, output_model)
            except (ValidationError, ValueError) as exc:
                attempt.outcome, attempt.error_class = "invalid_output", type(exc).__name__
                attempt.error = str(exc)[:500]
                log.warning("AI output failed validation",
                            extra={"deployment": deployment.key, "repairing": not repaired,
                                   "error": attempt.error[:200]})
                if repaired:
                    self._failed(deployment)
                    return None
                repaired = True
                request = _repair_request(request, completion.content or "", exc)
                continue
            if repaired:
                attempt.outcome = "repaired"
            return output


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _validate(completion: Completion, output_model: type[BaseModel]) -> BaseModel:
    if completion.parsed is not None:
        # Built by the provider through the model's own constructor, so already validated.
        if isinstance(completion.parsed, output_model):
            return completion.parsed
        return output_model.model_validate(completion.parsed.model_dump())
    if not completion.content:
        raise ValueError("the reply is empty")
    return output_model.model_validate_json(completion.content)


def _repair_request(request: CompletionRequest, bad: str, error: Exception) -> CompletionRequest:
    problem = str(error).splitlines()[0][:300]
    messages = [
        *request.messages,
        {"role": "assistant", "content": bad[:4000]},
        {"role": "user", "content": REPAIR_INSTRUCTION[request.locale].format(error=problem)},
    ]
    return CompletionRequest(
        scenario=request.scenario, model=request.model, messages=messages, max_tokens=request.max_tokens,
        temperature=request.temperature, timeout=request.timeout, input=request.input, locale=request.locale,
        today=request.today,
    )

