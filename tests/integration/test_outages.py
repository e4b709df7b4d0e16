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

from controller.devtools.sandbox import (
    Controller,
    Sandbox,
    ZooKeeper,
    controller_config,
    free_port,
    wait_for,
)
from controller.events import Event
from tests.integration.cluster import Cluster, hold

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
