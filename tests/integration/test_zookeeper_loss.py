"""ZooKeeper rebuilt empty on the same address (a lost volume, a redeployed ensemble): the
epoch never repeats, the decision is rebuilt from the most recent truth, and the cluster
fails over again afterwards."""

from __future__ import annotations

import shutil

import pytest

from controller.devtools.sandbox import Sandbox, ZooKeeper, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_outages import readyz

pytestmark = pytest.mark.integration


def wipe(sandbox: Sandbox, zk: ZooKeeper) -> None:
    """Kill ZooKeeper, delete its data, start it again empty on the same port."""
    zk.process.kill()
    shutil.rmtree(sandbox.dir / f"zk-{zk.port}" / "version-2", ignore_errors=True)
    zk.process.start()
    zk.wait_ready()


def failed_over_then_handed_over(cluster: Cluster) -> int:
    """web-a fails -> web-b; then a rolling restart of the leader: a second epoch. Returns
    the route's epoch (the highest handed out so far)."""
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    leader = cluster.leader()
    epoch = int(cluster.route()["epoch"])
    leader.process.stop()
    leader.process.start()
    wait_for(lambda: int(cluster.route()["epoch"]) > epoch, 20, "a second epoch")
    return int(cluster.route()["epoch"])


def fails_over_to_a(cluster: Cluster, above: int) -> None:
    """web-a back, then web-b killed: the cluster fails over to web-a, under an epoch above
    every epoch handed out before the wipe (the toy member refuses a lower token)."""
    cluster.web("web-a").process.start()
    leader = cluster.leader(timeout=30)
    wait_for(lambda: leader.status()["services"]["web"]["members"]["web-a"]["health"]
             == "healthy", 15, "web-a healthy again")
    cluster.web("web-b").process.kill()
    route = cluster.wait_primary("web-a", timeout=20)
    assert int(route["epoch"]) > above
    accepted = [c for c in cluster.promotions("web-a")
                if not c.get("refused") and int(c["epoch"]) > above]
    assert accepted, cluster.promotions("web-a")


def test_running_replicas_lead_again_above_every_epoch_after_zookeeper_is_wiped(
        sandbox: Sandbox, isolated_cluster: Cluster, own_zookeeper: ZooKeeper) -> None:
    cluster = isolated_cluster
    cluster.start(controllers=2, session_timeout=2.0)
    before = failed_over_then_handed_over(cluster)
    wipe(sandbox, own_zookeeper)
    # A leader again, on a new epoch above every one before; the decision is web-b (the
    # member really promoted), not "the first configured member".
    leader = cluster.leader(timeout=30)
    wait_for(lambda: (leader.status()["epoch"] or 0) > before, 30, "an epoch above the old")
    wait_for(lambda: leader.status()["services"]["web"]["primary"] == "web-b", 15,
             "the decision rebuilt as web-b")
    wait_for(lambda: int(cluster.route()["epoch"]) > before, 15, "the route republished")
    assert cluster.route()["primary"] == "web-b"
    assert any(c.events(Event.ZOOKEEPER_DATA_LOST) for c in cluster.controllers)
    # Every replica is back on ZooKeeper: one whose client had seen a zxid the new
    # ensemble never wrote is refused for ever, and must start a new client by itself.
    for c in cluster.controllers:
        wait_for(lambda c=c: readyz(c)[1]["zookeeper"] == "connected", 30,
                 f"{c.name} connected to the rebuilt ZooKeeper")
    fails_over_to_a(cluster, before)
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()


def test_restarted_replicas_take_the_epoch_floor_and_the_decision_from_redis(
        sandbox: Sandbox, isolated_cluster: Cluster, own_zookeeper: ZooKeeper) -> None:
    cluster = isolated_cluster
    cluster.start(controllers=2, session_timeout=2.0)
    before = failed_over_then_handed_over(cluster)
    for c in cluster.controllers:
        c.process.stop()
    wipe(sandbox, own_zookeeper)
    for c in cluster.controllers:
        c.process.start()
    leader = cluster.leader(timeout=30)
    wait_for(lambda: (leader.status()["epoch"] or 0) > before, 30, "an epoch above the old")
    wait_for(lambda: leader.status()["services"]["web"]["primary"] == "web-b", 15,
             "the decision rebuilt from Redis's route")
    wait_for(lambda: int(cluster.route()["epoch"]) > before, 15, "the route republished")
    assert cluster.route()["primary"] == "web-b"
    fails_over_to_a(cluster, before)


def test_a_lone_replica_refused_by_the_rebuilt_zookeeper_starts_a_new_client(
        sandbox: Sandbox, isolated_cluster: Cluster, own_zookeeper: ZooKeeper) -> None:
    """Its client has seen zxids the new ensemble never wrote, so the server refuses the
    session it offers, for as long as nobody else writes: only a new client gets in."""
    cluster = isolated_cluster
    cluster.start(controllers=1, session_timeout=2.0)
    before = failed_over_then_handed_over(cluster)
    wipe(sandbox, own_zookeeper)
    [c] = cluster.controllers
    wait_for(lambda: c.events(Event.ZOOKEEPER_CLIENT_RESTARTED), 30, "a new client")
    wait_for(lambda: readyz(c)[1]["zookeeper"] == "connected", 30, "connected again")
    wait_for(lambda: (c.status()["epoch"] or 0) > before, 30, "an epoch above the old")
    fails_over_to_a(cluster, before)
