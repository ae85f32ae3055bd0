"""The AI orchestrator: scenarios, a versioned prompt store, a router with fallbacks, a usage tracker,
budgets per tenant and privacy masking. It knows nothing about events (STYLE.md)."""

from salesflow.ai.errors import (
    AIError,
    BudgetExceeded,
    InvalidPrompt,
    InvalidScenarioInput,
    LeadNotFound,
    MissingPromptVariable,
    ModelNotAllowed,
    PromptNotFound,
    StoreUnavailable,
    UnknownScenario,
)
from salesflow.ai.orchestrator import AIResult, AIRuntime, Orchestrator
from salesflow.ai.ports import AIStore, RpcAIStore
from salesflow.ai.router import RetryPolicy
from salesflow.ai.scenarios import SCENARIOS, get_scenario

__all__ = [
    "SCENARIOS",
    "AIError",
    "AIResult",
    "AIRuntime",
    "AIStore",
    "BudgetExceeded",
    "InvalidPrompt",
    "InvalidScenarioInput",
    "LeadNotFound",
    "MissingPromptVariable",
    "ModelNotAllowed",
    "Orchestrator",
    "PromptNotFound",
    "RetryPolicy",
    "RpcAIStore",
    "StoreUnavailable",
    "UnknownScenario",
    "get_scenario",
]
