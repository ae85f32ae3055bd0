"""What the orchestrator raises. Every message names what to fix: the scenario, field, variable or limit."""

from __future__ import annotations


class AIError(Exception):
    """Base of the orchestrator's errors."""


class UnknownScenario(AIError):
    """No scenario has this name; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown scenario {name!r}; known scenarios: {', '.join(known)}")
        self.name = name


class InvalidScenarioInput(AIError):
    """The input does not fit the scenario's input model; `field` names the first offending field."""

    def __init__(self, scenario: str, field: str, problem: str) -> None:
        super().__init__(f"{scenario} input.{field}: {problem}")
        self.scenario = scenario
        self.field = field


class PromptNotFound(AIError):
    """No prompt with this name and label exists for the tenant (neither its own nor a global one)."""


class MissingPromptVariable(AIError):
    """The prompt uses a variable the caller did not provide. Raised before any provider is called."""

    def __init__(self, prompt: str, version: int, variable: str, provided: list[str]) -> None:
        super().__init__(
            f"prompt {prompt!r} (version {version}) needs the variable {{{{{variable}}}}}, which was not "
            f"provided; provided: {', '.join(sorted(provided)) or 'none'}"
        )
        self.variable = variable


class InvalidPrompt(AIError):
    """A prompt definition (e.g. a file given to `ai prompts publish`) is malformed; names the field."""


class BudgetExceeded(AIError):
    """The tenant's monthly AI budget is used up and the tenant's setting is to refuse further calls."""

    def __init__(self, tenant_id: str, scenario: str | None, limit_usd: float, spent_usd: float) -> None:
        scope = f"scenario {scenario!r}" if scenario else "all scenarios"
        super().__init__(
            f"AI budget of tenant {tenant_id} for {scope} is used up this month "
            f"(limit ${limit_usd:.2f}, spent ${spent_usd:.4f}); raise the limit or switch at_limit to "
            "'fallback_local'"
        )
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd


class ModelNotAllowed(AIError):
    """A route names a model the operator has not allowed (`ai_models`) or that has no price
    (`ai_model_prices`). Raised before any request is sent, so nothing is spent on it."""

    def __init__(self, provider: str, model: str, reason: str, allowed: list[str]) -> None:
        problem = (
            "has no price in ai_model_prices" if reason == "model_unpriced"
            else "is not on the operator's allow-list (ai_models)"
        )
        super().__init__(
            f"model {model!r} ({provider}) {problem}, so no request is sent; allowed models: "
            f"{', '.join(allowed) or 'none'}. Publish the prompt with an allowed model, or the operator allows "
            f"and prices it (`salesflow ai models allow`)"
        )
        self.provider = provider
        self.model = model
        self.reason = reason


class StoreUnavailable(AIError):
    """The database (directly or through PostgREST) cannot be reached."""


class LeadNotFound(AIError):
    """The lead does not exist in the tenant the call is made for."""


class AllRoutesFailed(AIError):
    """Every model of the scenario's route failed (only possible when the local provider is excluded)."""


class RequestRejected(AIError):
    """The database refused a request (bad value, unknown version, ...); the message says which field."""
