"""What a client sees during a failover, through real proxies on this machine.

One controller (interval 0.1 s, fast_interval 0.025 s, fall 3) and two web members, behind
three proxies, each under its own steady client load (one request every ~5 ms):
  haproxy+agent   HAProxy whose servers `failoverctl agent haproxy` switches
  traefik         Traefik reading the route from Redis (no agent)
  haproxy alone   HAProxy with `check inter 100ms fall 3` and web-b as `backup`, for comparison
Each run kill -9s the routed primary and reports, per proxy: disruption (kill to the first
answer from the standby), failed requests in between, and the longest request. It also
measures Redis write -> HAProxy applied (the agent's work: PUBLISH seen -> server ready).
HAProxy alone fails back to web-a by itself, so it is measured on the runs that kill web-a.

    python bench/traffic.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

from controller.devtools.sandbox import (  # noqa: E402
    Controller,
    Haproxy,
    Sandbox,
    Web,
    controller_config,
    wait_for,
)


class Load(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.log: list[tuple[float, float, str]] = []  # (start, latency, body or ERROR)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    body = response.read().decode().strip()
            except (urllib.error.URLError, OSError) as exc:
                body = f"ERROR {type(exc).__name__}"
            self.log.append((started, time.monotonic() - started, body))
            self.stopping.wait(0.005)

    def measure(self, killed: float, standby_body: str) -> tuple[float, int, float] | None:
        """(disruption ms, failed requests, longest request ms) after ``killed``."""
        window = [entry for entry in list(self.log) if entry[0] + entry[1] >= killed]
        first = next((e for e in window if e[2] == standby_body), None)
        if first is None:
            return None
        until = first[0] + first[1]
        during = [e for e in window if e[0] <= until]
        failed = sum(1 for e in during if e[2].startswith("ERROR") or "served by" not in e[2])
        return (until - killed) * 1000, failed, max(e[1] for e in during) * 1000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(name: str, results: list[tuple[float, int, float]]) -> str:
    if not results:
        return f"{name:<15} no runs"
    disruption = [r[0] for r in results]
    failed = [r[1] for r in results]
    longest = [r[2] for r in results]
    return (f"{name:<15} n={len(results):<3} disruption p50 {pct(disruption, 50):6.1f} ms "
            f"p99 {pct(disruption, 99):6.1f} ms | failed requests p50 {pct(failed, 50):.0f} "
            f"max {max(failed)} | longest request max {max(longest):6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    policy = {"interval": 0.1, "fast_interval": 0.025, "timeout": 0.5,
              "degraded_latency": 0.25, "fall": 3, "rise": 2, "cooldown": 0}
    with Sandbox() as box:
        zk = box.zookeeper()
        server = box.redis(extra=("--notify-keyspace-events", "KEA"))
        webs = {"web-a": box.web("web-a"), "web-b": box.web("web-b")}
        members = [webs["web-a"].member(100), webs["web-b"].member(50)]
        service = {"name": "web", "policy": policy, "members": members,
                   "traefik": {"service": "web"}}
        controller = box.controller("c1", controller_config(zk, server.url, "traffic",
                                                            [service], "c1"))
        client = redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
        wait_for(lambda: client.hget("failover:route:web", "primary") == "web-a", 30, "route")
        for key, value in {"traefik/http/routers/web/rule": "PathPrefix(`/`)",
                           "traefik/http/routers/web/service": "web",
                           "traefik/http/routers/web/entryPoints/0": "web"}.items():
            client.set(key, value)
        agented = box.haproxy("web", {n: w.address for n, w in webs.items()})
        box.haproxy_agent("agent", server.url, agented)
        alone = haproxy_alone(box, webs)
        traefik = box.traefik(server)
        loads = {"haproxy+agent": Load(agented.url + "/"), "traefik": Load(traefik.url + "/"),
                 "haproxy alone": Load(alone.url + "/")}
        for load in loads.values():
            load.start()
        wait_for(lambda: all(any("served by" in e[2] for e in load.log[-5:])
                             for load in loads.values()), 30, "every proxy answers")
        results: dict[str, list[tuple[float, int, float]]] = {name: [] for name in loads}
        apply_ms: list[float] = []
        for run in range(args.runs):
            primary = client.hget("failover:route:web", "primary")
            assert isinstance(primary, str)
            standby = "web-b" if primary == "web-a" else "web-a"
            settle(controller, webs, agented, primary)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe("failover:route:web")
            wait_for(lambda p=pubsub: p.subscribed, 5, "subscribed")
            killed = time.monotonic()
            webs[primary].process.kill()
            published = wait_published(pubsub, standby)
            wait_for(lambda s=standby: agented.serving("web") == {s}, 5, "agent applied",
                     interval=0.0005)
            apply_ms.append((time.monotonic() - published) * 1000)
            pubsub.close()
            body = f"served by {webs[standby].name}"
            measured = {}
            for name, load in loads.items():
                if name == "haproxy alone" and primary != "web-a":
                    continue
                measured[name] = wait_for(
                    lambda ld=load, k=killed, b=body: ld.measure(k, b), 10,
                    f"{name} to answer from {standby}")
                results[name].append(measured[name])
            print(f"run {run + 1:2} kill {primary}: " + ", ".join(
                f"{n} {m[0]:.0f} ms/{m[1]} failed" for n, m in measured.items()),
                file=sys.stderr)
            webs[primary].process.start()
            webs[primary].wait_ready()
        for load in loads.values():
            load.stopping.set()
    print(f"traffic: {args.runs} kills of the primary; interval 0.1 s, fast_interval 0.025 s, "
          "fall 3; ~5 ms between requests per proxy")
    for name, measured in results.items():
        print(line(name, measured))
    print(f"{'redis->haproxy':<15} n={len(apply_ms):<3} p50 {pct(apply_ms, 50):6.2f} ms "
          f"p99 {pct(apply_ms, 99):6.2f} ms max {max(apply_ms):6.2f} ms "
          f"mean {statistics.fmean(apply_ms):6.2f} ms")
    return 0


def haproxy_alone(box: Sandbox, webs: dict[str, Web]) -> Haproxy:
    proxy = box.haproxy("web", {"web-a": webs["web-a"].address + " check inter 100ms fall 3",
                                "web-b": webs["web-b"].address
                                + " check inter 100ms fall 3 backup"})
    return proxy


def settle(controller: Controller, webs: dict[str, Web], agented: Haproxy, primary: str) -> None:
    """Both members healthy in the controller's view, the agent's HAProxy on the primary."""
    def both_healthy() -> bool:
        members = controller.status()["services"]["web"]["members"]
        return all(m["health"] == "healthy" for m in members.values())

    wait_for(both_healthy, 15, "both members healthy")
    wait_for(lambda: agented.serving("web") == {primary}, 10, "agent on the primary")
    time.sleep(0.3)  # let the plain HAProxy's own checks see the restarted server (3 x 100 ms)


def wait_published(pubsub: redis.client.PubSub, standby: str) -> float:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
        if message and json.loads(message["data"])["primary"] == standby:
            return time.monotonic()
    raise SystemExit("no route change within 5 s")


if __name__ == "__main__":
    sys.exit(main())
