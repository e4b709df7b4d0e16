"""Followers acknowledge what they applied, in Redis, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from controller.devtools.sandbox import Sandbox, wait_for
from controller.followers.acks import parse_acks
from controller.followers.route import Route
from controller.followers.watcher import RouteWatcher
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
