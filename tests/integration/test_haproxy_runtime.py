"""The agent's Runtime API client against a real HAProxy: several commands in one call."""

from __future__ import annotations

import socket

import pytest

from controller.devtools.proxies import Haproxy
from controller.devtools.sandbox import LOOPBACK, Sandbox, wait_for
from controller.events import Event
from controller.followers.haproxy_agent import HaproxyError, HaproxyRuntime
from controller.followers.route import parse_servers_state
from tests.integration.test_operators import metric

pytestmark = pytest.mark.integration


async def test_commands_in_one_call_all_run_and_a_refused_one_is_an_error(
        sandbox: Sandbox) -> None:
    # Nothing listens on these: HAProxy starts them up, with no checks configured.
    proxy = sandbox.haproxy("web", {"web-a": "127.0.0.1:9", "web-b": "127.0.0.1:10"})
    runtime = HaproxyRuntime(str(proxy.socket))
    await runtime.commands(["set server web/web-b state maint",
                            "set server web/web-a state ready"])
    assert proxy.serving("web") == {"web-a"}

    # The first answers with text of its own ("IP changed from ..."): the refusal after it
    # is found all the same.
    with pytest.raises(HaproxyError, match="nope"):
        await runtime.commands(["set server web/web-b addr 127.0.0.1 port 11",
                                "set server web/web-b state ready",
                                "set server web/nope state maint"])
    # The ones before the refused command ran: each is idempotent, the read-back repairs.
    assert proxy.serving("web") == {"web-a", "web-b"}


def _frontend_up(proxy: Haproxy) -> bool:
    try:
        with socket.create_connection((LOOPBACK, proxy.port), timeout=1):
            return True
    except OSError:
        return False


def test_a_forged_route_cannot_run_runtime_api_commands(sandbox: Sandbox) -> None:
    """A route whose address smuggles ``; shutdown frontend fe;`` into the agent's command
    line is refused (logged and counted), and the frontend stays up."""
    redis = sandbox.redis()
    key = "failover:route:web"
    redis.command("HSET", key, "primary", "web-a", "address", "127.0.0.1:9", "epoch", "1",
                  "version", "1", "reason", "initial")
    # No server named like a member: the agent gives the first one the routed address.
    proxy = sandbox.haproxy("web", {"srv": "127.0.0.1:10"})
    agent = sandbox.haproxy_agent("agent-forged", redis.url, proxy, resync_interval=0.2)
    try:
        wait_for(lambda: agent.healthz()[1]["services"]["web"]["version"] == 1, 10,
                 "the agent applied the first route")
        forged = "127.0.0.1 port 11; shutdown frontend fe; set server web/srv addr 127.0.0.1:12"
        redis.command("HSET", key, "address", forged, "version", "2")
        wait_for(lambda: agent.events(Event.ROUTE_REFUSED) or not _frontend_up(proxy), 10,
                 "the forged route refused (or obeyed)")
        assert _frontend_up(proxy)
        assert metric(agent, "failover_agent_routes_refused_total", service="web") >= 1
        assert "127.0.0.1:9" in {s.address for s in parse_servers_state(
            proxy.command("show servers state web"))}
        web = agent.healthz()[1]["services"]["web"]
        assert web["version"] == 1 and web["refused"].startswith("address: ")
    finally:
        agent.process.stop()
        proxy.process.stop()
        redis.process.stop()


def test_an_agent_that_obeyed_a_forged_epoch_says_when_redis_holds_an_older_route(
        sandbox: Sandbox) -> None:
    """A forged epoch a leader never held, with a valid address, is obeyed (a follower cannot
    know which epochs ZooKeeper handed out). Once the leader has repaired it, Redis holds an
    older route than the applied one: never applied, but logged and shown on /healthz."""
    redis = sandbox.redis()
    key = "failover:route:web"
    redis.command("HSET", key, "primary", "web-a", "address", "127.0.0.1:9", "epoch", "1",
                  "version", "1", "reason", "initial")
    proxy = sandbox.haproxy("web", {"srv": "127.0.0.1:10"})
    agent = sandbox.haproxy_agent("agent-older", redis.url, proxy, resync_interval=0.2)
    try:
        wait_for(lambda: agent.healthz()[1]["services"]["web"]["version"] == 1, 10,
                 "the first route applied")
        redis.command("HSET", key, "epoch", "99999999999999")  # forged, obeyed
        wait_for(lambda: agent.events(Event.ROUTE_APPLIED)[-1]["epoch"] == 99999999999999,
                 10, "the forged epoch applied")
        redis.command("HSET", key, "epoch", "1")  # the leader's repair
        [older] = wait_for(lambda: agent.events(Event.ROUTE_OLDER_IN_REDIS), 10, "the warning")
        assert older["redis"] == "web-a@1/1"
        web = agent.healthz()[1]["services"]["web"]
        assert web["redis_older_s"] is not None and web["version"] == 1
    finally:
        agent.process.stop()
        proxy.process.stop()
        redis.process.stop()
