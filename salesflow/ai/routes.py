"""Model groups and routes: which models serve a scenario, in fallback order, ending with the local rules.

A scenario names a group (`Scenario.model_group`); a prompt's model config may name another group or an
explicit `models` list. Without an API key every route is the local provider alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from salesflow.ai.providers.local import LOCAL_MODEL


@dataclass(frozen=True)
class Deployment:
    """One model at one provider (LiteLLM's 'deployment')."""

    provider: str
    model: str

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def paid(self) -> bool:
        return self.provider != "local"


LOCAL = Deployment("local", LOCAL_MODEL)

MODEL_GROUPS: dict[str, tuple[str, ...]] = {
    "fast": ("gpt-4o-mini", "gpt-4.1-mini"),
    "smart": ("gpt-4.1", "gpt-4o"),
}


def plan_route(
    model_group: str,
    model_config: Mapping[str, Any],
    remote_provider: str | None,
    groups: Mapping[str, Sequence[str]] = MODEL_GROUPS,
) -> list[Deployment]:
    """The ordered deployments to try: the group's (or the prompt's explicit) models, then local."""
    if remote_provider is None:
        return [LOCAL]
    models = model_config.get("models")
    if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
        group = model_config.get("model_group", model_group)
        models = list(groups.get(group, groups.get(model_group, ())))
    return [Deployment(remote_provider, m) for m in models] + [LOCAL]
