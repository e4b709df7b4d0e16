"""Traffic follows the route through real HAProxy and the agent, under a client load."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from controller.follower import parse_servers_state
from controller.sandbox import Haproxy, Process, free_port, wait_for
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration


class Load:
    """A client loop through the proxy: who answered each request, and which failed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, str]] = []  # (monotonic time, body or "ERROR ...")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    body = response.read().decode().strip()
            except (urllib.error.URLError, OSError) as exc:
                body = f"ERROR {exc}"
            self.answers.append((time.monotonic(), body))
            self._stop.wait(0.005)

    def since(self, t: float) -> list[str]:
        return [body for at, body in list(self.answers) if at >= t]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def start_agent(cluster: Cluster, proxy: Haproxy, name: str) -> tuple[Process, str]:
    listen = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "controller.cli", "agent", "haproxy", "--redis",
            cluster.redis.url, "--haproxy", str(proxy.socket), "--backend", "web=web",
            "--listen", listen, "--resync-interval", "0.5"]
    return cluster.sandbox.spawn(name, argv), f"http://{listen}"


def agent_state(api: str) -> dict[str, object]:
    try:
        with urllib.request.urlopen(api + "/healthz", timeout=1) as response:
            data: dict[str, object] = json.load(response)
    except urllib.error.HTTPError as exc:
        data = json.load(exc)
    services = data["services"]
    assert isinstance(services, dict)
    web: dict[str, object] = services["web"]
    return web


def ready_servers(proxy: Haproxy) -> set[str]:
    return {s.name for s in parse_servers_state(proxy.command("show servers state web"))
            if s.ready}


@dataclass
class Traffic:
    cluster: Cluster
    proxy: Haproxy
    agent: Process
    api: str
    load: Load


@pytest.fixture
def traffic(cluster: Cluster) -> Iterator[Traffic]:
    cluster.start(controllers=1)
    proxy = cluster.sandbox.haproxy("web", {name: web.address
                                            for name, web in cluster.webs.items()})
    agent, api = start_agent(cluster, proxy, f"{cluster.name}-agent")
    wait_for(lambda: agent_state(api)["primary"] == "web-a", 10, "agent applied the route")
    load = Load(proxy.url + "/")
    try:
        yield Traffic(cluster, proxy, agent, api, load)
    finally:
        load.stop()
        agent.stop()
        proxy.process.stop()


def served_by(cluster: Cluster, member: str) -> str:
    return f"served by {cluster.webs[member].name}"


def test_traffic_moves_to_the_new_primary_and_stays(traffic: Traffic) -> None:
    cluster, proxy, api, load = traffic.cluster, traffic.proxy, traffic.api, traffic.load
    wait_for(lambda: load.since(0), 5, "first answers")
    assert set(load.since(0)) == {served_by(cluster, "web-a")}  # the standby is in maint
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    wait_for(lambda: agent_state(api)["primary"] == "web-b", 5, "agent applied the failover")
    switched = time.monotonic()
    wait_for(lambda: len(load.since(switched)) >= 50, 10, "50 answers after the switch")
    assert set(load.since(switched)) == {served_by(cluster, "web-b")}
    assert ready_servers(proxy) == {"web-b"}


def test_redis_restart_and_stale_messages_change_nothing(traffic: Traffic) -> None:
    cluster, proxy, agent, api, load = (traffic.cluster, traffic.proxy, traffic.agent,
                                        traffic.api, traffic.load)
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    wait_for(lambda: agent_state(api)["primary"] == "web-b", 5, "agent applied the failover")
    applied = len([line for line in agent.output().splitlines() if "haproxy_applied" in line])
    steady = time.monotonic()
    cluster.redis.restart()
    # A stale route, published straight to the channel (bypassing the fenced script).
    stale = {"primary": "web-a", "address": cluster.web("web-a").address, "epoch": 0,
             "version": 1, "reason": "initial"}
    cluster.redis.command("PUBLISH", "failover:route:web", json.dumps(stale))
    cluster.wait_primary("web-b")  # the controller restored the hash
    wait_for(lambda: len(load.since(steady)) >= 100, 10, "100 answers")
    assert set(load.since(steady)) == {served_by(cluster, "web-b")}
    after = len([line for line in agent.output().splitlines() if "haproxy_applied" in line])
    assert after == applied  # nothing was sent to HAProxy
    assert ready_servers(proxy) == {"web-b"}


def test_agent_restart_and_haproxy_restart_are_resynced(traffic: Traffic) -> None:
    cluster, proxy, agent, api, load = (traffic.cluster, traffic.proxy, traffic.agent,
                                        traffic.api, traffic.load)
    agent.stop()
    cluster.web("web-a").process.kill()  # fails over while the agent is away
    cluster.wait_primary("web-b")
    agent.start()  # same command line: it syncs HAProxy to Redis before anything else
    wait_for(lambda: agent_state(api)["primary"] == "web-b", 10, "agent resynced")
    assert ready_servers(proxy) == {"web-b"}
    cluster.web("web-a").process.start()  # alive again, but not the primary
    proxy.restart()  # back to its configured servers: both ready
    wait_for(lambda: ready_servers(proxy) == {"web-b"}, 10,
             "web-a back in maintenance after the HAProxy restart")
    settled = time.monotonic()
    wait_for(lambda: len(load.since(settled)) >= 50, 10, "50 answers after the resync")
    assert set(load.since(settled)) == {served_by(cluster, "web-b")}
