"""One self-contained HTML page of a report document: the charts embedded as base64 PNG, then the tables.

Nothing on the page points outside it (no script, stylesheet, font or image URL), so the file can be mailed
or opened offline. Every number cell carries the JSON's exact value in `data-value` next to the rounded text
a reader sees; tests read the tables back and compare them to `--json`.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from salesflow.analytics.reports.charts import Chart

Unit = Literal["count", "rate", "hours", "credit", "money", "number"]

STYLE = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1240px;
       color: #111827; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin-top: 2.5rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .25rem; }
h3 { font-size: 1rem; margin-top: 1.5rem; }
p.scope, p.note { color: #4b5563; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e7eb; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e5e7eb; }
thead th { text-align: right; background: #f9fafb; }
thead th:first-child, tbody th { text-align: left; font-weight: normal; }
td { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _number_text(value: float, unit: Unit) -> str:
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if unit == "rate":
        return f"{value * 100:.1f} %"
    if unit == "hours":
        return f"{value:,.1f} h"
    if unit in ("credit", "money"):
        return f"{value:,.2f}"
    return f"{value:,}"


def cell_text(value: Any, unit: Unit) -> str:
    """The text a number cell shows (`-` for none); tests format the JSON's value with it."""
    if value is None:
        return "-"
    return _number_text(value, unit)


def _td(value: Any, unit: Unit) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"<td>{html.escape(str(value))}</td>"
    return f'<td data-value="{json.dumps(value)}">{html.escape(cell_text(value, unit))}</td>'


def _table(table_id: str, caption: str, key_header: str, columns: Sequence[tuple[str, str, Unit]],
           rows: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """A table: one row per key, columns (header, field of the row, unit)."""
    head = "".join(f"<th scope=\"col\">{html.escape(h)}</th>" for h, _, _ in columns)
    body = "".join(
        f"<tr><th scope=\"row\">{html.escape(str(key))}</th>"
        + "".join(_td(row.get(field), unit) for _, field, unit in columns) + "</tr>"
        for key, row in rows
    )
    return (f'<table id="{html.escape(table_id)}"><caption hidden>{html.escape(caption)}</caption>'
            f'<thead><tr><th scope="col">{html.escape(key_header)}</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


FUNNEL_COLUMNS: Sequence[tuple[str, str, Unit]] = (
    ("count", "count", "count"), ("step conversion", "step_conversion", "rate"),
    ("overall conversion", "overall_conversion", "rate"), ("drop-off", "drop_off", "count"),
    ("drop-off rate", "drop_off_rate", "rate"), ("median h from created", "median_hours_from_created", "hours"),
    ("mean h from created", "mean_hours_from_created", "hours"),
    ("median h from previous", "median_hours_from_previous", "hours"),
    ("mean h from previous", "mean_hours_from_previous", "hours"),
)
BREAKDOWN_COLUMNS: Sequence[tuple[str, str, Unit]] = (
    ("leads", "leads", "count"), ("won", "won", "count"), ("conversion", "conversion", "rate"),
)


def _funnel_section(funnel: Mapping[str, Any]) -> str:
    parts = [
        "<h2>Funnel</h2>",
        f'<p class="scope">{funnel["leads"]} leads created {html.escape(str(funnel["from"]))} to '
        f'{html.escape(str(funnel["to"]))}; a stage counts when reached within {funnel["window_days"]} days.</p>',
        _table("funnel", "Funnel stages", "stage", FUNNEL_COLUMNS, ((s["stage"], s) for s in funnel["stages"])),
        "<h3>Exits</h3>",
        _table("funnel-exits", "Exits", "exit", (("count", "count", "count"), ("rate", "rate", "rate")),
               funnel["exits"].items()),
        "<h3>Cohorts by week of creation</h3>",
        _table("funnel-cohorts", "Cohorts", "week", BREAKDOWN_COLUMNS, ((c["week"], c) for c in funnel["cohorts"])),
        "<h3>By source channel</h3>",
        _table("funnel-by-source-channel", "By source channel", "source channel", BREAKDOWN_COLUMNS,
               ((c["source_channel"], c) for c in funnel["by_source_channel"])),
    ]
    if funnel.get("by_owner"):
        parts += ["<h3>By owner</h3>",
                  _table("funnel-by-owner", "By owner", "owner", BREAKDOWN_COLUMNS,
                         ((c.get("owner_id") or "none", c) for c in funnel["by_owner"]))]
    return "".join(parts)


def _attribution_section(reports: Mapping[str, Mapping[str, Any]], dimension: str) -> str:
    models = list(reports)
    summary = []
    for model, report in reports.items():
        row: dict[str, Any] = {"conversions": report.get("conversions"), "status": report.get("status", "ok")}
        row.update({f"revenue {c}": v for c, v in (report.get("revenue") or {}).items()})
        summary.append((model, row))
    currencies = sorted({c for r in reports.values() for c in (r.get("revenue") or {})}
                        | {c for r in reports.values() for k in r.get("credits", []) for c in k.get("revenue", {})})
    keys: dict[str, dict[str, dict[str, Any]]] = {}
    for model, report in reports.items():
        for credit in report.get("credits", []):
            keys.setdefault(str(credit[dimension]), {})[model] = credit
    ordered = sorted(keys)
    summary_columns: list[tuple[str, str, Unit]] = [("conversions", "conversions", "count"),
                                                    ("status", "status", "number")]
    summary_columns += [(f"revenue {c}", f"revenue {c}", "money") for c in currencies]
    parts = [
        "<h2>Attribution</h2>",
        f'<p class="scope">Won deals and their revenue credited by {html.escape(dimension)}, per model.</p>',
        _table("attribution-models", "Models", "model", summary_columns, summary),
        "<h3>Won deals credited</h3>",
        _table("attribution-conversions", "Won deals credited", dimension, [(m, m, "credit") for m in models],
               ((k, {m: c["conversions"] for m, c in keys[k].items()}) for k in ordered)),
    ]
    for currency in currencies:
        parts += [f"<h3>Revenue credited ({html.escape(currency)})</h3>",
                  _table(f"attribution-revenue-{currency}", f"Revenue {currency}", dimension,
                         [(m, m, "money") for m in models],
                         ((k, {m: c.get("revenue", {}).get(currency) for m, c in keys[k].items()})
                          for k in ordered))]
    for model, report in reports.items():
        if report.get("status", "ok") != "ok":
            reasons = "; ".join(report.get("reasons") or [])
            parts.append(f'<p class="note">{html.escape(model)}: too little data ({html.escape(reasons)}).</p>')
    return "".join(parts)


def metric_leaves(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """The scalar leaves of a JSON object as (dotted path, value); lists are left to their own tables."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from metric_leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif not isinstance(value, list):
        yield prefix, value


MONEY_FIELDS = frozenset({"value", "revenue", "weighted_value", "average_deal", "per_day", "per_lead",
                          "per_won_deal", "per_call"})


def unit_of(field: str) -> Unit:
    """How a metric is shown, from its path (the names are the definitions', docs/analytics.md)."""
    parts = field.split(".")
    last = parts[-1]
    if "rate" in last or "share" in last or last.startswith("within_") or last == "probability":
        return "rate"
    if any(p in MONEY_FIELDS or p.endswith("_usd") for p in parts):
        return "money"
    return "count"


def _list_table(table_id: str, title: str, items: Sequence[Any], heading: bool = True) -> str:
    """A list of objects: one row each, named by its text fields (ids left out), its numbers as columns."""
    rows: list[tuple[str, dict[str, Any]]] = []
    columns: list[str] = []
    seen: dict[str, int] = {}
    for item in items:
        fields = dict(metric_leaves(item)) if isinstance(item, Mapping) else {"value": item}
        name = " / ".join(str(v) for k, v in fields.items()
                          if isinstance(v, str) and not k.endswith("_id")) or str(len(rows) + 1)
        seen[name] = seen.get(name, 0) + 1
        key = name if seen[name] == 1 else f"{name} #{seen[name]}"
        numbers = {k: v for k, v in fields.items() if not isinstance(v, str) or k.endswith("_id")}
        columns += [k for k in numbers if k not in columns]
        rows.append((key, numbers))
    head = f"<h4>{html.escape(title)}</h4>" if heading else ""
    if not rows:
        return f'{head}<p class="note">none in this period</p>'
    return (head + _table(table_id, title, "", [(c.replace("_", " "), c, unit_of(c)) for c in columns], rows))


METRIC_TITLES = {
    "speed_to_lead": "Speed to lead", "reply_rate": "Reply rate", "win_rate": "Win rate", "pipeline": "Pipeline",
    "sales_velocity": "Sales velocity", "meetings_booked": "Meetings booked",
    "messages_by_channel": "Messages by channel and direction", "sequence_steps": "Sequence steps",
    "autopilot": "Autopilot", "ai_cost": "AI cost", "ai_roi": "AI ROI",
}


def _metrics_section(metrics: Mapping[str, Any]) -> str:
    """Each metric group as a table of its numbers (`metrics-<group>`), its lists as tables of their own
    (`metrics-<group>-<list>`): every number of the JSON, named by its path."""
    parts = ["<h2>Sales metrics</h2>"]
    groups = [g for g in METRIC_TITLES if g in metrics]
    groups += [g for g in metrics if g not in METRIC_TITLES and g not in ("from", "to", "tz", "rollup_tz")]
    for group in groups:
        value = metrics[group]
        title = METRIC_TITLES.get(group) or group.replace("_", " ").capitalize()
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if isinstance(value, list):
            parts.append(_list_table(f"metrics-{group}", title, value, heading=False))
            continue
        scalars = [(path, {"value": v}) for path, v in metric_leaves(value)] if isinstance(value, Mapping) \
            else [(group, {"value": value})]
        if scalars:
            parts.append(_metric_rows(f"metrics-{group}", title, scalars))
        if isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, list):
                    parts.append(_list_table(f"metrics-{group}-{key}", key.replace("_", " "), item))
    return "".join(parts)


def _metric_rows(table_id: str, title: str, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Rows of (path, value), each shown in its own unit."""
    body = "".join(f'<tr><th scope="row">{html.escape(path)}</th>{_td(row["value"], unit_of(path))}</tr>'
                   for path, row in rows)
    return (f'<table id="{html.escape(table_id)}"><caption hidden>{html.escape(title)}</caption>'
            '<thead><tr><th scope="col">metric</th><th scope="col">value</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _figure(chart: Chart, png: bytes) -> str:
    width, height = chart.size
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="chart-{html.escape(chart.name)}"><img alt="{html.escape(chart.title)}" width="{width}" '
            f'height="{height}" src="data:image/png;base64,{data}"><figcaption hidden>{html.escape(chart.title)}'
            "</figcaption></figure>")


def report_html(document: Mapping[str, Any], charts: Sequence[tuple[Chart, bytes]]) -> str:
    """The page: title and scope, the charts (PNG bytes as rendered), then a section per report present."""
    scope = f"{document['from']} to {document['to']} ({document['tz']})"
    title = f"SalesFlow analytics {scope}"
    sections = []
    if document.get("funnel"):
        sections.append(_funnel_section(document["funnel"]))
    if document.get("attribution"):
        sections.append(_attribution_section(document["attribution"], str(document.get("dimension", "channel"))))
    if document.get("metrics"):
        sections.append(_metrics_section(document["metrics"]))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1>"
        f'<p class="scope">Tenant {html.escape(str(document.get("tenant", "")))}; days in '
        f'{html.escape(str(document["tz"]))}.</p>'
        + "".join(_figure(chart, png) for chart, png in charts)
        + "".join(sections)
        + "</body></html>\n"
    )
