"""Faults: leaders killed and frozen, Redis wiped and restarted, stale writers, Sentinel.
Each asserts the invariants: one routed primary, epoch and version never go back."""

from __future__ import annotations

import signal

import pytest
import redis.sentinel

from controller.core.records import Decided
from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration


def test_leader_killed_another_takes_over_with_higher_epoch_and_fails_over(
        cluster: Cluster) -> None:
    cluster.start(controllers=2)
    old = cluster.leader()
    old_epoch = old.status()["epoch"]
    old.process.kill()
    new = cluster.leader(timeout=10)
    assert new is not old
    new_epoch = new.status()["epoch"]
    assert new_epoch > old_epoch
    wait_for(lambda: int(cluster.route()["epoch"]) == new_epoch, 5, "takeover republish")
    cluster.web("web-a").process.kill()
    route = cluster.wait_primary("web-b")
    assert int(route["epoch"]) == new_epoch
    assert len(cluster.promotions("web-b")) == 1
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()


def test_frozen_leader_wakes_up_fenced_and_changes_nothing(cluster: Cluster) -> None:
    cluster.start(controllers=2, session_timeout=2.0)
    frozen = cluster.leader()
    frozen_epoch = frozen.status()["epoch"]
    frozen.process.signal(signal.SIGSTOP)
    survivor = next(c for c in cluster.controllers if c is not frozen)
    wait_for(lambda: survivor.status()["leader"], 10, "survivor leads")
    cluster.web("web-a").process.kill()
    route = cluster.wait_primary("web-b")
    new_epoch = int(route["epoch"])
    assert new_epoch > frozen_epoch
    # The old leader resumes believing it leads, sees web-a down in its own stale view...
    frozen.process.signal(signal.SIGCONT)
    wait_for(lambda: not frozen.status()["leader"], 10, "old leader steps down")
    wait_for(lambda: frozen.events(Event.LEADERSHIP_LOST), 5, "old leader logged its loss")
    assert survivor.status()["leader"]
    # ...and nothing it did reached Redis or the members.
    assert cluster.route()["primary"] == "web-b"
    assert int(cluster.route()["epoch"]) == new_epoch
    assert [p["epoch"] for p in cluster.promotions("web-b")] == [str(new_epoch)]
    assert cluster.observer is not None
    # Readers saw the frozen leader's epoch, then the new one, and never the frozen one again.
    epochs = [s.epoch for s in cluster.observer.seen]
    first_new = epochs.index(new_epoch)
    assert set(epochs[:first_new]) == {frozen_epoch}, cluster.observer.seen
    assert set(epochs[first_new:]) == {new_epoch}, cluster.observer.seen
    cluster.observer.assert_monotonic()


def test_flushall_and_redis_restart_are_repaired(cluster: Cluster) -> None:
    cluster.start(controllers=2)
    cluster.web("web-a").process.kill()
    before = cluster.wait_primary("web-b")
    cluster.redis.command("FLUSHALL")
    restored = cluster.wait_primary("web-b", timeout=5)
    assert restored["version"] == before["version"]
    cluster.redis.restart()
    restored = cluster.wait_primary("web-b", timeout=5)
    assert restored["version"] == before["version"]
    assert restored["address"] == cluster.web("web-b").address


def test_redis_refuses_a_stale_epoch_by_itself(cluster: Cluster) -> None:
    cluster.start(controllers=1)
    current = cluster.route()
    intruder = Decided(primary="web-b", address="10.9.9.9:80", epoch=0,
                       version=int(current["version"]) + 5, reason="failover", updated_at=0.0)
    assert cluster.publish_directly(intruder, writer_epoch=0) == "stale_epoch"
    assert cluster.route() == current


def test_redis_through_sentinel(cluster: Cluster) -> None:
    sentinel = cluster.sandbox.sentinel(cluster.redis, name="routing")
    try:
        cluster.start(controllers=1, redis_block={
            "url": None, "sentinels": [sentinel.address], "master": "routing"})
        leader = cluster.leader()
        epoch = leader.status()["epoch"]
        before = cluster.route()
        cluster.web("web-a").process.kill()
        cluster.wait_primary("web-b")
        # Read the route where a client configured with the Sentinel would: the master it
        # names, which is the cluster's Redis (the one the observer watches).
        discovery = redis.sentinel.Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=1)
        master = discovery.master_for("routing", socket_timeout=1, decode_responses=True)
        try:
            assert discovery.discover_master("routing") == ("127.0.0.1", cluster.redis.port)
            route = master.hgetall("failover:route:web")
        finally:
            master.close()
            for client in discovery.sentinels:
                client.close()
        assert (route["primary"], route["address"], route["reason"]) == (
            "web-b", cluster.web("web-b").address, "failover")
        assert int(route["version"]) == int(before["version"]) + 1
        assert int(route["epoch"]) == epoch == leader.status()["epoch"]
        assert [p["epoch"] for p in cluster.promotions("web-b")] == [str(epoch)]
        assert cluster.promotions("web-a") == []
        assert cluster.observer is not None
        changes = cluster.observer.wait_changes(2)
        assert [(c.primary, c.epoch, c.version) for c in changes] == [
            ("web-a", epoch, int(before["version"])),
            ("web-b", epoch, int(route["version"]))], changes
        cluster.observer.assert_monotonic()
    finally:
        sentinel.process.stop()


def test_sigterm_resigns_at_once(cluster: Cluster) -> None:
    # With a 10 s session timeout, a takeover within 5 s can only come from resigning.
    cluster.start(controllers=2, session_timeout=10.0)
    old = cluster.leader()
    old_epoch = old.status()["epoch"]
    assert old.process.stop(timeout=5) == 0
    survivor = next(c for c in cluster.controllers if c is not old)
    wait_for(lambda: survivor.status()["leader"], 5, "survivor leads after SIGTERM")
    assert survivor.status()["epoch"] > old_epoch
