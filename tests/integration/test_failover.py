"""Automatic failover with real ZooKeeper, Redis, web members and controller processes."""

from __future__ import annotations

import pytest

from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration


def test_hard_down_primary_fails_over_and_promote_runs_exactly_once(cluster: Cluster) -> None:
    cluster.start(controllers=2)
    leader = cluster.leader()
    epoch = leader.status()["epoch"]
    before = cluster.route()
    cluster.web("web-a").process.kill()
    route = cluster.wait_primary("web-b")
    assert route["reason"] == "failover"
    assert route["address"] == cluster.web("web-b").address
    # Written by the leader in office, in its own epoch, as the next version.
    assert cluster.leader() is leader
    assert int(route["epoch"]) == epoch == leader.status()["epoch"]
    assert int(route["version"]) == int(before["version"]) + 1
    # Bring the old primary back: it must become a healthy standby (no failback), and by the
    # time every replica sees it healthy any duplicate promotion would have happened.
    cluster.web("web-a").process.start()
    for c in cluster.controllers:
        wait_for(lambda c=c: c.status()["services"]["web"]["members"]["web-a"]["health"]
                 == "healthy", 10, "web-a healthy again")
    assert cluster.route()["primary"] == "web-b"
    promotions = cluster.promotions("web-b")
    assert len(promotions) == 1, promotions
    assert promotions[0]["epoch"] == route["epoch"]
    assert cluster.promotions("web-a") == []
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()


@pytest.mark.parametrize("mode", ["slow", "error"])
def test_slow_or_failing_primary_fails_over(cluster: Cluster, mode: str) -> None:
    """A primary that answers every probe too slowly, or with 500 (disk gone read-only),
    is failing: degraded, not down, and replaced."""
    cluster.start(controllers=1)
    cluster.web("web-a").set_mode(mode, delay=0.35)
    cluster.wait_primary("web-b")
    leader = cluster.leader()
    assert leader.status()["services"]["web"]["members"]["web-a"]["health"] == "degraded"
    started = leader.events(Event.FAILOVER_STARTED)
    verdict = "slow" if mode == "slow" else "bad_answer"
    probes = started[-1]["evidence"]["primary_probes"]
    assert [p["verdict"] for p in probes] == [verdict] * 3
    if mode == "error":  # what the member said, next to its status
        assert probes[-1]["detail"] == "status 500: read-only file system"
    # The degraded old primary was reachable, so it was fenced before the promotion.
    assert len(cluster.web("web-a").calls("fence")) == 1


def test_both_members_down_promotes_nothing(cluster: Cluster) -> None:
    cluster.start(controllers=1)
    leader = cluster.leader()
    before = cluster.route()
    cluster.web("web-b").process.kill()
    wait_for(lambda: leader.status()["services"]["web"]["members"]["web-b"]["health"]
             == "down", 10, "standby down")
    cluster.web("web-a").process.kill()
    wait_for(lambda: all(m["health"] == "down" for m in
                         leader.status()["services"]["web"]["members"].values()),
             10, "both members down")
    # The transition to down was evaluated (the one replica evaluates on every health
    # change, before its status shows the change); the leader says why it does nothing.
    explained = leader.call("GET", "/v1/services/web/explain")[1]
    assert (explained["reason"], explained["would_fail_over"]) == (
        "no_healthy_candidate", False), explained
    assert explained["blocked_by"][0] == "healthy_candidate", explained
    assert leader.status()["services"]["web"]["recovery_in_flight"] is False
    route = cluster.route()
    assert (route["primary"], route["version"]) == ("web-a", before["version"])
    assert cluster.promotions("web-b") == []
    assert leader.events(Event.FAILOVER_STARTED) == []


def test_flapping_primary_fails_over_at_most_once_per_cooldown(cluster: Cluster) -> None:
    cooldown = 4.0
    cluster.start(controllers=1, policy={"cooldown": cooldown})
    cluster.web("web-a").set_mode("error")
    first = cluster.wait_primary("web-b")
    # a recovers, b fails at once: within the cooldown nothing moves...
    cluster.web("web-a").set_mode("ok")
    cluster.web("web-b").set_mode("error")
    leader = cluster.leader()
    wait_for(lambda: leader.status()["services"]["web"]["members"]["web-b"]["health"]
             == "degraded" and leader.status()["services"]["web"]["members"]["web-a"]["health"]
             == "healthy", 5, "b degraded, a healthy")
    assert cluster.route()["version"] == first["version"]
    # ...and once it has passed, exactly one more failover.
    cluster.wait_primary("web-a", timeout=cooldown + 5)
    assert cluster.observer is not None
    changes = cluster.observer.wait_changes(3)
    assert [c.primary for c in changes] == ["web-a", "web-b", "web-a"], changes
    assert changes[2].at - changes[1].at >= cooldown - 0.1
    cluster.observer.assert_monotonic()


def test_failed_promotion_falls_back_to_the_next_candidate(cluster: Cluster) -> None:
    cluster.start(controllers=1, members=("web-a", "web-b", "web-c"))
    cluster.web("web-b").set_mode(fail_hooks=["promote"])
    cluster.web("web-a").process.kill()
    route = cluster.wait_primary("web-c")
    assert [c["failed"] for c in cluster.promotions("web-b")] == [True]
    assert len(cluster.promotions("web-c")) == 1
    done = cluster.leader().events(Event.FAILOVER_DONE)[-1]
    promotes = [(s["member"], s["ok"]) for s in done["steps"] if s["step"] == "promote"]
    assert promotes == [("web-b", False), ("web-c", True)]
    assert route["version"] == "2"


def test_unreachable_old_primary_is_fenced_when_it_returns_before_it_can_be_promoted(
        cluster: Cluster) -> None:
    cluster.start(controllers=1, policy={"cooldown": 0})
    leader = cluster.leader()
    cluster.web("web-a").process.kill()  # its fence hook cannot be reached
    cluster.wait_primary("web-b")

    def web_a() -> dict[str, object]:
        member: dict[str, object] = leader.status()["services"]["web"]["members"]["web-a"]
        return member

    wait_for(lambda: web_a()["unfenced"] is True, 5, "web-a marked unfenced")
    cluster.web("web-a").process.start()
    wait_for(lambda: web_a()["unfenced"] is False, 10, "web-a fenced once reachable")
    fences = cluster.web("web-a").calls("fence")
    assert len(fences) == 1 and fences[0]["epoch"] == str(leader.status()["epoch"])
    # Now a candidate again: when web-b fails, web-a takes over.
    cluster.web("web-b").process.kill()
    cluster.wait_primary("web-a")
    # {seq} orders one leader's hooks: the promote went out after the late fence.
    (promote,) = cluster.web("web-a").calls("promote")
    assert promote["epoch"] == fences[0]["epoch"]
    assert int(promote["seq"]) > int(fences[0]["seq"]) >= 1
