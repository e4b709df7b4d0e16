"""Followers acknowledge what they applied, in Redis, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from controller.devtools.controllers import TOKEN, Controller
from controller.devtools.sandbox import Sandbox, wait_for
from controller.followers.acks import DEADLINE, STALE_AFTER, Ack, parse_acks
from controller.followers.route import Route
from controller.followers.watcher import RouteWatcher
from tests.integration.cluster import Cluster, failoverctl
from tests.integration.test_operators import metric
from tests.integration.test_routeclient import fields, until

pytestmark = pytest.mark.integration
A = Route("web-a", "127.0.0.1:8001", 1, 1, "initial")
B = Route("web-b", "127.0.0.1:8002", 2, 2, "failover")


def test_a_route_watcher_acknowledges_each_route_after_its_callbacks(sandbox: Sandbox) -> None:
    server = sandbox.redis()

    def write(route: Route) -> None:
        server.command("HSET", "failover:route:web",
                       *[x for kv in fields(route).items() for x in kv])

    def acks() -> dict[str, dict[str, object]]:
        raw = server.command("HGETALL", "failover:applied:web") or {}
        return {k: json.loads(v) for k, v in raw.items()}

    async def scenario() -> None:
        write(A)
        watcher = RouteWatcher(server.url, ["web"], reread_interval=0.1, timeout=0.3,
                               name="app-1", heartbeat=0.2)
        seen: list[int] = []
        watcher.on_change(lambda service, route: seen.append(route.version))
        await watcher.start()
        try:
            await until(lambda: acks().get("app-1", {}).get("version") == 1, 5, "ack of 1")
            written = time.time()
            write(B)
            await until(lambda: acks().get("app-1", {}).get("version") == 2, 5, "ack of 2")
            ack = acks()["app-1"]
            assert seen[-1] == 2  # the callback ran before the ack said so
            assert ack["confirmed"] is True and ack["epoch"] == 2
            assert written <= ack["at"] <= time.time()
            # The heartbeat goes on while nothing changes; the apply time stays.
            first = ack["heartbeat"]
            await until(lambda: acks()["app-1"]["heartbeat"] > first, 5, "a heartbeat")
            assert acks()["app-1"]["at"] == ack["at"]
            assert server.command("TTL", "failover:applied:web") > 3000
        finally:
            await watcher.close()
        parsed, refused = parse_acks({k: json.dumps(v) for k, v in acks().items()})
        assert [a.follower for a in parsed] == ["app-1"] and refused == []

    try:
        asyncio.run(scenario())
    finally:
        server.process.stop()


def test_the_haproxy_agent_acknowledges_what_haproxy_read_back_shows(
        sandbox: Sandbox) -> None:
    """Confirmed only once HAProxy, read back, sends traffic to the routed server alone."""
    redis = sandbox.redis()
    key = "failover:route:web"

    def route(r: Route) -> None:
        redis.command("HSET", key, *[x for kv in fields(r).items() for x in kv])
        redis.command("PUBLISH", key, json.dumps({**fields(r), "epoch": r.epoch,
                                                  "version": r.version}))

    def ack() -> dict[str, object]:
        raw = redis.command("HGET", "failover:applied:web", "haproxy-1")
        return json.loads(raw) if raw else {}

    route(A)
    # Nothing listens on these: HAProxy starts them up, with no checks configured.
    proxy = sandbox.haproxy("web", {"web-a": "127.0.0.1:9", "web-b": "127.0.0.1:10"})
    agent = sandbox.haproxy_agent("agent-acks", redis.url, proxy, resync_interval=0.2,
                                  follower="haproxy-1", heartbeat=0.3)
    try:
        wait_for(lambda: ack().get("version") == 1 and ack().get("confirmed") is True, 10,
                 "the agent's ack of route 1")
        written = time.time()
        route(B)
        wait_for(lambda: ack().get("version") == 2, 10, "the agent's ack of route 2")
        assert ack()["confirmed"] is True and proxy.serving("web") == {"web-b"}
        assert written <= float(str(ack()["at"])) <= time.time()
        # A route naming a server the backend lacks: not applied; route 2 stays, and the
        # ack says so (still version 2) while its heartbeat goes on.
        route(Route("web-c", "127.0.0.1:11", 2, 3, "switchover"))
        beat = float(str(ack()["heartbeat"]))
        wait_for(lambda: float(str(ack()["heartbeat"])) > beat + 0.5, 10, "heartbeats")
        assert ack()["version"] == 2 and ack()["confirmed"] is False
    finally:
        agent.process.stop()
        proxy.process.stop()
        redis.process.stop()


def follower(controller: Controller, name: str) -> dict[str, Any]:
    web = controller.status()["services"]["web"]
    found = [f for f in web["followers"] if f["name"] == name]
    return found[0] if found else {}


def test_the_controller_shows_followers_and_records_how_long_each_took(
        cluster: Cluster) -> None:
    """The real agent with a real HAProxy acknowledges a failover; the controller lists it
    (status, explain, metrics), records in history how long it took, names a configured
    follower that never applied it, shows a stopped agent stale within its budget, and
    counts a forged field of the applied hash without a crash."""
    cluster.start(controllers=1, service_block={"followers": ["haproxy-1", "haproxy-2"]})
    controller = cluster.controllers[0]
    proxy = cluster.sandbox.haproxy("web", {name: web.address
                                            for name, web in cluster.webs.items()})
    agent = cluster.sandbox.haproxy_agent(f"{cluster.name}-agent", cluster.redis.url, proxy,
                                          resync_interval=0.5, follower="haproxy-1")
    try:
        wait_for(lambda: follower(controller, "haproxy-1").get("version") == 1, 10,
                 "status lists the agent at version 1")
        assert follower(controller, "haproxy-2")["missing"] is True
        cluster.web("web-a").process.kill()
        cluster.wait_primary("web-b")
        wait_for(lambda: follower(controller, "haproxy-1").get("version") == 2, 10,
                 "status lists the agent at version 2")
        shown = follower(controller, "haproxy-1")
        assert shown["confirmed"] is True and not shown["behind"] and not shown["stale"]
        assert 0 <= shown["lag_s"] < 2.0
        assert proxy.serving("web") == {"web-b"}
        assert metric(controller, "failover_follower_behind", service="web",
                      follower="haproxy-1") == 0
        assert metric(controller, "failover_follower_lag_seconds", service="web",
                      follower="haproxy-1") == pytest.approx(shown["lag_s"], abs=0.01)
        explained = controller.call("GET", "/v1/services/web/explain")[1]
        assert [f["name"] for f in explained["followers"]] == ["haproxy-1", "haproxy-2"]
        # haproxy-2 never acknowledges: at the deadline, history says who did not.
        def settled() -> list[dict[str, Any]]:
            entries = controller.call("GET", "/v1/services/web/history")[1]["entries"]
            return [e for e in entries if e["event"] == "followers_applied"]
        wait_for(settled, DEADLINE + 10, "the followers_applied entry")
        [entry] = settled()
        assert entry["version"] == 2 and entry["reason"] == "followers_lagging"
        assert entry["detail"]["lagging"] == ["haproxy-2"]
        assert set(entry["detail"]["took"]) == {"haproxy-1"}
        assert entry["detail"]["took"]["haproxy-1"] < 2.0
        out = failoverctl("status", "--api", controller.api, "--token", TOKEN)
        assert "follower haproxy-2 NEVER HEARD FROM" in out.stdout, out.stdout
        assert "follower haproxy-1" not in out.stdout  # well: no line
        # A forged field: ignored and counted, never a crash.
        cluster.redis.command("HSET", "failover:applied:web", "forged", "{not json",
                              "bad name", "{}")
        wait_for(lambda: controller.status()["services"]["web"]["followers_refused"] == 2,
                 10, "the forged fields counted")
        assert metric(controller, "failover_follower_acks_refused_total", service="web") == 2
        # One not heard from in over an hour: the leader drops it; it is never listed.
        old = Ack("gone-1", 1, 1, time.time() - 7300, True, time.time() - 7200)
        cluster.redis.command("HSET", "failover:applied:web", "gone-1", old.encode())
        wait_for(lambda: not cluster.redis.command("HEXISTS", "failover:applied:web",
                                                   "gone-1"), 10, "the old entry dropped")
        assert not follower(controller, "gone-1")
        # Stopped: stale within its budget (and a heartbeat's interval, and one read).
        agent.process.stop()
        stopped = time.monotonic()
        wait_for(lambda: follower(controller, "haproxy-1").get("stale") is True,
                 STALE_AFTER + 5, "the stopped agent shown stale")
        assert time.monotonic() - stopped <= STALE_AFTER + 2 + 1 + 1
        wait_for(lambda: metric(controller, "failover_follower_stale", service="web",
                                follower="haproxy-1") == 1, 3, "the stale gauge at 1")
        out = failoverctl("status", "--api", controller.api, "--token", TOKEN)
        assert "follower haproxy-1 at version 2 of 2" in out.stdout and "STALE" in out.stdout
    finally:
        agent.process.stop()
        proxy.process.stop()


def test_a_switchover_is_done_when_its_followers_applied_it_or_says_who_did_not(
        cluster: Cluster) -> None:
    """Issue 26: "done" means traffic moved. The verify step waits for the followers that
    must apply the route, and names those that did not; a late proxy does not undo it."""
    cluster.start(controllers=1, policy={"verify_window": 0.3},
                  service_block={"followers": ["app-1"]})
    api = cluster.controllers[0].api

    def switch(to: str) -> str:
        out = failoverctl("switchover", "web", "--to", to, "--wait", "--json", "--api", api,
                          "--token", TOKEN)
        assert out.returncode == 0, out.stderr
        record = json.loads(out.stdout)
        assert record["phase"] == "done", record
        [verify] = [s for s in record["steps"] if s["step"] == "verifying"]
        assert verify["ok"] is True
        return str(verify["detail"])

    # app-1 never acknowledges: done, and the record says who did not follow.
    assert "not applied within 10s by app-1" in switch("web-b")
    # app-1 follows: done once it applied the new version.
    loop = asyncio.new_event_loop()
    watcher = RouteWatcher(cluster.redis.url, ["web"], reread_interval=0.1, timeout=0.3,
                           name="app-1", heartbeat=0.2)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(watcher.start(), loop).result(10)
        detail = switch("web-a")
        assert "every follower applied version" in detail and "app-1" in detail, detail
        version = int(cluster.route()["version"])
        ack = json.loads(cluster.redis.command("HGET", "failover:applied:web", "app-1"))
        assert ack["version"] == version and ack["confirmed"] is True
    finally:
        asyncio.run_coroutine_threadsafe(watcher.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
