"""RouteWatcher, the client applications use: newer routes only, survives Redis going away."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from controller.devtools.sandbox import Sandbox, free_port
from controller.followers.route import Route
from controller.followers.watcher import RouteWatcher

pytestmark = pytest.mark.integration
A = Route("web-a", "10.0.0.1:80", 1, 1, "initial")
B = Route("web-b", "10.0.0.2:80", 2, 2, "failover")


def fields(route: Route) -> dict[str, str]:
    return {"primary": route.primary, "address": route.address, "epoch": str(route.epoch),
            "version": str(route.version), "reason": route.reason}


async def until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_route_watcher_follows_ignores_stale_and_keeps_the_last_route(sandbox: Sandbox) -> None:
    server = sandbox.redis()

    def write_hash(route: Route) -> None:
        server.command("HSET", "failover:route:web", *[x for kv in fields(route).items()
                                                       for x in kv])

    def publish(route: Route) -> None:
        server.command("PUBLISH", "failover:route:web", json.dumps(fields(route)))

    def subscribers() -> int:
        return int(server.command("PUBSUB", "NUMSUB", "failover:route:web")[1])

    async def scenario() -> None:
        write_hash(A)
        watcher = RouteWatcher(server.url, ["web"], reread_interval=0.1, timeout=0.3)
        await watcher.start()
        try:
            assert watcher.current("web") == A and watcher.address("web") == "10.0.0.1:80"
            changes = watcher.changes("web")
            next_change = asyncio.ensure_future(anext(changes))
            # A PUBLISH reaches only a subscription Redis holds, and a change only an
            # iterator already waiting (start() returns after the first read, which the
            # re-read loop can make before the subscription is in place).
            await until(lambda: subscribers() == 1 and bool(watcher._queues["web"]), 5,
                        "the watcher's subscription and the iterator to listen")
            publish(B)  # only the PUBLISH announces B: it must come from the message
            assert await asyncio.wait_for(next_change, 5) == B
            # A replayed message and an old hash change nothing, across re-reads.
            publish(A)
            write_hash(A)
            written = time.monotonic()
            staleness = watcher.staleness  # a re-read after `written` resets it
            await until(lambda: time.monotonic() - (staleness("web") or 0) > written + 0.05,
                        5, "a re-read of the old hash")
            assert watcher.current("web") == B
            # Redis goes away: the last route stays, and staleness grows.
            server.process.kill()
            await until(lambda: (staleness("web") or 0) > 0.5, 5, "staleness to grow")
            assert watcher.current("web") == B
        finally:
            await watcher.close()

    try:
        asyncio.run(scenario())
    finally:
        server.process.stop()


def test_close_returns_promptly_while_redis_serves(sandbox: Sandbox) -> None:
    """redis-py can turn a cancellation that lands inside its own socket timeout into a
    TimeoutError, which the watcher's loops took for a lost connection and retried: close()
    then never returned (about one cycle in five). Every close must end within seconds."""
    server = sandbox.redis()
    server.command("HSET", "failover:route:web", *[x for kv in fields(A).items() for x in kv])

    async def cycles() -> None:
        for _ in range(20):
            watcher = RouteWatcher(server.url, ["web"], timeout=0.5)
            await watcher.start()
            assert watcher.current("web") == A
            # The bug never returned; a close takes at most one socket timeout (0.5 s):
            # 5 s is ten of them, and a TimeoutError here is the failure.
            async with asyncio.timeout(5):
                await watcher.close()

    asyncio.run(cycles())


class Events:
    """A logger that keeps what the watcher logs: (level, event, fields)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, object]]] = []

    def debug(self, event: str, **fields: object) -> None:
        self.seen.append(("debug", event, fields))

    def info(self, event: str, **fields: object) -> None:
        self.seen.append(("info", event, fields))

    def warning(self, event: str, **fields: object) -> None:
        self.seen.append(("warning", event, fields))

    def named(self, event: str) -> list[tuple[str, str, dict[str, object]]]:
        return [e for e in self.seen if e[1] == event]


def test_a_redis_outage_costs_one_warning_per_loop_and_says_when_it_ends(
        sandbox: Sandbox) -> None:
    server = sandbox.redis()
    server.command("HSET", "failover:route:web", *[x for kv in fields(A).items() for x in kv])
    events = Events()

    async def outage() -> None:
        watcher = RouteWatcher(server.url, ["web"], reread_interval=0.1, timeout=0.3,
                               log=events)
        await watcher.start()
        try:
            server.process.kill()
            await until(lambda: (watcher.staleness("web") or 0) > 3.0, 15,
                        "three seconds without Redis")
            warnings = [e for e in events.seen if e[0] == "warning"]
            # Before: a warning every 200 ms from one loop and every 100 ms from the other.
            # The third loop writes the watcher's acknowledgements.
            assert sorted(e[1] for e in warnings) == [
                "follower_ack_failed", "route_reread_failed", "route_subscription_lost"
            ], warnings
            await asyncio.to_thread(server.restart)
            await until(lambda: bool(events.named("route_subscription_restored"))
                        and bool(events.named("route_reread_restored")), 15,
                        "both loops to say Redis is back")
            assert watcher.current("web") == A
        finally:
            await watcher.close()

    asyncio.run(outage())
    [(_, _, restored)] = events.named("route_subscription_restored")
    assert float(str(restored["down_s"])) >= 3.0


def test_the_watcher_prints_nothing_unless_the_application_configures_logging() -> None:
    """A library leaves logging to its host: a watcher whose Redis is down for a while, in
    a program that configured no logging, writes nothing to stdout or stderr."""
    script = (
        "import asyncio\n"
        "from controller.followers import RouteWatcher\n"
        "async def main():\n"
        f"    w = RouteWatcher('redis://127.0.0.1:{free_port()}/0', ['web'], timeout=0.2)\n"
        "    await w.start(wait=1.5)\n"
        "    await w.close()\n"
        "asyncio.run(main())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
