"""Replicas whose configs differ (a rolling config change, a stale ConfigMap) never act on
the difference: a leader whose config lacks the routed primary does not replace it
unfenced, and a leader whose config is not the majority's does not fail over by itself."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.devtools.sandbox import Controller, controller_config, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster, hold

pytestmark = pytest.mark.integration


def replica(cluster: Cluster, node: str, services: list[dict[str, Any]]) -> Controller:
    config = controller_config(cluster.zk, cluster.redis.url, cluster.name, services, node,
                               session_timeout=2.0)
    c = cluster.sandbox.controller(f"{cluster.name}-{node}", config)
    cluster.controllers.append(c)
    return c


def explained(c: Controller) -> dict[str, Any]:
    answer: dict[str, Any] = c.call("GET", "/v1/services/web/explain")[1]
    return answer


def test_a_leader_whose_config_lacks_the_routed_primary_does_not_replace_it(
        cluster: Cluster) -> None:
    cluster.start(controllers=1, members=("web-a", "web-b", "web-c"))
    [c0] = cluster.controllers
    services = copy.deepcopy(cluster.services)
    services[0]["members"] = [m for m in services[0]["members"] if m["name"] != "web-a"]
    c1 = replica(cluster, "c1", services)
    wait_for(lambda: c1.status()["services"]["web"]["primary"] == "web-a", 15,
             "c1 reads the decision")
    c0.process.stop()  # c1 leads, with a config that cannot fence web-a
    wait_for(lambda: c1.status()["leader"], 15, "c1 leads")
    wait_for(lambda: explained(c1)["reason"] == "primary_not_configured", 10,
             "c1 says why it does nothing")
    answer = explained(c1)
    assert answer["would_fail_over"] is False and answer["blocked_by"][0] == \
        "primary_configured", answer
    # A health change makes it evaluate again: still nothing.
    cluster.web("web-c").process.kill()
    hold(c1, "web-c", probes=10)
    assert cluster.route()["primary"] == "web-a"
    assert cluster.promotions("web-b") == [] and cluster.promotions("web-c") == []
    assert c1.events(Event.FAILOVER_STARTED) == []


def test_a_leader_whose_config_is_not_the_majoritys_does_not_fail_over(
        cluster: Cluster) -> None:
    cluster.start(controllers=1)
    [c0] = cluster.controllers
    services = copy.deepcopy(cluster.services)
    services[0]["policy"] = {**services[0]["policy"], "fall": 4}  # a deciding change
    others = [replica(cluster, f"c{i}", services) for i in (1, 2)]
    wait_for(lambda: any(c["check"] == "config_agreed" and not c["ok"]
                         for c in explained(c0)["conditions"]), 15,
             "c0 sees its config is not the majority's")
    cluster.web("web-a").process.kill()
    hold(c0, "web-a", probes=20)  # many evaluations with web-a down
    assert cluster.route()["primary"] == "web-a"
    assert c0.events(Event.FAILOVER_STARTED) == []
    assert explained(c0)["reason"] == "config_differs"
    c0.process.stop()  # a replica of the majority's config leads, and acts
    cluster.wait_primary("web-b", timeout=20)
    assert any(c.events(Event.FAILOVER_STARTED) for c in others)
