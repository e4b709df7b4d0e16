"""The Grafana dashboard (files/dashboard.json) and the chart's ConfigMap that ships it to
Grafana's dashboard sidecar; off by default."""

from __future__ import annotations

import json
import re
from typing import Any

from helm_python.chart import lint

from tests.chart.test_chart import CHART, render, validate_all

FILE = CHART / "files" / "dashboard.json"
ON = {"grafanaDashboard": {"enabled": True}}


def dashboard_configmaps(values: dict[str, Any]) -> list[dict[str, Any]]:
    objects = render(values)
    validate_all(objects)
    return [o for o in objects if o["kind"] == "ConfigMap"
            and o["metadata"]["name"].endswith("-dashboard")]


def test_off_by_default_and_when_the_chart_is_off() -> None:
    assert dashboard_configmaps({}) == []
    assert render({**ON, "enabled": False}) == []


def test_the_configmap_holds_the_dashboard_with_the_sidecars_label() -> None:
    [configmap] = dashboard_configmaps(ON)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "namespace" not in configmap["metadata"]
    assert json.loads(configmap["data"]["failover-controller.json"]) == json.loads(
        FILE.read_text())
    [mine] = dashboard_configmaps({"grafanaDashboard": {
        "enabled": True, "labels": {"dashboards": "ops"}, "namespace": "monitoring",
        "annotations": {"grafana_folder": "Failover"}}})
    assert mine["metadata"]["namespace"] == "monitoring"
    assert mine["metadata"]["annotations"] == {"grafana_folder": "Failover"}
    assert mine["metadata"]["labels"]["dashboards"] == "ops"
    assert mine["metadata"]["labels"]["grafana_dashboard"] == "1"  # Helm merges maps


def test_lint_is_clean_with_the_dashboard_on() -> None:
    report = lint(CHART, ON, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


def test_every_panel_queries_through_the_chosen_data_source_and_defined_variables() -> None:
    dashboard = json.loads(FILE.read_text())
    defined = {v["name"] for v in dashboard["templating"]["list"]} | {
        "__rate_interval", "__range"}  # Grafana's own
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["title"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"]))
            assert used <= defined, (panel["title"], used - defined)
            assert re.search(r'job="\$(job|agent_job)"', target["expr"]), panel["title"]
