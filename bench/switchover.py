"""Switchover speed on this machine, with real ZooKeeper, Redis, web members and controllers,
and what a planned switchover costs the clients.

Over --runs planned switchovers (alternating web-a <-> web-b, each asked of a follower's
API, as an operator would) it measures:
  accept          POST .../switchover -> 202 (the request is in ZooKeeper)
  request-route   POST sent -> the Redis route's PUBLISH naming the target (this script
                  subscribes to the channel)
  request-done    POST sent -> the request is done (includes --verify-window)
  step ...        each step as the leader recorded it
all under a steady client load on four paths, one client each, alternating a write
(POST /, which a fenced member refuses with 503) and a read (GET /) every --interval:
  haproxy+agent   HAProxy whose servers `failoverctl agent haproxy` switches
  haproxy+retry   the same with `retry-on 503 conn-failure` (HAProxy's own retry)
  traefik         Traefik reading the route from Redis (no agent)
  app             straight to the primary's address, as RouteWatcher follows it
and per switchover and path: the failed writes and reads, and the gap from the old primary
answering its fence hook to the first answer from the new primary through that path.
Then over --rollbacks switchovers to a member that breaks as it is promoted:
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on the path, where probes.py would shadow the package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from bench.failover import percentile, start_cluster  # noqa: E402
from bench.load import Client, Cost, Follower, cost, spread  # noqa: E402
from controller.devtools.sandbox import (  # noqa: E402
    TOKEN,
    Controller,
    Haproxy,
    Redis,
    Sandbox,
    Web,
    wait_for,
)

# HAProxy's own retry of a refused write: at most `retries` more tries, each redispatched
# (HAProxy waits min(timeout connect, 1 s) before a retry on the same server).
RETRY_ON = ("retry-on 503 conn-failure", "retries 3", "option redispatch 1")


def summary(name: str, values: list[float]) -> str:
    return (f"{name:<22} n={len(values):<3} p50 {percentile(values, 50):8.1f} ms   "
            f"p99 {percentile(values, 99):8.1f} ms   max {max(values):8.1f} ms   "
            f"mean {statistics.fmean(values):8.1f} ms")


def follower(controllers: list[Controller]) -> Controller:
    """A replica that does not lead (the one replica, if it is alone)."""
    if len(controllers) == 1:
        return controllers[0]
    return wait_for(lambda: next((c for c in controllers if not c.status()["leader"]), None),
                    10, "a follower")


def wait_published(pubsub: Any, primary: str, timeout: float = 30) -> float:
    """Wall-clock time at which a PUBLISH naming ``primary`` arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message" and \
                json.loads(message["data"])["primary"] == primary:
            return time.time()
    raise SystemExit(f"no route to {primary} published within {timeout:g}s")


@dataclass(frozen=True, slots=True)
class Run:
    """One switchover, in wall-clock seconds (the members record theirs so)."""

    source: str
    target: str
    started: float  # the POST sent
    accepted: float  # 202 received
    published: float  # the PUBLISH naming the target received
    done: float  # the request seen done
    fenced: float  # the old primary answering its fence hook
    promoted: float  # the new primary answering its promote hook
    final: dict[str, Any]


def hook_at(web: Web, hook: str, after: float) -> float:
    """When ``web`` answered its first successful ``hook`` after ``after`` (its record)."""
    times = [c["at"] for c in web.calls(hook) if c["at"] >= after and not c["failed"]]
    if not times:
        raise SystemExit(f"{web.name} records no {hook} after the request")
    return float(min(times))


def run_one(api: Controller, pubsub: Any, webs: dict[str, Web], source: str,
            target: str) -> Run:
    started = time.time()
    status, record = api.call("POST", "/v1/services/web/switchover", {"to": target})
    accepted = time.time()
    if status != 202:
        raise SystemExit(f"switchover refused: {status} {record}")
    published = wait_published(pubsub, target)
    path = f"/v1/services/web/switchovers/{record['id']}"
    final = wait_for(lambda: (r := api.call("GET", path)[1])["phase"] in
                     ("done", "failed") and r, 30, "the switchover to end")
    done = time.time()
    if final["phase"] != "done":
        raise SystemExit(f"switchover ended {final['phase']}: {final['detail']}")
    return Run(source, target, started, accepted, published, done,
               hook_at(webs[source], "fence", started), hook_at(webs[target], "promote", started),
               final)


def start_paths(box: Sandbox, server: Redis, webs: dict[str, Web], client: Any,
                interval: float) -> tuple[dict[str, Client], Follower]:
    """The proxies (HAProxy + agent, the same with retry-on, Traefik) and an application
    following the route, each with its client load running."""
    for key, value in {"traefik/http/routers/web/rule": "PathPrefix(`/`)",
                       "traefik/http/routers/web/service": "web",
                       "traefik/http/routers/web/entryPoints/0": "web"}.items():
        client.set(key, value)
    servers = {name: web.address for name, web in webs.items()}
    plain = box.haproxy("web", servers)
    retrying = haproxy_retrying(box, servers)
    agents = [box.haproxy_agent("agent", server.url, plain),
              box.haproxy_agent("agent-retry", server.url, retrying)]
    for agent in agents:
        wait_for(lambda a=agent: a.healthz()[0] == 200, 30, "the HAProxy agent healthy",
                 while_alive=agent.process)
    traefik = box.traefik(server)
    app = Follower(server.url, "web")
    app.start()
    app.wait_started()
    clients = {name: Client(name, lambda a=address: a, interval) for name, address in (
        ("haproxy+agent", f"127.0.0.1:{plain.port}"),
        ("haproxy+retry", f"127.0.0.1:{retrying.port}"),
        ("traefik", f"127.0.0.1:{traefik.port}"))}
    clients["app"] = Client("app", app.address, interval)
    for load in clients.values():
        load.start()
    return clients, app


def haproxy_retrying(box: Sandbox, servers: dict[str, str]) -> Haproxy:
    def config(port: int, sock: Path) -> str:
        lines = ["global", f"  stats socket {sock} level admin", "defaults", "  mode http",
                 "  timeout connect 250ms", "  timeout client 5s", "  timeout server 5s",
                 *(f"  {line}" for line in RETRY_ON), "frontend fe",
                 f"  bind 127.0.0.1:{port}", "  default_backend web", "backend web"]
        lines += [f"  server {name} {address}" for name, address in servers.items()]
        return "\n".join(lines) + "\n"

    return box.haproxy_with(config, name="haproxy-retry")


def settled(clients: dict[str, Client], member: str, since: float) -> None:
    """Wait until on every path the last 10 answers, all after ``since``, came from
    ``member``: the path has moved, and nothing reaches the other member any more."""
    def moved(load: Client) -> bool:
        last = load.answers[-10:]
        return len(last) == 10 and all(a.ok and a.member == member and a.started >= since
                                       for a in last)

    for name, load in clients.items():
        wait_for(lambda ld=load: moved(ld), 15, f"{name} to answer from {member} alone")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rollbacks", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--verify-window", type=float, default=1.0)
    # The first commits of a fresh ZooKeeper and controller take a few hundred ms (first
    # use, not a switchover's cost): switchovers run first and not counted.
    parser.add_argument("--warm-up", type=int, default=2, help="switchovers not counted")
    parser.add_argument("--interval", type=float, default=0.004,
                        help="each client's pause between requests (seconds)")
    args = parser.parse_args()

    policy = {"interval": 0.1, "fast_interval": 0.025, "timeout": 0.5,
              "degraded_latency": 0.25, "fall": 3, "rise": 2, "cooldown": 0,
              "verify_window": args.verify_window, "ready_timeout": 5.0}
    with Sandbox() as box:
        # Keyspace notifications: Traefik's Redis provider watches through them.
        server = box.redis(extra=("--notify-keyspace-events", "KEA"))
        client, webs, _, by_name = start_cluster(box, policy, args.replicas, server=server,
                                                 traefik=True)
        controllers = list(by_name.values())
        for c in controllers:
            # A follower refuses (no_decision) until it has read the leader's first decision.
            wait_for(lambda c=c: (web := c.status()["services"]["web"])["primary"] == "web-a"
                     and all(m["health"] == "healthy" for m in web["members"].values()),
                     15, "every replica to know the primary and every member healthy")
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("failover:route:web")
        clients, app = start_paths(box, server, webs, client, args.interval)
        settled(clients, "web-a", time.time())

        runs: list[Run] = []
        primary = "web-a"
        for n in range(args.warm_up + args.runs):
            target = "web-b" if primary == "web-a" else "web-a"
            run = run_one(follower(controllers), pubsub, webs, primary, target)
            settled(clients, target, run.done)
            if n >= args.warm_up:
                runs.append(run)
            primary = target
        load_end = time.time()
        for load in clients.values():
            load.stopping.set()
            load.join(5)
        app.stop()

        rollback_route: list[float] = []
        for _ in range(args.rollbacks):
            target = "web-b" if primary == "web-a" else "web-a"
            webs[target].set_mode(break_on_promote=True)
            api = follower(controllers)
            started = time.time()
            status, record = api.call("POST", "/v1/services/web/switchover", {"to": target})
            assert status == 202, record
            wait_published(pubsub, target)
            back = wait_published(pubsub, primary)
            rollback_route.append((back - started) * 1000)
            webs[target].set_mode()
            for c in controllers:  # every replica's vote, as each replica counts them
                wait_for(lambda c=c, t=target: c.status()["services"]["web"]["members"][t][
                    "votes"]["healthy"] == args.replicas, 15, f"{target} healthy again")

        print("$ python bench/switchover.py " + " ".join(sys.argv[1:]))
        print(f"switchover: {args.replicas} replicas, interval 0.1 s, fast_interval 0.025 s, "
              f"fall 3, verify_window {args.verify_window:g} s, http fence+promote hooks")
        print_speed(runs)
        if rollback_route:
            print(summary("rollback-route", rollback_route))
        print()
        print_costs(runs, clients, load_end, args.warm_up)

        target = "web-b" if primary == "web-a" else "web-a"
        print(f"\n$ failoverctl switchover web --to {target} --wait")
        out = subprocess.run([sys.executable, "-m", "controller.cli", "switchover", "web",
                              "--to", target, "--wait", "--api", follower(controllers).api,
                              "--token", TOKEN], capture_output=True, text=True, timeout=60)
        print(out.stdout + out.stderr, end="")
    return 0


def print_speed(runs: list[Run]) -> None:
    print(summary("accept", [(r.accepted - r.started) * 1000 for r in runs]))
    print(summary("request-route", [(r.published - r.started) * 1000 for r in runs]))
    print(summary("request-done", [(r.done - r.started) * 1000 for r in runs]))
    steps: dict[str, list[float]] = {}
    for run in runs:
        for entry in run.final["steps"]:
            steps.setdefault(entry["step"], []).append(entry["ms"])
    for name, values in steps.items():
        print(summary(f"  step {name}", values))


def print_costs(runs: list[Run], clients: dict[str, Client], load_end: float,
                warm_up: int) -> None:
    ends = [r.started for r in runs[1:]] + [load_end]
    span = load_end - runs[0].started
    writes = statistics.median(sum(1 for a in c.answers if a.write and a.started >= runs[0].started)
                               / span for c in clients.values())
    print(f"under load: {len(runs)} switchovers (after {warm_up} not counted); on each path "
          "one client alternating a write (POST /) and a read (GET /) on a kept-alive "
          f"connection, ~{writes:.0f} writes/s and as many reads")
    print("per switchover, min / median / max, from the old primary answering its fence hook; "
          "gap: to the first answer from the new primary on that path; last failure: to the "
          "answer of the last failed request (switchovers without one left out)")
    print(f"{'path':<15} {'failed writes':<15} {'failed reads':<13} {'gap ms':<22} "
          f"{'last failure ms':<22} slowest write ms")
    for name, load in clients.items():
        costs: list[Cost] = [cost(load.answers, r.started, end, r.fenced, r.target)
                             for r, end in zip(runs, ends, strict=True)]
        gaps = [round(c.gap_ms, 1) for c in costs if c.gap_ms is not None]
        lasts = [round(c.last_failure_ms, 1) for c in costs if c.last_failure_ms is not None]
        print(f"{name:<15} {spread([c.failed_writes for c in costs]):<15} "
              f"{spread([c.failed_reads for c in costs]):<13} {spread(gaps):<22} "
              f"{spread(lasts):<22} {spread([round(c.slowest_write_ms, 1) for c in costs])}")
    print(f"{'  of which: fenced -> promote answered':<40} "
          f"{spread([round((r.promoted - r.fenced) * 1000, 1) for r in runs])} ms")
    print(f"{'  of which: fenced -> route published':<40} "
          f"{spread([round((r.published - r.fenced) * 1000, 1) for r in runs])} ms")


if __name__ == "__main__":
    sys.exit(main())
