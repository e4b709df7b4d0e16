"""A randomized fault soak: a real cluster on this machine, a seeded nemesis, a checker.

    python -m tests.soak.soak --seconds 1800 --seed 7     # make soak (SOAK_SECONDS, SOAK_SEED)

Starts a three-node ZooKeeper ensemble, Redis, three web members and three controller
replicas. Where it may (root, iproute2), every controller runs in a network namespace of
its own and the servers in a hub namespace (netns.py), so the nemesis cuts one controller
off ZooKeeper or off one member with a route into a void namespace: a real partition.
Elsewhere everything runs on loopback and each controller reaches each server through a
proxy of its own that can be cut (links.py); the summary says which.

Beside the servers: HAProxy in front of the members (the standbys `disabled`, as in
examples/haproxy.cfg), ``failoverctl agent haproxy`` and a client loop through HAProxy.

Then, round after round until the time is up, the nemesis applies one or two faults drawn
from the seeded generator, sometimes asks for a switchover or a pause in the middle of
them, heals everything, and measures how long the cluster takes to converge (one leader,
Redis equal to ZooKeeper, the route on a healthy member).

Everything observed is kept: the route in Redis (polled every few milliseconds) and its
pub/sub feed, ZooKeeper's decisions, each replica's status, the history stream, every
promote and fence call the members received, and the controllers' logs. At the end the
checker (checker.py) verifies the invariants and the summary says what happened. The
same seed replays the same schedule of faults (timings on a shared machine still vary).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from kazoo.client import KazooClient

from controller.core.records import Decided
from controller.core.switchover import Switchover
from controller.devtools.sandbox import (
    Agent,
    Controller,
    Haproxy,
    Redis,
    Sandbox,
    SandboxError,
    Web,
    ZooKeeper,
    controller_config,
    wait_for,
)
from controller.events import Event
from tests.soak import checker, netns
from tests.soak.checker import Accounted, Answer, Applied, Seen
from tests.soak.links import ProxyLinks
from tests.soak.netns import NamespaceLinks

SoakLinks = ProxyLinks | NamespaceLinks

MEMBERS = ("web-a", "web-b", "web-c")
REPLICAS = 3
SESSION_TIMEOUT = 2.0
POLICY = {"interval": 0.1, "fast_interval": 0.05, "timeout": 0.5, "degraded_latency": 0.3,
          "fall": 3, "rise": 2, "cooldown": 2, "retry_backoff": 1, "verify_window": 1.0,
          "ready_timeout": 3.0}
CONVERGE_BOUND = 30.0  # seconds after the last heal of a round
CLUSTER = "soak"


@dataclass
class Record:
    """Everything the soak observed, for the checker and the summary."""

    redis_seen: list[Seen] = field(default_factory=list)
    pubsub_seen: list[Seen] = field(default_factory=list)
    zk_seen: list[Seen] = field(default_factory=list)
    leader_claims: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    requests: dict[str, str] = field(default_factory=dict)  # id -> replica that took it
    # Every request record as ZooKeeper held it, last seen first: the leader prunes
    # finished requests beyond the newest 20, so the end of the run cannot ask for them.
    request_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    converge: list[tuple[int, float | None]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)  # hook calls the members received
    notes: list[str] = field(default_factory=list)
    late_hooks_refused: list[str] = field(default_factory=list)  # arrived late, refused
    answers: list[Answer] = field(default_factory=list)  # requests through HAProxy
    applied: list[Applied] = field(default_factory=list)  # the HAProxy agent's /healthz
    # Whom ZooKeeper accounts for (its decision and each switchover record, as watched),
    # the soak's own ZooKeeper connection states, and when the watching ended.
    accounted: list[Accounted] = field(default_factory=list)
    zk_states: list[tuple[float, str]] = field(default_factory=list)
    watched_until: float = 0.0


class Observer:
    """Background threads that record the route as readers and auditors see it."""

    def __init__(self, soak: Soak) -> None:
        self.soak, self.record = soak, soak.record
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=t, daemon=True, name=t.__name__)
                         for t in (self._poll_redis, self._pubsub, self._statuses,
                                   self._client_loop, self._poll_agent)]
        self._zk = KazooClient(hosts=soak.zk_hosts, timeout=10.0)
        self._zk.add_listener(
            lambda state: self.record.zk_states.append((time.time(), str(state))))
        self._zk.start(timeout=30)
        self._zk.DataWatch(f"/failover/{CLUSTER}/services/web/decision", self._on_decision)
        requests = f"/failover/{CLUSTER}/services/web/switchovers"
        self._zk.ensure_path(requests)
        self._watched: set[str] = set()
        self._zk.ChildrenWatch(requests, lambda children: self._on_requests(requests, children))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.record.watched_until = time.time()
        self._zk.stop()
        self._zk.close()

    def _client(self) -> redis.Redis:
        return redis.Redis(host=self.soak.redis.host, port=self.soak.redis.port,
                           socket_timeout=0.5, decode_responses=True)

    def _poll_redis(self) -> None:
        client, last = self._client(), None
        while not self._stop.is_set():
            try:
                route = client.hgetall("failover:route:web")
            except redis.RedisError:
                route = {}
            if route.get("version"):
                key = (route["primary"], int(route["epoch"]), int(route["version"]))
                if key != last:
                    last = key
                    self.record.redis_seen.append(Seen("redis-poll", time.time(), *key))
            self._stop.wait(0.003)

    def _pubsub(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self._client().pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe("failover:route:web")
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message and message["type"] == "message":
                        data = json.loads(message["data"])
                        self.record.pubsub_seen.append(Seen(
                            "pubsub", time.time(), data["primary"], int(data["epoch"]),
                            int(data["version"])))
            except (redis.RedisError, OSError):
                self._stop.wait(0.1)  # Redis restarting: resubscribe

    def _statuses(self) -> None:
        while not self._stop.is_set():
            claims = {}
            for c in self.soak.controllers:
                status = self.soak.status(c)
                if status and status.get("leader"):
                    claims[c.name] = int(status["epoch"])
            self.record.leader_claims.append((time.time(), claims))
            self._stop.wait(0.25)

    def _client_loop(self) -> None:
        """A request through HAProxy every ~10 ms; who answered ("served by NAME")."""
        while not self._stop.is_set():
            sent = time.time()
            try:
                with urllib.request.urlopen(self.soak.proxy.url + "/", timeout=2) as answer:
                    body = answer.read().decode()
            except (urllib.error.URLError, OSError):
                body = ""
            name = body.strip().removeprefix("served by ")
            self.record.answers.append(Answer(sent, time.time(),
                                              name if name in MEMBERS else None))
            self._stop.wait(0.01)

    def _poll_agent(self) -> None:
        while not self._stop.is_set():
            at = time.time()
            try:  # a 503 (not healthy) still names the applied route
                web = self.soak.agent.healthz()[1]["services"]["web"]
            except (OSError, ValueError, KeyError, TypeError):  # a sample that names none
                web = {}
            self.record.applied.append(Applied(at, web.get("primary"), web.get("version")))
            self._stop.wait(0.02)

    def _on_requests(self, path: str, children: list[str]) -> None:  # kazoo thread
        for child in set(children) - self._watched:
            self._watched.add(child)
            self._zk.DataWatch(f"{path}/{child}", self._keeper(child))

    def _keeper(self, child: str) -> Callable[[bytes | None, Any], bool]:
        # Exactly two parameters: kazoo hands a three-parameter callback the event too.
        def seen(data: bytes | None, stat: Any) -> bool:
            at = time.time()
            if data:
                self.record.request_records[child] = json.loads(data)
            self.record.accounted.append(checker.switchover_accounts(
                at, child, Switchover.from_json(data) if data else None))
            return stat is not None  # stop watching once it is deleted

        return seen

    def _on_decision(self, data: bytes | None, stat: Any) -> None:  # kazoo thread
        if data:
            at, decided = time.time(), Decided.from_json(data)
            self.record.zk_seen.append(Seen("zookeeper", at, decided.primary, decided.epoch,
                                            decided.version))
            self.record.accounted.append(checker.decision_accounts(at, decided))


class Soak:
    def __init__(self, box: Sandbox, seed: int, links: SoakLinks) -> None:
        self.box, self.rng, self.seed, self.links = box, random.Random(seed), seed, links
        self.record = Record()
        self.zks: list[ZooKeeper] = box.zookeeper_ensemble(3, hosts=links.zk_hosts)
        self.zk_hosts = ",".join(z.hosts for z in self.zks)
        self.redis: Redis = box.redis(host=links.redis_host)
        self.webs: dict[str, Web] = {name: box.web(name, host=links.member_host(name))
                                     for name in MEMBERS}
        self.controllers: list[Controller] = []
        for i in range(REPLICAS):
            node = f"c{i}"
            zk_via = ",".join(_joined(links.endpoint(i, f"zk{j}", zk.host, zk.port))
                              for j, zk in enumerate(self.zks))
            members = []
            for rank, (name, web) in enumerate(self.webs.items()):
                via = "http://" + _joined(links.endpoint(i, name, web.host, web.port))
                members.append({
                    "name": name, "address": web.address, "priority": 100 - rank * 10,
                    "probe": {"kind": "http", "url": f"{via}/healthz"},
                    "promote": {"kind": "http", "url": f"{via}/promote?epoch={{epoch}}&seq={{seq}}",
                                "timeout": 2.0},
                    "fence": {"kind": "http", "url": f"{via}/fence?epoch={{epoch}}&seq={{seq}}",
                              "timeout": 1.0}})
            config = controller_config(zk_via, self.redis.url, CLUSTER,
                                       [{"name": "web", "policy": POLICY, "members": members}],
                                       node, session_timeout=SESSION_TIMEOUT,
                                       api_host=links.api_host(i))
            self.controllers.append(box.controller(f"soak-{node}", config,
                                                   wrap=links.wrap(i)))
        wait_for(lambda: self._route().get("primary") == "web-a", 60, "the first route")
        self.converged()
        self.proxy, self.agent = self._haproxy_with_agent(box)
        self.observer = Observer(self)

    def _haproxy_with_agent(self, box: Sandbox) -> tuple[Haproxy, Agent]:
        """HAProxy (listening on loopback) in front of the members, and its agent. As in
        examples/haproxy.cfg, the standbys start `disabled`."""
        proxy = box.haproxy("web", {name: web.address + ("" if name == "web-a" else " disabled")
                                    for name, web in self.webs.items()})
        agent = box.haproxy_agent("soak-haproxy-agent", self.redis.url, proxy,
                                  resync_interval=0.5)

        def applied() -> bool:
            status, body = agent.healthz()
            return status == 200 and body["services"]["web"]["primary"] == "web-a"

        wait_for(applied, 30, "the HAProxy agent to apply the first route")
        return proxy, agent

    # --- looking --------------------------------------------------------------------------

    def _route(self) -> dict[str, str]:
        try:
            route: dict[str, str] = self.redis.command("HGETALL", "failover:route:web")
            return route
        except Exception:
            return {}

    @staticmethod
    def status(c: Controller) -> dict[str, Any] | None:
        if not c.process.alive():
            return None
        try:
            return c.status()
        except (OSError, ValueError):
            return None

    def converged(self) -> bool:
        """One leader that every replica names, Redis equal to ZooKeeper, the route on a
        member that the leader sees healthy, and no switchover still running."""
        statuses = [self.status(c) for c in self.controllers]
        if any(s is None for s in statuses):
            return False
        leaders = [s for s in statuses if s and s["leader"]]
        if len(leaders) != 1:
            return False
        leader = leaders[0]
        if {s["leader_node"] for s in statuses if s} != {leader["node"]}:
            return False
        service = leader["services"]["web"]
        route = self._route()
        if not route or route.get("primary") != service["primary"] or \
                int(route.get("version", -1)) != service["version"] or \
                int(route.get("epoch", -1)) != leader["epoch"]:
            return False
        if service["members"][route["primary"]]["health"] != "healthy":
            return False
        return not any(r["phase"] not in checker.TERMINAL and r["phase"] != "scheduled"
                       for r in service["switchovers"])

    # --- the nemesis ----------------------------------------------------------------------

    def faults(self) -> dict[str, Callable[[], Callable[[], None]]]:
        """Each fault applies itself and returns the function that heals it."""
        return {
            "kill_controller": self._kill_controller,
            "freeze_controller": self._freeze_controller,
            "kill_member": self._kill_member,
            "slow_member": lambda: self._member_mode("slow"),
            "readonly_member": lambda: self._member_mode("error"),
            "flap_member": self._flap_member,
            "restart_redis": self._restart_redis,
            "flushall_redis": self._flushall,
            "kill_zookeeper_node": lambda: self._kill_zookeeper(leader=False),
            "kill_zookeeper_leader": lambda: self._kill_zookeeper(leader=True),
            "cut_controller_from_zookeeper": self._cut_from_zookeeper,
            "cut_controller_from_member": self._cut_from_member,
            "kill_leader_mid_switchover": self._kill_leader_mid_switchover,
            # Compositions that broke the invariants before the office gate and fresh views.
            "slow_fence_hooks": self._slow_fence_hooks,
            "freeze_leader_mid_hook": self._freeze_leader_mid_hook,
            "freeze_follower_after_vote": self._freeze_follower_after_vote,
            "flushall_as_old_leader_wakes": self._flushall_as_old_leader_wakes,
        }

    def _leader(self) -> tuple[Controller, dict[str, Any]]:
        """The live replica that says it leads, and its status."""
        for c in self.controllers:
            status = self.status(c) if c.process.alive() else None
            if status and status["leader"]:
                return c, status
        raise SandboxError("no leader to apply the fault to")

    @staticmethod
    def _node(c: Controller) -> str:
        return c.name.removeprefix("soak-")

    def _slow_fence_hooks(self) -> Callable[[], None]:
        """One member's hooks answer late, sometimes past the fence timeout."""
        web = self.webs[self.rng.choice(MEMBERS)]
        web.control(hook_delay=self.rng.uniform(0.3, 1.5))
        return lambda: self._control_quietly(web, hook_delay=0.0)

    def _freeze_leader_mid_hook(self) -> Callable[[], None]:
        """The primary fails with a slow fence hook; the leader is frozen once the fence
        has reached it, and thawed past its session timeout: its next hook must never go
        out after the next leader's."""
        leader, status = self._leader()
        web = self.webs[status["services"]["web"]["primary"]]
        fences = len(web.calls("fence"))
        web.control(mode="error", hook_delay=0.8)
        try:
            wait_for(lambda: len(web.calls("fence")) > fences, 5, "a fence of the primary")
        except SandboxError:  # no failover began (quorum, cooldown): not this fault
            self._control_quietly(web, mode="ok", hook_delay=0.0)
            raise
        leader.process.signal(signal.SIGSTOP)
        thaw = self._thaw_later(leader)

        def heal() -> None:
            thaw()
            self._control_quietly(web, mode="ok", hook_delay=0.0)

        return heal

    def _freeze_follower_after_vote(self) -> Callable[[], None]:
        """A follower alone sees the primary failing, the leader has its vote, and it is
        frozen: its vote must stop counting long before its session expires."""
        leader, status = self._leader()
        follower = self.rng.choice([c for c in self.controllers
                                    if c is not leader and c.process.alive()])
        primary = status["services"]["web"]["primary"]
        web, node = self.webs[primary], self._node(follower)

        def voted() -> bool:
            seen = self.status(leader) or {}
            views = seen.get("services", {}).get("web", {}).get("members", {}).get(
                primary, {}).get("views", {})
            return views.get(node) in ("degraded", "down")

        web.control(fail_for=[node])
        try:
            wait_for(voted, 5, "the leader to hear the follower's failing vote")
        except SandboxError:
            self._control_quietly(web, fail_for=[])
            raise
        follower.process.signal(signal.SIGSTOP)
        thaw = self._thaw_later(follower)

        def heal() -> None:
            thaw()
            self._control_quietly(web, fail_for=[])

        return heal

    def _flushall_as_old_leader_wakes(self) -> Callable[[], None]:
        """Freeze the leader until another leads, then wipe Redis and wake it at once: the
        woken one must not restore its older route."""
        leader, _ = self._leader()
        leader.process.signal(signal.SIGSTOP)
        try:
            wait_for(lambda: any((self.status(c) or {}).get("leader")
                                 for c in self.controllers
                                 if c is not leader and c.process.alive()),
                     SESSION_TIMEOUT + 10, "another leader")
            self.redis.command("FLUSHALL")
        finally:
            leader.process.signal(signal.SIGCONT)
        return lambda: None

    def _kill_controller(self) -> Callable[[], None]:
        victim = self.rng.choice([c for c in self.controllers if c.process.alive()])
        victim.process.kill()
        return victim.process.start

    def _kill_leader_mid_switchover(self) -> Callable[[], None]:
        """A follower takes a switchover and the leader is killed -9 a few milliseconds
        into it (mostly within fence, wait, promote and commit; sometimes in the verify
        window): the next leader must finish the request or fail it with a reason."""
        statuses = {c.name: self.status(c) for c in self.controllers if c.process.alive()}
        leader = self.rng.choice([c for c in self.controllers
                                  if (statuses.get(c.name) or {}).get("leader")])
        follower = self.rng.choice([c for c in self.controllers
                                    if c is not leader and statuses.get(c.name)])
        primary = statuses[leader.name]["services"]["web"]["primary"]
        to = self.rng.choice([m for m in MEMBERS if m != primary])
        delay = self.rng.uniform(0.0, 0.04) if self.rng.random() < 0.75 else \
            self.rng.uniform(0.04, 1.0)
        status, answer = follower.call("POST", "/v1/services/web/switchover", {"to": to},
                                       timeout=3)
        if status == 202:
            self.record.requests[answer["id"]] = follower.name
            time.sleep(delay)
        else:
            self.record.refused[f"switchover: {status} {answer.get('error')}"] += 1
        leader.process.kill()
        return leader.process.start

    def _freeze_controller(self) -> Callable[[], None]:
        victim = self.rng.choice([c for c in self.controllers if c.process.alive()])
        victim.process.signal(signal.SIGSTOP)
        return self._thaw_later(victim)

    @staticmethod
    def _thaw_later(victim: Controller) -> Callable[[], None]:
        """The heal of a freeze: past the session timeout, so the session expires meanwhile."""
        frozen_at = time.monotonic()

        def thaw() -> None:
            time.sleep(max(0.0, SESSION_TIMEOUT + 1.0 - (time.monotonic() - frozen_at)))
            victim.process.signal(signal.SIGCONT)

        return thaw

    def _kill_member(self) -> Callable[[], None]:
        web = self.webs[self.rng.choice(MEMBERS)]
        web.process.kill()
        return web.restart

    def _member_mode(self, mode: str) -> Callable[[], None]:
        web = self.webs[self.rng.choice(MEMBERS)]
        try:
            web.set_mode(mode, delay=0.4)
        except OSError:
            return lambda: None  # it is down already (another fault)
        return lambda: self._set_ok(web)

    def _set_ok(self, web: Web) -> None:
        try:
            web.set_mode("ok")
        except OSError:
            pass

    @staticmethod
    def _control_quietly(web: Web, **fields: Any) -> None:
        """A heal: a member that is down meanwhile (another fault) comes back as it was."""
        with contextlib.suppress(OSError):
            web.control(**fields)

    def _flap_member(self) -> Callable[[], None]:
        web = self.webs[self.rng.choice(MEMBERS)]
        stop = threading.Event()
        period = self.rng.uniform(0.15, 0.6)

        def flap() -> None:
            bad = True
            while not stop.is_set():
                try:
                    web.set_mode("error" if bad else "ok")
                except OSError:
                    pass
                bad = not bad
                stop.wait(period)

        thread = threading.Thread(target=flap, daemon=True)
        thread.start()

        def heal() -> None:
            stop.set()
            thread.join(5)
            self._set_ok(web)

        return heal

    def _restart_redis(self) -> Callable[[], None]:
        self.redis.restart()
        return lambda: None

    def _flushall(self) -> Callable[[], None]:
        self.redis.command("FLUSHALL")  # a failure is recorded as "not applied", not counted
        return lambda: None

    def _kill_zookeeper(self, leader: bool) -> Callable[[], None]:
        alive = [z for z in self.zks if z.process.alive()]
        if leader:
            alive = [z for z in alive if z.mode() == "leader"] or alive
        victim = self.rng.choice(alive)
        victim.process.kill()
        return victim.process.start

    def _cut_from_zookeeper(self) -> Callable[[], None]:
        node, names = self.rng.randrange(REPLICAS), [f"zk{j}" for j in range(len(self.zks))]
        self.links.cut(node, names)
        return lambda: self.links.heal(node, names)

    def _cut_from_member(self) -> Callable[[], None]:
        node, names = self.rng.randrange(REPLICAS), [self.rng.choice(MEMBERS)]
        self.links.cut(node, names)
        return lambda: self.links.heal(node, names)

    def _operator(self) -> None:
        """A switchover or a pause, asked of any live replica in the middle of faults."""
        api = self.rng.choice(self.controllers)
        if self.rng.random() < 0.7:
            body: dict[str, Any] = {}
            if self.rng.random() < 0.7:
                body["to"] = self.rng.choice(MEMBERS)
            kind, path = "switchover", "/v1/services/web/switchover"
        else:
            body, kind, path = {"for": self.rng.choice([1, 2, 3])}, "pause", \
                "/v1/services/web/pause"
        try:
            status, answer = api.call("POST", path, body, timeout=3)
        except OSError:
            self.record.notes.append(f"{kind} not taken: {api.name} unreachable")
            return
        self.record.faults[f"operator_{kind}"] += 1
        if kind == "switchover" and status == 202:
            self.record.requests[answer["id"]] = api.name
        elif status >= 400:
            reason = (answer.get("detail") or {}).get("reason") if isinstance(
                answer.get("detail"), dict) else answer.get("error")
            self.record.refused[f"{kind}: {status} {reason}"] += 1

    def round(self, number: int) -> None:
        pool = self.faults()
        heals = []
        for kind in self.rng.sample(sorted(pool), self.rng.choice([1, 1, 2])):
            try:
                heals.append(pool[kind]())
                self.record.faults[kind] += 1
            except (SandboxError, OSError, IndexError, redis.RedisError) as exc:
                self.record.notes.append(f"round {number}: {kind} not applied: {exc}")
        if self.rng.random() < 0.4:
            time.sleep(self.rng.uniform(0.2, 1.5))
            self._operator()
        time.sleep(self.rng.uniform(1.0, 5.0))
        for heal in reversed(heals):
            heal()
        healed = time.monotonic()
        try:
            wait_for(self.converged, CONVERGE_BOUND * 2, "convergence", interval=0.05)
            self.record.converge.append((number, time.monotonic() - healed))
        except SandboxError:
            self.record.converge.append((number, None))
            self.record.notes.append(f"round {number}: no convergence; statuses "
                                     f"{[self.status(c) for c in self.controllers]}")

    def dump_logs(self) -> None:
        """The end of each controller's log on stderr; every controller's whole log and
        every member's hook calls in ./soak-logs/, to explain a violation afterwards."""
        kept = Path("soak-logs")
        with contextlib.suppress(OSError):
            kept.mkdir(exist_ok=True)
        for c in self.controllers:
            print(f"===== {c.name}\n{c.process.output()[-6000:]}", file=sys.stderr)
            with contextlib.suppress(OSError):
                (kept / f"{c.name}.log").write_text(c.process.output())
        for name, web in self.webs.items():
            with contextlib.suppress(OSError):
                (kept / f"{name}.calls").write_text(
                    web.calls_path.read_text() if web.calls_path.exists() else "")
        print(f"soak: whole logs and hook calls kept in {kept.resolve()}", file=sys.stderr)

    # --- the end --------------------------------------------------------------------------

    def collect(self) -> list[str]:
        def all_seen_ending() -> bool:
            records = self.record.request_records
            return all(records.get(r, {}).get("phase") in checker.TERMINAL
                       for r in self.record.requests)

        with contextlib.suppress(SandboxError):  # if not, the checker says which
            wait_for(all_seen_ending, 10, "the watch to see every request end")
        self.observer.stop()
        seen = [*self.record.redis_seen, *self.record.pubsub_seen, *self.record.zk_seen,
                *self._history()]
        violations = checker.one_primary_per_version(seen)
        for reader in (self.record.redis_seen, self.record.pubsub_seen, self.record.zk_seen):
            violations += checker.never_goes_back(reader)
        violations += checker.distinct_leader_epochs(self.record.leader_claims)
        promotes, fences = self.calls("promote"), self.calls("fence")
        hooks = [e for c in self.controllers for e in c.events(Event.HOOK_STARTED)]
        violations += checker.promotions_were_healthy(promotes, hooks)
        violations += checker.calls_were_logged(fences, hooks, "fence")
        received = {name: web.calls() for name, web in self.webs.items()}
        went_down, late = checker.hook_epochs_never_go_down(received)
        violations += went_down
        self.record.late_hooks_refused = late
        violations += checker.promotes_accounted_for(
            {name: checker.taken_hooks(calls) for name, calls in received.items()},
            self.record.accounted, checker.unwatched(self.record.zk_states),
            self.record.watched_until)
        self.record.calls = {"promote": len(promotes), "fence": len(fences)}
        violations += checker.requests_ended(self._final_requests())
        violations += checker.converged_in_time(self.record.converge, CONVERGE_BOUND)
        violations += checker.answers_from_routed(self.held_answers())
        return violations

    def held_answers(self) -> list[tuple[Answer, Applied]]:
        changes = [s.at for s in (*self.record.redis_seen, *self.record.pubsub_seen)]
        return checker.held_answers(self.record.answers, self.record.applied, changes)

    def calls(self, hook: str) -> list[dict[str, Any]]:
        """Every ``hook`` call the members received (they outlive kill -9: a file each)."""
        return [{**call, "member": name} for name, web in self.webs.items()
                for call in web.calls(hook)]

    def _history(self) -> list[Seen]:
        """route_changed entries still in the stream (FLUSHALL and restarts lose some)."""
        try:
            entries = self.redis.command("XRANGE", "failover:history:web", "-", "+")
        except Exception:
            return []
        out = []
        for _, fields in entries:  # redis-py gives each entry's fields as a dict
            if fields.get("event") == "route_changed":
                out.append(Seen("history", float(fields["at"]), fields["primary"],
                                int(fields["epoch"]), int(fields["version"])))
        return out

    def _final_requests(self) -> dict[str, dict[str, Any] | None]:
        """Each accepted request as ZooKeeper last held it (watched all along; a record
        pruned after it ended was seen ended), or None if it never appeared there."""
        return {request_id: self.record.request_records.get(request_id)
                for request_id in self.record.requests}


def _joined(endpoint: tuple[str, int]) -> str:
    return f"{endpoint[0]}:{endpoint[1]}"


def summarize(soak: Soak, seconds: float, violations: list[str]) -> dict[str, Any]:
    record = soak.record
    took = sorted(t for _, t in record.converge if t is not None)
    reasons: Counter[str] = Counter()
    resumed: Counter[str] = Counter()  # switchovers a new leader took over, by phase
    for c in soak.controllers:
        for e in c.events():
            if e.get("event") in (Event.FAILOVER_DONE, Event.SWITCHOVER_DONE,
                                  Event.SWITCHOVER_FAILED):
                reasons[e["event"]] += 1
            elif e.get("event") == Event.SWITCHOVER_RESUMED:
                resumed[str(e.get("phase"))] += 1
    pct = (lambda p: took[min(len(took) - 1, round(p / 100 * (len(took) - 1)))]) if took \
        else (lambda p: float("nan"))
    return {
        "seed": soak.seed, "seconds": round(seconds), "rounds": len(record.converge),
        "faults": dict(sorted(record.faults.items())),
        "failovers": reasons["failover_done"],
        "switchovers": {"done": reasons["switchover_done"],
                        "failed": reasons["switchover_failed"],
                        "refused_at_request": sum(v for k, v in record.refused.items()
                                                  if k.startswith("switchover")),
                        "resumed_by_next_leader": dict(sorted(resumed.items()))},
        "requests": len(record.requests),
        "hook_calls": record.calls,
        "route_versions_seen": len({s.version for s in record.zk_seen}),
        "converge_s": {"p50": round(pct(50), 2), "p99": round(pct(99), 2),
                       "max": round(max(took), 2) if took else None,
                       "mean": round(statistics.fmean(took), 2) if took else None,
                       "bound": CONVERGE_BOUND},
        "observations": {"redis": len(record.redis_seen), "pubsub": len(record.pubsub_seen),
                         "zookeeper": len(record.zk_seen),
                         "zookeeper_accounting": len(record.accounted),
                         "zookeeper_unwatched": sum(  # not the close at the end
                             1 for start, _ in checker.unwatched(record.zk_states)
                             if start < record.watched_until),
                         "leader_samples": len(record.leader_claims)},
        "traffic": {"requests": len(record.answers),
                    "answered_by": dict(sorted(Counter(
                        a.member or "failed" for a in record.answers).items())),
                    "held_to_the_applied_route": len(soak.held_answers()),
                    "agent_samples": len(record.applied)},
        "partitions": soak.links.description,
        "violations": violations,
        "late_hooks_refused": record.late_hooks_refused,
        "notes": record.notes[-20:],
    }


def run(seconds: float, seed: int, partitions: str = "auto") -> dict[str, Any]:
    """Run the soak; ``partitions``: auto (namespaces where they work), netns or proxy."""
    why = "proxies asked for" if partitions == "proxy" else netns.unavailable()
    if why is None:
        return _run_in_namespaces(seconds, seed)
    if partitions == "netns":
        raise SystemExit(f"soak: network namespaces unavailable: {why}")
    print(f"soak: network namespaces unavailable ({why}): link cuts go through proxies",
          flush=True)
    return _run(seconds, seed, ProxyLinks(why))


def _run_in_namespaces(seconds: float, seed: int) -> dict[str, Any]:
    """Make the namespaces, run the soak inside the hub, and always remove them."""
    links = NamespaceLinks(f"{os.getpid() % 100000}", REPLICAS)
    links.destroy()  # leftovers of an earlier run that died with this pid
    links.create(members=len(MEMBERS))
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        out = Path(tmp) / "summary.json"
        # A session of its own: a Ctrl-C to our group reaches it once, forwarded below.
        inner = subprocess.Popen(
            ["ip", "netns", "exec", links.hub, sys.executable, "-m", "tests.soak.soak",
             "--inside", links.tag, "--seconds", str(seconds), "--seed", str(seed),
             "--json", str(out)], start_new_session=True)
        try:
            code = inner.wait(timeout=seconds + 900)
        except BaseException:
            # Interrupted (or overdue): let the inner soak stop its own servers first, or
            # they would outlive the namespaces they run in.
            inner.send_signal(signal.SIGINT)
            try:
                inner.wait(60)
            except subprocess.TimeoutExpired:
                inner.kill()
            raise
        finally:
            links.destroy()
        if not out.exists():
            raise RuntimeError(f"the soak inside the namespaces ended {code} without a summary")
        summary: dict[str, Any] = json.loads(out.read_text())
        return summary


def _run(seconds: float, seed: int, links: SoakLinks) -> dict[str, Any]:
    started = time.monotonic()
    with Sandbox() as box:
        soak = Soak(box, seed, links)
        try:
            number = 0
            while time.monotonic() - started < seconds:
                number += 1
                soak.round(number)
            violations = soak.collect()
            summary = summarize(soak, time.monotonic() - started, violations)
            if violations:
                soak.dump_logs()
            return summary
        except BaseException:
            soak.dump_logs()
            raise
        finally:
            links.close()


def _interrupt_once(signum: int, frame: object) -> None:
    """Unwind on the first SIGINT or SIGTERM, and let nothing interrupt the unwinding: the
    sandbox must stop every server it started before the namespaces go."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--partitions", choices=("auto", "netns", "proxy"), default="auto")
    parser.add_argument("--json", metavar="FILE", help="also write the summary here")
    parser.add_argument("--inside", metavar="TAG", help=argparse.SUPPRESS)  # in the hub
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    if args.inside:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt_once)
        summary = _run(args.seconds, seed, NamespaceLinks(args.inside, REPLICAS))
        Path(args.json).write_text(json.dumps(summary, indent=2))
        return 0
    print(f"soak: seed {seed}, {args.seconds:g} s", flush=True)
    summary = run(args.seconds, seed, args.partitions)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    verdict = "PASS" if not summary["violations"] else "FAIL"
    print(f"soak {verdict}: {len(summary['violations'])} violations in {summary['rounds']} "
          f"rounds, seed {seed}")
    return 0 if not summary["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
