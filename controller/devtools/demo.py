"""``failoverctl demo``: a whole failover on this machine, narrated with timings.

Starts ZooKeeper, Redis, two toy web members and two controller replicas on free loopback
ports in a temporary directory, kills the primary with SIGKILL, shows each step (detected,
fenced, promoted, committed, routed) and the route in Redis. In a terminal it then keeps
the cluster up for you to try commands against until Ctrl-C; elsewhere (a pipe, CI) it
stops at once. Either way it stops everything it started.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from controller.core.steps import Step
from controller.devtools.controllers import TOKEN, TOKEN_NAME
from controller.devtools.sandbox import (
    Controller,
    Sandbox,
    SandboxError,
    controller_config,
    wait_for,
)
from controller.events import Event

POLICY = {"interval": 0.1, "fast_interval": 0.025, "timeout": 0.5, "degraded_latency": 0.25,
          "fall": 3, "rise": 2, "cooldown": 30}


def say(text: str) -> None:
    print(text, flush=True)


def run_demo() -> int:
    # The servers run in sessions of their own (a terminal's Ctrl-C does not reach them):
    # make SIGTERM unwind like Ctrl-C, through the sandbox's cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with Sandbox() as box:
            return _demo(box)
    except SandboxError as exc:
        say(f"demo: {exc}")
        return 1
    except KeyboardInterrupt:
        say("\nstopped: everything the demo started has been stopped")
        return 130


def _demo(box: Sandbox) -> int:
    say(f"Starting a sandbox in {box.dir} (all on 127.0.0.1)")
    zk = box.zookeeper()
    say(f"  ZooKeeper   {zk.hosts}")
    redis = box.redis()
    say(f"  Redis       {redis.url}")
    web_a, web_b = box.web("web-a"), box.web("web-b")
    say(f"  web-a       {web_a.address}  (primary: priority 100)")
    say(f"  web-b       {web_b.address}  (standby: priority 50)")
    service = {"name": "web", "policy": POLICY,
               "members": [web_a.member(priority=100), web_b.member(priority=50)]}
    controllers = [box.controller(name, controller_config(zk, redis.url, "demo", [service],
                                                          name))
                   for name in ("replica-1", "replica-2")]
    route_key = "failover:route:web"
    wait_for(lambda: redis.command("HGET", route_key, "primary") == "web-a", 30,
             "the first route")
    for c in controllers:
        wait_for(functools.partial(_all_healthy, c), 15, f"{c.name} to see both members healthy")
    leader = next(c for c in controllers if c.status()["leader"])
    say(f"  controllers replica-1, replica-2: {leader.name} leads "
        f"(epoch {leader.status()['epoch']}), probing every 0.1 s, fall 3")
    say(f"\nRoute in Redis ({route_key}): {_route(redis.command('HGETALL', route_key))}")

    say("\nkill -9 web-a ...")
    killed = time.time()
    web_a.process.kill()
    wait_for(lambda: redis.command("HGET", route_key, "primary") == "web-b", 10,
             "the route to name web-b", interval=0.001)
    routed = time.time()
    # The leader logs its account just after the Redis write this reader has already seen.
    with contextlib.suppress(SandboxError):
        wait_for(lambda: leader.events(Event.FAILOVER_DONE), 5, "the leader's account")
    _narrate(leader, killed, routed)
    say(f"\nRoute in Redis now: {_route(redis.command('HGETALL', route_key))}")
    entry = redis.command("XREVRANGE", "failover:history:web", "+", "-", "COUNT", "1")
    if entry:
        fields = entry[0][1]
        say(f"History ({'failover:history:web'}): {fields['event']} {fields['previous']} -> "
            f"{fields['primary']}, epoch {fields['epoch']}, version {fields['version']}")
    say(f"Promote calls received by web-b: {len(web_b.calls('promote'))}")
    if sys.stdin.isatty() and sys.stdout.isatty():
        say("\n" + "\n".join(try_it(leader.api, [box.dir / f"{c.name}.yaml"
                                                  for c in controllers])))
        say("The cluster stays up until Ctrl-C.")
        while True:  # Ctrl-C (KeyboardInterrupt) or SIGTERM unwind through the sandbox
            signal.pause()
    say("\nNot a terminal: stopping everything the demo started (run it in a terminal to "
        "keep the cluster up and try commands against it).")
    return 0


def try_it(api: str, configs: list[Path]) -> list[str]:
    """What to type in another terminal: the API and its token (without the token,
    switchover and pause answer 401), and where each replica's config is."""
    return ["Try it yourself while it runs, in another terminal:",
            f"  export FAILOVER_API_URL={api} FAILOVER_API_TOKEN={TOKEN}",
            "  failoverctl status",
            "  failoverctl switchover web --wait    # web-a is down: refused, and says why",
            "  failoverctl pause web --for 5m",
            f"The replicas' configs (token name {TOKEN_NAME!r}): "
            + ", ".join(str(path) for path in configs)]


def _narrate(leader: Controller, killed: float, routed: float) -> None:
    def ms(at: float) -> str:
        return f"{(at - killed) * 1000:7.1f} ms"

    down = [e for e in leader.events(Event.MEMBER_HEALTH_CHANGED)
            if e.get("member") == "web-a" and e.get("health") == "down"]
    started = leader.events(Event.FAILOVER_STARTED)
    done = leader.events(Event.FAILOVER_DONE)
    say(f"  {ms(killed)}  web-a killed")
    if down and started and done:
        detected = _ts(down[-1])
        say(f"  {ms(detected)}  detected: web-a down after 3 failed probes "
            f"({down[-1]['evidence'][-1]['detail'][:60]}...)")
        clock = _ts(started[-1])
        votes = started[-1]["evidence"].get("votes", {})
        say(f"  {ms(clock)}  quorum: {votes.get('failing')} of {votes.get('replicas')} "
            f"replicas see web-a failing ({votes.get('required')} needed): fail over")
        for step in map(Step.from_dict, done[-1]["steps"]):
            clock += (step.ms or 0.0) / 1000
            label = {"verify_epoch": "leadership verified (epoch check in ZooKeeper)",
                     "fence": f"fence web-a: {'ok' if step.ok else 'failed (down)'}",
                     "write_ahead": "web-b recorded in ZooKeeper as maybe promoted",
                     "promote": f"promoted {step.member}",
                     "commit": "decision committed in ZooKeeper",
                     "publish": "route published to Redis"}.get(step.step, step.step)
            say(f"  {ms(clock)}  {label}")
    say(f"  {ms(routed)}  routed: Redis names web-b (seen by a reader polling every 1 ms)")


def _all_healthy(controller: Controller) -> bool:
    members = controller.status()["services"]["web"]["members"].values()
    return all(m["health"] == "healthy" for m in members)


def _ts(event: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(event["timestamp"]).timestamp()


def _route(fields: Any) -> str:
    return json.dumps(fields, sort_keys=True)
