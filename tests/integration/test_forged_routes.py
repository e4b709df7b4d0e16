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
