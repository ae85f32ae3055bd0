"""Fixtures for the AI orchestrator: a store on a real database, runtimes with and without OpenAI.

OpenAI is mocked at the HTTP layer with respx (the provider talks through an httpx client, which respx
intercepts exactly as in the SDK's own tests). Retry waits and timeouts are shrunk so failures are fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import respx

from salesflow.ai import AIRuntime, RetryPolicy
from salesflow.ai.providers.openai import OpenAIProvider
from salesflow.ai.store_postgres import PostgresAIStore

LLM_BASE = "http://llm.test/v1"
COMPLETIONS = f"{LLM_BASE}/chat/completions"
FAST_POLICY = RetryPolicy(
    retries=1, backoff_base_seconds=0.001, backoff_max_seconds=0.01, timeout_seconds=0.5,
    cooldown_after_failures=2, cooldown_seconds=60,
)


def chat_completion(
    content: str | None,
    model: str = "gpt-4o-mini-2024-07-18",
    prompt_tokens: int = 1200,
    completion_tokens: int = 80,
    cached_tokens: int = 0,
    refusal: str | None = None,
) -> dict[str, Any]:
    """A Chat Completions response body as the API sends it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


@pytest.fixture
async def store(database: str) -> AsyncIterator[PostgresAIStore]:
    """An AIStore on the test's fresh database."""
    s = PostgresAIStore(database, max_size=4)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def shared_store(session_database: str) -> AsyncIterator[PostgresAIStore]:
    """An AIStore on the session's shared database (for tests that only add their own usage rows)."""
    s = PostgresAIStore(session_database, max_size=4)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def local_runtime() -> AIRuntime:
    """No API key: the local provider alone."""
    return AIRuntime(policy=FAST_POLICY)


@pytest.fixture
async def openai_runtime() -> AsyncIterator[Callable[..., AIRuntime]]:
    """Make runtimes whose remote provider is the openai SDK against the mocked server."""
    made: list[AIRuntime] = []

    def make(**kwargs: Any) -> AIRuntime:
        kwargs.setdefault("policy", FAST_POLICY)
        runtime = AIRuntime(remote=OpenAIProvider(api_key="sk-test", base_url=LLM_BASE), **kwargs)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.aclose()


@pytest.fixture
def llm() -> respx.MockRouter:
    """The mocked OpenAI-compatible server; unmatched requests fail the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router
