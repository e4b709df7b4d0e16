"""Safety under composed faults: each test is a reproduction of a fencing hole, with real
ZooKeeper, Redis, members and controllers, asserting the invariant it broke.

Invariants (README, "Invariants"): one routed primary and routes that never go back (1);
epochs never decrease (2); a member never receives a hook with a lower epoch after a higher
one, and ZooKeeper's decision and Redis's route agree (7); a leader that lost ZooKeeper
changes nothing (5).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from config.models import ZooKeeperConfig
from controller.adapters.zookeeper import ZkStore
from controller.core.errors import Fenced, StoreError
from controller.core.records import Decided
from controller.core.recovery import EpochFloor
from controller.devtools.sandbox import Controller, Sandbox, ZooKeeper, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration

THREE = ("web-a", "web-b", "web-c")


def node_id(controller: Controller) -> str:
    """The controller's node id (what members see in X-Failover-Node)."""
    return controller.name.rsplit("-", 1)[1]


def hooks_went_up(cluster: Cluster) -> None:
    """Invariant 7: every member received its hooks in non-decreasing epoch order, refused
    ones included (they were sent, and that is what a controller that checks never does)."""
    for name, web in cluster.webs.items():
        epochs = [int(call["epoch"]) for call in web.calls()]
        assert epochs == sorted(epochs), f"{name} received epochs {epochs}"


def stores_agree(cluster: Cluster, controller: Controller) -> dict[str, Any]:
    """ZooKeeper's decision (as the controller read it) and Redis's route name the same
    primary under the same version."""
    service = controller.status()["services"]["web"]
    route = cluster.route()
    if route.get("primary") == service["primary"] and \
            int(route.get("version", -1)) == service["version"]:
        return service
    return {}


def test_a_late_fence_never_overwrites_a_newer_decision(cluster: Cluster) -> None:
    """A former primary's late fence is a recovery in flight: a failover waits for it, and
    its commit compares-and-sets against the version it read."""
    cluster.start(controllers=1, members=THREE, policy={"cooldown": 0})
    leader = cluster.leader()
    cluster.web("web-a").process.kill()  # its fence is refused: unreachable
    cluster.wait_primary("web-b")
    wait_for(lambda: leader.status()["services"]["web"]["members"]["web-a"]["unfenced"], 5,
             "web-a marked unfenced")
    fences_before = len(leader.events(Event.HOOK_STARTED))
    web_a = cluster.web("web-a")
    web_a.process.start()
    web_a.wait_ready()
    web_a.set_mode(hook_delay=0.8)  # the late fence takes a while
    wait_for(lambda: any(e["hook"] == "fence" and e["member"] == "web-a"
                         for e in leader.events(Event.HOOK_STARTED)[fences_before:]), 10,
             "the late fence of web-a to start")
    cluster.web("web-b").set_mode("error")  # web-b fails while the fence is in flight
    wait_for(lambda: int(cluster.route().get("version", 0)) >= 3, 15,
             "the failover off web-b")
    service = wait_for(lambda: stores_agree(cluster, leader), 5,
                       "ZooKeeper and Redis to agree")
    # web-a, fenced at last, is a standby like any other (and the best by priority).
    assert service["primary"] in ("web-a", "web-c") and service["version"] == 3
    assert not service["members"]["web-a"]["unfenced"]
    assert leader.events(Event.FENCED_LATE)
    promotes = {name: len(cluster.promotions(name)) for name in THREE}
    assert promotes["web-b"] == 1 and sum(promotes.values()) == 2, promotes
    assert not leader.events(Event.PUBLISH_REFUSED)
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()
    assert [s.version for s in cluster.observer.changes()] == [1, 2, 3]
    hooks_went_up(cluster)


def test_a_deposed_leader_sends_no_hook_after_the_next_leaders(cluster: Cluster) -> None:
    """The epoch is confirmed before every hook: a leader frozen during its fence wakes up
    to find its lease expired, and its promote never goes out."""
    # A fence that outlasts the freeze: it succeeds when the first leader wakes up.
    cluster.start(controllers=2, session_timeout=2.0,
                  member_blocks={"web-a": {"fence": {"timeout": 30.0}}})
    first = cluster.leader()
    first_epoch = first.status()["epoch"]
    # web-a stops answering probes and its fence hook hangs for a while.
    cluster.web("web-a").set_mode("slow", delay=3.0, hook_delay=0.8)
    # Freeze once web-a has the fence (in flight: it answers 0.8 s later). Freezing right
    # after the leader logs the hook could stop it before the send, the gap that only the
    # member's own epoch check closes.
    wait_for(lambda: cluster.web("web-a").calls("fence"), 10,
             "web-a to receive the first leader's fence")
    first.process.signal(signal.SIGSTOP)
    try:
        second = next(c for c in cluster.controllers if c is not first)
        wait_for(lambda: second.status()["leader"], 10, "the second leader")
        route = cluster.wait_primary("web-b", timeout=15)
        assert int(route["epoch"]) > first_epoch
    finally:
        first.process.signal(signal.SIGCONT)
    wait_for(lambda: first.events(Event.LEADERSHIP_LOST), 10, "the first leader to step down")
    wait_for(lambda: not first.status()["leader"], 5, "the first leader to say so")
    # How the woken leader's failover ended: cancelled, interrupted or fenced, never done.
    ends = (Event.FAILOVER_DONE, Event.FAILOVER_FENCED, Event.FAILOVER_INTERRUPTED,
            Event.FAILOVER_ABORTED, Event.FAILOVER_COMMIT_FAILED)
    ended = wait_for(lambda: [e["event"] for e in first.events() if e["event"] in ends or (
        e["event"] == Event.RECOVERY_CANCELLED and e["task"] == "failover:web")], 5,
        "the first leader's failover to end")
    assert Event.FAILOVER_DONE not in ended, ended
    promotes = cluster.promotions("web-b")
    assert [int(p["epoch"]) for p in promotes] == [int(route["epoch"])], promotes
    hooks_went_up(cluster)


def test_the_lease_follows_the_session_timeout_zookeeper_granted(sandbox: Sandbox) -> None:
    """ZooKeeper clamps the session timeout to its maxSessionTimeout; the lease must be
    derived from what it granted, never from what was asked."""
    zk = sandbox.zookeeper(max_session_timeout_ms=3000)

    async def measure() -> tuple[float | None, float]:
        store = ZkStore(ZooKeeperConfig(hosts=zk.hosts, session_timeout=12.0), "lease")
        try:
            await store.start(lambda _state: None)
            return store.granted_session_timeout, store.lease_seconds()
        finally:
            await store.stop()

    granted, lease = asyncio.run(measure())
    assert granted is not None and granted <= 3.0, granted
    assert 0 < lease <= granted / 3


def test_a_frozen_follower_stops_voting(cluster: Cluster) -> None:
    """A replica's view counts while the leader received it recently, not while the
    replica's ZooKeeper session lingers: a frozen follower's verdict must stop voting."""
    # A long session: the frozen follower's ephemeral view outlives the whole test.
    cluster.start(controllers=3, session_timeout=6.0)
    leader = cluster.leader()
    frozen, _ = cluster.followers()
    web_a = cluster.web("web-a")

    def views() -> dict[str, str]:
        views: dict[str, str] = leader.status()["services"]["web"]["members"]["web-a"][
            "views"]
        return views

    web_a.set_mode(fail_for=[node_id(frozen)])
    wait_for(lambda: views().get(node_id(frozen)) in ("degraded", "down"), 10,
             "the leader to hear the follower's failing verdict")
    frozen.process.signal(signal.SIGSTOP)
    try:
        # Its session lasts 6 s; its vote must be gone long before that.
        wait_for(lambda: node_id(frozen) not in views(), 3,
                 "the frozen follower's view to stop counting")
        web_a.set_mode(fail_for=[node_id(leader)])  # now only the leader sees it failing

        def blocked() -> dict[str, Any]:
            explain: dict[str, Any] = leader.call("GET", "/v1/services/web/explain")[1]
            return explain if explain["reason"] == "quorum_not_reached" else {}

        explained = wait_for(blocked, 10, "the leader to see web-a failing, alone")
        quorum = next(c for c in explained["conditions"] if c["check"] == "quorum")
        assert quorum["evidence"]["votes"] == {"failing": 1, "replicas": 2, "required": 2}
        assert cluster.route()["primary"] == "web-a"
        assert cluster.promotions("web-b") == []
    finally:
        frozen.process.signal(signal.SIGCONT)


def test_a_woken_leader_does_not_republish_its_stale_route_after_flushall(
        cluster: Cluster) -> None:
    """Nothing writes unless in office at the moment of the write: a frozen leader that
    wakes into an empty Redis must not restore its own, older route."""
    cluster.start(controllers=2, session_timeout=2.0)
    first = cluster.leader()
    first.process.signal(signal.SIGSTOP)
    try:
        second = next(c for c in cluster.controllers if c is not first)
        wait_for(lambda: second.status()["leader"], 10, "the second leader")
        cluster.web("web-a").process.kill()
        after = cluster.wait_primary("web-b", timeout=10)
        cluster.redis.command("FLUSHALL")
    finally:
        first.process.signal(signal.SIGCONT)
    wait_for(lambda: first.events(Event.LEADERSHIP_LOST), 10, "the first leader to step down")
    restored = cluster.wait_primary("web-b", timeout=5)
    assert restored["version"] == after["version"]
    wait_for(lambda: stores_agree(cluster, second), 5, "ZooKeeper and Redis to agree")
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()
    assert all(s.primary == "web-b" for s in cluster.observer.seen
               if s.version >= int(after["version"]))
    assert not [e for e in first.events(Event.ROUTE_PUBLISHED) if e.get("origin") == "reconcile"]


def test_redis_refuses_another_primary_under_the_same_version(cluster: Cluster) -> None:
    """Same version, different primary is a conflict, never 'unchanged'."""
    cluster.start(controllers=1)
    current = cluster.route()
    other = Decided(primary="web-b", address=cluster.web("web-b").address,
                    epoch=int(current["epoch"]) + 1, version=int(current["version"]),
                    reason="failover", updated_at=0.0)
    assert cluster.publish_directly(other, writer_epoch=other.epoch) == "conflict"
    assert cluster.route() == current


def test_a_write_in_flight_across_a_flushall_cannot_put_an_older_route_back(
        cluster: Cluster) -> None:
    """Found by the simulation: a route write that passed its gate before a FLUSHALL and
    lands after it meets no stored epoch. Redis refuses it as 'missing' (only a writer that
    read the route as missing may create it), and the leader's reconcile recreates the
    route ZooKeeper holds."""
    cluster.start(controllers=1)
    current = cluster.route()
    older = Decided(primary="web-b", address=cluster.web("web-b").address,
                    epoch=int(current["epoch"]), version=int(current["version"]) - 1,
                    reason="failover", updated_at=0.0)
    cluster.redis.command("FLUSHALL")
    assert cluster.publish_directly(older, writer_epoch=older.epoch) == "missing"
    restored = cluster.wait_primary(current["primary"], timeout=5)
    assert restored["version"] == current["version"]
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()


def test_a_switchover_target_that_may_be_promoted_and_cannot_be_fenced_stays_marked(
        cluster: Cluster) -> None:
    """The target's promote times out (it may have taken effect) and the target stops
    answering before the rollback can fence it: the route never moved, yet the unfenced
    mark is committed, so it is fenced as soon as it answers again and is no candidate
    meanwhile."""
    # A promote timeout long enough for the probes to see web-b stop answering first.
    cluster.start(controllers=1, member_blocks={"web-b": {"promote": {"timeout": 4.0}}})
    leader = cluster.leader()
    web_b = cluster.web("web-b")
    web_b.set_mode(hook_delay=10.0)  # its promote outlasts the timeout: maybe promoted
    status, accepted = leader.call("POST", "/v1/services/web/switchover", {"to": "web-b"})
    assert status == 202, accepted
    wait_for(lambda: cluster.promotions("web-b"), 10, "the promote to reach web-b")
    web_b.set_mode("slow", delay=10.0, hook_delay=10.0)  # and now it answers nothing
    request_id = accepted["id"]

    def finished() -> dict[str, Any]:
        record: dict[str, Any] = leader.call(
            "GET", f"/v1/services/web/switchovers/{request_id}")[1]
        return record if record["phase"] in ("done", "failed") else {}

    record = wait_for(finished, 15, "the switchover to end")
    assert (record["phase"], record["reason"], record["rolled_back"]) == (
        "failed", "promote_failed", True)
    service = leader.status()["services"]["web"]
    assert service["primary"] == "web-a" and service["version"] == 1
    assert service["members"]["web-b"]["unfenced"]
    # Back, it is fenced before anything else; then the mark goes.
    web_b.set_mode("ok")
    wait_for(lambda: not leader.status()["services"]["web"]["members"]["web-b"]["unfenced"],
             15, "the late fence of web-b")
    assert [e["member"] for e in leader.events(Event.FENCED_LATE)] == ["web-b"]
    assert cluster.route()["primary"] == "web-a"
    hooks_went_up(cluster)


def test_a_request_zookeeper_did_not_confirm_is_answered_as_unknown(
        isolated_cluster: Cluster, own_zookeeper: ZooKeeper) -> None:
    """A switchover request whose create ZooKeeper does not answer in time may still land:
    the answer says the outcome is unknown (and how to find the request), never "not
    recorded". Here it does land, once ZooKeeper wakes, and runs."""
    cluster, own_zk = isolated_cluster, own_zookeeper  # this test freezes its ZooKeeper
    # A session that outlives the freeze: the queued create is not lost with it.
    cluster.start(controllers=1, session_timeout=8.0)
    leader = cluster.leader()
    own_zk.process.signal(signal.SIGSTOP)
    try:
        status, answer = leader.call("POST", "/v1/services/web/switchover",
                                     {"to": "web-b"}, timeout=10)
    finally:
        own_zk.process.signal(signal.SIGCONT)
    assert status == 503, answer
    assert answer["detail"]["outcome"] == "unknown", answer
    requested_at = answer["detail"]["requested_at"]

    def landed() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = leader.call(
            "GET", "/v1/services/web/switchovers")[1]["switchovers"]
        return [r for r in listed if r["requested_at"] == requested_at
                and r["phase"] == "done"]

    wait_for(landed, 15, "the unconfirmed request to land and run")
    cluster.wait_primary("web-b")


def test_an_epoch_check_counts_only_on_the_session_that_took_the_epoch(
        sandbox: Sandbox) -> None:
    """Found by the simulation (invariant 5): after the session holding the election lock
    expires, kazoo carries on with a new one, on which the epoch still reads as ours until
    the next leader takes its own. A check answered there must not start a lease."""
    from kazoo.client import KazooClient

    zk = sandbox.zookeeper()

    async def run() -> None:
        store = ZkStore(ZooKeeperConfig(hosts=zk.hosts, session_timeout=4.0), "term")
        await store.start(lambda _state: None)
        loop = asyncio.get_running_loop()
        try:
            lock = await loop.run_in_executor(None, lambda: store.client.create(
                f"{store.leader_path}/lock-", ephemeral=True, sequence=True, makepath=True))
            term = await loop.run_in_executor(None, store.bump_epoch_blocking, "n1", lock,
                                              EpochFloor(redis=0))
            await store.check_epoch(term)  # our session, our epoch
            # End the session from outside, as ZooKeeper does when it expires: a second
            # client takes it over and closes it.
            other = KazooClient(hosts=zk.hosts, client_id=store.client.client_id)
            await loop.run_in_executor(None, other.start)
            await loop.run_in_executor(None, other.stop)
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: store.session_id not in (None, term.session), 15, "a new session"))
            with pytest.raises(Fenced, match=f"session that took epoch {term.epoch}"):
                await store.check_epoch(term)
            # Our lock node went with the old session: taking an epoch now is refused.
            with pytest.raises(StoreError, match="not our session's"):
                await loop.run_in_executor(None, store.bump_epoch_blocking, "n1", lock,
                                           EpochFloor(redis=0))
        finally:
            await store.stop()

    asyncio.run(run())
