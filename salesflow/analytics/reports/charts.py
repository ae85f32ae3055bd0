"""The report's charts: their data taken from the report document, drawn as PNG with matplotlib.

Each `*_chart` function returns a `Chart` whose values are the JSON's numbers unchanged (tests compare them),
or None when the document lacks what the chart needs. `render_png` draws one on matplotlib's Agg canvas
(a `Figure` of its own, never pyplot's global state or a display), at a fixed pixel size, and leaves the
"Software" text out of the PNG so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from salesflow.analytics.stages import FUNNEL_STAGES

ChartKind = Literal["funnel", "grouped_bars", "histogram", "trend"]

DPI = 100
# Fixed pixel sizes (width, height): a chart's size never depends on its data.
SIZES: Mapping[ChartKind, tuple[int, int]] = {
    "funnel": (1000, 560),
    "grouped_bars": (1200, 600),
    "histogram": (1000, 520),
    "trend": (1100, 520),
}
PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777")
MAX_LABEL = 28  # longer category names are shortened on the chart (the tables keep them whole)


@dataclass(frozen=True)
class Series:
    """One named row of values, one per category; `labels` are the texts printed on the bars."""

    name: str
    values: tuple[float, ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chart:
    """What one chart shows: file stem, kind, texts, categories and series (the JSON's numbers)."""

    name: str
    kind: ChartKind
    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    x_label: str = ""
    y_label: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def size(self) -> tuple[int, int]:
        return SIZES[self.kind]


def _period(document: Mapping[str, Any]) -> str:
    return f"{document['from']} to {document['to']} ({document['tz']})"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


def funnel_chart(document: Mapping[str, Any]) -> Chart | None:
    """Leads per funnel stage (the stages' `count`), labelled with the overall conversion."""
    funnel = document.get("funnel")
    if not funnel:
        return None
    stages = {s["stage"]: s for s in funnel["stages"]}
    order = tuple(s for s in FUNNEL_STAGES if s in stages)
    counts = tuple(stages[s]["count"] for s in order)
    labels = tuple(f"{stages[s]['count']}  ({_pct(stages[s]['overall_conversion'])})" for s in order)
    lost, churned = funnel["exits"]["lost"], funnel["exits"]["churned"]
    return Chart(
        name="funnel", kind="funnel",
        title=f"Funnel: {funnel['leads']} leads created {_period(funnel)}, window {funnel['window_days']} days",
        categories=order, series=(Series("leads", counts, labels),), x_label="leads reaching the stage",
        notes=(f"exits: lost {lost['count']} ({_pct(lost['rate'])}), churned {churned['count']} "
               f"({_pct(churned['rate'])})",),
    )


def attribution_chart(document: Mapping[str, Any]) -> Chart | None:
    """Won deals credited to each key by every model, side by side (the credits' `conversions`).

    A model without credits (Markov with too little data) is named in a note instead of drawn as zeros."""
    reports: Mapping[str, Mapping[str, Any]] = document.get("attribution") or {}
    if not reports:
        return None
    dimension = str(document.get("dimension") or next(iter(reports.values())).get("dimension") or "channel")
    drawn = {m: r for m, r in reports.items() if r.get("status", "ok") == "ok"}
    credit: dict[str, dict[str, float]] = {
        m: {str(c[dimension]): c["conversions"] for c in r["credits"]} for m, r in drawn.items()
    }
    totals: dict[str, float] = {}
    for per_key in credit.values():
        for key, value in per_key.items():
            totals[key] = totals.get(key, 0.0) + float(value)
    keys = tuple(sorted(totals, key=lambda k: (-round(totals[k], 9), k)))
    series = tuple(Series(m, tuple(credit[m].get(k, 0) for k in keys)) for m in drawn)
    first = next(iter(reports.values()))
    notes = tuple(
        f"{m}: {'; '.join(r.get('reasons') or ['no credits'])}" for m, r in reports.items() if m not in drawn
    )
    return Chart(
        name="attribution", kind="grouped_bars",
        title=f"Won deals credited by {dimension}, {first['from']} to {first['to']} ({first['tz']}): "
              f"{first['conversions']} conversions",
        categories=keys, series=series, x_label=dimension, y_label="won deals credited", notes=notes,
    )


def speed_to_lead_chart(document: Mapping[str, Any]) -> Chart | None:
    """Leads per first-contact-time bucket (metrics' `speed_to_lead.buckets`, their `leads`)."""
    metrics = document.get("metrics")
    if not metrics:
        return None
    speed = metrics.get("speed_to_lead") or {}
    buckets: Sequence[Mapping[str, Any]] = speed.get("buckets") or []
    if not buckets:
        return None
    counts = tuple(b["leads"] for b in buckets)
    labels = tuple(f"{b['leads']}  ({_pct(b.get('share'))})" for b in buckets)
    median = speed.get("median_minutes")
    notes = (f"{speed.get('leads')} leads created, {speed.get('not_contacted')} not contacted yet; within 5 minutes "
             f"{_pct(speed.get('within_5_minutes'))}, within 1 hour {_pct(speed.get('within_1_hour'))}; median "
             + ("-" if median is None else f"{float(median):.1f} minutes"),)
    return Chart(
        name="speed_to_lead", kind="histogram",
        title=f"Speed to lead: lead creation to first contact, {_period(metrics)}",
        categories=tuple(str(b["bucket"]) for b in buckets), series=(Series("leads", counts, labels),),
        x_label="time to first contact", y_label="leads", notes=notes,
    )


def weekly_trend_chart(document: Mapping[str, Any]) -> Chart | None:
    """Leads created and deals won per week of creation (the funnel's `cohorts`)."""
    funnel = document.get("funnel")
    if not funnel:
        return None
    cohorts = sorted(funnel["cohorts"], key=lambda c: str(c["week"]))
    return Chart(
        name="weekly_trend", kind="trend", title=f"Weekly trend: leads by week of creation, {_period(funnel)}",
        categories=tuple(str(c["week"]) for c in cohorts),
        series=(Series("leads created", tuple(c["leads"] for c in cohorts)),
                Series("won (of those leads)", tuple(c["won"] for c in cohorts))),
        x_label="week (Monday)", y_label="leads",
    )


CHARTS = (funnel_chart, attribution_chart, speed_to_lead_chart, weekly_trend_chart)


def charts_of(document: Mapping[str, Any]) -> list[Chart]:
    """Every chart the document has data for, in report order."""
    return [chart for build in CHARTS if (chart := build(document)) is not None]


def _short(label: str) -> str:
    """A long name cut in the middle: sequence ids differ at both ends, names mostly at the start."""
    if len(label) <= MAX_LABEL:
        return label
    head = (MAX_LABEL - 1) // 2 + 2
    return label[:head] + "…" + label[len(label) - (MAX_LABEL - 1 - head):]


def render_png(chart: Chart) -> bytes:
    """The chart as PNG bytes, `chart.size` pixels, identical bytes for identical data."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = chart.size
    with rc_context({"font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 12,
                     "axes.spines.top": False, "axes.spines.right": False}):
        figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.set_title(chart.title, loc="left", wrap=True)
        if not chart.categories or not any(any(s.values) for s in chart.series):
            axes.set_axis_off()
            axes.text(0.5, 0.5, "no data in this period", ha="center", va="center", fontsize=14, color="#6b7280",
                      transform=axes.transAxes)
        else:
            _DRAW[chart.kind](axes, chart)
        if chart.notes:
            lines = "\n".join(textwrap.fill(note, width // 7) for note in chart.notes)  # ~7 px a character at 9 pt
            figure.supxlabel(lines, x=0.01, ha="left", fontsize=9, color="#4b5563")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _draw_funnel(axes: Any, chart: Chart) -> None:
    from matplotlib.ticker import MaxNLocator
    (series,) = chart.series
    positions = range(len(chart.categories))
    bars = axes.barh(positions, series.values, color=PALETTE[0], height=0.7)
    axes.set_yticks(list(positions), [_short(c) for c in chart.categories])
    axes.invert_yaxis()  # the first stage on top
    axes.bar_label(bars, labels=list(series.labels), padding=4, fontsize=9)
    axes.set_xlim(0, max(series.values) * 1.22)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(chart.x_label)


def _draw_grouped_bars(axes: Any, chart: Chart) -> None:
    count = len(chart.series)
    width = 0.8 / max(count, 1)
    for i, series in enumerate(chart.series):
        offsets = [k - 0.4 + width * (i + 0.5) for k in range(len(chart.categories))]
        axes.bar(offsets, series.values, width=width, label=series.name, color=PALETTE[i % len(PALETTE)])
    rotate = len(chart.categories) > 6 or max(len(c) for c in chart.categories) > 12
    axes.set_xticks(range(len(chart.categories)), [_short(c) for c in chart.categories],
                    rotation=30 if rotate else 0, ha="right" if rotate else "center")
    axes.set_xlabel(chart.x_label)
    axes.set_ylabel(chart.y_label)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="model")
    axes.grid(axis="y", color="#e5e7eb")
    axes.set_axisbelow(True)


def _draw_histogram(axes: Any, chart: Chart) -> None:
    from matplotlib.ticker import MaxNLocator
    (series,) = chart.series
    bars = axes.bar(range(len(chart.categories)), series.values, color=PALETTE[0], width=0.8)
    axes.set_xticks(range(len(chart.categories)), [_short(c.replace("_", " ")) for c in chart.categories])
    axes.bar_label(bars, labels=list(series.labels), padding=3, fontsize=9)
    axes.set_ylim(0, max(series.values) * 1.15)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(chart.x_label)
    axes.set_ylabel(chart.y_label)


def _draw_trend(axes: Any, chart: Chart) -> None:
    from matplotlib.ticker import MaxNLocator
    positions = list(range(len(chart.categories)))
    for i, series in enumerate(chart.series):
        axes.plot(positions, series.values, marker="o", label=series.name, color=PALETTE[i % len(PALETTE)],
                  clip_on=False)
    step = max(1, -(-len(positions) // 12))  # at most 12 week labels
    rotate = len(positions) > 8
    axes.set_xticks(positions[::step], list(chart.categories[::step]), rotation=30 if rotate else 0,
                    ha="right" if rotate else "center")
    axes.set_ylim(0, max(max(s.values) for s in chart.series) * 1.1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(chart.x_label)
    axes.set_ylabel(chart.y_label)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes.grid(axis="y", color="#e5e7eb")


_DRAW = {"funnel": _draw_funnel, "grouped_bars": _draw_grouped_bars, "histogram": _draw_histogram,
         "trend": _draw_trend}
