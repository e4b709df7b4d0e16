"""What history keeps besides route changes, read through the API as JSON values: a leader
taking office (naming the one before) and the late fence of an old primary that comes back,
including a fence that keeps failing (recorded once, not once per retry)."""

from __future__ import annotations

import signal

import pytest

from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_operators import cli, history

pytestmark = pytest.mark.integration


def test_each_leader_taking_office_is_in_history_naming_the_one_before(
        cluster: Cluster) -> None:
    cluster.start(controllers=2)
    first = cluster.leader()
    first_node, first_epoch = first.status()["node"], first.status()["epoch"]
    [taken] = wait_for(lambda: history(first, "leadership_changed"), 5, "the first entry")
    assert (taken["node"], taken["epoch"], taken["primary"]) == (first_node, first_epoch,
                                                                 "web-a")
    assert "previous_leader" not in taken  # a new cluster: nobody led before
    follower = cluster.followers()[0]
    first.process.signal(signal.SIGTERM)
    new = wait_for(lambda: follower.status()["leader"] and follower, 10, "a new leader")
    entries = wait_for(lambda: [e for e in history(new, "leadership_changed")
                                if e["node"] == new.status()["node"]], 5, "its entry")
    [changed] = entries
    assert changed["epoch"] == new.status()["epoch"] == first_epoch + 1
    assert (changed["previous_leader"], changed["previous_epoch"]) == (first_node, first_epoch)
    assert isinstance(changed["at"], float) and isinstance(changed["id"], str)
    line = next(li for li in cli(new, "history", "web").stdout.splitlines()
                if "leadership_changed" in li and f"after {first_node}" in li)
    assert f"took office in epoch {first_epoch + 1}" in line


def test_a_late_fence_that_fails_is_recorded_once_then_its_success(cluster: Cluster) -> None:
    # web-a's fence hook goes to a server of its own, which the test makes refuse, then
    # accept: web-a is unreachable at the failover (so marked unfenced), then answers again.
    fencer = cluster.sandbox.web(f"{cluster.name}-fencer")
    fencer.control(fail_hooks=["fence"])
    cluster.start(controllers=1, policy={"cooldown": 0, "retry_backoff": 0.2}, member_blocks={
        "web-a": {"fence": {"url": f"{fencer.url}/fence?epoch={{epoch}}&seq={{seq}}"}}})
    leader = cluster.leader()
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    cluster.web("web-a").process.start()
    wait_for(lambda: len(leader.events(Event.FENCE_RETRY_FAILED)) >= 4, 15,
             "several failed late fences")
    [failed] = history(leader, "fence_late_failed")  # one entry, however many retries
    assert (failed["member"], failed["primary"], failed["attempts"]) == ("web-a", "web-b", 1)
    assert failed["epoch"] == leader.status()["epoch"] and "500" in failed["message"]
    fencer.control(fail_hooks=[])
    [fenced] = wait_for(lambda: history(leader, "fenced_late"), 10, "the late fence")
    assert (fenced["member"], fenced["primary"], fenced["by"]) == ("web-a", "web-b", "auto")
    attempts = len([c for c in fencer.calls("fence") if c["failed"]])
    assert isinstance(fenced["failed_attempts"], int)
    # The failover's own fence failed too; every later failure was a late fence.
    assert fenced["failed_attempts"] == attempts - 1 >= 4
    assert len(history(leader, "fence_late_failed")) == 1
    assert not leader.status()["services"]["web"]["members"]["web-a"]["unfenced"]
    line = next(li for li in cli(leader, "history", "web").stdout.splitlines()
                if "fenced_late" in li)
    assert f"fenced web-a late after {attempts - 1} failed attempts" in line
