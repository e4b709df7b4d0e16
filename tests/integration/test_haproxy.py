"""Traffic follows the route through real HAProxy and the agent, under a client load."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.devtools.sandbox import LOOPBACK, Agent, Haproxy, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_operators import metric

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "haproxy.cfg"


class Load:
    """A client loop through the proxy: who answered each request, and which failed."""

    def __init__(self, url: str) -> None:
        self.url = url
        # (monotonic time the request was sent, body or "ERROR ...")
        self.answers: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    body = response.read().decode().strip()
            except (urllib.error.URLError, OSError) as exc:
                body = f"ERROR {exc}"
            self.answers.append((sent, body))
            self._stop.wait(0.005)

    def since(self, t: float) -> list[str]:
        """Answers to the requests sent at ``t`` or later."""
        return [body for at, body in list(self.answers) if at >= t]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def start_agent(cluster: Cluster, proxy: Haproxy) -> Agent:
    return cluster.sandbox.haproxy_agent(f"{cluster.name}-agent", cluster.redis.url, proxy,
                                         resync_interval=0.5)


def agent_state(agent: Agent) -> dict[str, Any]:
    web: dict[str, Any] = agent.healthz()[1]["services"]["web"]
    return web


@dataclass
class Traffic:
    cluster: Cluster
    proxy: Haproxy
    agent: Agent
    load: Load


@pytest.fixture
def traffic(cluster: Cluster) -> Iterator[Traffic]:
    cluster.start(controllers=1)
    proxy = cluster.sandbox.haproxy("web", {name: web.address
                                            for name, web in cluster.webs.items()})
    agent = start_agent(cluster, proxy)
    wait_for(lambda: agent_state(agent)["primary"] == "web-a", 10, "agent applied the route")
    load = Load(proxy.url + "/")
    try:
        yield Traffic(cluster, proxy, agent, load)
    finally:
        load.stop()
        agent.process.stop()
        proxy.process.stop()


def served_by(cluster: Cluster, member: str) -> str:
    return f"served by {cluster.webs[member].name}"


def test_traffic_moves_to_the_new_primary_and_stays(traffic: Traffic) -> None:
    cluster, proxy, agent, load = traffic.cluster, traffic.proxy, traffic.agent, traffic.load
    wait_for(lambda: load.since(0), 5, "first answers")
    assert set(load.since(0)) == {served_by(cluster, "web-a")}  # the standby is in maint
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    wait_for(lambda: agent_state(agent)["primary"] == "web-b", 5, "agent applied the failover")
    switched = time.monotonic()
    wait_for(lambda: len(load.since(switched)) >= 50, 10, "50 answers after the switch")
    assert set(load.since(switched)) == {served_by(cluster, "web-b")}
    assert proxy.serving("web") == {"web-b"}


def test_redis_restart_and_stale_messages_change_nothing(traffic: Traffic) -> None:
    cluster, proxy, agent, load = traffic.cluster, traffic.proxy, traffic.agent, traffic.load
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    wait_for(lambda: agent_state(agent)["primary"] == "web-b", 5, "agent applied the failover")
    sent = len(agent.events(Event.HAPROXY_APPLIED)) + len(agent.events(Event.HAPROXY_REPAIRED))
    steady = time.monotonic()
    cluster.redis.restart()
    # A stale route, published straight to the channel (bypassing the fenced script).
    stale = {"primary": "web-a", "address": cluster.web("web-a").address, "epoch": 0,
             "version": 1, "reason": "initial"}
    cluster.redis.command("PUBLISH", "failover:route:web", json.dumps(stale))
    cluster.wait_primary("web-b")  # the controller restored the hash
    wait_for(lambda: len(load.since(steady)) >= 100, 10, "100 answers")
    assert set(load.since(steady)) == {served_by(cluster, "web-b")}
    # nothing was sent to HAProxy
    assert len(agent.events(Event.HAPROXY_APPLIED)) + len(
        agent.events(Event.HAPROXY_REPAIRED)) == sent
    assert proxy.serving("web") == {"web-b"}


def test_agent_restart_and_haproxy_restart_are_resynced(traffic: Traffic) -> None:
    cluster, proxy, agent, load = traffic.cluster, traffic.proxy, traffic.agent, traffic.load
    agent.process.stop()
    cluster.web("web-a").process.kill()  # fails over while the agent is away
    cluster.wait_primary("web-b")
    agent.process.start()  # same command line: it syncs HAProxy to Redis before anything else
    wait_for(lambda: agent_state(agent)["primary"] == "web-b", 10, "agent resynced")
    assert proxy.serving("web") == {"web-b"}
    cluster.web("web-a").process.start()  # alive again, but not the primary
    proxy.restart()  # back to its configured servers: both ready
    wait_for(lambda: proxy.serving("web") == {"web-b"}, 10,
             "web-a back in maintenance after the HAProxy restart")
    settled = time.monotonic()
    wait_for(lambda: len(load.since(settled)) >= 50, 10, "50 answers after the resync")
    assert set(load.since(settled)) == {served_by(cluster, "web-b")}


def shipped_haproxy(cluster: Cluster) -> Haproxy:
    """HAProxy running examples/haproxy.cfg as shipped: only the members' addresses, the
    stats socket path and the listening address are replaced, everything else is the file."""
    def config(port: int, sock: Path) -> str:
        text = EXAMPLE.read_text()
        for old, new in (("stats socket /run/haproxy/admin.sock ", f"stats socket {sock} "),
                         ("bind :80\n", f"bind {LOOPBACK}:{port}\n"),
                         (" 10.0.0.11:80", f" {cluster.web('web-a').address}"),
                         (" 10.0.0.12:80", f" {cluster.web('web-b').address}")):
            assert text.count(old) == 1, \
                f"examples/haproxy.cfg has {old!r} {text.count(old)} times"
            text = text.replace(old, new)
        return text

    return cluster.sandbox.haproxy_with(config, name="haproxy-example")


def switchover(cluster: Cluster, to: str) -> None:
    # Accepted (202) once the target is healthy and fenced again in the leader's view.
    wait_for(lambda: cluster.leader().call("POST", "/v1/services/web/switchover",
                                           {"to": to})[0] == 202, 20, f"switchover to {to}")
    cluster.wait_primary(to)


def assert_only_routed_answers(cluster: Cluster, agent: Agent, load: Load,
                               member: str) -> None:
    """Once the agent has applied the current route, every answer comes from ``member``."""
    route = cluster.wait_primary(member)
    wait_for(lambda: (state := agent_state(agent))["primary"] == member
             and state["version"] == int(route["version"]), 10,
             f"agent applied version {route['version']} ({member})")
    applied = time.monotonic()
    answers = wait_for(lambda: len(got := load.since(applied)) >= 60 and got, 20,
                       "60 answers after the agent applied the route")
    assert Counter(answers) == Counter({served_by(cluster, member): len(answers)}), \
        f"routed to {member}, answered: {Counter(answers)}"


def assert_agent_verified(proxy: Haproxy, agent: Agent, member: str) -> None:
    """HAProxy's own state agrees, and so does the agent, which had nothing to repair."""
    assert proxy.serving("web") == {member}
    status, body = agent.healthz()
    assert status == 200 and body["services"]["web"]["serving"] == [member], body
    assert metric(agent, "failover_agent_haproxy_verified", service="web") == 1
    assert metric(agent, "failover_agent_repairs_total", service="web") == 0


@pytest.mark.parametrize("first", ["web-a", "web-b"])
def test_shipped_example_config_only_the_routed_member_answers(cluster: Cluster,
                                                               first: str) -> None:
    """examples/haproxy.cfg starts web-b `disabled`. Whichever member the agent starts on,
    through a failover, the old primary's return, a switchover back and a restart of the
    standby, every request sent after the agent applied the route reaches the routed
    member only."""
    cluster.start(controllers=1, policy={"verify_window": 1.0, "ready_timeout": 3.0})
    if first == "web-b":
        switchover(cluster, "web-b")
    other = "web-a" if first == "web-b" else "web-b"
    proxy = shipped_haproxy(cluster)
    agent = start_agent(cluster, proxy)
    load = Load(proxy.url + "/")

    def steady(routed: str) -> None:
        assert_only_routed_answers(cluster, agent, load, routed)
        assert_agent_verified(proxy, agent, routed)

    try:
        steady(first)
        cluster.web(first).process.kill()  # failover
        steady(other)
        cluster.web(first).restart()  # the old primary is back, as a standby
        steady(other)
        switchover(cluster, first)  # and back
        steady(first)
        cluster.web(other).restart()  # the standby restarts
        steady(first)
    finally:
        load.stop()
        agent.process.stop()
        proxy.process.stop()


def test_a_server_enabled_behind_the_agent_is_repaired(traffic: Traffic) -> None:
    cluster, proxy, agent, load = traffic.cluster, traffic.proxy, traffic.agent, traffic.load
    wait_for(lambda: agent_state(agent)["verified"], 5, "agent verified HAProxy")
    assert metric(agent, "failover_agent_repairs_total", service="web") == 0
    # Paused, so that its resync (every 0.5 s) cannot undo the change before it is seen.
    agent.process.signal(signal.SIGSTOP)
    try:
        proxy.command("set server web/web-b state ready")  # by hand: both take traffic now
        assert proxy.serving("web") == {"web-a", "web-b"}
    finally:
        agent.process.signal(signal.SIGCONT)
    wait_for(lambda: agent.events(Event.HAPROXY_REPAIRED), 5, "the agent's repair")
    assert proxy.serving("web") == {"web-a"}
    [repaired] = agent.events(Event.HAPROXY_REPAIRED)
    assert repaired["wrong"] == ["web-b: unrouted_serving (op=RUNNING admin=0x00)"]
    assert repaired["commands"] == ["set server web/web-b state maint"]
    assert metric(agent, "failover_agent_repairs_total", service="web") == 1
    assert agent_state(agent)["verified"]
    settled = time.monotonic()
    wait_for(lambda: len(load.since(settled)) >= 50, 10, "50 answers after the repair")
    assert set(load.since(settled)) == {served_by(cluster, "web-a")}


def test_a_routed_server_haproxy_holds_down_makes_the_agent_unhealthy(
        traffic: Traffic) -> None:
    proxy, agent = traffic.proxy, traffic.agent
    wait_for(lambda: agent.healthz()[0] == 200, 5, "agent healthy")
    # What a failing HAProxy health check does; not the agent's to override.
    proxy.command("set server web/web-a health down")
    web = wait_for(lambda: (h := agent.healthz())[0] == 503 and h, 5,
                   "agent unhealthy")[1]["services"]["web"]
    assert (web["verified"], web["serving"], web["wrong"]) == (
        False, [], ["web-a: routed_not_serving (op=STOPPED admin=0x00)"])
    assert metric(agent, "failover_agent_haproxy_verified", service="web") == 0
    # nothing it could send
    assert metric(agent, "failover_agent_repairs_total", service="web") == 0
    [unrepaired] = agent.events(Event.HAPROXY_UNREPAIRED)  # once, not at every resync
    assert unrepaired["wrong"] == web["wrong"]
    proxy.command("set server web/web-a health up")
    wait_for(lambda: agent.healthz()[0] == 200, 5, "agent healthy again")
    assert agent.events(Event.HAPROXY_VERIFIED)
    assert len(agent.events(Event.HAPROXY_UNREPAIRED)) == 1
