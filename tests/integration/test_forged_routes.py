"""A route in Redis rewritten by a stranger: the leader notices, repairs it under its own
epoch and keeps office; ZooKeeper, not Redis, says which epochs exist."""

from __future__ import annotations

import json

import pytest
from kazoo.client import KazooClient

from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_operators import history, metric

pytestmark = pytest.mark.integration
KEY = "failover:route:web"


@pytest.mark.parametrize(("field", "forged", "why"), [
    ("epoch", "99999999999999", "above_newest_epoch"), ("epoch", "nan", "not_a_whole_number"),
    ("epoch", "inf", "not_a_whole_number"), ("epoch", "1e5", "not_a_whole_number"),
    ("address", "127.0.0.1 port 1; shutdown frontend fe; x:1", "not_a_route"),
])
def test_a_forged_route_is_repaired_within_a_reconcile_without_epoch_churn(
        cluster: Cluster, field: str, forged: str, why: str) -> None:
    cluster.start(controllers=2)
    leader = cluster.leader()
    epoch = leader.status()["epoch"]
    before = cluster.route()
    cluster.redis.command("HSET", KEY, field, forged)
    repaired = wait_for(lambda: (r := cluster.route())[field] == before[field] and r, 5,
                        "the leader repaired the forged route")
    assert repaired == {**before, "updated_at": repaired["updated_at"]}
    [alarm] = wait_for(lambda: leader.events(Event.ROUTE_FORGERY_REPAIRED), 5, "the alarm")
    assert alarm["why"] == why
    if field == "epoch":
        assert alarm["stored_epoch"] == forged
    assert metric(leader, "failover_route_forgeries_total", service="web", why=why) == 1
    [entry] = wait_for(lambda: history(leader, "route_repaired"), 5, "the history entry")
    assert entry["reason"] == why
    # No churn: the same leader, the same epoch, and a failover still runs under it.
    cluster.web("web-a").process.kill()
    assert cluster.wait_primary("web-b")["epoch"] == str(epoch)
    assert leader.status()["epoch"] == epoch and cluster.leader() is leader
    assert not leader.events(Event.STEPPING_DOWN)


def test_a_decision_naming_no_configured_member_is_refused_not_published(
        cluster: Cluster) -> None:
    """A stranger rewrites the decision in ZooKeeper: the route keeps the last member the
    controllers chose, and the refusal is logged, counted and in history."""
    cluster.start(controllers=1)
    leader = cluster.leader()
    before = cluster.route()
    zk = KazooClient(hosts=cluster.zk.hosts)
    zk.start()
    try:
        path = f"/failover/{cluster.name}/services/web/decision"
        raw, stat = zk.get(path)
        forged = {**json.loads(raw), "primary": "not-a-member", "address": "127.0.0.66:80",
                  "version": json.loads(raw)["version"] + 1}
        zk.set(path, json.dumps(forged).encode(), version=stat.version)
    finally:
        zk.stop()
        zk.close()
    [alarm] = wait_for(lambda: leader.events(Event.DECISION_REFUSED), 5, "the refusal")
    assert (alarm["primary"], alarm["why"]) == ("not-a-member", "not_a_member")
    assert metric(leader, "failover_route_forgeries_total", service="web",
                  why="not_a_member") == 1
    wait_for(lambda: history(leader, "decision_refused"), 5, "the history entry")
    # Never routed to it; the planner's own answer (a configured member) is published.
    assert cluster.observer is not None
    assert "not-a-member" not in {seen.primary for seen in cluster.observer.seen}
    assert cluster.route()["primary"] == before["primary"]


def test_an_impossible_epoch_with_a_newer_version_is_an_alarm_and_no_loop(
        cluster: Cluster) -> None:
    """What Redis would hold had ZooKeeper lost its data: an epoch above any ZooKeeper
    handed out, with a version above the decision's. Redis may have the truth there, so
    nothing is overwritten; the leader says so once and keeps office and its epoch."""
    cluster.start(controllers=1)
    leader = cluster.leader()
    epoch = leader.status()["epoch"]
    forged = {"epoch": "99999999999999", "version": str(int(cluster.route()["version"]) + 5)}
    cluster.redis.command("HSET", KEY, *[x for pair in forged.items() for x in pair])
    [alarm] = wait_for(lambda: leader.events(Event.ROUTE_FORGERY_UNREPAIRED), 5, "the alarm")
    assert (alarm["why"], alarm["stored_epoch"]) == ("above_newest_epoch", forged["epoch"])
    wait_for(lambda: history(leader, "route_forgery_unrepaired"), 5, "the history entry")
    # A failover afterwards is committed; its publish meets the same route and is judged
    # the same way: still one alarm, no stepping down, the same epoch.
    cluster.web("web-a").process.kill()
    wait_for(lambda: leader.events(Event.FAILOVER_DONE), 15, "the failover committed")
    assert len(leader.events(Event.ROUTE_FORGERY_UNREPAIRED)) == 1
    assert {k: cluster.route()[k] for k in forged} == forged
    assert leader.status()["epoch"] == epoch and not leader.events(Event.STEPPING_DOWN)
