"""The alert rules (charts/failover-controller/files/alerts.yaml), checked and unit-tested by
Prometheus' own promtool: alerts_test.yaml beside this file has a case in which each alert
fires and one in which it stays silent."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown.extensions.toc import slugify  # as mkdocs makes the headings' anchors

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "failover-controller" / "files" / "alerts.yaml"
CASES = Path(__file__).with_name("alerts_test.yaml")
# `make test` installs Debian's prometheus package, which has promtool.
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
SEVERITIES = {"critical", "warning", "info"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          cwd=CASES.parent)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


@needs_promtool
def test_every_case_in_the_promtool_tests_passes() -> None:
    result = promtool("test", "rules", CASES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(CASES.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "no case in which these fire"
    assert names - silent == set(), "no case in which these stay silent"


def test_every_alert_says_how_bad_what_and_where_to_read_on() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        # the anchor of the alert's heading in docs/runbooks.md
        assert annotations["runbook_url"].endswith("/runbooks/#" + name.lower()), name
        # a rule names its job, so two deployments' metrics never answer for each other
        selectors = re.findall(r"\b([a-z_:]+)\{([^}]*)\}", rule["expr"])
        assert selectors, name
        for metric, matchers in selectors:
            job = "failover-agent" if metric.startswith("failover_agent_") else \
                "failover-controller"
            assert f'job="{job}"' in matchers, (name, metric)


def test_every_alert_links_to_a_runbook_heading_in_the_docs() -> None:
    page = ROOT / "docs" / "runbooks.md"
    headings = re.findall(r"^## (.+)$", page.read_text(), re.M)
    anchors = {slugify(h, "-"): h for h in headings}
    for rule in alert_rules():
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchors.get(anchor) == rule["alert"], rule["alert"]
    assert {h for h in headings if h.startswith("Failover")} == {
        rule["alert"] for rule in alert_rules()}, "a runbook without its alert"
    assert "runbooks.md" in (ROOT / "mkdocs.yml").read_text()  # in the site's nav
