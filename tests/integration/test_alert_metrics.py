"""Every metric the alert rules read, with every label value they select, is exported by a
running cluster's replicas: a rule on a metric that is never exported is silent forever."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.processes import SandboxError
from controller.devtools.sandbox import wait_for
from tests.integration.cluster import Cluster

RULES = Path(__file__).resolve().parents[2] / "charts/failover-controller/files/alerts.yaml"
# Prometheus' own, per scrape target: no controller exports it.
FROM_PROMETHEUS = {"up"}

Wanted = tuple[str, str, str]  # metric, label, value ("" and "": the metric itself)


def wanted() -> set[Wanted]:
    out: set[Wanted] = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            for metric, matchers in re.findall(r"\b([a-z_:]+)\{([^}]*)\}", rule["expr"]):
                if metric in FROM_PROMETHEUS:
                    continue
                out.add((metric, "", ""))
                for label, value in re.findall(r'(\w+)\s*(?:=~|=)\s*"([^"]*)"', matchers):
                    if label != "job":  # Prometheus' label, set by the scrape
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


def test_every_metric_and_label_value_the_alerts_read_is_exported(cluster: Cluster) -> None:
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
        wait_for(lambda: need <= exported(apis), 15, "every metric the alerts read",
                 interval=0.2)
    except SandboxError:
        assert sorted(need - exported(apis)) == []
    finally:
        agent.process.stop()
        proxy.process.stop()
