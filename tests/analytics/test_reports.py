"""`salesflow analytics report` and the --png / --html outputs: one JSON document of the functions' reports;
PNGs that open at their fixed size and show the JSON's numbers; one self-contained HTML file whose tables show
the same numbers as the JSON of the same call; bad paths and bad input refused with exit 2 before anything is
written."""

from __future__ import annotations

import base64
import io
import json
import os
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from typer.testing import CliRunner

from salesflow.analytics.reports import charts, files
from salesflow.analytics.reports.html import cell_text, metric_leaves, unit_of
from salesflow.analytics.stages import FUNNEL_STAGES, MODELS, SQL_MODELS
from salesflow.cli.main import app
from tests.analytics.history import Lead, Touch, new_tenant, write

runner = CliRunner()
PERIOD = ["--from", "2026-05-01", "--to", "2026-06-30"]
FAIR = "Messe München"  # a campaign with an umlaut: drawn and written as such


@pytest.fixture(scope="module")
def tenant(analytics_database: str) -> str:
    """Twelve leads over four weeks: three channels and campaigns, replies, meetings, five won deals (EUR)."""
    base = datetime(2026, 5, 4, 8, tzinfo=UTC)  # a Monday
    leads = []
    for i in range(12):
        created = base + timedelta(days=2 * i, hours=i % 3)
        channel = ("email", "whatsapp", "instagram")[i % 3]
        touches = [Touch(channel, "out", ("human", "sequence", "autopilot")[i % 3],
                         created + timedelta(minutes=(3, 40, 200)[i % 3]), ai_cost=0.02 if i % 3 == 2 else 0.0)]
        if i % 4 != 3:
            touches.append(Touch(channel, "in", "lead", created + timedelta(hours=2 + i)))
        if i % 2 == 0:
            touches.append(Touch("email", "out", "human", created + timedelta(days=1)))
            touches.append(Touch(channel, "in", "lead", created + timedelta(days=1, hours=3)))
        won = (created + timedelta(days=4), 1000.0 + 250 * i, "EUR") if i % 5 in (0, 2) else None
        leads.append(Lead(created_at=created, source_channel=channel, source=(FAIR, "ads", None)[i % 3],
                          touches=touches, won=won,
                          meetings=[(created + timedelta(days=2), created + timedelta(days=3))] if won else []))
    with psycopg.connect(analytics_database) as conn:
        tenant = new_tenant(conn, timezone="Europe/Berlin")
        write(conn, tenant, leads)
        conn.commit()
    return tenant


def cli(url: str, *args: str) -> Any:
    return runner.invoke(app, ["analytics", *args, "--database-url", url])


@pytest.fixture(scope="module")
def outputs(analytics_database: str, tenant: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One call of `report` with --json, --png and --html (campaign dimension: the umlaut is in the keys)."""
    out = tmp_path_factory.mktemp("report")
    result = cli(analytics_database, "report", "--tenant", tenant, *PERIOD, "--dimension", "campaign", "--json",
                 "--png", str(out / "charts"), "--html", str(out / "report.html"))
    assert result.exit_code == 0, result.output
    return {"document": json.loads(result.stdout), "png": out / "charts", "html": out / "report.html"}


def db_json(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return json.loads(json.dumps(row[0], default=str))


def test_report_json_is_one_document_of_the_functions_reports(analytics_database: str, tenant: str,
                                                              outputs: dict[str, Any]) -> None:
    document = outputs["document"]
    assert (document["from"], document["to"], document["tz"]) == ("2026-05-01", "2026-06-30", "Europe/Berlin")
    assert document["funnel"] == db_json(
        analytics_database, "select public.analytics_funnel('2026-05-01', '2026-06-30', 'Europe/Berlin', 90, %s)",
        tenant)
    assert list(document["attribution"]) == list(MODELS), "every model, markov included"
    for model in SQL_MODELS:
        assert document["attribution"][model] == db_json(
            analytics_database, "select public.analytics_attribution(%s, 'campaign', '2026-05-01', '2026-06-30', "
            "'Europe/Berlin', %s)", model, tenant), model
    assert document["attribution"]["markov"]["status"] == "insufficient_data"
    assert document["funnel"]["leads"] == 12 and document["attribution"]["linear"]["conversions"] == 5
    assert FAIR in {c["campaign"] for c in document["attribution"]["first_touch"]["credits"]}
    direct = db_json(analytics_database, "select public.analytics_metrics('2026-05-01', '2026-06-30', "
                     "'Europe/Berlin', %s, 'linear')", tenant)
    metrics = dict(document["metrics"])
    pipeline = {k: v for k, v in metrics.pop("pipeline").items() if k != "as_of"}  # as it stands at the call
    assert {**metrics, "pipeline": pipeline} == {**direct, "pipeline": {
        k: v for k, v in direct["pipeline"].items() if k != "as_of"}}


def test_chart_data_are_the_json_numbers(outputs: dict[str, Any]) -> None:
    document = outputs["document"]
    funnel = charts.funnel_chart(document)
    assert funnel is not None
    assert funnel.categories == FUNNEL_STAGES
    assert list(funnel.series[0].values) == [s["count"] for s in document["funnel"]["stages"]]

    attribution = charts.attribution_chart(document)
    assert attribution is not None
    assert [s.name for s in attribution.series] == list(SQL_MODELS), "markov has too little data: a note, no bars"
    assert any("markov: conversions: 5 won deals" in note for note in attribution.notes)
    for series in attribution.series:
        credits = {c["campaign"]: c["conversions"] for c in document["attribution"][series.name]["credits"]}
        drawn = dict(zip(attribution.categories, series.values, strict=True))
        assert {k: v for k, v in drawn.items() if k in credits} == credits
        assert all(v == 0 for k, v in drawn.items() if k not in credits)
    assert set(attribution.categories) == {FAIR, "ads", "none"}

    trend = charts.weekly_trend_chart(document)
    assert trend is not None
    cohorts = sorted(document["funnel"]["cohorts"], key=lambda c: c["week"])
    assert trend.categories == tuple(c["week"] for c in cohorts)
    assert [list(s.values) for s in trend.series] == [[c["leads"] for c in cohorts], [c["won"] for c in cohorts]]
    assert sum(trend.series[0].values) == 12


def test_speed_to_lead_chart_data_are_the_metrics_buckets(outputs: dict[str, Any]) -> None:
    metrics = outputs["document"]["metrics"]
    chart = charts.speed_to_lead_chart(outputs["document"])
    assert chart is not None
    buckets = metrics["speed_to_lead"]["buckets"]
    assert chart.categories == tuple(b["bucket"] for b in buckets)
    assert list(chart.series[0].values) == [b["leads"] for b in buckets]
    assert sum(chart.series[0].values) == metrics["speed_to_lead"]["contacted"] == 12
    assert (outputs["png"] / "speed_to_lead.png").exists()


def test_png_files_open_at_their_size_and_are_not_blank(outputs: dict[str, Any]) -> None:
    document = outputs["document"]
    expected = {c.name: c.size for c in charts.charts_of(document)}
    assert {"funnel", "attribution", "weekly_trend"} <= set(expected)
    assert sorted(p.name for p in outputs["png"].iterdir()) == sorted(f"{name}.png" for name in expected)
    for name, size in expected.items():
        with Image.open(outputs["png"] / f"{name}.png") as image:
            image.verify()
        with Image.open(outputs["png"] / f"{name}.png") as image:
            assert image.format == "PNG" and image.size == size, name
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours is not None and len(colours) > 20, f"{name} looks blank"
    with Image.open(outputs["png"] / "funnel.png") as image:
        rgb = image.convert("RGB")
        counts = {colour: n for n, colour in rgb.getcolors(maxcolors=1 << 20) or []}
        assert counts.get((0x25, 0x63, 0xEB), 0) > 0.05 * rgb.width * rgb.height, "the funnel's bars are drawn"


def test_the_same_data_gives_the_same_png_bytes(outputs: dict[str, Any]) -> None:
    chart = charts.attribution_chart(outputs["document"])
    assert chart is not None
    first, second = charts.render_png(chart), charts.render_png(chart)
    assert first == second
    assert b"tIME" not in first and b"Software" not in first and b"Matplotlib" not in first


class Page(HTMLParser):
    """The tables (id → {row key → {column → (data-value, text)}}), images and external references."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, tuple[Any, str]]]] = {}
        self.images: list[dict[str, str | None]] = []
        self.references: list[str] = []
        self.tags: set[str] = set()
        self._table: str | None = None
        self._headers: list[str] = []
        self._row: list[tuple[Any, str]] = []
        self._cell: list[str] | None = None
        self._value: Any = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        attributes = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value:
                self.references.append(value)
        if tag == "img":
            self.images.append(attributes)
        elif tag == "table":
            self._table, self._headers = str(attributes["id"]), []
            self.tables[self._table] = {}
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._cell = []
            raw = attributes.get("data-value")
            self._value = json.loads(raw) if raw is not None else None

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            self._row.append((self._value, "".join(self._cell)))
            self._cell = None
        elif tag == "tr" and self._table:
            if not self._headers:
                self._headers = [text for _, text in self._row]
            else:
                key = self._row[0][1]
                self.tables[self._table][key] = dict(zip(self._headers[1:], self._row[1:], strict=True))
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def page(path: Path) -> Page:
    parser = Page()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def shown(cell: tuple[Any, str], value: Any, unit: Any) -> bool:
    """The cell holds the JSON's exact value and shows it as formatted for readers."""
    exact, text = cell
    return exact == value and text == cell_text(value, unit)


def test_html_tables_show_the_numbers_of_the_json(outputs: dict[str, Any]) -> None:
    document, html = outputs["document"], page(outputs["html"])
    funnel = html.tables["funnel"]
    assert list(funnel) == list(FUNNEL_STAGES)
    for stage in document["funnel"]["stages"]:
        row = funnel[stage["stage"]]
        assert shown(row["count"], stage["count"], "count")
        assert shown(row["step conversion"], stage["step_conversion"], "rate")
        assert shown(row["overall conversion"], stage["overall_conversion"], "rate")
        assert shown(row["median h from created"], stage["median_hours_from_created"], "hours")
        assert shown(row["mean h from previous"], stage["mean_hours_from_previous"], "hours")
    for cohort in document["funnel"]["cohorts"]:
        row = html.tables["funnel-cohorts"][cohort["week"]]
        assert shown(row["leads"], cohort["leads"], "count") and shown(row["won"], cohort["won"], "count")
        assert shown(row["conversion"], cohort["conversion"], "rate")
    assert shown(html.tables["funnel-exits"]["lost"]["count"], document["funnel"]["exits"]["lost"]["count"], "count")

    credited, revenue = html.tables["attribution-conversions"], html.tables["attribution-revenue-EUR"]
    for model in SQL_MODELS:
        report = document["attribution"][model]
        assert shown(html.tables["attribution-models"][model]["conversions"], report["conversions"], "count")
        assert shown(html.tables["attribution-models"][model]["revenue EUR"], report["revenue"]["EUR"], "money")
        for credit in report["credits"]:
            assert shown(credited[credit["campaign"]][model], credit["conversions"], "credit"), (model, credit)
            assert shown(revenue[credit["campaign"]][model], credit["revenue"]["EUR"], "money"), (model, credit)
    assert FAIR in credited, "the umlaut survives into the page"
    assert any("markov: too little data" in t for t in html.text)


def test_html_metrics_tables_show_every_number_of_the_metrics_json(outputs: dict[str, Any]) -> None:
    metrics, html = outputs["document"]["metrics"], page(outputs["html"])
    checked = 0
    for group, value in metrics.items():
        if group in ("from", "to", "tz", "rollup_tz"):
            continue
        if isinstance(value, list):
            assert len(html.tables.get(f"metrics-{group}", {})) == len(value), group
            continue
        leaves = list(metric_leaves(value)) if isinstance(value, dict) else [(group, value)]
        table = html.tables[f"metrics-{group}"]
        for path, leaf in leaves:
            exact, text = table[path]["value"]
            if isinstance(leaf, int | float) and not isinstance(leaf, bool):
                assert exact == leaf and text == cell_text(leaf, unit_of(path)), (group, path)
                checked += 1
            else:
                assert text == ("-" if leaf is None else str(leaf)), (group, path)
        for key, item in (value.items() if isinstance(value, dict) else []):
            if isinstance(item, list) and item:
                assert len(html.tables[f"metrics-{group}-{key}"]) == len(item), (group, key)
    assert checked > 30
    buckets = html.tables["metrics-speed_to_lead-buckets"]
    for bucket in metrics["speed_to_lead"]["buckets"]:
        assert shown(buckets[bucket["bucket"]]["leads"], bucket["leads"], "count")
        assert shown(buckets[bucket["bucket"]]["share"], bucket["share"], "rate")
    assert html.tables["metrics-speed_to_lead"]["within_5_minutes"]["value"][1] == cell_text(
        metrics["speed_to_lead"]["within_5_minutes"], "rate")


def test_html_is_one_self_contained_file(outputs: dict[str, Any]) -> None:
    html = page(outputs["html"])
    assert not {"script", "link", "iframe", "object", "embed"} & html.tags
    assert all(ref.startswith("data:image/png;base64,") for ref in html.references), html.references
    assert "url(" not in outputs["html"].read_text(encoding="utf-8")
    expected = {c.name: c.size for c in charts.charts_of(outputs["document"])}
    assert len(html.images) == len(expected)
    for image_tag, (name, size) in zip(html.images, expected.items(), strict=True):
        data = str(image_tag["src"]).removeprefix("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.size == size, name
        assert (outputs["png"] / f"{name}.png").read_bytes() == base64.b64decode(data), "the same PNG as --png"


def test_funnel_attribution_and_metrics_write_their_own_charts(analytics_database: str, tenant: str,
                                                       tmp_path: Path) -> None:
    result = cli(analytics_database, "funnel", "--tenant", tenant, *PERIOD, "--json", "--png", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["funnel.png", "weekly_trend.png"]
    result = cli(analytics_database, "attribution", "--tenant", tenant, *PERIOD, "--model", "time_decay", "--json",
                 "--html", str(tmp_path / "a.html"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    html = page(tmp_path / "a.html")
    assert list(html.tables["attribution-models"]) == ["time_decay"]
    for credit in report["credits"]:
        assert shown(html.tables["attribution-conversions"][credit["channel"]]["time_decay"], credit["conversions"],
                     "credit")
    result = cli(analytics_database, "metrics", "--tenant", tenant, *PERIOD, "--json", "--png", str(tmp_path / "m"),
                 "--html", str(tmp_path / "m.html"))
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["speed_to_lead.png"]
    html = page(tmp_path / "m.html")
    assert shown(html.tables["metrics-reply_rate"]["rate"]["value"], metrics["reply_rate"]["rate"], "rate")
    assert "funnel" not in html.tables and "attribution-models" not in html.tables


@pytest.mark.parametrize(("args", "message"), [
    (["report", "--png", "{file}/charts"], "error: --png: "),
    (["report", "--png", "{file}"], "is not a directory"),
    (["report", "--html", "{dir}"], "error: --html: "),
    (["report", "--html", "{dir}/missing/r.html"], "error: --html: "),
    (["report", "--from", "2026-07-01", "--to", "2026-06-01"], "error: --from: must not be after to"),
    (["report", "--tz", "Europe/Atlantis"], "error: --tz: must be an IANA time zone name"),
    (["report", "--dimension", "planet"], "error: --dimension: must be one of channel"),
    (["attribution", "--model", "magic"], "error: --model: must be one of first_touch"),
    (["report", "--model", "markov"], "error: --model: must be one of first_touch"),
    (["metrics", "--from", "2026-06-31"], "error: --from:"),
    (["funnel", "--window-days", "0"], "error: --window-days:"),
])
def test_bad_input_exits_2_naming_the_option_and_writes_nothing(analytics_database: str, tenant: str,
                                                                tmp_path: Path, args: list[str],
                                                                message: str) -> None:
    (tmp_path / "file").write_text("not a directory")
    target = tmp_path / "out"
    args = [a.format(file=tmp_path / "file", dir=tmp_path) for a in args]
    if "--png" not in args and "--html" not in args:
        args += ["--png", str(target / "charts"), "--html", str(target / "r.html")]
        target.mkdir()
    result = cli(analytics_database, *args, "--tenant", tenant)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["file"] + (["out"] if target.exists() else []))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_directory_is_refused(analytics_database: str, tenant: str, tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        result = cli(analytics_database, "report", "--tenant", tenant, "--png", str(tmp_path))
    finally:
        tmp_path.chmod(0o700)
    assert result.exit_code == 2 and "error: --png: cannot write in" in result.output


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    (tmp_path / "old.html").write_text("yesterday's report")
    (tmp_path / "blocker").write_text("a file where a directory is needed")
    with pytest.raises(OSError):
        files.write_all({tmp_path / "old.html": b"new", tmp_path / "a.png": b"png",
                         tmp_path / "blocker" / "b.png": b"png"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "old.html"]
    assert (tmp_path / "old.html").read_text() == "yesterday's report"
