"""Data-driven attribution: the Markov-chain removal effect over touch paths.

Input is what `public.analytics_touch_paths` returns: distinct paths (the touch keys in order, e.g. channels)
with how many leads converted and how many did not on each. The chain has the states START, one per key,
CONVERSION and NULL (no conversion); every path contributes START → k1 → … → kn → CONVERSION or NULL, and the
transition probabilities are the observed frequencies (first order, repeats kept as self-loops). The removal
effect of a key is the share of the conversion probability lost when that key's state is removed (its
incoming transitions go to NULL); the keys' credits are their removal effects normalised to sum to the number
of conversions, so each conversion's credit sums to 1.

Too little data gives no credits at all, never another model's: a result with status `insufficient_data`
and the reasons (docs/analytics.md, "Minimum data").
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"

MIN_CONVERSIONS = 30
MIN_NON_CONVERSIONS = 30
MIN_KEYS = 2


@dataclass(frozen=True)
class Path:
    """A distinct touch path and what came of it."""

    keys: tuple[str, ...]
    conversions: int
    non_conversions: int
    revenue: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MarkovCredit:
    key: str
    removal_effect: float
    conversions: float
    revenue: dict[str, float]


@dataclass(frozen=True)
class MarkovResult:
    status: str  # "ok" | "insufficient_data"
    conversions: int
    non_conversions: int
    keys: int
    reasons: tuple[str, ...] = ()
    conversion_probability: float | None = None
    credits: tuple[MarkovCredit, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The result in the shape of the SQL models' JSON (names as in docs/analytics.md)."""
        return {
            "model": "markov",
            "status": self.status,
            "reasons": list(self.reasons),
            "conversions": self.conversions,
            "non_conversions": self.non_conversions,
            "keys": self.keys,
            "minimum": {"conversions": MIN_CONVERSIONS, "non_conversions": MIN_NON_CONVERSIONS, "keys": MIN_KEYS},
            "conversion_probability": self.conversion_probability,
            "credits": [
                {"key": c.key, "removal_effect": c.removal_effect, "conversions": c.conversions, "revenue": c.revenue}
                for c in self.credits
            ],
        }


def paths_from_json(rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """`analytics_touch_paths(...)['paths']` as Path objects."""
    return [
        Path(tuple(str(k) for k in row["path"]), int(row["conversions"]), int(row["non_conversions"]),
             {str(c): float(v) for c, v in (row.get("revenue") or {}).items()})
        for row in rows
    ]


def _transitions(paths: Sequence[Path]) -> dict[str, dict[str, float]]:
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in paths:
        for outcome, n in ((CONVERSION, p.conversions), (NULL, p.non_conversions)):
            if n <= 0:
                continue
            chain = (START, *p.keys, outcome)
            for a, b in itertools.pairwise(chain):
                counts[a][b] += n
    return {a: dict(row) for a, row in counts.items()}


def conversion_probability(transitions: Mapping[str, Mapping[str, float]], removed: str | None = None) -> float:
    """The probability of reaching CONVERSION from START, with `removed`'s state made a dead end (NULL).

    Solves (I - Q) p = b over the transient states exactly (Gauss-Jordan with partial pivoting; the
    chains have a handful of states).
    """
    states = [s for s in transitions if s != removed]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    if START not in index:
        return 0.0
    matrix = [[0.0] * (n + 1) for _ in range(n)]
    for s in states:
        i = index[s]
        row = transitions[s]
        total = sum(row.values())
        matrix[i][i] += 1.0
        for target, count in row.items():
            probability = count / total
            if target == CONVERSION:
                matrix[i][n] += probability
            elif target in (NULL, removed):
                continue
            else:
                matrix[i][index[target]] -= probability
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(matrix[r][col]))
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        lead = matrix[col][col]
        if abs(lead) < 1e-15:
            continue
        for c in range(col, n + 1):
            matrix[col][c] /= lead
        for r in range(n):
            if r != col and matrix[r][col] != 0.0:
                factor = matrix[r][col]
                for c in range(col, n + 1):
                    matrix[r][c] -= factor * matrix[col][c]
    return max(0.0, min(1.0, matrix[index[START]][n]))


def markov(
    paths: Sequence[Path],
    min_conversions: int = MIN_CONVERSIONS,
    min_non_conversions: int = MIN_NON_CONVERSIONS,
    min_keys: int = MIN_KEYS,
) -> MarkovResult:
    """Removal-effect attribution over `paths`, or `insufficient_data` with the reasons."""
    conversions = sum(p.conversions for p in paths)
    non_conversions = sum(p.non_conversions for p in paths)
    keys = sorted({k for p in paths for k in p.keys})
    reasons: list[str] = []
    if conversions < min_conversions:
        reasons.append(f"conversions: {conversions} won deals, at least {min_conversions} are needed")
    if non_conversions < min_non_conversions:
        reasons.append(f"non_conversions: {non_conversions} paths without a win, at least {min_non_conversions} "
                       "are needed")
    if len(keys) < min_keys:
        reasons.append(f"keys: {len(keys)} distinct touch keys, at least {min_keys} are needed")
    if reasons:
        return MarkovResult("insufficient_data", conversions, non_conversions, len(keys), tuple(reasons))
    transitions = _transitions(paths)
    base = conversion_probability(transitions)
    effects = {k: (base - conversion_probability(transitions, removed=k)) / base for k in keys} if base else {}
    total_effect = sum(effects.values())
    if total_effect <= 0:
        return MarkovResult("insufficient_data", conversions, non_conversions, len(keys),
                            ("removal_effect: removing no touch key changes the conversion probability",), base)
    revenue: dict[str, float] = defaultdict(float)
    for p in paths:
        for currency, amount in p.revenue.items():
            revenue[currency] += amount
    credits = tuple(
        MarkovCredit(k, effects[k], conversions * effects[k] / total_effect,
                     {c: amount * effects[k] / total_effect for c, amount in sorted(revenue.items())})
        for k in sorted(keys, key=lambda k: (-effects[k], k))
    )
    return MarkovResult("ok", conversions, non_conversions, len(keys), (), base, credits)
