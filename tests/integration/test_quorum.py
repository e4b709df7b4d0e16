"""Quorum: three replicas, and a primary that fails only for the replicas we name (probes
carry X-Failover-Node), as when one controller's network to the primary breaks."""

from __future__ import annotations

from typing import Any

import pytest

from controller.devtools.sandbox import Controller, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster, failoverctl, hold

pytestmark = pytest.mark.integration


def web_a(controller: Controller) -> dict[str, Any]:
    member: dict[str, Any] = controller.status()["services"]["web"]["members"]["web-a"]
    return member


def node(controller: Controller) -> str:
    name: str = controller.status()["node"]
    return name


def test_leader_alone_seeing_the_primary_down_moves_nothing_and_says_so(
        cluster: Cluster) -> None:
    cluster.start(controllers=3)
    leader = cluster.leader()
    before = cluster.route()
    # Every replica's view counts (a view counts once its sender contends in the election).
    wait_for(lambda: web_a(leader)["votes"]["replicas"] == 3, 10, "three replicas' views")
    cluster.web("web-a").set_mode(fail_for=[node(leader)])
    wait_for(lambda: leader.status()["services"]["web"]["split_view"], 10, "split view")
    assert web_a(leader)["health"] == "degraded"
    assert web_a(leader)["votes"] == {"failing": 1, "healthy": 2, "replicas": 3}
    assert sorted(web_a(leader)["views"].values()) == ["degraded", "healthy", "healthy"]
    assert web_a(leader)["views"][node(leader)] == "degraded"
    [event] = leader.events(Event.SPLIT_VIEW)
    assert (event["member"], event["epoch"]) == ("web-a", leader.status()["epoch"])
    assert event["evidence"]["primary_health"] == "degraded"
    assert event["evidence"]["votes"] == {"failing": 1, "replicas": 3, "required": 2}
    # Hold the split for longer than a replica's view lives (VIEW_TTL, 1.5 s): 20 more
    # failing probes of web-a by the leader, 0.1 s apart (the policy's interval). The leader
    # keeps refusing for want of a quorum, and nothing moves: not the route, not a promote.
    hold(leader, "web-a", probes=20)
    explained = leader.call("GET", "/v1/services/web/explain")[1]
    assert (explained["reason"], explained["would_fail_over"]) == ("quorum_not_reached", False)
    assert leader.status()["services"]["web"]["split_view"] is True
    shown = failoverctl("status", "--api", leader.api).stdout
    assert f"web: SPLIT VIEW: the primary web-a is failing for {node(leader)}" in shown, shown
    after = cluster.route()
    assert (after["primary"], after["version"], after["epoch"]) == (
        "web-a", before["version"], before["epoch"])
    assert cluster.observer is not None
    assert [c.version for c in cluster.observer.changes()] == [int(before["version"])]
    assert cluster.promotions("web-b") == []
    assert leader.events(Event.FAILOVER_STARTED) == []
    # A second replica agrees: that is a majority, and it fails over, once.
    follower = cluster.followers()[0]
    cluster.web("web-a").set_mode(fail_for=[node(leader), node(follower)])
    cluster.wait_primary("web-b")
    assert len(cluster.promotions("web-b")) == 1
    started = leader.events(Event.FAILOVER_STARTED)[-1]
    assert started["evidence"]["votes"]["failing"] >= 2


def test_a_killed_replica_stops_counting(cluster: Cluster) -> None:
    cluster.start(controllers=3, session_timeout=2.0)
    leader = cluster.leader()
    doomed, other = cluster.followers()
    cluster.web("web-a").set_mode(fail_for=[node(doomed)])
    wait_for(lambda: web_a(leader)["votes"]["failing"] == 1, 10, "the doomed replica's vote")
    doomed.process.kill()
    wait_for(lambda: web_a(leader)["votes"] == {"failing": 0, "healthy": 2, "replicas": 2}, 10,
             "the dead replica's view to drop out")
    # Two live replicas: the majority is two, and both must see it.
    cluster.web("web-a").set_mode(fail_for=[node(leader)])
    wait_for(lambda: leader.status()["services"]["web"]["split_view"], 10, "split view")
    cluster.web("web-a").set_mode(fail_for=[node(leader), node(other)])
    cluster.wait_primary("web-b")


def test_quorum_one_acts_on_the_leader_view_alone(cluster: Cluster) -> None:
    cluster.start(controllers=3, policy={"quorum": 1})
    leader = cluster.leader()
    cluster.web("web-a").set_mode(fail_for=[node(leader)])
    cluster.wait_primary("web-b")
    assert len(cluster.promotions("web-b")) == 1
