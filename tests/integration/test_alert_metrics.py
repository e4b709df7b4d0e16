"""Every metric the alert rules and the dashboard read, with every label value they select,
is exported by a running cluster's replicas or a HAProxy agent: a rule on a metric that is
never exported is silent forever, and a panel on one is empty."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.processes import SandboxError
from controller.devtools.sandbox import wait_for
from tests.integration.cluster import Cluster

FILES = Path(__file__).resolve().parents[2] / "charts/failover-controller/files"
RULES = FILES / "alerts.yaml"
DASHBOARD = FILES / "dashboard.json"
# Prometheus' own, per scrape target: no controller exports it.
FROM_PROMETHEUS = {"up"}

Wanted = tuple[str, str, str]  # metric, label, value ("" and "": the metric itself)


def expressions() -> list[str]:
    rules = [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
             for rule in group["rules"]]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return rules + [t["expr"] for p in panels for t in p.get("targets", [])]


def wanted() -> set[Wanted]:
    out: set[Wanted] = set()
    for expr in expressions():
        for metric, matchers in re.findall(r"\b([a-z_:]+)\{([^}]*)\}", expr):
            if metric in FROM_PROMETHEUS:
                continue
            out.add((metric, "", ""))
            for label, value in re.findall(r'(\w+)\s*(?:=~|=)\s*"([^"]*)"', matchers):
                # job: Prometheus' label, set by the scrape; $x: a dashboard variable
                if label != "job" and not value.startswith("$"):
                    out |= {(metric, label, v) for v in value.split("|")}
    return out


def exported(apis: list[str]) -> set[Wanted]:
    out: set[Wanted] = set()
    for api in apis:
        with urllib.request.urlopen(api + "/metrics", timeout=2) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out.add((sample.name, "", ""))
                out |= {(sample.name, k, v) for k, v in sample.labels.items()}
    return out


def test_every_metric_and_label_value_the_alerts_and_dashboard_read_is_exported(
        cluster: Cluster) -> None:
    """By the controller replicas, and by a HAProxy agent (failover_agent_*)."""
    cluster.start(controllers=2)
    proxy = cluster.sandbox.haproxy("web", {name: web.address
                                            for name, web in cluster.webs.items()})
    agent = cluster.sandbox.haproxy_agent(f"{cluster.name}-agent", cluster.redis.url, proxy,
                                          resync_interval=0.5)
    apis = [c.api for c in cluster.controllers] + [agent.api]
    need = wanted()
    assert len({m for m, _, _ in need}) >= 17  # the rules were read
    assert {m for m, _, _ in need if m.startswith("failover_agent_")}
    # the leader's reconcile reads Redis's route version a moment after it takes office;
    # the agent's resync sets its staleness
    try:
        wait_for(lambda: need <= exported(apis), 15, "every metric the alerts and dashboard read",
                 interval=0.2)
    except SandboxError:
        assert sorted(need - exported(apis)) == []
    finally:
        agent.process.stop()
        proxy.process.stop()
