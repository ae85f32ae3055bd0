"""The AI orchestrator: every handler that thinks goes through `Orchestrator.run`.

One call: validate the scenario's input (or read the lead), fetch the prompt (cached), render it (a
missing variable fails here, before any request), mask contact details, reserve budget, route through
the providers, validate the output, write one usage row per attempt, settle the budget.

It knows nothing about events: the caller passes an `event_id` to record, and a store for the database
(`salesflow.ai.ports.AIStore`), which inside a handler is the handler's own tenant-scoped `rpc`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel

from salesflow.ai.errors import BudgetExceeded, ModelNotAllowed, StoreUnavailable
from salesflow.ai.ports import AIStore
from salesflow.ai.privacy import mask_messages
from salesflow.ai.prompts import DEFAULT_LABEL, Prompt, PromptCache
from salesflow.ai.providers.base import CompletionRequest, Provider
from salesflow.ai.providers.local import LocalProvider
from salesflow.ai.router import Attempt, RetryPolicy, RouteFailed, Router
from salesflow.ai.routes import LOCAL, MODEL_GROUPS, Deployment, plan_route
from salesflow.ai.scenarios import Locale, Scenario, get_scenario
from salesflow.ai.tracker import UsageTracker

log = logging.getLogger("salesflow.ai")

# A cacheable scenario's repeated request is answered from memory; its usage row names this "deployment".
RESULT_CACHE = Deployment("cache", "result-cache")
# `ai_reserve_budget`'s reasons for refusing a route's model (not the budget).
MODEL_REFUSALS = frozenset({"model_not_allowed", "model_unpriced"})


@dataclass(frozen=True)
class AIResult:
    """A validated output and how it was made."""

    scenario: str
    output: BaseModel
    call_id: str
    prompt_name: str
    prompt_version: int
    prompt_locale: Locale
    prompt_source: str  # database | packaged
    provider: str
    model: str
    usage: list[dict[str, Any]] = field(default_factory=list)  # the usage rows, as written
    recorded: bool = True  # False when the usage rows could not be written (database unreachable)
    from_cache: bool = False

    @property
    def cost_usd(self) -> float:
        """What the call cost, from the price table (an attempt whose cost is unknown counts 0 here; the
        budget counts it at the reservation's amount)."""
        return float(sum(float(row.get("cost_usd") or 0) for row in self.usage))

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (the CLI prints this)."""
        return {
            "scenario": self.scenario,
            "output": self.output.model_dump(mode="json"),
            "call_id": self.call_id,
            "prompt": {
                "name": self.prompt_name, "version": self.prompt_version, "locale": self.prompt_locale,
                "source": self.prompt_source,
            },
            "provider": self.provider,
            "model": self.model,
            "cost_usd": self.cost_usd,
            "from_cache": self.from_cache,
            "recorded": self.recorded,
            "usage": self.usage,
        }


def estimate_input_tokens(messages: list[dict[str, str]]) -> int:
    """An upper bound on the prompt's tokens, for budget reservations only (usage rows record what the
    API reports). Tokens average ~4 bytes of text; a third of the UTF-8 size leaves headroom."""
    size = sum(len(m["content"].encode()) for m in messages)
    return size // 3 + 8 * len(messages) + 16


class AIRuntime:
    """The process-wide parts: providers, router (cooldowns), prompt cache and result cache.

    Build one per process (`from_settings`), then `orchestrator(store)` for each store — the CLI's
    database, or a handler's tenant data.
    """

    def __init__(
        self,
        remote: Provider | None = None,
        policy: RetryPolicy | None = None,
        prompt_ttl_seconds: float = 10.0,
        prompt_cache_entries: int = 1000,
        result_ttl_seconds: float = 300.0,
        model_groups: Mapping[str, tuple[str, ...]] | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        providers: dict[str, Provider] = {"local": LocalProvider()}
        if remote is not None:
            providers[remote.name] = remote
        self.remote_name = remote.name if remote is not None else None
        self.router = Router(providers, policy)
        self.prompts = PromptCache(prompt_ttl_seconds, max_entries=prompt_cache_entries)
        self.model_groups = dict(model_groups or MODEL_GROUPS)
        self.result_ttl_seconds = result_ttl_seconds
        self._results: OrderedDict[str, tuple[float, BaseModel]] = OrderedDict()
        self._today: Callable[[], date] = today or (lambda: datetime.now(UTC).date())

    @classmethod
    def from_settings(cls, api_key: str | None, base_url: str | None = None, **kwargs: Any) -> AIRuntime:
        """The local provider alone without an API key; with one, the `openai` SDK first."""
        remote = None
        if api_key:
            from salesflow.ai.providers.openai import OpenAIProvider

            remote = OpenAIProvider(api_key=api_key, base_url=base_url)
        return cls(remote=remote, **kwargs)

    def orchestrator(self, store: AIStore) -> Orchestrator:
        return Orchestrator(self, store)

    def today(self) -> date:
        """Today's date (UTC), as the scenarios see it (due dates, prompts)."""
        return self._today()

    def cached_result(self, key: str) -> BaseModel | None:
        entry = self._results.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def cache_result(self, key: str, output: BaseModel) -> None:
        self._results[key] = (time.monotonic() + self.result_ttl_seconds, output)
        self._results.move_to_end(key)
        while len(self._results) > 1000:
            self._results.popitem(last=False)

    async def aclose(self) -> None:
        for provider in self.router.providers.values():
            await provider.aclose()


class Orchestrator:
    """Runs scenarios for tenants against one store."""

    def __init__(self, runtime: AIRuntime, store: AIStore) -> None:
        self.runtime = runtime
        self.store = store
        self.tracker = UsageTracker(store)

    async def run(
        self,
        scenario: str,
        *,
        tenant_id: str | uuid.UUID,
        input: Mapping[str, Any] | BaseModel | None = None,
        lead_id: str | uuid.UUID | None = None,
        event_id: str | uuid.UUID | None = None,
        locale: Locale | None = None,
        label: str = DEFAULT_LABEL,
    ) -> AIResult:
        """Run `scenario` for the tenant on `input`, or on the stored lead `lead_id` when no input is given."""
        sc = get_scenario(scenario)
        tenant = str(tenant_id)
        lead = str(lead_id) if lead_id is not None else None
        if input is None and lead is not None:
            row = await self.store.lead_context(tenant, lead)
            inp = sc.input_from_lead(row)
            locale = locale or row.get("tenant_locale")
        else:
            inp = sc.parse_input(input if input is not None else {})

        prompt = await self.runtime.prompts.get(self.store, sc.name, tenant, label, locale)
        messages = prompt.render(sc.variables(inp, prompt.locale))

        call = _Call(
            orchestrator=self, scenario=sc, tenant_id=tenant, lead_id=lead,
            event_id=str(event_id) if event_id is not None else None, prompt=prompt,
        )
        cache_key = _cache_key(sc, tenant, prompt, messages) if sc.cacheable else None
        if cache_key is not None and (hit := self.runtime.cached_result(cache_key)) is not None:
            return await call.finish(hit, RESULT_CACHE, [Attempt(RESULT_CACHE, "cache_hit", 0.0, "result-cache")],
                                     from_cache=True)

        config = prompt.model_config
        max_tokens = min(int(config.get("max_tokens", sc.max_tokens)), sc.max_tokens)
        temperature = max(0.0, min(float(config.get("temperature", sc.temperature)), 2.0))
        plan = plan_route(sc.model_group, config, self.runtime.remote_name, self.runtime.model_groups)

        paid = [d for d in plan if d.paid]
        if paid:
            # The reservation is also the call-time check of the route's models: one that the operator has
            # not allowed, or that has no price, is refused by name before any request is sent.
            budget = await self.store.reserve_budget(
                tenant, sc.name, paid[0].provider, [d.model for d in paid], estimate_input_tokens(messages),
                max_tokens,
            )
            if budget.get("reason") in MODEL_REFUSALS:
                log.error("AI route names a refused model",
                          extra={"tenant_id": tenant, "scenario": sc.name, "model": budget.get("model"),
                                 "reason": budget.get("reason"), "prompt_version": prompt.version})
                raise ModelNotAllowed(str(budget.get("provider")), str(budget.get("model")),
                                      str(budget.get("reason")), list(budget.get("allowed_models") or []))
            if not budget.get("allowed", True):
                if budget.get("at_limit") == "refuse":
                    await call.track([Attempt(Deployment("budget", "-"), "budget_exceeded", 0.0, "-",
                                              error_class="BudgetExceeded")])
                    raise BudgetExceeded(tenant, budget.get("scenario"), float(budget.get("limit_usd") or 0),
                                         float(budget.get("spent_usd") or 0))
                log.info("AI budget reached, using the local provider",
                         extra={"tenant_id": tenant, "scenario": sc.name})
                plan = [LOCAL]
            call.reservation_id = budget.get("reservation_id")

        today = self.runtime.today()
        outbound: list[dict[str, str]] = []

        def request_for(deployment: Deployment) -> CompletionRequest:
            # Contact details are masked only in what leaves the process (the local rules send nothing).
            if deployment.paid and not outbound:
                outbound.extend(messages if sc.needs_contact_details else mask_messages(messages))
            return CompletionRequest(
                scenario=sc, model=deployment.model, messages=outbound if deployment.paid else messages,
                max_tokens=max_tokens, temperature=temperature,
                timeout=self.runtime.router.policy.timeout_seconds, input=inp, locale=prompt.locale, today=today,
            )

        try:
            routed = await self.runtime.router.run(plan, request_for, sc.output_model)
        except RouteFailed as exc:
            await call.track(exc.attempts)
            await call.settle()
            raise
        if cache_key is not None:
            self.runtime.cache_result(cache_key, routed.output)
        return await call.finish(routed.output, routed.deployment, routed.attempts)


@dataclass
class _Call:
    """Bookkeeping of one `run`: its id, usage rows and budget reservation."""

    orchestrator: Orchestrator
    scenario: Scenario[Any, Any]
    tenant_id: str
    lead_id: str | None
    event_id: str | None
    prompt: Prompt
    call_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    reservation_id: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    recorded: bool = True

    async def track(self, attempts: list[Attempt]) -> None:
        rows = [
            {
                "id": str(uuid.uuid4()),
                "tenant_id": self.tenant_id,
                "lead_id": self.lead_id,
                "event_id": self.event_id,
                "call_id": self.call_id,
                "attempt": len(self.rows) + i + 1,
                "scenario": self.scenario.name,
                "prompt_name": self.prompt.name,
                "prompt_version": self.prompt.version,
                "prompt_locale": self.prompt.locale,
                "provider": a.deployment.provider,
                "model": a.model,
                # prices the row when the API reports a model name of its own (not stored)
                "requested_model": a.deployment.model,
                "input_tokens": a.input_tokens,
                "output_tokens": a.output_tokens,
                "cached_tokens": a.cached_tokens,
                "latency_ms": round(a.latency_ms, 3),
                "outcome": a.outcome,
                "error_class": a.error_class,
                "error": a.error,
                "reservation_id": self.reservation_id if a.deployment.paid else None,
            }
            for i, a in enumerate(attempts)
        ]
        try:
            written = await self.orchestrator.tracker.record(rows)
        except StoreUnavailable as exc:
            # The result is still good; losing its usage rows is logged loudly rather than failing a call
            # that may already have been paid for.
            self.recorded = False
            log.error("AI usage not recorded: database unreachable",
                      extra={"tenant_id": self.tenant_id, "scenario": self.scenario.name, "error": str(exc)})
            written = [{"id": row["id"], "cost_usd": None} for row in rows]
        for row, result in zip(rows, written, strict=True):
            row["cost_usd"] = result.get("cost_usd")
        self.rows.extend(rows)

    async def settle(self) -> None:
        if self.reservation_id is not None:
            await self.orchestrator.store.settle_budget(self.reservation_id)

    async def finish(
        self, output: BaseModel, deployment: Deployment, attempts: list[Attempt], from_cache: bool = False
    ) -> AIResult:
        await self.track(attempts)
        await self.settle()
        final = self.rows[-1]
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "AI call done",
                extra={"tenant_id": self.tenant_id, "scenario": self.scenario.name, "call_id": self.call_id,
                       "provider": deployment.provider, "attempts": len(self.rows)},
            )
        return AIResult(
            scenario=self.scenario.name,
            output=output,
            call_id=self.call_id,
            prompt_name=self.prompt.name,
            prompt_version=self.prompt.version,
            prompt_locale=self.prompt.locale,
            prompt_source=self.prompt.source,
            provider=deployment.provider,
            model=str(final["model"]),
            usage=self.rows,
            recorded=self.recorded,
            from_cache=from_cache,
        )


def _cache_key(sc: Scenario[Any, Any], tenant: str, prompt: Prompt, messages: list[dict[str, str]]) -> str:
    body = json.dumps([sc.name, tenant, prompt.version, prompt.locale, messages], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
