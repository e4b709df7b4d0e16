"""``failoverctl agent haproxy``: make HAProxy follow the routes in Redis.

Runs beside HAProxy and talks to its Runtime API (a unix socket or host:port, ``level
admin``). Every newer route is applied at once, its commands in one call (follower.py
decides what is newer; verify_haproxy and repair_commands what to send). The same check
also runs on a timer against HAProxy's actual state, so a reloaded or restarted HAProxy,
which comes back with its configured servers, is put right within ``resync_interval``. On
start it syncs before anything else.

After every apply and every resync it reads the backend back and checks that the routed
member's server alone takes traffic (verify_haproxy). What is wrong and can be put right
is repaired at once, counted and logged (``haproxy_repaired``); what stays wrong is logged
(``haproxy_unrepaired``) and makes ``/healthz`` fail until it is right again.

What it applied, and whether the read-back confirmed it, it acknowledges to the controller
through its watcher (``{prefix}:applied:{service}``, under ``--name``), on every apply and
every heartbeat.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from config.shapes import NAME_PATTERN
from controller.events import Event
from controller.followers.route import (
    Route,
    ServerState,
    parse_servers_state,
    repair_commands,
    runtime_command,
    verify_haproxy,
)
from controller.followers.watcher import RouteWatcher

log = structlog.get_logger("haproxy_agent")
ERRORS = ("No such", "Unknown", "Require", "Permission denied", "Invalid", "unknown")
REPAIR_ROUNDS = 2  # after the first round of commands: read back, repair, read back again


class HaproxyError(Exception):
    """HAProxy's Runtime API could not be reached or refused a command."""


class HaproxyRuntime:
    """One short connection per call (HAProxy's non-interactive mode), with a timeout."""

    def __init__(self, address: str, timeout: float = 1.0) -> None:
        self.address, self._timeout = address, timeout

    async def command(self, line: str) -> str:
        return await self.commands([line])

    async def commands(self, lines: list[str]) -> str:
        """Send ``lines`` on one connection, ``;``-separated: HAProxy runs them one after
        the other in the same call, so a route's ``ready`` and ``maint`` take effect
        together (no moment with both servers, or neither, taking traffic, as between two
        connections) and cost one round trip. Raises HaproxyError if HAProxy refused any
        (the others still ran: each is idempotent, and the read-back repairs)."""
        # The last guard: a line that could end a command, or add one, is never sent.
        unsafe = [line for line in lines if ";" in line or not line.isprintable()]
        if unsafe:
            raise HaproxyError(f"refused to send {unsafe[0][:120]!r}: it could run another "
                               "command")
        joined = "; ".join(lines)
        try:
            async with asyncio.timeout(self._timeout):
                if self.address.startswith("/"):
                    reader, writer = await asyncio.open_unix_connection(self.address)
                else:
                    host, _, port = self.address.rpartition(":")
                    reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
                try:
                    writer.write(joined.encode() + b"\n")
                    await writer.drain()
                    answer = (await reader.read()).decode(errors="replace")
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            raise HaproxyError(f"HAProxy {self.address}: {type(exc).__name__}: {exc}") from exc
        refused = [line.strip() for line in answer.splitlines()
                   if line.strip().startswith(ERRORS)]
        if refused:
            raise HaproxyError(f"HAProxy refused {joined!r}: {'; '.join(refused)}")
        return answer


@dataclass(frozen=True, slots=True)
class Mapping:
    service: str
    backend: str


class HaproxyAgent:
    def __init__(self, watcher: RouteWatcher, runtime: HaproxyRuntime, mappings: list[Mapping],
                 shutdown_sessions: bool = False, resync_interval: float = 2.0,
                 staleness_budget: float = 30.0) -> None:
        self.watcher, self.runtime, self.mappings = watcher, runtime, mappings
        # Per backend, fixed on the first apply: servers named like members ("named"), or
        # one server that takes the primary's address ("address").
        self._named: dict[str, bool] = {}
        self._shutdown, self._resync, self.budget = shutdown_sessions, resync_interval, \
            staleness_budget
        self._lock = asyncio.Lock()  # one apply at a time, so plans see HAProxy's real state
        self.applied: dict[str, Route] = {}
        self.registry = r = CollectorRegistry()
        self.m_version = Gauge("failover_agent_applied_version", "Route version applied.",
                               ["service"], registry=r)
        self.m_epoch = Gauge("failover_agent_applied_epoch", "Route epoch applied.",
                             ["service"], registry=r)
        self.m_staleness = Gauge("failover_agent_staleness_seconds",
                                 "Seconds since Redis last answered.", ["service"], registry=r)
        self.m_apply = Histogram(
            "failover_agent_apply_seconds", "From hearing a newer route to HAProxy applying it.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1), registry=r)
        self.m_errors = Counter("failover_agent_haproxy_errors_total",
                                "Runtime API errors.", registry=r)
        self.m_repairs = Counter(
            "failover_agent_repairs_total",
            "Times HAProxy, read back, was not sending traffic to the routed member alone "
            "and the agent sent commands to put it right.", ["service"], registry=r)
        self.m_refused = Counter(
            "failover_agent_routes_refused_total",
            "Routes read from Redis that are not routes a controller writes (a field that "
            "does not parse, a separator in the address, an epoch that is not a plain whole "
            "number): refused, the last route applied is kept.", ["service"], registry=r)
        watcher.on_refused(lambda service, why: self.m_refused.labels(service).inc())
        # The agent acknowledges a route once HAProxy is read back, not when it is heard.
        watcher.auto_ack = False
        self.m_verified = Gauge(
            "failover_agent_haproxy_verified",
            "1 if HAProxy, read back after the last apply or resync, sends traffic to the "
            "routed member's server alone; 0 if not (or it could not be read).",
            ["service"], registry=r)
        for mapping in mappings:  # exported at 0 from the start, not from the first event
            self.m_repairs.labels(mapping.service)
            self.m_refused.labels(mapping.service)
            self.m_verified.labels(mapping.service).set(0)
        # Per service: what the last read-back found wrong (empty: verified), and which
        # servers took traffic then. Absent until the first read-back.
        self.faults: dict[str, tuple[str, ...]] = {}
        self.serving: dict[str, tuple[str, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._applying: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.watcher.start()
        await self.sync_all()  # before anything else: HAProxy matches Redis now
        self.watcher.on_change(self._on_route)
        self._task = asyncio.create_task(self._resync_loop(), name="haproxy-resync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.watcher.close()

    def _on_route(self, service: str, route: Route) -> None:
        heard = time.monotonic()
        for mapping in self.mappings:
            if mapping.service == service:
                # Keep a reference: the loop holds tasks weakly, and an apply must finish.
                task = asyncio.get_running_loop().create_task(self._apply(mapping, route, heard))
                self._applying.add(task)
                task.add_done_callback(self._applying.discard)

    async def sync_all(self) -> None:
        for mapping in self.mappings:
            route = self.watcher.current(mapping.service)
            if route is not None:
                await self._apply(mapping, route, time.monotonic())

    async def _read(self, mapping: Mapping) -> list[ServerState]:
        text = await self.runtime.command(_command("show", "servers", "state", mapping.backend))
        try:
            servers = parse_servers_state(text)
        except ValueError as exc:
            raise HaproxyError(f"backend {mapping.backend!r}: {exc}") from exc
        if not servers:
            raise HaproxyError(f"backend {mapping.backend!r} has no servers")
        return servers

    async def _apply(self, mapping: Mapping, route: Route, heard: float) -> None:
        async with self._lock:
            try:
                await self._converge(mapping, route, heard)
            except HaproxyError as exc:
                self.m_errors.inc()
                log.error(Event.HAPROXY_APPLY_FAILED, service=mapping.service,
                          backend=mapping.backend, error=str(exc))
                self._record(mapping, route, [f"not verified: {exc}"], ())
                before = self.applied.get(mapping.service)
                if before is not None:  # still the route applied before, not confirmed now
                    self.watcher.acknowledge(mapping.service, before, confirmed=False)
                return
        self.applied[mapping.service] = route
        self.m_version.labels(mapping.service).set(route.version)
        self.m_epoch.labels(mapping.service).set(route.epoch)
        # Confirmed: HAProxy, read back, sends traffic to the routed member's server alone.
        self.watcher.acknowledge(mapping.service, route,
                                 confirmed=not self.faults.get(mapping.service, ("unread",)))

    async def _converge(self, mapping: Mapping, route: Route, heard: float) -> None:
        """Send the plan, read HAProxy back, and repeat while the read-back shows something
        a command can put right (at most REPAIR_ROUNDS times), and record what stays wrong.

        The first commands for a newer route are its apply; any later ones, and any for a
        route already applied (a resync that finds HAProxy changed), are repairs."""
        service, backend = mapping.service, mapping.backend
        servers = await self._read(mapping)
        names = frozenset(s.name for s in servers)
        named = self._named.setdefault(backend, route.primary in names)
        if named and route.primary not in names:
            raise HaproxyError(f"backend {backend!r} has no server named "
                               f"{route.primary!r}; left as it is")
        members = names if named else frozenset()
        newer = self.applied.get(service) != route
        for round_ in range(REPAIR_ROUNDS + 1):
            faults = verify_haproxy(servers, route, members)
            try:
                commands = repair_commands(backend, route, faults, self._shutdown)
            except ValueError as exc:  # a name HAProxy reported that no command may hold
                raise HaproxyError(f"backend {backend!r}: {exc}") from None
            if not commands:
                break
            await self.runtime.commands(commands)
            if round_ == 0 and newer:
                self.m_apply.observe(time.monotonic() - heard)
                log.info(Event.HAPROXY_APPLIED, service=service, backend=backend,
                         primary=route.primary, epoch=route.epoch, version=route.version,
                         commands=commands)
            else:
                self.m_repairs.labels(service).inc()
                log.warning(Event.HAPROXY_REPAIRED, service=service, backend=backend,
                            primary=route.primary, version=route.version,
                            wrong=[str(f) for f in faults], commands=commands)
            servers = await self._read(mapping)
        else:
            faults = verify_haproxy(servers, route, members)
        self._record(mapping, route, [str(f) for f in faults],
                     tuple(s.name for s in servers if s.serving))

    def _record(self, mapping: Mapping, route: Route, faults: list[str],
                serving: tuple[str, ...]) -> None:
        """Record a read-back; log only when what is wrong changes, not every resync."""
        service = mapping.service
        before = self.faults.get(service)
        self.faults[service], self.serving[service] = tuple(faults), serving
        self.m_verified.labels(service).set(0 if faults else 1)
        if faults and tuple(faults) != before:
            log.error(Event.HAPROXY_UNREPAIRED, service=service, backend=mapping.backend,
                      primary=route.primary, version=route.version, wrong=faults,
                      serving=list(serving))
        elif not faults and before:
            log.info(Event.HAPROXY_VERIFIED, service=service, backend=mapping.backend,
                     primary=route.primary, version=route.version, serving=list(serving))

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self._resync)
            for mapping in self.mappings:
                staleness = self.watcher.staleness(mapping.service)
                if staleness is not None:
                    self.m_staleness.labels(mapping.service).set(staleness)
            await self.sync_all()

    def healthy(self) -> tuple[bool, dict[str, object]]:
        """Healthy: Redis heard from within the budget, and for every service a route
        applied and HAProxy, read back, sending its traffic to the routed member alone; and
        Redis not holding an older route than the one applied for longer than the budget
        (a forged route obeyed, then repaired by the leader: restart the agent)."""
        detail: dict[str, object] = {}
        ok = True
        for mapping in self.mappings:
            service = mapping.service
            staleness = self.watcher.staleness(service)
            route = self.applied.get(service)
            fresh = staleness is not None and staleness <= self.budget
            faults = self.faults.get(service)
            verified = faults is not None and not faults
            behind = self.watcher.behind(service)
            ok = ok and fresh and route is not None and verified and \
                (behind is None or behind <= self.budget)
            detail[service] = {
                "backend": mapping.backend, "primary": route.primary if route else None,
                "version": route.version if route else None,
                "staleness_s": None if staleness is None else round(staleness, 3),
                "verified": verified, "serving": list(self.serving.get(service, ())),
                "wrong": list(faults or ()), "refused": self.watcher.refused(service),
                "redis_older_s": None if behind is None else round(behind, 3)}
        return ok, detail

    def app(self) -> web.Application:
        async def healthz(request: web.Request) -> web.Response:
            ok, detail = self.healthy()
            return web.json_response({"healthy": ok, "services": detail},
                                     status=200 if ok else 503)

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=generate_latest(self.registry),
                                headers={"Content-Type": "text/plain; version=0.0.4"})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics)
        return app


def _command(*words: str) -> str:
    try:
        return runtime_command(*words)
    except ValueError as exc:
        raise HaproxyError(str(exc)) from None


def parse_mappings(specs: list[str]) -> list[Mapping]:
    """``SERVICE=BACKEND`` pairs; raise ValueError naming the bad one."""
    mappings = []
    for spec in specs:
        service, sep, backend = spec.partition("=")
        if not sep or not re.fullmatch(NAME_PATTERN, service) \
                or not re.fullmatch(r"[A-Za-z0-9_.:-]+", backend):
            raise ValueError(f"--backend {spec!r}: expected SERVICE=BACKEND (a service name, "
                             "and an HAProxy backend name: letters, digits, '_.:-')")
        mappings.append(Mapping(service, backend))
    return mappings
