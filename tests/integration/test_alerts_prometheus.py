"""The shipped alert rules in a real Prometheus (Debian's), scraping a sandbox cluster every
second and evaluating every second: silent while all is well, and each alert's condition
true when what it names happens (a failover; a replica killed; every replica killed; the
standby killed; paused with the primary killed; Redis stopped). After a failover every
query of the dashboard has data."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.processes import LOOPBACK, Process, SandboxError, free_port
from controller.devtools.sandbox import TOKEN, Sandbox, wait_for
from tests.integration.cluster import Cluster, failoverctl

FILES = Path(__file__).resolve().parents[2] / "charts/failover-controller/files"
RULES = FILES / "alerts.yaml"
DASHBOARD = FILES / "dashboard.json"
PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed")


class Prometheus:
    def __init__(self, sandbox: Sandbox, name: str, targets: list[str],
                 agents: list[str]) -> None:
        assert PROMETHEUS is not None
        home = sandbox.dir / name
        home.mkdir()
        shutil.copy(RULES, home / "alerts.yaml")  # as shipped: its job is ours
        (home / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": ["alerts.yaml"],
            "scrape_configs": [{"job_name": "failover-controller",
                                "static_configs": [{"targets": targets}]},
                               {"job_name": "failover-agent",
                                "static_configs": [{"targets": agents}]}]}))
        self.url = f"http://{LOOPBACK}:{free_port()}"
        self.process: Process = sandbox.spawn(name, [
            PROMETHEUS, f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}"], cwd=home)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=2) as response:
            return json.load(response)["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts, each with its labels and state."""
        return list(self.get("/api/v1/alerts")["alerts"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            return list(json.load(response)["data"]["result"])

    def targets_up(self) -> int:
        return sum(t["health"] == "up" for t in self.get("/api/v1/targets")["activeTargets"])

    def evaluations(self) -> float:
        """How many times the rule group has been evaluated."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=2) as response:
            text = response.read().decode()
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "prometheus_rule_group_iterations_total")


@pytest.fixture
def prometheus(sandbox: Sandbox, cluster: Cluster) -> Iterator[Prometheus]:
    """Prometheus scraping two controller replicas and a HAProxy agent."""
    cluster.start(controllers=2)
    proxy = sandbox.haproxy("web", {name: web.address for name, web in cluster.webs.items()})
    agent = sandbox.haproxy_agent(f"{cluster.name}-agent", cluster.redis.url, proxy,
                                  resync_interval=0.5)
    targets = [c.api.removeprefix("http://") for c in cluster.controllers]
    server = Prometheus(sandbox, f"{cluster.name}-prometheus", targets,
                        [agent.api.removeprefix("http://")])
    try:
        yield server
    finally:
        server.process.stop()
        agent.process.stop()
        proxy.process.stop()


def empty_panels(server: Prometheus) -> list[str]:
    """The dashboard's queries that return nothing, with its variables filled in."""
    values = {"$job": "failover-controller", "$service": "web",
              "$agent_job": "failover-agent", "$__rate_interval": "15s", "$__range": "5m"}
    empty = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
                expr = expr.replace(name, value)
            if not server.query(expr):
                empty.append(f"{panel['title']}: {expr}")
    return empty


def named(server: Prometheus, alert: str, state: str) -> list[dict[str, str]]:
    return [a["labels"] for a in server.alerts()
            if a["labels"]["alertname"] == alert and a["state"] == state]


def steady(prometheus: Prometheus) -> None:
    """Both replicas and the agent scraped, then five evaluations without any alert,
    pending or firing."""
    wait_for(lambda: prometheus.targets_up() == 3, 30, "Prometheus to scrape every target",
             interval=0.2, while_alive=prometheus.process)
    # Before the first scrapes FailoverNoLeader's absent() is pending: it clears.
    wait_for(lambda: prometheus.alerts() == [], 15, "no alert once both replicas are scraped",
             interval=0.2)

    def silent() -> bool:
        assert prometheus.alerts() == [], "an alert in steady state"
        return True

    start = prometheus.evaluations()
    wait_for(lambda: silent() and prometheus.evaluations() >= start + 5, 30,
             "five evaluations in steady state", interval=0.2)


def test_silent_while_well_then_each_alert_when_its_condition_holds(
        cluster: Cluster, prometheus: Prometheus) -> None:
    steady(prometheus)
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    [happened] = wait_for(lambda: named(prometheus, "FailoverHappened", "firing"), 20,
                          "FailoverHappened to fire", interval=0.2)
    assert happened["service"] == "web" and happened["severity"] == "info"
    # every dashboard query has data now, Grafana's variables as it would fill them in
    try:
        wait_for(lambda: not empty_panels(prometheus), 10, "every dashboard query's data",
                 interval=0.5)
    except SandboxError:
        assert empty_panels(prometheus) == []

    leader = cluster.leader()
    [follower] = cluster.followers()
    follower.process.kill()
    [down] = wait_for(lambda: named(prometheus, "FailoverReplicaDown", "pending"), 20,
                      "FailoverReplicaDown's condition", interval=0.2)
    assert down["instance"] == follower.api.removeprefix("http://")
    assert named(prometheus, "FailoverNoLeader", "pending") == []  # the leader still leads

    leader.process.kill()
    [none] = wait_for(lambda: named(prometheus, "FailoverNoLeader", "pending"), 20,
                      "FailoverNoLeader's condition", interval=0.2)
    assert none["severity"] == "critical"


def test_the_standby_killed_then_paused_with_the_primary_killed(
        cluster: Cluster, prometheus: Prometheus) -> None:
    steady(prometheus)
    cluster.web("web-b").process.kill()
    [lost] = wait_for(lambda: named(prometheus, "FailoverRedundancyLost", "pending"), 20,
                      "FailoverRedundancyLost's condition", interval=0.2)
    assert lost["service"] == "web"
    assert named(prometheus, "FailoverPrimaryFailingNoAction", "pending") == []

    paused = failoverctl("pause", "web", "--api", cluster.controllers[0].api, "--token", TOKEN)
    assert paused.returncode == 0, paused.stderr
    cluster.web("web-a").process.kill()
    [failing] = wait_for(
        lambda: named(prometheus, "FailoverPrimaryFailingNoAction", "pending"), 20,
        "FailoverPrimaryFailingNoAction's condition", interval=0.2)
    assert (failing["service"], failing["member"]) == ("web", "web-a")
    assert failing["instance"] == cluster.leader().api.removeprefix("http://")


def test_redis_stopped_makes_each_replicas_store_down_condition_true(
        cluster: Cluster, prometheus: Prometheus) -> None:
    steady(prometheus)
    cluster.redis.process.stop()
    instances = {c.api.removeprefix("http://") for c in cluster.controllers}

    def down() -> set[str]:
        return {a["instance"] for a in named(prometheus, "FailoverStoreDown", "pending")
                if a["store"] == "redis"}

    wait_for(lambda: down() == instances, 20, "FailoverStoreDown's condition on both replicas",
             interval=0.2)
    assert not [a for a in named(prometheus, "FailoverStoreDown", "pending")
                if a["store"] == "zookeeper"]
