"""A small cluster for one test: web members, controller replicas, a route observer."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from config.models import RedisConfig, ServiceConfig
from controller.adapters.routes import RouteStore
from controller.core.records import Decided
from controller.devtools.sandbox import (
    Controller,
    Redis,
    Sandbox,
    Web,
    ZooKeeper,
    controller_config,
    wait_for,
)


def failoverctl(*args: str, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as an operator would (``env``: added to ours)."""
    return subprocess.run([sys.executable, "-m", "controller.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def failed_probes(controller: Controller, member: str, service: str = "web") -> float:
    """How many probes of ``member`` failed (any verdict but pass) at this replica, by its
    /metrics: a clock of the replica's own work for a test that holds a state for a while."""
    with urllib.request.urlopen(controller.api + "/metrics", timeout=2) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "failover_probe_results_total"
               and sample.labels.get("service") == service
               and sample.labels.get("member") == member
               and sample.labels.get("verdict") != "pass")


def hold(controller: Controller, member: str, probes: int, timeout: float = 10) -> None:
    """Wait until ``controller`` has seen ``probes`` more probes of ``member`` fail."""
    start = failed_probes(controller, member)
    wait_for(lambda: failed_probes(controller, member) >= start + probes, timeout,
             f"{controller.name} to see {probes} more failed probes of {member}")


FAST_POLICY = {"interval": 0.1, "fast_interval": 0.05, "timeout": 0.5,
               "degraded_latency": 0.25, "fall": 3, "rise": 2, "cooldown": 30}


@dataclass(frozen=True)
class Seen:
    at: float
    primary: str
    epoch: int
    version: int


class RouteObserver:
    """Watches the route the way a proxy does (pub/sub and polling) and records every value,
    so a test can assert that epoch and version never went back."""

    def __init__(self, server: Redis, service: str = "web") -> None:
        self.key = f"failover:route:{service}"
        self.seen: list[Seen] = []
        self._client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=1,
                                   decode_responses=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                route = self._client.hgetall(self.key)
            except redis.RedisError:
                route = {}
            if route and "epoch" in route:
                try:
                    seen = Seen(time.monotonic(), route["primary"], int(route["epoch"]),
                                int(route["version"]))
                except (KeyError, ValueError):  # a forged route, as a proxy refuses it
                    self._stop.wait(0.002)
                    continue
                last = self.seen[-1] if self.seen else None
                if last is None or (last.primary, last.epoch, last.version) != (
                        seen.primary, seen.epoch, seen.version):
                    self.seen.append(seen)
            self._stop.wait(0.002)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._client.close()

    def assert_monotonic(self) -> None:
        """Invariants 1 and 2: a reader never sees epoch or version go back."""
        for before, after in zip(self.seen, self.seen[1:], strict=False):
            assert (after.epoch, after.version) >= (before.epoch, before.version), self.seen
            assert after.version >= before.version, self.seen
            if after.version == before.version:
                assert after.primary == before.primary, self.seen

    def wait_changes(self, count: int, timeout: float = 5) -> list[Seen]:
        """The first ``count`` distinct versions seen, once this reader has seen them."""
        return wait_for(lambda: len(self.changes()) >= count and self.changes(), timeout,
                        f"the observer to see {count} route versions")

    def changes(self) -> list[Seen]:
        out: list[Seen] = []
        for seen in self.seen:
            if not out or seen.version != out[-1].version:
                out.append(seen)
        return out


class Cluster:
    def __init__(self, sandbox: Sandbox, zk: ZooKeeper, name: str,
                 redis_args: tuple[str, ...] = ()) -> None:
        self.sandbox, self.zk = sandbox, zk
        self.name = re.sub(r"[^A-Za-z0-9_.-]", "-", name)
        self.redis = sandbox.redis(extra=redis_args)
        self.webs: dict[str, Web] = {}
        self.controllers: list[Controller] = []
        self.observer: RouteObserver | None = None

    def start(self, controllers: int = 2, policy: dict[str, Any] | None = None,
              session_timeout: float = 2.0, redis_block: dict[str, Any] | None = None,
              fence: bool = True, members: tuple[str, ...] = ("web-a", "web-b"),
              zookeeper_block: dict[str, Any] | None = None,
              service_block: dict[str, Any] | None = None,
              api_block: dict[str, Any] | None = None,
              readiness: dict[str, list[dict[str, Any]]] | None = None,
              member_blocks: dict[str, dict[str, Any]] | None = None,
              top_block: dict[str, Any] | None = None) -> None:
        for name in members:  # a test may have started some itself (to know their URLs)
            if name not in self.webs:
                self.webs[name] = self.sandbox.web(f"{self.name}-{name}")
        self.policy = {**FAST_POLICY, **(policy or {})}
        member_entries = []
        for i, name in enumerate(members):
            entry = self.webs[name].member(priority=100 - i, fence=fence)
            entry["name"] = name
            if readiness and name in readiness:
                entry["readiness"] = readiness[name]
            for key, value in (member_blocks or {}).get(name, {}).items():
                entry[key] = {**entry.get(key, {}), **value}
            member_entries.append(entry)
        self.services = [{"name": "web", "policy": self.policy, "members": member_entries,
                          **(service_block or {})}]
        for i in range(controllers):
            config = controller_config(self.zk, self.redis.url, self.name, self.services,
                                       f"c{i}", session_timeout=session_timeout)
            if redis_block:
                config["redis"] = {**config["redis"], **redis_block}
            if zookeeper_block:
                config["zookeeper"] = {**config["zookeeper"], **zookeeper_block}
            if api_block:
                config["api"] = {**config["api"], **api_block}
            config.update(top_block or {})  # top-level keys (notify, ...)
            self.controllers.append(self.sandbox.controller(f"{self.name}-c{i}", config))
        self.wait_primary("web-a")
        self.observer = RouteObserver(self.redis)
        for c in self.controllers:
            wait_for(lambda c=c: all(m["health"] == "healthy" for m in
                                     c.status()["services"]["web"]["members"].values()),
                     15, f"{c.name} sees every member healthy")

    def web(self, name: str) -> Web:
        return self.webs[name]

    def route(self) -> dict[str, str]:
        route: dict[str, str] = self.redis.command("HGETALL", "failover:route:web")
        return route

    def wait_primary(self, name: str, timeout: float = 15) -> dict[str, str]:
        return wait_for(lambda: (r := self.route()) and r.get("primary") == name and r,
                        timeout, f"route to name {name}")

    def leader(self, timeout: float = 15) -> Controller:
        def find() -> Controller | None:
            for c in self.controllers:
                if c.process.alive():
                    try:
                        if c.status()["leader"]:
                            return c
                    except OSError:
                        pass
            return None

        return wait_for(find, timeout, "a leader")

    def followers(self) -> list[Controller]:
        leader = self.leader()
        return [c for c in self.controllers if c is not leader and c.process.alive()]

    def publish_directly(self, decided: Decided, writer_epoch: int) -> str:
        """Write a route straight through the route script, as a rogue or stale writer
        would; returns Redis's answer (the script's outcome)."""
        service = ServiceConfig.model_validate(self.services[0])

        async def write() -> str:
            store = RouteStore(RedisConfig(url=self.redis.url))
            try:
                return (await store.publish(service, decided, writer_epoch)).outcome
            finally:
                await store.close()

        return asyncio.run(write())

    def promotions(self, member: str) -> list[dict[str, Any]]:
        return self.webs[member].calls("promote")

    def close(self) -> None:
        if self.observer is not None:
            self.observer.close()
        for c in self.controllers:
            c.process.stop()
        for web in self.webs.values():
            web.process.stop()
        self.redis.process.stop()

    def dump_logs(self) -> None:
        for c in self.controllers:
            print(f"===== {c.name}\n{c.process.output()[-6000:]}")
