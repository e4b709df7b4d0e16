"""Probe every member on its own schedule and report each result as it happens.

One task per member, so a slow or hanging target never delays another. A member whose health
is in doubt (a failure while healthy, a pass while failing, not yet known) is probed again at
``fast_interval`` instead of ``interval``, as HAProxy's ``fastinter`` does: detection waits for
``fall`` quick re-probes, not ``fall`` whole intervals.

A member's ``primary_probe`` (a write canary) runs only while the member is the routed
primary: the daemon says which member that is (``route_changed``) whenever the decision
changes, and the scheduler starts that member's primary_probe (probed at once, with a fresh
fall/rise history) and stops the old primary's. How the two probes make the member's health
is probes/roles.py; a change of route that changes a member's health is reported like a
probe (``ProbeReport.result`` None).

Readiness checks (backups, RAID, disk: "could it take over?") run on their own, slower
schedules, one task per check, and are reported the same way. They never change health.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import aiohttp
import structlog

from config.models import MemberConfig, PolicyConfig, ReadinessConfig, ServiceConfig
from controller.events import Event
from probes.health import (
    CheckState,
    MemberHealth,
    ProbeResult,
    ProbeRole,
    Thresholds,
    assess,
    fold_check,
)
from probes.kinds import Outcome, Probe, ProbeContext, make_probe
from probes.roles import combine

log = structlog.get_logger("probes")


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """Handed to the listener after every probe, and when a move of the route changes a
    member's health. ``before`` and ``after`` are the member's health as the core sees it
    (both probes combined, probes/roles.py)."""

    service: str
    member: str
    before: MemberHealth
    after: MemberHealth
    lag: float  # seconds the probe started later than planned (event-loop pressure)
    result: ProbeResult | None = None  # None: no probe ran, the route moved
    probe: ProbeRole | None = None  # which of the member's probes ran


Listener = Callable[[ProbeReport], None]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Handed to the readiness listener after every readiness check."""

    service: str
    member: str
    check: str
    before: CheckState
    after: CheckState


CheckListener = Callable[[CheckReport], None]


async def bounded(probe: Probe, limit: float, where: str) -> Outcome:
    """One check within ``limit`` seconds; a timeout or a bug is a failed result."""
    try:
        async with asyncio.timeout(limit):
            return await probe.check()
    except TimeoutError:
        return Outcome(False, False, f"no answer within {limit:g}s")
    except Exception as exc:  # a probe bug must not stop probing
        log.exception(Event.PROBE_CRASHED, where=where)
        return Outcome(False, False, f"probe error: {type(exc).__name__}")


def thresholds_of(policy: PolicyConfig) -> Thresholds:
    return Thresholds(fall=policy.fall, rise=policy.rise, degraded_latency=policy.degraded_latency)


class MemberProber:
    """One of a member's probes on its schedule; ``probed`` hears of every result."""

    def __init__(self, service: str, member: str, probe: Probe, policy: PolicyConfig,
                 probed: Callable[[MemberProber, float], None],
                 role: ProbeRole = ProbeRole.LIVENESS) -> None:
        self.service, self.member, self.role = service, member, role
        self.state = MemberHealth()
        self._probe, self._policy, self._probed = probe, policy, probed
        self._thresholds = thresholds_of(policy)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        policy = self._policy
        # Spread the first liveness probes of many members over one interval; a new
        # primary's primary_probe goes at once: a switchover's verify step waits for it.
        spread = random.uniform(0, policy.interval) if self.role is ProbeRole.LIVENESS else 0.0
        next_at = loop.time() + spread
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            started = loop.time()
            outcome = await self._check_once()
            finished = loop.time()
            result = ProbeResult(
                outcome.answered, outcome.ok, finished - started, outcome.detail, finished
            )
            self.state = assess(self.state, result, self._thresholds, self.role)
            self._probed(self, started - next_at)
            if self.state.in_doubt:
                period = policy.fast_interval
            else:  # a little jitter keeps many members from probing in lockstep
                period = policy.interval * random.uniform(0.95, 1.05)
            next_at = max(started + period, finished)

    async def _check_once(self) -> Outcome:
        return await bounded(self._probe, self._policy.timeout,
                             f"{self.service}/{self.member}")


class CheckRunner:
    """One readiness check of one member, every ``interval`` seconds."""

    def __init__(self, service: str, member: str, config: ReadinessConfig, probe: Probe,
                 listener: CheckListener) -> None:
        self.service, self.member, self.config = service, member, config
        self.state = CheckState()
        self._probe, self._listener = probe, listener

    async def run(self) -> None:
        # First results soon after start (spread a little), then on the check's interval.
        await asyncio.sleep(random.uniform(0, min(1.0, self.config.interval)))
        while True:
            outcome = await bounded(self._probe, self.config.timeout,
                                    f"{self.service}/{self.member}/{self.config.name}")
            detail = outcome.detail if outcome.answered or outcome.ok else \
                f"unreachable: {outcome.detail}"
            before, self.state = self.state, fold_check(self.state, outcome.ok, detail,
                                                        time.time())
            self._listener(CheckReport(self.service, self.member, self.config.name, before,
                                       self.state))
            await asyncio.sleep(self.config.interval * random.uniform(0.95, 1.05))


class ProbeScheduler:
    """Owns the shared HTTP session, one liveness prober task per member, the primary_probe
    task of each service's routed primary, and each member's combined health."""

    def __init__(self, services: list[ServiceConfig], headers: dict[str, str],
                 listener: Listener, check_listener: CheckListener | None = None) -> None:
        self._services, self._headers, self._listener = services, headers, listener
        self._check_listener = check_listener or (lambda report: None)
        self.probers: dict[tuple[str, str], MemberProber] = {}  # liveness
        self.checks: dict[tuple[str, str], list[CheckRunner]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._health: dict[tuple[str, str], MemberHealth] = {}  # combined (probes/roles.py)
        self._primary: dict[str, str | None] = {}  # the routed primary, as last told
        self._primary_probes: dict[tuple[str, str], Probe] = {}  # made once, at start
        self._roles: dict[tuple[str, str], tuple[MemberProber, asyncio.Task[None]]] = {}
        self._ending: set[asyncio.Task[None]] = set()
        self._policies = {service.name: service.policy for service in services}

    async def start(self) -> None:
        members = sum(len(s.members) for s in self._services)
        connector = aiohttp.TCPConnector(
            limit=max(100, 2 * members), limit_per_host=8, enable_cleanup_closed=True
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None), cookie_jar=
            aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",),
        )
        shared = ProbeContext(self._session, self._headers)
        for service in self._services:
            for member in service.members:
                key = (service.name, member.name)
                context = replace(shared, variables=_variables(service, member))
                prober = MemberProber(service.name, member.name, make_probe(member.probe, context),
                                      service.policy, self._probed)
                self.probers[key] = prober
                self._health[key] = MemberHealth()
                if member.primary_probe is not None:
                    self._primary_probes[key] = make_probe(member.primary_probe, context)
                self._tasks.append(asyncio.create_task(
                    prober.run(), name=f"probe:{service.name}/{member.name}"))
                runners = self.checks[key] = []
                for check in member.readiness:
                    runner = CheckRunner(service.name, member.name, check,
                                         make_probe(check, context), self._check_listener)
                    runners.append(runner)
                    self._tasks.append(asyncio.create_task(
                        runner.run(), name=f"check:{service.name}/{member.name}/{check.name}"))
            primary = self._primary.get(service.name)
            if primary is not None:  # told before start
                self._start_primary_probe(service.name, primary)

    def route_changed(self, service: str, primary: str | None) -> None:
        """The routed primary of ``service`` is now ``primary``: the old primary's
        primary_probe stops counting at once, the new one's starts afresh."""
        old = self._primary.get(service)
        if old == primary or service not in self._policies:
            return
        self._primary[service] = primary
        if old is not None:
            entry = self._roles.pop((service, old), None)
            if entry is not None:  # held until it ends, for stop() to await
                entry[1].cancel()
                self._ending.add(entry[1])
                entry[1].add_done_callback(self._ending.discard)
        if primary is not None and self._session is not None:
            self._start_primary_probe(service, primary)
        for member in (old, primary):
            if member is not None and (service, member) in self._health:
                self._report(service, member, 0.0, None, None)

    def _start_primary_probe(self, service: str, member: str) -> None:
        probe = self._primary_probes.get((service, member))
        if probe is None:
            return
        prober = MemberProber(service, member, probe, self._policies[service], self._probed,
                              ProbeRole.PRIMARY)
        task = asyncio.create_task(prober.run(), name=f"primary-probe:{service}/{member}")
        self._roles[(service, member)] = (prober, task)

    def _probed(self, prober: MemberProber, lag: float) -> None:
        key = (prober.service, prober.member)
        if prober.role is ProbeRole.PRIMARY and self._roles.get(key, (None,))[0] is not prober:
            return  # stopped by a move of the route while its probe was out
        self._report(prober.service, prober.member, lag, prober.state.last, prober.role)

    def _report(self, service: str, member: str, lag: float, result: ProbeResult | None,
                probe: ProbeRole | None) -> None:
        key = (service, member)
        before = self._health[key]
        role = self._roles.get(key)
        after = combine(before, self.probers[key].state, role[0].state if role else None,
                        result.at if result is not None else time.monotonic())
        self._health[key] = after
        if result is not None or after.health is not before.health:
            self._listener(ProbeReport(service, member, before, after, lag, result, probe))

    def health(self, service: str, member: str) -> MemberHealth:
        """The member's health as the core sees it: both of its probes combined."""
        return self._health[(service, member)]

    def primary_check(self, service: str, member: str) -> MemberHealth | None:
        """The member's primary_probe's own health: None if it has none; unknown while it
        is not the routed primary (the probe is not running)."""
        if (service, member) not in self._primary_probes:
            return None
        role = self._roles.get((service, member))
        return role[0].state if role else MemberHealth()

    def readiness(self, service: str, member: str) -> dict[str, CheckState]:
        """Each readiness check's latest state (empty: the member has none)."""
        return {r.config.name: r.state for r in self.checks.get((service, member), [])}

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._ending, *(task for _, task in self._roles.values())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._roles.clear()
        if self._session is not None:
            session, self._session = self._session, None  # no primary_probe starts after
            await session.close()


def _variables(service: ServiceConfig, member: MemberConfig) -> dict[str, str]:
    return {"service": service.name, "member": member.name, "address": member.address}
