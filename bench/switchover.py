"""Switchover speed on this machine, with real ZooKeeper, Redis, web members and controllers.

Over --runs planned switchovers (alternating web-a <-> web-b, each asked of a follower's
API, as an operator would) it measures:
  accept          POST .../switchover -> 202 (the request is in ZooKeeper)
  request-route   POST sent -> the Redis route's PUBLISH naming the target (this script
                  subscribes to the channel)
  request-done    POST sent -> the request is done (includes --verify-window)
  step ...        each step as the leader recorded it
and over --rollbacks switchovers to a member that breaks as it is promoted:
  rollback-route  POST sent -> the PUBLISH that puts the old primary back
At the end it runs one switchover through `failoverctl switchover --wait` and prints what an
operator sees.

    python bench/switchover.py --runs 20 --rollbacks 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path, where probes.py would shadow the package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from bench.failover import percentile, start_cluster  # noqa: E402
from controller.devtools.sandbox import TOKEN, Controller, Sandbox, wait_for  # noqa: E402


def summary(name: str, values: list[float]) -> str:
    return (f"{name:<22} n={len(values):<3} p50 {percentile(values, 50):8.1f} ms   "
            f"p99 {percentile(values, 99):8.1f} ms   max {max(values):8.1f} ms   "
            f"mean {statistics.fmean(values):8.1f} ms")


def follower(controllers: list[Controller]) -> Controller:
    return wait_for(lambda: next((c for c in controllers if not c.status()["leader"]), None),
                    10, "a follower")


def wait_published(pubsub: Any, primary: str, timeout: float = 30) -> float:
    """Monotonic time at which a PUBLISH naming ``primary`` arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message" and \
                json.loads(message["data"])["primary"] == primary:
            return time.monotonic()
    raise SystemExit(f"no route to {primary} published within {timeout:g}s")


def run_one(api: Controller, pubsub: Any, target: str,
            expect: str) -> tuple[float, float, float, dict[str, Any]]:
    started = time.monotonic()
    status, record = api.call("POST", "/v1/services/web/switchover", {"to": target})
    accepted = time.monotonic()
    if status != 202:
        raise SystemExit(f"switchover refused: {status} {record}")
    routed = wait_published(pubsub, expect)
    path = f"/v1/services/web/switchovers/{record['id']}"
    final = wait_for(lambda: (r := api.call("GET", path)[1])["phase"] in
                     ("done", "failed") and r, 30, "the switchover to end")
    return ((accepted - started) * 1000, (routed - started) * 1000,
            (time.monotonic() - started) * 1000, final)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rollbacks", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--verify-window", type=float, default=1.0)
    args = parser.parse_args()

    policy = {"interval": 0.1, "fast_interval": 0.025, "timeout": 0.5,
              "degraded_latency": 0.25, "fall": 3, "rise": 2, "cooldown": 0,
              "verify_window": args.verify_window, "ready_timeout": 5.0}
    with Sandbox() as box:
        client, webs, _, by_name = start_cluster(box, policy, args.replicas)
        controllers = list(by_name.values())
        for c in controllers:
            # A follower refuses (no_decision) until it has read the leader's first decision.
            wait_for(lambda c=c: (web := c.status()["services"]["web"])["primary"] == "web-a"
                     and all(m["health"] == "healthy" for m in web["members"].values()),
                     15, "every replica to know the primary and every member healthy")
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("failover:route:web")

        accept, to_route, to_done = [], [], []
        steps: dict[str, list[float]] = {}
        primary = "web-a"
        for _ in range(args.runs):
            target = "web-b" if primary == "web-a" else "web-a"
            a, r, d, final = run_one(follower(controllers), pubsub, target, target)
            if final["phase"] != "done":
                raise SystemExit(f"switchover ended {final['phase']}: {final['detail']}")
            accept.append(a)
            to_route.append(r)
            to_done.append(d)
            for entry in final["steps"]:
                steps.setdefault(entry["step"], []).append(entry["ms"])
            primary = target

        rollback_route: list[float] = []
        for _ in range(args.rollbacks):
            target = "web-b" if primary == "web-a" else "web-a"
            webs[target].set_mode(break_on_promote=True)
            api = follower(controllers)
            started = time.monotonic()
            status, record = api.call("POST", "/v1/services/web/switchover", {"to": target})
            assert status == 202, record
            wait_published(pubsub, target)
            back = wait_published(pubsub, primary)
            rollback_route.append((back - started) * 1000)
            webs[target].set_mode()
            for c in controllers:  # every replica's vote, as each replica counts them
                wait_for(lambda c=c, t=target: c.status()["services"]["web"]["members"][t][
                    "votes"]["healthy"] == args.replicas, 15, f"{target} healthy again")

        print(f"switchover: {args.replicas} replicas, interval 0.1 s, fast_interval 0.025 s, "
              f"fall 3, verify_window {args.verify_window:g} s, http fence+promote hooks")
        print(summary("accept", accept))
        print(summary("request-route", to_route))
        print(summary("request-done", to_done))
        for name, values in steps.items():
            print(summary(f"  step {name}", values))
        if rollback_route:
            print(summary("rollback-route", rollback_route))

        target = "web-b" if primary == "web-a" else "web-a"
        print(f"\n$ failoverctl switchover web --to {target} --wait")
        out = subprocess.run([sys.executable, "-m", "controller.cli", "switchover", "web",
                              "--to", target, "--wait", "--api", follower(controllers).api,
                              "--token", TOKEN], capture_output=True, text=True, timeout=60)
        print(out.stdout + out.stderr, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
