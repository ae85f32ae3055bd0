"""The scenario catalogue: every module in this package that defines `SCENARIO` is a scenario.

Adding one is one module (input and output models, German and English prompts, local rules, route and
limits); `salesflow ai prompts seed` stores its prompts. To ship it with every deployment, add a
migration that publishes the same prompts (a test keeps the shipped `production` text and the module's
packaged text equal).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from salesflow.ai.errors import UnknownScenario
from salesflow.ai.scenarios.base import LOCALES, LeadFacts, Locale, Scenario

__all__ = ["LOCALES", "SCENARIOS", "LeadFacts", "Locale", "Scenario", "get_scenario"]


def _discover() -> dict[str, Scenario[Any, Any]]:
    found: dict[str, Scenario[Any, Any]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            if scenario.name in found:
                raise ValueError(f"two scenario modules define the scenario {scenario.name!r}")
            found[scenario.name] = scenario
    return dict(sorted(found.items()))


SCENARIOS: dict[str, Scenario[Any, Any]] = _discover()


def get_scenario(name: str) -> Scenario[Any, Any]:
    """The scenario called `name`; UnknownScenario lists the known names otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenario(name, list(SCENARIOS)) from None
