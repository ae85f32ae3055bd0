"""Prompts: versioned chat templates from the database, cached in process, rendered with variables.

Templates use `{{variable}}` placeholders (Langfuse's syntax). A prompt is fetched by name and label
(`production` unless asked otherwise) for a tenant: the tenant's own prompt wins over the global one, the
tenant's locale over the other. Fetched prompts are cached for `ttl_seconds`, so moving a label takes
effect within that time. Only when the database cannot be reached is a stale cached prompt, or else the
scenario's packaged prompt (version 0), served.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from salesflow.ai.errors import InvalidPrompt, MissingPromptVariable, PromptNotFound, StoreUnavailable
from salesflow.ai.ports import AIStore
from salesflow.ai.scenarios import LOCALES, Locale, get_scenario

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
ROLES = ("system", "user", "assistant")
PACKAGED_VERSION = 0
DEFAULT_LABEL = "production"

# A compiled message: its role and the template split into (literal text, variable name or None) parts.
_Part = tuple[str, str | None]


def _compile(content: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    pos = 0
    for match in VARIABLE.finditer(content):
        parts.append((content[pos : match.start()], match.group(1)))
        pos = match.end()
    parts.append((content[pos:], None))
    return tuple(parts)


def validate_messages(messages: Any, where: str = "messages") -> list[dict[str, str]]:
    """Check a chat template: a non-empty list of {role, content}; errors name the offending element."""
    if not isinstance(messages, list) or not messages:
        raise InvalidPrompt(f"{where}: must be a non-empty list of {{role, content}} objects")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidPrompt(f"{where}[{i}]: must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise InvalidPrompt(f"{where}[{i}].role: must be one of {', '.join(ROLES)} (got {role!r})")
        if not isinstance(content, str) or not content.strip():
            raise InvalidPrompt(f"{where}[{i}].content: must be a non-empty string")
        checked.append({"role": role, "content": content})
    return checked


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt, ready to render."""

    name: str
    version: int
    locale: Locale
    messages: tuple[Mapping[str, str], ...]
    model_config: Mapping[str, Any] = field(default_factory=dict)
    tenant_id: str | None = None
    label: str | None = DEFAULT_LABEL
    source: Literal["database", "packaged"] = "database"
    _compiled: tuple[tuple[str, tuple[_Part, ...]], ...] = field(default=(), repr=False, compare=False)
    variables: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        compiled = tuple((m["role"], _compile(m["content"])) for m in self.messages)
        object.__setattr__(self, "_compiled", compiled)
        names = {name for _, parts in compiled for _, name in parts if name}
        object.__setattr__(self, "variables", frozenset(names))

    def render(self, values: Mapping[str, str]) -> list[dict[str, str]]:
        """The chat messages with every variable filled in; a missing one raises before anything is sent."""
        for _, parts in self._compiled:
            for _, name in parts:
                if name is not None and name not in values:
                    raise MissingPromptVariable(self.name, self.version, name, list(values))
        return [
            {"role": role, "content": "".join(text + (values[name] if name else "") for text, name in parts)}
            for role, parts in self._compiled
        ]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Prompt:
        """A prompt from `public.ai_resolve_prompt`'s JSON."""
        return cls(
            name=row["name"],
            version=int(row["version"]),
            locale=row["locale"],
            messages=tuple(validate_messages(row["messages"])),
            model_config=row.get("model_config") or {},
            tenant_id=row.get("tenant_id"),
            label=row.get("label"),
            source="database",
        )


def packaged_prompt(name: str, locale: Locale) -> Prompt:
    """The scenario's packaged prompt (the seeded version 1's text), served when the database is away."""
    scenario = get_scenario(name)
    return Prompt(
        name=name,
        version=PACKAGED_VERSION,
        locale=locale,
        messages=tuple(scenario.prompts[locale]),
        label=None,
        source="packaged",
    )


_Key = tuple[str, str | None, str, str | None]


class PromptCache:
    """Prompts by (name, tenant, label, locale), fetched through an AIStore and fresh for `ttl_seconds`.

    At most `max_entries` prompts are kept, the least recently used leaving first: keys grow with tenants,
    and a long-running listener serving many tenants must not grow without bound. An entry past its TTL is
    refetched before it is served; it stays (until evicted) only to answer while the database is away.
    """

    def __init__(
        self, ttl_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic, max_entries: int = 1000
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1 (got {max_entries})")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Key, tuple[float, Prompt]] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Future[Prompt]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def _keep(self, key: _Key, prompt: Prompt) -> None:
        self._entries[key] = (self._clock(), prompt)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def get(
        self,
        store: AIStore,
        name: str,
        tenant_id: str | None,
        label: str = DEFAULT_LABEL,
        locale: Locale | None = None,
    ) -> Prompt:
        """The prompt to use; fresh from the cache, else fetched (one fetch per key at a time)."""
        key = (name, tenant_id, label, locale)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_seconds:
            self._entries.move_to_end(key)
            return entry[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Prompt] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            prompt = await self._fetch(store, key, entry)
            future.set_result(prompt)
            return prompt
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            del self._inflight[key]

    async def _fetch(self, store: AIStore, key: _Key, stale: tuple[float, Prompt] | None) -> Prompt:
        name, tenant_id, label, locale = key
        try:
            row = await store.resolve_prompt(name, tenant_id, label, locale)
        except StoreUnavailable:
            if stale is not None:
                if key in self._entries:  # (it may have been evicted while the fetch waited)
                    self._entries.move_to_end(key)
                return stale[1]
            return packaged_prompt(name, locale if locale in LOCALES else LOCALES[0])  # type: ignore[arg-type]
        if row is None:
            raise PromptNotFound(
                f"no prompt {name!r} with label {label!r} for tenant {tenant_id or '(global)'}; publish one "
                f"with `salesflow ai prompts publish FILE`, or store a new scenario's packaged prompts with "
                f"`salesflow ai prompts seed`"
            )
        prompt = Prompt.from_row(row)
        self._keep(key, prompt)
        return prompt


def prompt_file_versions(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The versions a `prompts publish` file defines, validated; errors name the offending field.

    A file is one prompt: `{"name", "locale", "messages", "model_config"?, "labels"?, "tenant_id"?,
    "commit_message"?}`, or `{"name", "locales": {"de": {"messages", ...}, "en": {...}}, ...}` for both.
    """
    if not isinstance(document, Mapping):
        raise InvalidPrompt("the file must hold a JSON object")
    name = document.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
        raise InvalidPrompt("name: must be a lower-case identifier like 'lead_scoring'")
    shared = {k: document.get(k) for k in ("labels", "tenant_id", "commit_message", "model_config")}
    if "locales" in document:
        locales = document["locales"]
        if not isinstance(locales, Mapping) or not locales:
            raise InvalidPrompt("locales: must map 'de' and/or 'en' to {messages, model_config?}")
        variants = [(loc, body, f"locales.{loc}") for loc, body in locales.items()]
    else:
        variants = [(document.get("locale"), document, "")]
    versions = []
    for locale, body, where in variants:
        prefix = f"{where}." if where else ""
        if locale not in LOCALES:
            raise InvalidPrompt(f"{prefix or ''}locale: must be one of {', '.join(LOCALES)} (got {locale!r})")
        if not isinstance(body, Mapping):
            raise InvalidPrompt(f"{where}: must be an object with messages")
        model_config = body.get("model_config", shared["model_config"]) or {}
        if not isinstance(model_config, Mapping):
            raise InvalidPrompt(f"{prefix}model_config: must be an object")
        labels = body.get("labels", shared["labels"]) or []
        if not isinstance(labels, Sequence) or isinstance(labels, str) or not all(
            isinstance(label, str) and re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", label) for label in labels
        ):
            raise InvalidPrompt(f"{prefix}labels: must be a list of lower-case labels like 'production'")
        versions.append(
            {
                "name": name,
                "locale": locale,
                "messages": validate_messages(body.get("messages"), f"{prefix}messages"),
                "model_config": dict(model_config),
                "labels": list(labels),
                "tenant_id": shared["tenant_id"],
                "commit_message": shared["commit_message"],
            }
        )
    return versions
