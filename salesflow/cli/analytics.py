"""`salesflow analytics`: the funnel and attribution reports, and the rebuild of facts and rollups.

The reports are the SQL functions a browser calls over PostgREST (public.analytics_funnel,
public.analytics_attribution, public.analytics_touch_paths); the Markov model runs here over the paths the
database returns (salesflow.analytics.attribution). `--json` (or a pipe) prints the functions' JSON.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import available_timezones

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from salesflow.analytics import attribution as markov_attribution
from salesflow.analytics.stages import DIMENSIONS, MODELS, SQL_MODELS, Dimension, Model
from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, is_terminal, print_json

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="Funnel and attribution reports; rebuild analytics facts and rollups.", no_args_is_help=True)

TenantOption = typer.Option(..., "--tenant", help="The tenant to report on (UUID).")
FromOption = typer.Option(None, "--from", help="First day (YYYY-MM-DD, in --tz). Default: 89 days before --to.")
ToOption = typer.Option(None, "--to", help="Last day (YYYY-MM-DD, in --tz). Default: today.")
TzOption = typer.Option(None, "--tz", help="IANA time zone of the days. Default: the tenant's, else UTC.")
JsonOption = typer.Option(False, "--json", help="Print JSON (the default when stdout is not a terminal).")
PngOption = typer.Option(None, "--png", help="Also write the charts as PNG files (funnel.png, ...) into this "
                         "directory (created if missing).")
HtmlOption = typer.Option(None, "--html", help="Also write one self-contained HTML report (charts and tables) "
                          "to this file.")
WindowOption = typer.Option(90, "--window-days", help="A stage counts when reached within this many days of the "
                            "lead's creation.")
FUNNEL_QUERY = "select public.analytics_funnel(%(from)s, %(to)s, %(tz)s, %(window)s, %(tenant)s)"


class ReportArgs(BaseModel):
    """The arguments every report takes, checked before anything reaches the database."""

    model_config = ConfigDict(frozen=True)

    tenant: UUID
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    tz: str | None = None

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in available_timezones() and value != "UTC":
            raise ValueError("must be an IANA time zone name such as Europe/Berlin")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ReportArgs:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("from: must not be after to")
        return self


class FunnelArgs(ReportArgs):
    window_days: int = Field(default=90, ge=1, le=3650)


class AttributionArgs(ReportArgs):
    model: Model = "linear"
    dimension: Dimension = "channel"


class FullReportArgs(FunnelArgs):
    dimension: Dimension = "channel"
    model: Model = "linear"


_OPTION = {"from_": "--from", "from": "--from", "to": "--to", "tz": "--tz", "tenant": "--tenant",
           "window_days": "--window-days", "model": "--model", "dimension": "--dimension"}


def _parse(model: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if not field and message.startswith("from:"):
            field, message = "from", message.removeprefix("from: ")
        allowed = {"model": ", ".join(MODELS), "dimension": ", ".join(DIMENSIONS)}.get(field)
        fail(f"{_OPTION.get(field, field)}: {f'must be one of {allowed}' if allowed else message}")


def _connect(database_url: str | None) -> psycopg.Connection[Any]:
    import psycopg  # imported here: the command line starts without the database driver

    loc = database(database_url)
    try:
        return psycopg.connect(loc.url, autocommit=True)
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to {loc.describe()}: {exc}".strip(), code=1)


def _query(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> Any:
    import psycopg

    try:
        row = conn.execute(query, params).fetchone()
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc)
        fail(message, code=2 if exc.diag.sqlstate == "22023" else 1)
    return row[0] if row else None


def _call(database_url: str | None, query: str, params: dict[str, Any]) -> Any:
    with _connect(database_url) as conn:
        return _query(conn, query, params)


def _scope(args: ReportArgs) -> dict[str, Any]:
    return {"tenant": str(args.tenant), "from": args.from_, "to": args.to, "tz": args.tz}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{float(value):.1f} h"


def _show(report: dict[str, Any], json_output: bool, render: Any) -> None:
    if json_output or not is_terminal():
        print_json(report)
    else:
        render(report)


def _check_outputs(png: Path | None, html: Path | None) -> None:
    """Refuse unwritable --png / --html paths before any work is done."""
    from salesflow.analytics.reports import files

    try:
        if png is not None:
            files.check_directory(png, "--png")
        if html is not None:
            files.check_file(html, "--html")
    except files.OutputPathError as exc:
        fail(str(exc))


def _document(args: ReportArgs, **reports: Any) -> dict[str, Any]:
    """A report document (the shape `report --json` prints) holding the given reports, scoped by the first."""
    first = reports.get("funnel") or reports.get("metrics") or next(iter(reports["attribution"].values()))
    return {"tenant": str(args.tenant), "from": first["from"], "to": first["to"], "tz": first["tz"], **reports}


def _write_outputs(document: dict[str, Any], png: Path | None, html: Path | None) -> None:
    """Render the document's charts and write the PNGs and/or the HTML page (all files or none)."""
    if png is None and html is None:
        return
    from salesflow.analytics.reports import charts, files
    from salesflow.analytics.reports import html as report_html

    rendered = [(chart, charts.render_png(chart)) for chart in charts.charts_of(document)]
    out: dict[Path, bytes] = {}
    if png is not None:
        out.update({png / f"{chart.name}.png": data for chart, data in rendered})
    if html is not None:
        out[html] = report_html.report_html(document, rendered).encode("utf-8")
    try:
        files.write_all(out)
    except OSError as exc:
        fail(f"cannot write the report files: {exc}", code=1)
    for path in out:
        typer.echo(f"wrote {path}", err=True)


def _render_funnel(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Funnel {report['from']} to {report['to']} ({report['tz']}), "
                        f"{report['leads']} leads, window {report['window_days']} days")
    for header in ("stage", "count", "step conv.", "overall", "drop-off", "median h (created)",
                   "mean h (created)", "median h (prev.)"):
        table.add_column(header, justify="left" if header == "stage" else "right")
    for s in report["stages"]:
        table.add_row(s["stage"], str(s["count"]), _pct(s["step_conversion"]), _pct(s["overall_conversion"]),
                      "-" if s["drop_off"] is None else str(s["drop_off"]), _hours(s["median_hours_from_created"]),
                      _hours(s["mean_hours_from_created"]), _hours(s["median_hours_from_previous"]))
    console.print(table)
    exits = report["exits"]
    console.print(f"exits: lost {exits['lost']['count']} ({_pct(exits['lost']['rate'])}), "
                  f"churned {exits['churned']['count']} ({_pct(exits['churned']['rate'])})")
    for title, key, rows in (("By source channel", "source_channel", report["by_source_channel"]),
                             ("Cohorts by entry week", "week", report["cohorts"])):
        breakdown = Table(title=title)
        for header in (key, "leads", "won", "conversion"):
            breakdown.add_column(header, justify="left" if header == key else "right")
        for row in rows:
            breakdown.add_row(str(row[key]), str(row["leads"]), str(row["won"]), _pct(row["conversion"]))
        console.print(breakdown)


def _render_attribution(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    key = report.get("dimension", "key")
    if report.get("status") == "insufficient_data":
        console.print(f"[bold]markov[/bold]: too little data for the data-driven model "
                      f"({report['conversions']} conversions, {report['non_conversions']} non-conversions):")
        for reason in report["reasons"]:
            console.print(f"  - {reason}")
        return
    table = Table(title=f"Attribution ({report['model']}) by {key}, {report['from']} to {report['to']} "
                        f"({report['tz']}): {report['conversions']} won deals")
    for header in (key, "conversions", "revenue"):
        table.add_column(header, justify="left" if header == key else "right")
    for row in report["credits"]:
        revenue = ", ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(row["revenue"].items()))
        table.add_row(str(row[key] if key in row else row.get("key")), f"{float(row['conversions']):.2f}",
                      revenue or "-")
    console.print(table)


@app.command()
def funnel(
    tenant: str = TenantOption,
    from_: str | None = FromOption,
    to: str | None = ToOption,
    tz: str | None = TzOption,
    window_days: int = WindowOption,
    json_output: bool = JsonOption,
    png: Path | None = PngOption,
    html: Path | None = HtmlOption,
    database_url: str | None = DbUrl,
) -> None:
    """The 10-stage funnel of the leads created in the period: counts, conversions, drop-off, times, cohorts."""
    args = _parse(FunnelArgs, {"tenant": tenant, "from": from_, "to": to, "tz": tz, "window_days": window_days})
    _check_outputs(png, html)
    report = _call(database_url, FUNNEL_QUERY, {**_scope(args), "window": args.window_days})
    _show(report, json_output, _render_funnel)
    _write_outputs(_document(args, funnel=report), png, html)


@app.command("attribution")
def attribution_report(
    tenant: str = TenantOption,
    model: str = typer.Option("linear", "--model", help=f"One of {', '.join(MODELS)}."),
    dimension: str = typer.Option("channel", "--dimension", help=f"One of {', '.join(DIMENSIONS)}."),
    from_: str | None = FromOption,
    to: str | None = ToOption,
    tz: str | None = TzOption,
    json_output: bool = JsonOption,
    png: Path | None = PngOption,
    html: Path | None = HtmlOption,
    database_url: str | None = DbUrl,
) -> None:
    """Won deals (count and revenue) credited to channels, actors, campaigns or sequences by one model."""
    args = _parse(AttributionArgs, {"tenant": tenant, "from": from_, "to": to, "tz": tz, "model": model,
                                    "dimension": dimension})
    _check_outputs(png, html)
    with _connect(database_url) as conn:
        report = _attribution(conn, _scope(args), args.model, args.dimension)
    _show(report, json_output, _render_attribution)
    _write_outputs(_document(args, attribution={args.model: report}, dimension=args.dimension), png, html)


def _attribution(conn: psycopg.Connection[Any], scope: dict[str, Any], model: Model, dimension: Dimension) -> Any:
    """One model's report: the SQL function's, or for markov the removal effect over the touch paths."""
    if model != "markov":
        return _query(conn, "select public.analytics_attribution(%(model)s, %(dimension)s, %(from)s, %(to)s, "
                            "%(tz)s, %(tenant)s)", {**scope, "model": model, "dimension": dimension})
    paths = _query(conn, "select public.analytics_touch_paths(%(dimension)s, %(from)s, %(to)s, %(tz)s, %(tenant)s)",
                   {**scope, "dimension": dimension})
    result = markov_attribution.markov(markov_attribution.paths_from_json(paths["paths"])).as_json()
    report = {**result, "dimension": dimension, "from": paths["from"], "to": paths["to"], "tz": paths["tz"]}
    report["credits"] = [{dimension: c.pop("key"), **c} for c in report["credits"]]
    return report


class MetricsArgs(ReportArgs):
    model: Model = "linear"


METRICS_QUERY = "select public.analytics_metrics(%(from)s, %(to)s, %(tz)s, %(tenant)s, %(model)s)"


@app.command("metrics")
def metrics_report(
    tenant: str = TenantOption,
    from_: str | None = FromOption,
    to: str | None = ToOption,
    tz: str | None = TzOption,
    model: str = typer.Option("linear", "--model", help="Attribution model of AI ROI: one of "
                              f"{', '.join(SQL_MODELS)}."),
    json_output: bool = JsonOption,
    png: Path | None = PngOption,
    html: Path | None = HtmlOption,
    database_url: str | None = DbUrl,
) -> None:
    """Sales metrics for the period: speed to lead, reply rate, win rate, pipeline, velocity, meetings, messages,
    sequence steps, autopilot, AI cost and ROI (public.analytics_metrics)."""
    if model not in SQL_MODELS:  # markov has no per-touch credits to weigh AI touches by
        fail(f"--model: must be one of {', '.join(SQL_MODELS)}")
    args = _parse(MetricsArgs, {"tenant": tenant, "from": from_, "to": to, "tz": tz, "model": model})
    _check_outputs(png, html)
    result = _call(database_url, METRICS_QUERY, {**_scope(args), "model": args.model})
    _show(result, json_output, _render_metrics)
    _write_outputs(_document(args, metrics=result), png, html)


def _money(amounts: dict[str, Any] | None) -> str:
    return ", ".join(f"{float(v):,.2f} {c}" for c, v in sorted((amounts or {}).items())) or "-"


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{value:.1f} min" if value < 120 else f"{value / 60:.1f} h"


def _render_metrics(m: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def table(title: str, *headers: str) -> Table:
        t = Table(title=title)
        for i, header in enumerate(headers):
            t.add_column(header, justify="left" if i == 0 else "right")
        return t

    speed, replies, win = m["speed_to_lead"], m["reply_rate"], m["win_rate"]
    pipeline, velocity, autopilot = m["pipeline"], m["sales_velocity"], m["autopilot"]
    cost, roi = m["ai_cost"], m["ai_roi"]
    summary = table(f"Sales metrics {m['from']} to {m['to']} ({m['tz']})", "metric", "value")
    for label, value in (
        ("speed to lead: median", _minutes(speed["median_minutes"])),
        ("speed to lead: within 5 minutes / 1 hour",
         f"{_pct(speed['within_5_minutes'])} / {_pct(speed['within_1_hour'])} of {speed['leads']} new leads"),
        ("reply rate (auto-replies excluded)",
         f"{_pct(replies['rate'])} ({replies['replied']} of {replies['sends']} sends)"),
        ("win rate (count)", f"{_pct(win['rate'])} ({win['won']} won, {win['lost']} lost)"),
        ("win rate (value)", ", ".join(f"{_pct(v['rate'])} {c}" for c, v in sorted(win["value"].items())) or "-"),
        ("pipeline now", f"{pipeline['deals']} deals, {_money(pipeline['value'])}"),
        ("weighted pipeline", _money(pipeline["weighted_value"])),
        ("sales velocity per day", _money(velocity["per_day"])),
        ("sales cycle", "-" if velocity["cycle_days"] is None else f"{float(velocity['cycle_days']):.1f} days"),
        ("meetings booked", str(m["meetings_booked"])),
        ("autopilot acceptance / edit rate",
         f"{_pct(autopilot['acceptance_rate'])} / {_pct(autopilot['edit_rate'])} of {autopilot['reviewed']} reviewed"),
        ("AI cost", f"{float(cost['cost_usd']):,.2f} USD ({cost['calls']} calls)"),
        ("AI cost per lead / per won deal", " / ".join(
            "-" if cost[k] is None else f"{float(cost[k]):,.2f} USD" for k in ("per_lead", "per_won_deal"))),
        (f"AI ROI ({roi['model']}): revenue per USD of AI", _money(roi["roi"])),
    ):
        summary.add_row(label, value)
    console.print(summary)

    buckets = table("Speed to lead", "first contact", "leads", "share")
    for b in speed["buckets"]:
        buckets.add_row(b["bucket"].replace("_", " "), str(b["leads"]), _pct(b["share"]))
    buckets.add_row("not contacted", str(speed["not_contacted"]), "")
    console.print(buckets)

    messages = table("Messages by channel", "channel", "direction", "messages", "by actor")
    for row in m["messages_by_channel"]:
        messages.add_row(row["channel"], row["direction"], str(row["messages"]),
                         ", ".join(f"{a} {n}" for a, n in sorted(row["by_actor"].items())))
    console.print(messages)

    channels = table("Reply rate by channel", "channel", "sends", "replied", "rate")
    for row in replies["by_channel"]:
        channels.add_row(row["channel"], str(row["sends"]), str(row["replied"]), _pct(row["rate"]))
    console.print(channels)

    if m["sequence_steps"]:
        steps = table("Sequence steps", "sequence", "step", "channel", "sends", "replied", "reply rate")
        for s in m["sequence_steps"]:
            steps.add_row(str(s["sequence"] or s["sequence_id"] or "-"), str(s["position"] or "-"),
                          str(s["channel"] or "-"), str(s["sends"]), str(s["replied"]), _pct(s["reply_rate"]))
        console.print(steps)

    stages = table("Pipeline now", "status", "probability", "deals", "value", "weighted")
    for s in pipeline["by_status"]:
        stages.add_row(s["status"], _pct(s["probability"]), str(s["deals"]), _money(s["value"]),
                       _money(s["weighted_value"]))
    console.print(stages)

    scenarios = table("AI cost by scenario", "scenario", "calls", "cost", "per call")
    for s in cost["by_scenario"]:
        scenarios.add_row(s["scenario"], str(s["calls"]), f"{float(s['cost_usd']):,.4f} USD",
                          f"{float(s['per_call']):,.4f} USD")
    console.print(scenarios)


@app.command()
def report(
    tenant: str = TenantOption,
    from_: str | None = FromOption,
    to: str | None = ToOption,
    tz: str | None = TzOption,
    window_days: int = WindowOption,
    dimension: str = typer.Option("channel", "--dimension", help=f"Attribution by: one of {', '.join(DIMENSIONS)}."),
    model: str = typer.Option("linear", "--model", help="Attribution model of the metrics' AI ROI: one of "
                              f"{', '.join(SQL_MODELS)} (attribution itself is shown by every model)."),
    json_output: bool = JsonOption,
    png: Path | None = PngOption,
    html: Path | None = HtmlOption,
    database_url: str | None = DbUrl,
) -> None:
    """Everything for one period: the funnel, attribution by every model, the sales metrics; tables, JSON (one
    document), PNG charts, one HTML file."""
    if model not in SQL_MODELS:
        fail(f"--model: must be one of {', '.join(SQL_MODELS)}")
    args = _parse(FullReportArgs, {"tenant": tenant, "from": from_, "to": to, "tz": tz, "window_days": window_days,
                                   "dimension": dimension, "model": model})
    _check_outputs(png, html)
    with _connect(database_url) as conn:
        funnel_report = _query(conn, FUNNEL_QUERY, {**_scope(args), "window": args.window_days})
        # The funnel resolved the defaults (period, the tenant's zone): every other report uses the same.
        scope = {"tenant": str(args.tenant), "from": funnel_report["from"], "to": funnel_report["to"],
                 "tz": funnel_report["tz"]}
        attributions = {model: _attribution(conn, scope, model, args.dimension) for model in (*SQL_MODELS, "markov")}
        metrics = _query(conn, METRICS_QUERY, {**scope, "model": args.model})
    document = {**scope, "window_days": args.window_days, "dimension": args.dimension, "model": args.model,
                "funnel": funnel_report, "attribution": attributions, "metrics": metrics}
    _show(document, json_output, _render_report)
    _write_outputs(document, png, html)


def _render_report(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    _render_funnel(document["funnel"])
    console = Console()
    reports = document["attribution"]
    dimension = document["dimension"]
    drawn = [m for m, r in reports.items() if r.get("status", "ok") == "ok"]
    conversions = next(iter(reports.values()))["conversions"]
    table = Table(title=f"Won deals credited by {dimension}, every model ({conversions} won deals)")
    table.add_column(dimension)
    for model in drawn:
        table.add_column(model, justify="right")
    keys = sorted({str(c[dimension]) for m in drawn for c in reports[m]["credits"]})
    for key in keys:
        credit = {m: next((c["conversions"] for c in reports[m]["credits"] if str(c[dimension]) == key), None)
                  for m in drawn}
        table.add_row(key, *("-" if (value := credit[m]) is None else f"{float(value):.2f}" for m in drawn))
    console.print(table)
    for model, result in reports.items():
        if model not in drawn:
            console.print(f"{model}: too little data: {'; '.join(result.get('reasons') or [])}")
    _render_metrics(document["metrics"])


@app.command()
def rebuild(
    tenant: str = TenantOption,
    from_: str | None = typer.Option(None, "--from", help="First day to re-derive (tenant's days). Default: all."),
    to: str | None = typer.Option(None, "--to", help="Last day to re-derive. Default: up to now."),
    json_output: bool = JsonOption,
    database_url: str | None = DbUrl,
) -> None:
    """Re-derive a tenant's facts for a period from messages, leads and kept events; recompute journeys and
    rollups."""
    args = _parse(ReportArgs, {"tenant": tenant, "from": from_, "to": to})
    result = _call(database_url, "select public.analytics_rebuild(%(tenant)s, %(from)s, %(to)s)", _scope(args))
    if json_output or not is_terminal():
        print_json(result)
    else:
        typer.echo(json.dumps(result, indent=2, default=str))
