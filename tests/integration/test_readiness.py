"""Surviving the second failure, on real processes: readiness checks gate promotion,
redundancy is reported before it is needed, and a primary whose RAID (here, a flag file)
keeps failing is moved off pre-emptively, once, and only inside its window."""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from config.models import ExecProbeConfig
from controller.devtools.sandbox import wait_for
from controller.events import Event
from probes.kinds import ExecProbe, ProbeContext
from probes.scheduler import bounded
from tests.integration.cluster import Cluster
from tests.integration.test_operators import OPERATOR, cli, history, metric, service

pytestmark = pytest.mark.integration
POLICY = {"verify_window": 1.0, "ready_timeout": 3.0}


class Flags:
    """Readiness checks that fail while a flag file exists: the shape of the README's
    recipes (``sh -c 'if ...; then echo why; exit 1; fi'``), switched by the test."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def check(self, member: str, name: str, why: str, **extra: Any) -> dict[str, Any]:
        flag = self.root / f"{member}.{name}.failing"
        return {"name": name, "kind": "exec", "interval": 0.2, "timeout": 2.0,
                "argv": ["sh", "-c", f"if test -e {flag}; then echo '{why}'; exit 1; fi"],
                **extra}

    def fail(self, member: str, name: str) -> None:
        (self.root / f"{member}.{name}.failing").touch()

    def heal(self, member: str, name: str) -> None:
        (self.root / f"{member}.{name}.failing").unlink(missing_ok=True)


@pytest.fixture
def flags(tmp_path: Path) -> Flags:
    return Flags(tmp_path)


def member(status: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(status["services"]["web"]["members"][name])


def test_a_standby_that_is_not_ready_is_skipped_for_a_ready_one(cluster: Cluster,
                                                                flags: Flags) -> None:
    flags.fail("web-b", "backup-fresh")
    cluster.start(controllers=1, members=("web-a", "web-b", "web-c"), policy=POLICY,
                  readiness={"web-b": [flags.check("web-b", "backup-fresh",
                                                   "last backup 30 h old")]})
    leader = cluster.leader()
    wait_for(lambda: member(leader.status(), "web-b")["not_ready"] == [
        "backup-fresh: exit 1: last backup 30 h old"], 5, "web-b not ready")
    assert member(leader.status(), "web-b")["health"] == "healthy"  # readiness is not health
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-c")
    assert cluster.promotions("web-b") == [] and len(cluster.promotions("web-c")) == 1


def test_only_a_not_ready_standby_and_a_dead_primary_promotes_it_and_says_why(
        cluster: Cluster, flags: Flags) -> None:
    flags.fail("web-b", "backup-fresh")
    cluster.start(controllers=1, policy=POLICY, readiness={
        "web-b": [flags.check("web-b", "backup-fresh", "last backup 30 h old")]})
    leader = cluster.leader()
    wait_for(lambda: not member(leader.status(), "web-b")["ready"], 5, "web-b not ready")
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    line = next(li for li in cli(leader, "history", "web").stdout.splitlines()
                if "route_changed" in li and "web-a -> web-b" in li)
    assert "promoted web-b although not ready: backup-fresh: exit 1: last backup 30 h old" \
        in line
    done = leader.events(Event.FAILOVER_DONE)[-1]
    assert done["steps"][0]["step"] == "verify_epoch"
    started = leader.events(Event.FAILOVER_STARTED)[-1]
    assert started["evidence"]["last_resort"] is True


def test_switchover_to_a_not_ready_member_is_refused_unless_forced(cluster: Cluster,
                                                                   flags: Flags) -> None:
    flags.fail("web-b", "raid")
    cluster.start(controllers=2, policy=POLICY, readiness={
        "web-b": [flags.check("web-b", "raid", "md0 degraded [U_]")]})
    follower = cluster.followers()[0]
    wait_for(lambda: not member(follower.status(), "web-b")["ready"], 5, "web-b not ready")
    out = cli(follower, "switchover", "web", "--to", "web-b")
    assert out.returncode == 1 and "refused (target_not_ready): " in out.stderr
    assert cli(follower, "switchover", "web").returncode == 1  # no ready member either
    out = cli(follower, "switchover", "web", "--to", "web-b", "--force", "--wait")
    assert out.returncode == 0, out.stderr
    assert "not ready, forced: raid: exit 1: md0 degraded [U_]" in out.stdout
    cluster.wait_primary("web-b", timeout=2)
    done = history(follower, "switchover_done")[0]
    assert done["by"] == OPERATOR and done["evidence"]["force"] is True


def test_redundancy_status_metric_and_log_flip_with_the_only_standby(cluster: Cluster,
                                                                     flags: Flags) -> None:
    cluster.start(controllers=2, policy=POLICY, readiness={
        "web-b": [flags.check("web-b", "disk", "/var 93% full")]})
    follower = cluster.followers()[0]
    wait_for(lambda: service(follower)["redundant"] is True, 5, "redundant")
    assert metric(follower, "failover_redundant", service="web") == 1
    flags.fail("web-b", "disk")
    wait_for(lambda: service(follower)["redundant"] is False, 5, "no longer redundant")
    shown = cli(follower, "status").stdout
    assert "web: NOT REDUNDANT" in shown and "web-b not ready: disk: exit 1: /var 93% full" \
        in shown
    assert metric(follower, "failover_redundant", service="web") == 0
    assert metric(follower, "failover_member_ready", service="web", member="web-b") == 0
    assert metric(follower, "failover_member_ready", service="web", member="web-a") == 1
    lost = wait_for(lambda: follower.events(Event.REDUNDANCY_CHANGED), 5, "the log event")
    assert lost[-1]["redundant"] is False and lost[-1]["ready_standbys"] == []
    explanation = json.loads(cli(follower, "explain", "web", "--json").stdout)
    assert explanation["redundancy"]["redundant"] is False
    flags.heal("web-b", "disk")
    wait_for(lambda: service(follower)["redundant"] is True, 5, "redundant again")
    assert follower.events(Event.REDUNDANCY_CHANGED)[-1]["redundant"] is True


def window(around: float, inside: bool) -> str:
    """A window that holds ``around`` (one hour either side), or one three days away."""
    moment = datetime.datetime.fromtimestamp(around, datetime.UTC)
    if inside:
        start, end = moment - datetime.timedelta(hours=1), moment + datetime.timedelta(hours=1)
        return f"daily {start:%H:%M}-{end:%H:%M} UTC"
    return f"{(moment + datetime.timedelta(days=3)):%a} 02:00-03:00 UTC"


@pytest.mark.parametrize("inside", [False, True])
def test_a_failing_raid_on_the_primary_moves_traffic_once_and_only_inside_the_window(
        cluster: Cluster, flags: Flags, inside: bool) -> None:
    cluster.start(controllers=2, policy=POLICY,
                  readiness={name: [flags.check(name, "raid", "md0 degraded [U_]")]
                             for name in ("web-a", "web-b")},
                  service_block={"evacuate_on": ["raid"], "evacuate_after": 0.5,
                                 "windows": [window(time.time(), inside)]})
    leader = cluster.leader()
    flags.fail("web-a", "raid")
    if not inside:
        wait_for(lambda: service(leader)["evacuation"]["reason"] == "outside_window", 10,
                 "the leader to hold the evacuation for the window")
        evacuation = service(leader)["evacuation"]
        assert evacuation["target"] == "web-b" and evacuation["wake_at"] > time.time() + 86400
        assert service(leader)["switchovers"] == []
        assert cluster.route()["primary"] == "web-a" and cluster.promotions("web-b") == []
        return
    route = cluster.wait_primary("web-b", timeout=10)
    assert route["reason"] == "evacuation"
    # web-b's RAID is fine: nothing more to do; web-a (failing) is never moved back to.
    wait_for(lambda: service(leader)["evacuation"]["reason"] == "no_condition"
             and not service(leader)["switchovers"], 10, "the evacuation to settle")
    done = history(leader, "switchover_done")
    assert len(done) == 1 and done[0]["by"] == "auto:evacuation"
    assert done[0]["kind"] == "evacuation"
    assert [s["step"] for s in done[0]["steps"]][-1] == "verifying"
    requested = history(leader, "evacuation_requested")
    assert len(requested) == 1
    assert requested[0]["evidence"]["conditions"] == ["raid"]
    assert len(cluster.promotions("web-b")) == 1 and cluster.promotions("web-a") == []
    assert cluster.observer is not None
    assert [c.primary for c in cluster.observer.changes()] == ["web-a", "web-b"]


def test_exec_checks_are_killed_at_their_timeout_and_the_loop_keeps_probing(
        cluster: Cluster) -> None:
    marker = "29.7531"  # a sleep nobody else runs
    slow = {"name": "backup-fresh", "kind": "exec", "argv": ["sleep", marker],
            "interval": 0.2, "timeout": 0.3}
    cluster.start(controllers=1, policy=POLICY, readiness={"web-b": [slow]})
    leader = cluster.leader()
    wait_for(lambda: (metric(leader, "failover_readiness_checks_total", service="web",
                             member="web-b", check="backup-fresh", result="fail") or 0) >= 5,
             10, "five timed-out checks")
    assert member(leader.status(), "web-b")["not_ready"] == [
        "backup-fresh: unreachable: no answer within 0.3s"]
    # Each timed-out command was killed with its process group: at most one runs now.
    running = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True,
                             text=True).stdout.split()
    assert len(running) <= 1, running
    # Probing went on meanwhile: health is fresh, and a failure is still detected.
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")


async def test_an_exec_probe_never_blocks_the_event_loop() -> None:
    probe = ExecProbe(ExecProbeConfig(kind="exec", argv=["sleep", "30"]),
                      ProbeContext(session=None, headers={}))  # type: ignore[arg-type]
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    outcome = await bounded(probe, 0.5, "test")
    elapsed = time.monotonic() - started
    ticker.cancel()
    assert outcome.detail == "no answer within 0.5s" and not outcome.ok
    # Blocking for the command would show as a 30 s gap and a 30 s wait; the probe ends
    # after its 0.5 s and the loop turns every 10 ms. 10 s sits 20 s below the one and far
    # above the other, however loaded the machine.
    assert elapsed < 10.0 and max(gaps) < 10.0, (elapsed, max(gaps))
