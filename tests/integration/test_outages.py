"""The stores themselves fail: routing stays safe and /readyz says why."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.sandbox import (
    Controller,
    Sandbox,
    ZooKeeper,
    controller_config,
    free_port,
    wait_for,
)
from controller.events import Event
from tests.integration.cluster import Cluster, failoverctl, hold

pytestmark = pytest.mark.integration


def readyz(controller: Controller) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(controller.api + "/readyz", timeout=2) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_redis_down_leader_still_commits_and_publishes_when_back(cluster: Cluster) -> None:
    cluster.start(controllers=2)
    leader = cluster.leader()
    assert readyz(leader)[0] == 200
    cluster.redis.process.kill()
    wait_for(lambda: readyz(leader)[0] == 503, 10, "readyz to fail")
    assert readyz(leader)[1]["redis"].startswith("unreachable")
    cluster.web("web-a").process.kill()
    # Decided and committed in ZooKeeper (every replica's watch sees it)...
    for c in cluster.controllers:
        wait_for(lambda c=c: c.status()["services"]["web"]["primary"] == "web-b", 10,
                 f"{c.name} sees the decision")
    # ...and published once Redis is back (empty: it kept nothing on disk).
    cluster.redis.process.start()
    cluster.redis.wait_ready()
    route = cluster.wait_primary("web-b", timeout=10)
    assert route["reason"] == "failover"
    wait_for(lambda: readyz(leader)[0] == 200, 10, "readyz again")


def test_zookeeper_unreachable_changes_nothing(isolated_cluster: Cluster,
                                               own_zookeeper: ZooKeeper) -> None:
    cluster, own_zk = isolated_cluster, own_zookeeper  # this test freezes its ZooKeeper
    cluster.start(controllers=2, session_timeout=2.0)
    leader = cluster.leader()
    own_zk.process.signal(signal.SIGSTOP)
    for c in cluster.controllers:
        wait_for(lambda c=c: readyz(c)[1]["zookeeper"].startswith("session"), 10,
                 f"{c.name} to report its ZooKeeper session")
        assert readyz(c)[0] == 503
    cluster.web("web-a").process.kill()
    wait_for(lambda: leader.status()["services"]["web"]["members"]["web-a"]["health"]
             == "down", 10, "web-a seen down")
    # Stale but safe, for a while: 20 more failed probes (0.1 s apart) span several
    # reconcile passes (0.5 s apart), each of which would evaluate again if the leader
    # still thought it could act.
    hold(leader, "web-a", probes=20)
    assert cluster.route()["primary"] == "web-a"
    assert leader.status()["services"]["web"]["recovery_in_flight"] is False
    assert [c.events(Event.FAILOVER_STARTED) for c in cluster.controllers] == [[], []]
    assert cluster.promotions("web-b") == []
    # ZooKeeper back: a leader (old or new) acts on the same facts, exactly once.
    own_zk.process.signal(signal.SIGCONT)
    cluster.wait_primary("web-b", timeout=20)
    assert len(cluster.promotions("web-b")) == 1
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()


def test_zookeeper_digest_auth_and_redis_password(sandbox: Sandbox) -> None:
    secured = sandbox.redis(password="redis-secret")
    cluster = Cluster(sandbox, sandbox_zk := sandbox.zookeeper(), "secured")
    cluster.redis.process.stop()
    cluster.redis = secured
    try:
        cluster.start(controllers=1, redis_block={"password": "redis-secret"},
                      zookeeper_block={"username": "failover", "password": "zk-secret"})
        cluster.web("web-a").process.kill()
        cluster.wait_primary("web-b")
        # The decision node is readable by the controller's user only.
        anonymous = KazooClient(hosts=sandbox_zk.hosts)
        anonymous.start(timeout=10)
        try:
            with pytest.raises(NoAuthError):
                anonymous.get("/failover/secured/services/web/decision")
        finally:
            anonymous.stop()
            anonymous.close()
    finally:
        cluster.close()
        sandbox_zk.process.stop()


def test_replica_started_before_zookeeper_joins_when_it_comes_up(sandbox: Sandbox) -> None:
    port = free_port()
    redis = sandbox.redis()
    web_a, web_b = sandbox.web("early-a"), sandbox.web("early-b")
    members = [web_a.member(100), web_b.member(50)]
    members[0]["name"], members[1]["name"] = "web-a", "web-b"
    service = {"name": "web", "members": members}
    config = controller_config(f"127.0.0.1:{port}", redis.url, "early", [service], "early")
    controller = sandbox.controller("early", config)
    zk = None
    try:
        wait_for(lambda: readyz(controller)[1]["zookeeper"] != "connected", 10, "not ready")
        assert readyz(controller)[0] == 503
        zk = sandbox.zookeeper(port=port)
        wait_for(lambda: controller.status()["leader"], 20, "it leads once ZooKeeper is up")
        wait_for(lambda: redis.command("HGET", "failover:route:web", "primary") == "web-a", 10,
                 "the first route")
        assert len(controller.events(Event.LEADERSHIP_GAINED)) == 1
    except BaseException:
        print(controller.process.output()[-5000:])
        raise
    finally:
        controller.process.stop()
        for process in (web_a.process, web_b.process, redis.process):
            process.stop()
        if zk is not None:
            zk.process.stop()


def samples(controller: Controller) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(controller.api + "/metrics", timeout=2) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def store_up(controller: Controller, store: str) -> float:
    return samples(controller)[("failover_store_up", (("store", store),))]


def explained(controller: Controller) -> dict[str, Any]:
    answer: dict[str, Any] = controller.call("GET", "/v1/services/web/explain")[1]
    return answer


def test_zookeeper_down_shows_in_status_metrics_and_explain_then_recovers(
        isolated_cluster: Cluster, own_zookeeper: ZooKeeper) -> None:
    cluster, own_zk = isolated_cluster, own_zookeeper
    cluster.start(controllers=2, session_timeout=2.0)
    leader = cluster.leader()
    before = leader.status()
    assert before["stores"]["zookeeper"]["ok"] and before["session"] == "connected"
    assert before["can_act"] is True and samples(leader)[("failover_is_leader", ())] == 1
    assert store_up(leader, "zookeeper") == 1
    own_zk.process.signal(signal.SIGSTOP)
    wait_for(lambda: not leader.status()["stores"]["zookeeper"]["ok"], 10,
             "the leader to report ZooKeeper out")
    out = leader.status()
    # Still holding its epoch, but said to be unable to act, and why.
    assert out["leader"] is True and out["session"] in ("suspended", "lost")
    assert out["can_act"] is False and "zookeeper_unavailable" in out["why_not"]
    wait_for(lambda: leader.status()["stores"]["zookeeper"]["out_seconds"] >= 1.0, 10,
             "the outage to last a second")
    metrics = samples(leader)
    assert metrics[("failover_is_leader", ())] == 0
    assert metrics[("failover_store_up", (("store", "zookeeper"),))] == 0
    assert metrics[("failover_store_out_seconds", (("store", "zookeeper"),))] >= 1.0
    assert metrics[("failover_store_up", (("store", "redis"),))] == 1
    why = explained(leader)
    assert (why["reason"], why["would_fail_over"]) == ("zookeeper_unavailable", False)
    assert why["blocked_by"][0] == "stores_reachable"
    shown = failoverctl("status", "--api", leader.api)
    assert shown.returncode == 0, shown.stderr
    assert "ZOOKEEPER OUT for" in shown.stdout and "cannot act" in shown.stdout
    assert "cannot act: zookeeper" in failoverctl("explain", "web", "--api",
                                                  leader.api).stdout
    assert [e["state"] for e in leader.events(Event.STORE_UNAVAILABLE)
            if e["store"] == "zookeeper"][:1] == ["suspended"]
    assert leader.events(Event.STORE_UNAVAILABLE)[0]["level"] == "warning"
    own_zk.process.signal(signal.SIGCONT)
    for c in cluster.controllers:
        wait_for(lambda c=c: c.status()["stores"]["zookeeper"]["ok"], 20,
                 f"{c.name} to report ZooKeeper back")
    now_leader = cluster.leader(timeout=20)
    wait_for(lambda: now_leader.status()["can_act"], 20, "the leader to act again")
    assert samples(now_leader)[("failover_is_leader", ())] == 1
    assert explained(now_leader)["conditions"][0]["ok"] is True
    assert "OUT for" not in failoverctl("status", "--api", now_leader.api).stdout
    assert any(e["store"] == "zookeeper" for e in leader.events(Event.STORE_RECOVERED))


def test_redis_down_shows_in_status_metrics_and_explain_then_recovers(
        cluster: Cluster) -> None:
    cluster.start(controllers=2)
    leader, follower = cluster.leader(), cluster.followers()[0]
    assert store_up(leader, "redis") == 1 and store_up(follower, "redis") == 1
    cluster.redis.process.kill()
    for c in (leader, follower):
        wait_for(lambda c=c: not c.status()["stores"]["redis"]["ok"], 10,
                 f"{c.name} to report Redis out")
        assert store_up(c, "redis") == 0
    out = leader.status()
    assert out["can_act"] is False and out["why_not"] == ["redis_unreachable"]
    assert out["stores"]["zookeeper"]["ok"] is True
    assert out["stores"]["redis"]["error"]
    why = explained(leader)
    assert why["reason"] == "redis_unreachable" and why["policy_reason"] == "primary_healthy"
    shown = failoverctl("status", "--api", follower.api)
    assert "REDIS OUT for" in shown.stdout, shown.stdout
    cluster.redis.process.start()
    cluster.redis.wait_ready()
    for c in (leader, follower):
        wait_for(lambda c=c: c.status()["stores"]["redis"]["ok"], 10,
                 f"{c.name} to report Redis back")
        assert store_up(c, "redis") == 1
        assert samples(c)[("failover_store_out_seconds", (("store", "redis"),))] == 0
    assert leader.status()["can_act"] is True
    assert readyz(leader)[0] == 200
