"""RouteWatcher: follow the routes in Redis from an application or an agent.

    watcher = RouteWatcher("redis://redis:6379/0", ["web"])
    await watcher.start()
    address = watcher.address("web")            # the primary's host:port, or None
    async for route in watcher.changes("web"):  # every newer route, as it is applied
        ...

It subscribes to each service's channel and also re-reads the route hash periodically and
after every reconnect, so a missed message never leaves it stale. It applies only routes
newer than the last one (by epoch and version), and keeps the last one when Redis is
unreachable, reporting how stale it is (``staleness``); see route.py. While Redis is away it
retries with a growing delay (up to 5 s), says so once and says when it is back.

Unless ``acknowledge=False``, it also tells the controller what it applied: under its
``name`` (default host:pid) in the hash ``{prefix}:applied:{service}``, on every newer route
(confirmed once the ``on_change`` callbacks have run) and every ``heartbeat`` seconds, so a
watcher that stops shows as stale (acks.py). A proxy agent acknowledges itself, once the
proxy is read back (``acknowledge(service, route, confirmed)``).

It logs through the standard library's ``failover.watcher`` logger, silent unless the
application configures logging; or pass ``log=`` a structlog logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from controller.events import Event
from controller.followers.acks import FORGET_AFTER, HEARTBEAT, Ack
from controller.followers.route import BadRoute, Following, Route

Listener = Callable[[str, Route], None]
RefusalListener = Callable[[str, str], None]  # (service, what is wrong)
# A library logs only where its host application says: silent unless logging is configured.
logging.getLogger("failover").addHandler(logging.NullHandler())


class _StdlibLog:
    """The default log: the standard library's ``failover.watcher`` logger, as
    ``event key=value ...`` lines. Pass ``log=`` (a structlog logger) to get events."""

    def __init__(self) -> None:
        self._log = logging.getLogger("failover.watcher")

    def _emit(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, "%s %s", event,
                          " ".join(f"{key}={value}" for key, value in fields.items()))

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, event, fields)


class _Outage:
    """One loop's run of failures: one warning when it starts, one line when it ends, and a
    delay between attempts that doubles up to MOST (Redis down for a minute costs a handful
    of lines, not hundreds)."""

    FIRST, MOST = 0.2, 5.0

    def __init__(self, log: Any, lost: str, restored: str) -> None:
        self._log, self._lost, self._restored = log, lost, restored
        self._since: float | None = None
        self._delay = self.FIRST

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before the next attempt."""
        error = f"{type(exc).__name__}: {exc}"
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning(self._lost, error=error)
        else:
            self._log.debug(self._lost, error=error, retry_in=self._delay)
        delay, self._delay = self._delay, min(self.MOST, self._delay * 2)
        return delay

    def ok(self) -> None:
        if self._since is not None:
            self._log.info(self._restored, down_s=round(time.monotonic() - self._since, 1))
        self._since, self._delay = None, self.FIRST


class RouteWatcher:
    def __init__(self, redis_url: str, services: list[str], key_prefix: str = "failover",
                 reread_interval: float = 1.0, timeout: float = 1.0,
                 log: Any = None, *, name: str | None = None, acknowledge: bool = True,
                 heartbeat: float = HEARTBEAT) -> None:
        self._client = aioredis.Redis.from_url(redis_url, socket_timeout=timeout,
                                               socket_connect_timeout=timeout)
        self._prefix, self._interval, self._timeout = key_prefix, reread_interval, timeout
        self._state = {s: Following() for s in services}
        self._listeners: list[Listener] = []
        self._refusal_listeners: list[RefusalListener] = []
        # Per service, what was wrong with the last route refused: the same forged hash,
        # re-read every second, is logged and counted once, not once a second.
        self._refused: dict[str, str] = {}
        self._queues: dict[str, list[asyncio.Queue[Route]]] = {s: [] for s in services}
        self._tasks: list[asyncio.Task[None]] = []
        self._first_read = asyncio.Event()
        self._closing = False
        self._log = log if log is not None else _StdlibLog()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.auto_ack, self._heartbeat = acknowledge, heartbeat
        self._acks: dict[str, Ack] = {}  # per service, what this follower last said
        self._ack_now = asyncio.Event()  # an apply: write at once, not at the next beat

    def key(self, service: str) -> str:
        return f"{self._prefix}:route:{service}"

    def applied_key(self, service: str) -> str:
        return f"{self._prefix}:applied:{service}"

    def acknowledge(self, service: str, route: Route, confirmed: bool) -> None:
        """Say (now, and on every heartbeat) that ``route`` is applied; ``at`` stays the
        time its version was first acknowledged."""
        now = time.time()
        before = self._acks.get(service)
        at = before.at if before is not None and before.version == route.version else now
        ack = Ack(self.name, route.version, route.epoch, at, confirmed, now)
        self._acks[service] = ack
        if before is None or (before.version, before.epoch, before.confirmed) != (
                ack.version, ack.epoch, ack.confirmed):
            self._ack_now.set()  # a change: say so at once; the same again waits its beat

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(service, route)`` for every newer route, on the loop."""
        self._listeners.append(listener)

    def on_refused(self, listener: RefusalListener) -> None:
        """Call ``listener(service, why)`` for every route refused (once per distinct one)."""
        self._refusal_listeners.append(listener)

    async def start(self, wait: float = 5.0) -> None:
        """Start following; wait (bounded) for a first read of every route."""
        self._tasks = [asyncio.create_task(self._subscribe(), name="route-subscribe"),
                       asyncio.create_task(self._reread_loop(), name="route-reread"),
                       asyncio.create_task(self._ack_loop(), name="route-ack")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_read.wait(), wait)

    async def close(self) -> None:
        """Stop following and close the connection; returns within a few ``timeout``s.

        redis-py can turn a cancellation that lands inside its own socket timeout into a
        TimeoutError (its issue 2551), which the loops would take for a lost connection and
        retry: so they also stop when they see ``_closing``, and the wait is bounded.
        """
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self._timeout * 3)
            for task in pending:
                self._log.warning(Event.ROUTE_WATCHER_TASK_STUCK, task=task.get_name())
        await self._client.aclose()

    def current(self, service: str) -> Route | None:
        return self._state[service].applied

    def address(self, service: str) -> str | None:
        route = self.current(service)
        return route.address if route else None

    def refused(self, service: str) -> str | None:
        """What is wrong with the route Redis holds for ``service``, if it was refused (the
        last route applied is kept); None once a route is accepted again."""
        return self._refused.get(service)

    def behind(self, service: str) -> float | None:
        """Seconds Redis has held a route for ``service`` older than the one applied (a
        repaired forgery the follower obeyed): never applied; restart the follower."""
        return self._state[service].behind(time.monotonic())

    def staleness(self, service: str) -> float | None:
        """Seconds since Redis last answered about ``service`` (None: never)."""
        return self._state[service].staleness(time.monotonic())

    async def changes(self, service: str) -> AsyncIterator[Route]:
        queue: asyncio.Queue[Route] = asyncio.Queue()
        self._queues[service].append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues[service].remove(queue)

    # --- plumbing -----------------------------------------------------------------------

    def _offer(self, service: str, route: Route | BadRoute | None,
               from_hash: bool = False) -> None:
        now = time.monotonic()
        state = self._state[service].heard(now)
        if isinstance(route, BadRoute):
            # Not a route a controller writes (forged, damaged): keep the one applied.
            self._state[service] = state
            why = str(route)
            if self._refused.get(service) != why:
                self._refused[service] = why
                self._log.warning(Event.ROUTE_REFUSED, service=service, why=why)
                for refusal in self._refusal_listeners:
                    refusal(service, why)
            return
        if route is not None:
            self._refused.pop(service, None)
        state, newer = state.stored(route, now) if from_hash else state.offer(route)
        if state.older is not None and state.older_since == now:
            self._log.warning(Event.ROUTE_OLDER_IN_REDIS, service=service,
                              applied=_order(state.applied), redis=_order(state.older))
        self._state[service] = state
        if newer and route is not None:
            self._log.info(Event.ROUTE_APPLIED, service=service, primary=route.primary,
                     epoch=route.epoch, version=route.version)
            for listener in self._listeners:
                listener(service, route)
            for queue in self._queues[service]:
                queue.put_nowait(route)
            if self.auto_ack:
                self.acknowledge(service, route, confirmed=True)

    async def reread(self) -> None:
        """Read every route hash now (also after a reconnect)."""
        for service in self._state:
            async with asyncio.timeout(self._timeout * 2):
                fields = await self._client.hgetall(self.key(service))
            decoded = {_text(k): _text(v) for k, v in fields.items()}
            self._offer(service, _checked(Route.check, decoded) if decoded else None,
                        from_hash=True)
        self._first_read.set()

    async def _reread_loop(self) -> None:
        outage = _Outage(self._log, "route_reread_failed", "route_reread_restored")
        while not self._closing:
            try:
                await self.reread()
            except (RedisError, OSError, TimeoutError) as exc:
                if self._closing:
                    return
                await asyncio.sleep(max(self._interval, outage.failed(exc)))
                continue
            outage.ok()
            await asyncio.sleep(self._interval)

    async def _ack_loop(self) -> None:
        """Write this follower's acks at once after an apply, else every heartbeat. The
        hash expires an hour after the last write by anyone (nothing else deletes from it
        but the controller, which drops entries an hour old)."""
        outage = _Outage(self._log, Event.FOLLOWER_ACK_FAILED, Event.FOLLOWER_ACK_RESTORED)
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ack_now.wait(), self._heartbeat)
            self._ack_now.clear()
            now = time.time()
            if not self._acks:
                continue
            try:
                async with asyncio.timeout(self._timeout * 2), \
                        self._client.pipeline(transaction=False) as pipe:
                    for service, ack in list(self._acks.items()):  # one round trip for all
                        key = self.applied_key(service)
                        pipe.hset(key, self.name, replace(ack, heartbeat=now).encode())
                        pipe.expire(key, int(FORGET_AFTER))
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError) as exc:
                if self._closing:
                    return
                await asyncio.sleep(outage.failed(exc))
                continue
            outage.ok()

    async def _subscribe(self) -> None:
        channels = {self.key(s): s for s in self._state}
        outage = _Outage(self._log, "route_subscription_lost", "route_subscription_restored")
        while not self._closing:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(*channels)
                await self.reread()  # catch up on whatever was published while away
                outage.ok()
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=1.0)
                    if message and message.get("type") == "message":
                        channel = _text(message["channel"])
                        self._offer(channels[channel],
                                    _checked(Route.check_message, message["data"]))
            except (RedisError, OSError, TimeoutError) as exc:
                if self._closing:
                    return
                await asyncio.sleep(outage.failed(exc))
            finally:
                # Bound to a typed name: redis-py annotates aclose() in some releases
                # and not in others, and mypy must pass on both.
                close: Callable[[], Awaitable[None]] = pubsub.aclose
                with contextlib.suppress(RedisError, OSError):
                    await close()


def _order(route: Route | None) -> str | None:
    return None if route is None else f"{route.primary}@{route.epoch}/{route.version}"


def _checked(read: Callable[[Any], Route], value: Any) -> Route | BadRoute:
    try:
        return read(value)
    except BadRoute as exc:
        return exc


def _text(value: bytes | str) -> str:
    # Not UTF-8 is not a route either: the replacement character fails its checks.
    return value.decode(errors="replace") if isinstance(value, bytes) else value
