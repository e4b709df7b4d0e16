"""A failover that must not complete: each stops with its reason recorded, the route where
it was, and no member left believing it is primary behind the controller's back."""

from __future__ import annotations

from typing import Any

import pytest

from controller.devtools.sandbox import Controller, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration


def failed_attempts(controller: Controller) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = controller.call(
        "GET", "/v1/services/web/history?count=50")[1]["entries"]
    return [e for e in entries if e["event"] == "failover_failed"]


def test_an_old_primary_that_answers_and_refuses_its_fence_is_not_replaced(
        cluster: Cluster) -> None:
    """Degraded (it still answers) and its fence refused: promoting another could make two
    primaries, so nothing is promoted and the attempt is recorded."""
    cluster.start(controllers=1)
    leader = cluster.leader()
    cluster.web("web-a").set_mode("error", fail_hooks=["fence"])
    [attempt, *_] = wait_for(lambda: failed_attempts(leader), 10, "a failed attempt")
    assert (attempt["by"], attempt["reason"], attempt["target"]) == ("auto", "fence_failed",
                                                                     "web-b")
    assert attempt["primary"] == "web-a" and isinstance(attempt["message"], str)
    assert attempt["decision"]["target"] == "web-b"  # an object, not JSON in a string
    aborted = wait_for(lambda: leader.events(Event.FAILOVER_ABORTED), 5, "the abort in the log")
    assert aborted[0]["why"] == "fence_failed"
    assert cluster.promotions("web-b") == []
    route = cluster.route()
    assert (route["primary"], route["version"]) == ("web-a", "1")


def test_no_promotable_candidate_leaves_the_route_and_fences_the_one_that_failed(
        cluster: Cluster) -> None:
    """The only candidate's promote fails: it may have taken effect, so it is fenced, and
    with nobody left the attempt ends as promote_failed."""
    cluster.start(controllers=1)
    leader = cluster.leader()
    cluster.web("web-b").set_mode(fail_hooks=["promote"])
    cluster.web("web-a").process.kill()
    [attempt, *_] = wait_for(lambda: failed_attempts(leader), 10, "a failed attempt")
    assert attempt["reason"] == "promote_failed"
    web_b = cluster.web("web-b")
    promotes, fences = web_b.calls("promote"), web_b.calls("fence")
    assert len(promotes) >= 1 and all(p["failed"] for p in promotes)
    # Each failed promote is followed by a fence of the same member.
    assert [c["call"] for c in web_b.calls()][:2] == ["promote", "fence"]
    assert len(fences) >= 1
    service = leader.status()["services"]["web"]
    assert (service["primary"], service["version"]) == ("web-a", 1)
    assert cluster.route()["primary"] == "web-a"


def test_a_maybe_promoted_member_that_answers_and_refuses_its_fence_stops_the_failover(
        cluster: Cluster) -> None:
    """web-b's promote fails, it still answers, and it refuses to be fenced: it may act as
    primary, so web-c is not promoted as well; web-b stays marked unfenced."""
    cluster.start(controllers=1, members=("web-a", "web-b", "web-c"))
    leader = cluster.leader()
    cluster.web("web-b").set_mode(fail_hooks=["promote", "fence"])
    cluster.web("web-a").process.kill()
    [attempt, *_] = wait_for(lambda: failed_attempts(leader), 10, "a failed attempt")
    assert attempt["reason"] == "promote_failed"
    # Had web-b's fence worked, web-c would have been promoted next and web-b unmarked.
    assert cluster.promotions("web-c") == []
    assert [c["call"] for c in cluster.web("web-b").calls()][:2] == ["promote", "fence"]
    service = leader.status()["services"]["web"]
    assert service["primary"] == "web-a"
    assert service["members"]["web-b"]["unfenced"]  # written ahead of its promote
