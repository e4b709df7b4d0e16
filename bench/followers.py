"""From a route's write to every follower having applied it, with real ZooKeeper, Redis,
HAProxy and a controller on this machine.

One controller (interval 0.1 s) and two web members; --agents HAProxys, each with its own
`failoverctl agent haproxy` (named agent-1...), and --watchers RouteWatchers in this process
(named app-1...), every one acknowledging in `failover:applied:web`. Over --runs planned
switchovers (alternating web-a <-> web-b, through the API) it measures:
  all applied     the route's PUBLISH (this script subscribes) -> the last follower's
                  acknowledged apply time (`at`) for the new version
  agent / watcher the same per follower, by kind (an agent's ack waits for HAProxy's
                  read-back; a watcher's for its callbacks)
  history         what the controller recorded in its `followers_applied` entry: each
                  follower's `took`, from the decision's time (before the ZooKeeper commit)
All on one clock: the followers run on this machine.

    python bench/followers.py --runs 20 --agents 2 --watchers 2
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from bench.failover import percentile, start_cluster  # noqa: E402
from bench.switchover import wait_published  # noqa: E402
from controller.devtools.sandbox import Sandbox, wait_for  # noqa: E402
from controller.followers.watcher import RouteWatcher  # noqa: E402


def summary(name: str, values: list[float]) -> str:
    return (f"{name:<14} n={len(values):<3} p50 {percentile(values, 50):7.1f} ms   "
            f"p99 {percentile(values, 99):7.1f} ms   max {max(values):7.1f} ms   "
            f"mean {statistics.fmean(values):7.1f} ms")


class Watchers(threading.Thread):
    """RouteWatchers on their own event loop, as applications would run them."""

    def __init__(self, url: str, count: int) -> None:
        super().__init__(daemon=True)
        self.url, self.count = url, count
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.watchers: list[RouteWatcher] = []

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.watchers = [RouteWatcher(self.url, ["web"], name=f"app-{i + 1}")
                         for i in range(self.count)]
        self.loop.run_until_complete(asyncio.gather(*(w.start() for w in self.watchers)))
        self.started.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def close() -> None:
            await asyncio.gather(*(w.close() for w in self.watchers))
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


def acks(client: Any) -> dict[str, dict[str, Any]]:
    return {name: json.loads(value)
            for name, value in client.hgetall("failover:applied:web").items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--watchers", type=int, default=2)
    args = parser.parse_args()
    policy = {"interval": 0.1, "fast_interval": 0.025, "timeout": 0.5,
              "degraded_latency": 0.25, "fall": 3, "rise": 2, "cooldown": 0,
              "verify_window": 0.5, "ready_timeout": 5.0}
    with Sandbox() as box:
        server = box.redis()
        client, webs, _, controllers = start_cluster(box, policy, 1, server=server)
        api = next(iter(controllers.values()))
        servers = {name: web.address for name, web in webs.items()}
        agents = [box.haproxy_agent(f"agent-{i + 1}", server.url, box.haproxy("web", servers))
                  for i in range(args.agents)]
        url = server.url
        watchers = Watchers(url, args.watchers)
        watchers.start()
        watchers.started.wait(30)
        names = {f"agent-{i + 1}" for i in range(args.agents)} | {
            f"app-{i + 1}" for i in range(args.watchers)}
        wait_for(lambda: set(acks(client)) >= names, 30, "every follower's first ack")
        wait_for(lambda: all(c.status()["services"]["web"]["members"][m]["health"] == "healthy"
                             for c in controllers.values() for m in webs), 15,
                 "every member healthy")
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("failover:route:web")
        all_applied: list[float] = []
        by_kind: dict[str, list[float]] = {"agent": [], "watcher": []}
        history: list[float] = []
        primary = "web-a"
        for _ in range(args.runs):
            target = "web-b" if primary == "web-a" else "web-a"
            status, record = api.call("POST", "/v1/services/web/switchover", {"to": target})
            if status != 202:
                raise SystemExit(f"switchover refused: {status} {record}")
            published = wait_published(pubsub, target)
            version = int(client.hget("failover:route:web", "version") or 0)
            def applied(v: int = version) -> dict[str, dict[str, Any]]:
                a = acks(client)  # {}: not yet
                return a if all(a.get(n, {}).get("version", 0) >= v for n in names) else {}
            seen: dict[str, dict[str, Any]] = wait_for(
                functools.partial(applied, version), 15, "every follower to apply the route")
            lags = {n: (seen[n]["at"] - published) * 1000 for n in names}
            all_applied.append(max(lags.values()))
            for name, ms in lags.items():
                by_kind["agent" if name.startswith("agent-") else "watcher"].append(ms)
            path = f"/v1/services/web/switchovers/{record['id']}"

            def ended(p: str = path) -> bool:
                return bool(api.call("GET", p)[1]["phase"] in ("done", "failed"))

            def entry(v: int = version) -> dict[str, Any]:
                entries = api.call("GET", "/v1/services/web/history?count=20")[1]["entries"]
                return next((e for e in entries if e["event"] == "followers_applied"
                             and e.get("version") == v), {})
            wait_for(ended, 30, "the switchover to end")
            found: dict[str, Any] = wait_for(functools.partial(entry, version), 40,
                                             "the followers_applied history entry")
            history += [s * 1000 for s in found["detail"]["took"].values()]
            primary = target
        print(f"$ python bench/followers.py --runs {args.runs} --agents {args.agents} "
              f"--watchers {args.watchers}")
        print(f"followers: {args.agents} HAProxy agent(s), {args.watchers} RouteWatcher(s), "
              f"{args.runs} switchovers, 1 replica")
        print(summary("all applied", all_applied))
        for kind, values in by_kind.items():
            if values:
                print(summary(kind, values))
        print(summary("history took", history))
        watchers.stop()
        for agent in agents:
            agent.process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
