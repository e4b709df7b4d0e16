"""The chart's PrometheusRule: files/alerts.yaml as the operator's object, for the scrape job
the chart's ServiceMonitor makes, with the values' exclusions, labels and durations; off by
default."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.chart import Chart, lint
from helm_python.errors import HelmError

from tests.chart.test_chart import CHART, by_kind, render, validate_all
from tests.chart.test_chart_features import refused

FILE = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
ALERTS = [rule["alert"] for group in FILE["groups"] for rule in group["rules"]]
RULE_FIELDS = {"alert", "expr", "for", "labels", "annotations"}
ON = {"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True}}


def rules_of(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    objects = render(values)
    rule = by_kind(objects, "PrometheusRule")
    validate_all([o for o in objects if o["kind"] != "PrometheusRule"])
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    out = {}
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"}
        for r in group["rules"]:
            assert set(r) <= RULE_FIELDS, r
            out[r["alert"]] = r
    return out


def with_prometheus_rule(**values: Any) -> dict[str, Any]:
    return {"prometheusRule": {"enabled": True, **values}, "serviceMonitor": {"enabled": True}}


def test_off_by_default_and_when_the_chart_is_off() -> None:
    assert "PrometheusRule" not in {o["kind"] for o in render()}
    assert render({**ON, "enabled": False}) == []


def test_every_alert_of_the_file_for_the_service_monitors_job() -> None:
    rules = rules_of(ON)
    assert list(rules) == ALERTS
    for group in FILE["groups"]:
        for rule in group["rules"]:
            rendered = rules[rule["alert"]]
            # the agents' job stays as it is: the chart does not run them
            assert rendered["expr"] == rule["expr"].replace(
                'job="failover-controller"', 'job="rel-failover-controller-all"')
            assert rendered["labels"] == rule["labels"]
            assert rendered["annotations"] == rule["annotations"]
            assert rendered.get("for") == rule.get("for")
    # without the -all Service the ServiceMonitor scrapes the main one
    plain = rules_of({**ON, "serviceAll": {"enabled": False}})
    assert 'up{job="rel-failover-controller"}' in plain["FailoverReplicaDown"]["expr"]
    mine = rules_of({"prometheusRule": {"enabled": True, "job": "fc", "agentJob": "lb-agents"}})
    assert mine["FailoverReplicaDown"]["expr"].startswith('up{job="fc"} == 0')
    behind = mine["FailoverFollowerBehind"]["expr"]
    assert 'failover_agent_applied_version{job="lb-agents"}' in behind
    assert 'failover_route_version{job="fc", store="zookeeper"}' in behind


def test_exclusions_labels_durations_and_the_docs_url() -> None:
    rules = rules_of(with_prometheus_rule(
        excludeRules=["FailoverHappened", "FailoverProbeLagHigh"],
        additionalLabels={"team": "sre", "severity": "ignored"},
        **{"for": {"FailoverStoreDown": "2m", "FailoverHooksFailing": "5m"}},
        docsURL="https://docs.example.org/failover/", labels={"release": "kube-prom"}))
    assert list(rules) == [a for a in ALERTS
                           if a not in {"FailoverHappened", "FailoverProbeLagHigh"}]
    assert rules["FailoverStoreDown"]["for"] == "2m"
    assert rules["FailoverHooksFailing"]["for"] == "5m"  # the file has none
    assert rules["FailoverNoLeader"]["for"] == "30s"
    assert rules["FailoverNoLeader"]["labels"] == {"severity": "critical", "team": "sre"}
    assert rules["FailoverSplitView"]["annotations"]["runbook_url"] == (
        "https://docs.example.org/failover/runbooks/#failoversplitview")
    rule = by_kind(render(with_prometheus_rule(labels={"release": "kube-prom"})),
                   "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prom"


def test_without_the_service_monitor_the_job_must_be_named() -> None:
    refused({"prometheusRule": {"enabled": True}},
            r"prometheusRule: the rules select the scrape job of the chart's ServiceMonitor")


@pytest.mark.parametrize("values", [{"excludeRules": ["FailoverNoLeadr"]},
                                    {"for": {"FailoverNoLeadr": "1m"}}])
def test_an_alert_name_that_does_not_exist_is_refused(values: dict[str, Any]) -> None:
    refused(with_prometheus_rule(**values),
            r"prometheusRule: no alert is named FailoverNoLeadr \(the alerts: FailoverNoLeader,")


@pytest.mark.parametrize("bad", [{"for": {"FailoverNoLeader": "soon"}},
                                 {"docsURL": "docs.example.org"},
                                 {"excludeRules": "FailoverHappened"},
                                 {"additionalLabels": {"team": 1}}])
def test_schema_rejects_bad_prometheus_rule_values(bad: dict[str, Any]) -> None:
    chart = Chart.load(CHART)
    with pytest.raises(HelmError, match="prometheusRule"):
        chart.validate_schema(chart.merge_values(with_prometheus_rule(**bad)))


def test_lint_is_clean_with_the_rule_on() -> None:
    report = lint(CHART, with_prometheus_rule(excludeRules=["FailoverHappened"]), strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rendered_rules(tmp_path: Path) -> None:
    spec = by_kind(render(with_prometheus_rule(**{"for": {"FailoverNoLeader": "1m"}})),
                   "PrometheusRule")["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    result = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout
