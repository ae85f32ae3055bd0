"""Providers: where a completion comes from (the `openai` SDK, or the deterministic local rules)."""

from salesflow.ai.providers.base import Completion, CompletionRequest, Provider, ProviderError
from salesflow.ai.providers.local import LocalProvider

__all__ = ["Completion", "CompletionRequest", "LocalProvider", "Provider", "ProviderError"]
