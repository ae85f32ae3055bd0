"""The deterministic local provider: rule-based answers, no network, no cost. The default without a key."""

from __future__ import annotations

from salesflow.ai.providers.base import Completion, CompletionRequest

LOCAL_MODEL = "local-rules"


class LocalProvider:
    """Answers with the scenario's `local` implementation (rules, templates in the tenant's language,
    regexes), so the whole product works offline and tests are repeatable."""

    name = "local"

    async def complete(self, request: CompletionRequest) -> Completion:
        output = request.scenario.local(request.input, request.locale, request.today)
        return Completion(content=None, model=LOCAL_MODEL, parsed=output)

    async def aclose(self) -> None:
        return None
