"""The `openai` SDK provider: OpenAI or any OpenAI-compatible server (`OPENAI_BASE_URL`).

Structured output: the scenario's pydantic model is sent as a strict JSON schema (`response_format`),
and the reply is validated by the router, so an invalid reply can be repaired or fall back. The SDK's own
retries are off (`max_retries=0`): the router has the one retry loop, with backoff, cooldown and fallback.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
from openai import AsyncOpenAI
from openai.lib._parsing import type_to_response_format_param

from salesflow.ai.providers.base import Completion, CompletionRequest, ProviderError


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIProvider:
    """Chat completions through `AsyncOpenAI`."""

    name = "openai"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        # An httpx client (the SDK accepts one next to its own httpx2 default) keeps the transport on the
        # project's HTTP stack, which respx intercepts in tests exactly as the SDK's own tests do.
        self._http = http_client or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, http_client=self._http  # type: ignore[arg-type]
        )
        self._formats: dict[type, Any] = {}

    def _response_format(self, request: CompletionRequest) -> Any:
        model = request.scenario.output_model
        if model not in self._formats:
            self._formats[model] = type_to_response_format_param(model)
        return self._formats[model]

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            response = await self._client.chat.completions.create(
                model=request.model,
                messages=request.messages,  # type: ignore[arg-type]
                response_format=self._response_format(request),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                timeout=request.timeout,
            )
        except openai.APITimeoutError as exc:
            raise ProviderError("timeout", str(exc), type(exc).__name__, retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise ProviderError("connection_error", str(exc), type(exc).__name__, retryable=True) from exc
        except openai.RateLimitError as exc:
            raise ProviderError(
                "rate_limited", exc.message, type(exc).__name__, retryable=True, retry_after=_retry_after(exc)
            ) from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code in (408, 409):
                raise ProviderError("server_error", exc.message, type(exc).__name__, retryable=True) from exc
            raise ProviderError("request_error", exc.message, type(exc).__name__, retryable=False) from exc
        if not response.choices:
            raise ProviderError("server_error", "the response has no choices", "EmptyResponse", retryable=True)
        message = response.choices[0].message
        usage = response.usage
        cached = 0
        if usage is not None and usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
        return Completion(
            content=message.content,
            refusal=getattr(message, "refusal", None),
            model=response.model or request.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            cached_tokens=cached,
        )

    async def aclose(self) -> None:
        await self._client.close()
        await self._http.aclose()
