"""Followers acknowledge what they applied, in Redis, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from controller.devtools.sandbox import Sandbox
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
