"""Failover speed on this machine, with real ZooKeeper, Redis, web members and controllers.

Measures, over --runs kills:
  kill-to-route   SIGKILL of the primary's process -> the Redis route naming the standby
                  (taken from the route's PUBLISH, received by this script)
  repoint         inside the leader: the probe result that crossed the threshold -> the
                  Redis write returned (the controller's failover_done.repoint_ms)
and over --takeovers each:
  takeover/kill   SIGKILL of the leading controller -> the other replica leads
  takeover/term   SIGTERM of the leading controller -> the other replica leads

    python bench/failover.py --runs 20 --fast-interval 0.025 --replicas 1
    python bench/failover.py --runs 20 --fast-interval 0.025 --replicas 3   # quorum: majority
    python bench/failover.py --runs 20 --fast-interval 0.1 --replicas 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import redis

from controller.devtools.sandbox import (
    Controller,
    Redis,
    Sandbox,
    Web,
    controller_config,
    wait_for,
)
from controller.events import Event


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    return (f"{name:<16} n={len(values):<3} p50 {percentile(values, 50):7.1f} ms   "
            f"p99 {percentile(values, 99):7.1f} ms   max {max(values):7.1f} ms   "
            f"mean {statistics.fmean(values):7.1f} ms")


def start_cluster(box: Sandbox, policy: dict[str, Any], replicas: int,
                  session_timeout: float = 2.0, server: Redis | None = None,
                  traefik: bool = False) -> tuple[redis.Redis, dict[str, Web],
                                                  dict[str, dict[str, Any]],
                                                  dict[str, Controller]]:
    """ZooKeeper, Redis (``server``, or a new one), web-a (the primary) and web-b, and
    controllers r1..rN, which also write the route for Traefik with ``traefik``; returns
    (a Redis client, the members, the controllers' configs, the controllers) once Redis
    routes to web-a."""
    zk, server = box.zookeeper(), server or box.redis()
    webs = {"web-a": box.web("web-a"), "web-b": box.web("web-b")}
    service: dict[str, Any] = {"name": "web", "policy": policy,
                               "members": [webs["web-a"].member(100), webs["web-b"].member(50)]}
    if traefik:
        service["traefik"] = {"service": "web"}
    configs = {name: controller_config(zk, server.url, "bench", [service], name,
                                       session_timeout=session_timeout)
               for name in (f"r{i + 1}" for i in range(replicas))}
    controllers = {name: box.controller(name, cfg) for name, cfg in configs.items()}
    client = redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
    wait_for(lambda: client.hget("failover:route:web", "primary") == "web-a", 30,
             "first route")
    return client, webs, configs, controllers


def member_health(c: Controller, name: str) -> str:
    health: str = c.status()["services"]["web"]["members"][name]["health"]
    return health


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--takeovers", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--fast-interval", type=float, default=0.025)
    parser.add_argument("--fall", type=int, default=3)
    parser.add_argument("--session-timeout", type=float, default=2.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--quorum", default="majority", help="majority, or a number")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    policy = {"interval": args.interval, "fast_interval": args.fast_interval, "timeout": 0.5,
              "degraded_latency": 0.25, "fall": args.fall, "rise": 2, "cooldown": 0,
              "quorum": args.quorum if args.quorum == "majority" else int(args.quorum)}
    with Sandbox() as box:
        client, webs, configs, controllers = start_cluster(box, policy, args.replicas,
                                                           args.session_timeout)

        kill_to_route: list[float] = []
        repoint: list[float] = []
        steps: dict[str, list[float]] = {}
        for run in range(args.runs):
            route_ms, done = one_failover(client, webs, list(controllers.values()))
            kill_to_route.append(route_ms)
            repoint.append(float(done["repoint_ms"]))
            for step in done["steps"]:
                steps.setdefault(step["step"], []).append(float(step["ms"]))
            print(f"run {run + 1:2}: kill-to-route {route_ms:6.1f} ms, "
                  f"repoint {repoint[-1]:5.1f} ms", file=sys.stderr)

        takeovers = args.takeovers if args.replicas > 1 else 0
        takeover_kill = [takeover(controllers, configs, box, kill=True)
                         for _ in range(takeovers)]
        takeover_term = [takeover(controllers, configs, box, kill=False)
                         for _ in range(takeovers)]

    print(f"failover: interval {args.interval} s, fast_interval {args.fast_interval} s, "
          f"fall {args.fall}, {args.replicas} replica(s), quorum {args.quorum}, "
          f"http promote+fence hooks, session timeout {args.session_timeout} s")
    print(summary("kill-to-route", kill_to_route))
    print(summary("repoint", repoint))
    for name, values in steps.items():
        print(summary(f"  step {name}", values))
    if takeovers:
        print(summary("takeover/kill", takeover_kill))
        print(summary("takeover/term", takeover_term))
    return 0


def one_failover(client: redis.Redis, webs: dict[str, Web],
                 controllers: list[Controller]) -> tuple[float, dict[str, Any]]:
    """Kill the routed primary; return (kill-to-route ms, the leader's failover_done)."""
    leader = find_leader(controllers)
    primary = client.hget("failover:route:web", "primary")
    assert isinstance(primary, str)
    standby = "web-b" if primary == "web-a" else "web-a"
    for c in controllers:
        wait_for(lambda c=c: member_health(c, standby) == "healthy"
                 and member_health(c, primary) == "healthy", 10, "both healthy")
    done_before = len(leader.events(Event.FAILOVER_DONE))
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("failover:route:web")
    wait_for(lambda: pubsub.subscribed, 5, "subscribed")
    killed = time.monotonic()
    webs[primary].process.kill()
    deadline = killed + 5.0
    while True:
        # None also stands for an ignored message (the subscribe confirmation).
        message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
        if message is None:
            if time.monotonic() > deadline:
                raise SystemExit("no route change within 5 s")
            continue
        if json.loads(message["data"])["primary"] == standby:
            route_ms = (time.monotonic() - killed) * 1000
            break
    pubsub.close()
    done = wait_for(lambda: leader.events(Event.FAILOVER_DONE)[done_before:], 5,
                    "failover_done in the leader's log")
    webs[primary].process.start()
    webs[primary].wait_ready()
    return route_ms, done[0]


def find_leader(controllers: list[Controller]) -> Controller:
    def leader() -> Controller | None:
        for c in controllers:
            if c.process.alive() and c.status().get("leader"):
                return c
        return None

    return wait_for(leader, 15, "a leader")


def takeover(controllers: dict[str, Controller], configs: dict[str, dict[str, Any]],
             box: Sandbox, kill: bool) -> float:
    leader = find_leader(list(controllers.values()))
    others = [c for c in controllers.values() if c is not leader]
    for other in others:
        wait_for(lambda o=other: o.status()["services"]["web"]["primary"] is not None, 10,
                 "follower")
    started = time.monotonic()
    if kill:
        leader.process.kill()
    else:
        leader.process.signal(15)
    wait_for(lambda: any(o.status()["leader"] for o in others), 30, "takeover",
             interval=0.002)
    elapsed = (time.monotonic() - started) * 1000
    leader.process.stop()
    name = next(n for n, c in controllers.items() if c is leader)
    controllers[name] = box.controller(f"{name}-again-{time.monotonic_ns()}", configs[name])
    wait_for(lambda: controllers[name].status()["services"]["web"]["primary"], 15, "restart")
    print(f"takeover ({'kill -9' if kill else 'SIGTERM'}): {elapsed:.1f} ms", file=sys.stderr)
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
