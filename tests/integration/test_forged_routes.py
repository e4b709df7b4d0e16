"""A route in Redis rewritten by a stranger: the leader notices, repairs it under its own
epoch and keeps office; ZooKeeper, not Redis, says which epochs exist."""

from __future__ import annotations

import pytest

from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_operators import history, metric

pytestmark = pytest.mark.integration
KEY = "failover:route:web"


@pytest.mark.parametrize(("forged", "why"), [
    ("99999999999999", "above_newest_epoch"), ("nan", "not_a_whole_number"),
    ("inf", "not_a_whole_number"), ("1e5", "not_a_whole_number"),
])
def test_a_forged_epoch_is_repaired_within_a_reconcile_without_epoch_churn(
        cluster: Cluster, forged: str, why: str) -> None:
    cluster.start(controllers=2)
    leader = cluster.leader()
    epoch = leader.status()["epoch"]
    before = cluster.route()
    cluster.redis.command("HSET", KEY, "epoch", forged)
    repaired = wait_for(lambda: (r := cluster.route())["epoch"] == str(epoch) and r, 5,
                        "the leader repaired the forged epoch")
    assert (repaired["primary"], repaired["version"]) == (before["primary"], before["version"])
    [alarm] = wait_for(lambda: leader.events(Event.ROUTE_FORGERY_REPAIRED), 5, "the alarm")
    assert (alarm["stored_epoch"], alarm["why"]) == (forged, why)
    assert metric(leader, "failover_route_forgeries_total", service="web", why=why) == 1
    [entry] = wait_for(lambda: history(leader, "route_repaired"), 5, "the history entry")
    assert (entry["reason"], entry["detail"]["forged_epoch"]) == (why, forged)
    # No churn: the same leader, the same epoch, and a failover still runs under it.
    cluster.web("web-a").process.kill()
    assert cluster.wait_primary("web-b")["epoch"] == str(epoch)
    assert leader.status()["epoch"] == epoch and cluster.leader() is leader
    assert not leader.events(Event.STEPPING_DOWN)
