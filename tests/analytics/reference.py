"""An independent, brute-force computation of the funnel and the attribution models, straight from the
definitions in docs/analytics.md, over the plain-Python histories of tests/analytics/history.py. The SQL
must agree with it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.analytics.history import Lead

STAGES = ["lead_created", "lead_qualified", "first_contact", "first_response", "engaged", "meeting_scheduled",
          "meeting_completed", "proposal_sent", "negotiation", "deal_closed_won"]
WEEK = timedelta(days=7)


def bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


def journey(lead: Lead) -> dict[str, datetime | None]:
    """The first time the lead entered each stage (raw, before "a later stage implies the earlier ones")."""
    def first(stage: str) -> datetime | None:
        times = [at for s, at in lead.stages if s == stage]
        return min(times) if times else None

    outs = sorted(t.at for t in lead.touches if t.direction == "out")
    contact_candidates = [x for x in (outs[0] if outs else None, first("first_contact")) if x is not None]
    contact = min(contact_candidates) if contact_candidates else None
    replies = sorted((t.at, t.message_id) for t in lead.touches
                     if t.direction == "in" and contact is not None and t.at >= contact)
    booked = [b for b, _ in lead.meetings]
    held = [h for _, h in lead.meetings if h is not None]
    return {
        "lead_created": lead.created_at,
        "lead_qualified": first("lead_qualified"),
        "first_contact": contact,
        "first_response": replies[0][0] if replies else None,
        "engaged": replies[1][0] if len(replies) > 1 else None,
        "meeting_scheduled": min(booked) if booked else None,
        "meeting_completed": min(held) if held else None,
        "proposal_sent": first("proposal_sent"),
        "negotiation": first("negotiation"),
        "deal_closed_won": lead.won[0] if lead.won else None,
        "lost": first("lost"),
    }


def funnel(leads: list[Lead], first: date, last: date, tz: str, window_days: int) -> dict[str, Any]:
    starts, ends = bounds(first, last, tz)
    window = timedelta(days=window_days)
    cohort = [lead for lead in leads if starts <= lead.created_at < ends]
    reached: dict[int, list[tuple[Lead, datetime, datetime | None]]] = {k: [] for k in range(10)}
    for lead in cohort:
        j = journey(lead)
        previous: datetime | None = None
        for k in range(len(STAGES)):
            later = [j[s] for s in STAGES[k:] if j[s] is not None]
            at = lead.created_at if k == 0 else (max(lead.created_at, min(later)) if later else None)  # type: ignore[type-var]
            if at is not None and at <= lead.created_at + window:
                reached[k].append((lead, at, previous))
            previous = at
    counts = [len(reached[k]) for k in range(10)]
    stages = []
    for k, stage in enumerate(STAGES):
        hours = [(at - lead.created_at).total_seconds() / 3600 for lead, at, _ in reached[k]]
        from_prev = [(at - prev).total_seconds() / 3600 for _, at, prev in reached[k] if prev is not None]
        stages.append({
            "stage": stage,
            "count": counts[k],
            "step_conversion": counts[k] / counts[k - 1] if k > 0 and counts[k - 1] else None,
            "overall_conversion": counts[k] / counts[0] if counts[0] else None,
            "drop_off": counts[k - 1] - counts[k] if k > 0 else None,
            "median_hours_from_created": statistics.median(hours) if hours else None,
            "mean_hours_from_created": statistics.fmean(hours) if hours else None,
            "median_hours_from_previous": statistics.median(from_prev) if from_prev else None,
        })
    lost = sum(1 for lead in cohort if (j := journey(lead))["lost"] is not None
               and j["lost"] <= lead.created_at + window)  # type: ignore[operator]
    return {"leads": len(cohort), "stages": stages, "lost": lost}


@dataclass
class Credit:
    lead: Lead
    channel: str
    actor: str
    at: datetime
    credit: float


def _path(lead: Lead) -> list[tuple[str, str, datetime, Any]]:
    assert lead.won
    touches = sorted((t.at, t.message_id, t.channel, t.actor) for t in lead.touches if t.at <= lead.won[0])
    if not touches:
        return [(lead.source_channel, "none", lead.created_at, None)]
    return [(c, a, at, mid) for at, mid, c, a in touches]


def credits(leads: list[Lead], model: str, first: date, last: date, tz: str) -> list[Credit]:
    """Each conversion's touches with their credit under `model`."""
    starts, ends = bounds(first, last, tz)
    out: list[Credit] = []
    for lead in leads:
        if not lead.won or not (starts <= lead.won[0] < ends):
            continue
        path = _path(lead)
        n = len(path)
        j = journey(lead)
        opportunity = min(x for x in (j["meeting_scheduled"], j["meeting_completed"], j["proposal_sent"],
                                      j["negotiation"], j["deal_closed_won"]) if x is not None)
        # role holders by position (0-based); a role with no touch before its moment falls to the first touch
        at_creation = max((i for i, p in enumerate(path) if p[2] <= lead.created_at), default=0)
        at_opportunity = max((i for i, p in enumerate(path) if p[2] <= opportunity), default=0)
        weights = [0.0] * n
        if model == "first_touch":
            weights[0] = 1
        elif model == "last_touch":
            weights[-1] = 1
        elif model == "linear":
            weights = [1 / n] * n
        elif model == "time_decay":
            raw = [2 ** (-(lead.won[0] - p[2]).total_seconds() / WEEK.total_seconds()) for p in path]
            weights = [w / sum(raw) for w in raw]
        elif model == "u_shaped":
            if n == 1:
                weights = [1.0]
            elif n == 2:
                weights = [0.5, 0.5]
            else:
                weights = [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
        elif model in ("w_shaped", "full_path"):
            roles = [0, at_creation, at_opportunity] + ([n - 1] if model == "full_path" else [])
            share = 0.3 if model == "w_shaped" else 0.225
            others = [i for i in range(n) if i not in roles]
            for r in roles:
                weights[r] += share if others else 1 / len(roles)
            for i in others:
                weights[i] += 0.1 / len(others)
        else:
            raise ValueError(model)
        out.extend(Credit(lead, p[0], p[1], p[2], w) for p, w in zip(path, weights, strict=True))
    return out


def attribution(leads: list[Lead], model: str, first: date, last: date, tz: str,
                dimension: str = "channel") -> dict[str, float]:
    """Credited conversions per key."""
    totals: dict[str, float] = {}
    for c in credits(leads, model, first, last, tz):
        key = {"channel": c.channel, "actor": c.actor, "campaign": c.lead.source or "none"}[dimension]
        totals[key] = totals.get(key, 0.0) + c.credit
    return totals


def touch_paths(leads: list[Lead], first: date, last: date, tz: str) -> dict[tuple[str, ...], tuple[int, int, float]]:
    """Distinct channel paths → (conversions, non-conversions, revenue): won in the period, or created in it
    and not won by its end."""
    starts, ends = bounds(first, last, tz)
    out: dict[tuple[str, ...], tuple[int, int, float]] = {}
    for lead in leads:
        won = lead.won is not None and starts <= lead.won[0] < ends
        created = starts <= lead.created_at < ends and (lead.won is None or lead.won[0] >= ends)
        if not (won or created):
            continue
        until = lead.won[0] if won and lead.won else ends
        touches = sorted((t.at, t.message_id, t.channel) for t in lead.touches
                         if t.at < until or (won and t.at == until))
        path = tuple(c for _, _, c in touches) or (lead.source_channel,)
        conv, non, revenue = out.get(path, (0, 0, 0.0))
        out[path] = (conv + won, non + (not won), revenue + (lead.won[1] if won and lead.won else 0.0))
    return out
