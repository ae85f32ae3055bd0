"""deploy/grafana/salesflow-listener.json (and the Prometheus rules next to it) query only metrics a running
listener really exports, and chart every one of them."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import DEPLOY, SALESFLOW, clean_env, free_port, wait_http

DASHBOARD = DEPLOY / "grafana" / "salesflow-listener.json"
RULES = DEPLOY / "salesflow-listener.rules.yml"
METRIC = re.compile(r"\bsalesflow_[a-z0-9_]+")
# What Prometheus adds per metric type (client_python's exposition).
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created")}


def queries(node: Any) -> Iterator[str]:
    """Every PromQL string of a Grafana dashboard: panel targets and templating queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str | dict):
                yield value if isinstance(value, str) else str(value.get("query", ""))
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Sample names a running listener serves on /metrics, with their family's type."""
    from tests.conftest import _create_migrated_database, _drop_database

    url = _create_migrated_database()
    port = free_port()
    log = (tmp_path_factory.mktemp("grafana") / "listener.log").open("wb")
    proc = subprocess.Popen([str(SALESFLOW), "listen", "--metrics-port", str(port)], env=clean_env(DATABASE_URL=url),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        _drop_database(url)
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("salesflow_"):
            continue
        if family.name.endswith("_created"):
            # The creation timestamp of an unlabelled counter, announced as its own gauge: part of that counter.
            names[family.name] = family.name.removesuffix("_created")
            continue
        # A labelled metric nobody has used yet has no samples, but its family is announced: its series names
        # are the family's name with the type's suffixes.
        for suffix in SUFFIXES[family.type]:
            names[family.name + suffix] = family.name
        for sample in family.samples:
            names[sample.name] = family.name
    yield names


def _check(used: set[str], exported: dict[str, str]) -> None:
    unknown = sorted(used - set(exported))
    assert not unknown, f"not exported by the listener: {unknown}; exported: {sorted(exported)}"


def test_the_dashboard_queries_only_exported_metrics_and_charts_them_all(exported: dict[str, str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {name for q in queries(dashboard) for name in METRIC.findall(q)}
    assert used
    _check(used, exported)
    charted = {exported[name] for name in used}
    assert charted == set(exported.values()), f"exported but not charted: {set(exported.values()) - charted}"


def test_every_panel_has_a_query_and_a_unique_place(exported: dict[str, str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    cells = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        assert grid["x"] + grid["w"] <= 24


def test_the_alert_rules_query_only_exported_metrics(exported: dict[str, str]) -> None:
    import yaml

    rules = yaml.safe_load(RULES.read_text())
    used = {name for group in rules["groups"] for rule in group["rules"] for name in METRIC.findall(rule["expr"])}
    assert used
    _check(used, exported)
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert RULES.name in scrape["rule_files"]
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"

