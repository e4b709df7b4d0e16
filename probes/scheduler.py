"""Probe every member on its own schedule and report each result as it happens.

One task per member, so a slow or hanging target never delays another. A member whose health
is in doubt (a failure while healthy, a pass while failing, not yet known) is probed again at
``fast_interval`` instead of ``interval``, as HAProxy's ``fastinter`` does: detection waits for
``fall`` quick re-probes, not ``fall`` whole intervals.

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
    Thresholds,
    assess,
    fold_check,
)
from probes.kinds import Outcome, Probe, ProbeContext, make_probe

log = structlog.get_logger("probes")


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """Handed to the listener after every probe."""

    service: str
    member: str
    before: MemberHealth
    after: MemberHealth
    lag: float  # seconds the probe started later than planned (event-loop pressure)


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
    def __init__(
        self, service: str, member: str, probe: Probe, policy: PolicyConfig, listener: Listener
    ) -> None:
        self.service, self.member = service, member
        self.state = MemberHealth()
        self._probe, self._policy, self._listener = probe, policy, listener
        self._thresholds = thresholds_of(policy)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        policy = self._policy
        # Spread the first probes of many members over one interval.
        next_at = loop.time() + random.uniform(0, policy.interval)
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            started = loop.time()
            outcome = await self._check_once()
            finished = loop.time()
            result = ProbeResult(
                outcome.answered, outcome.ok, finished - started, outcome.detail, finished
            )
            before, self.state = self.state, assess(self.state, result, self._thresholds)
            self._listener(
                ProbeReport(self.service, self.member, before, self.state, started - next_at)
            )
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
    """Owns the shared HTTP session and one prober task per member."""

    def __init__(self, services: list[ServiceConfig], headers: dict[str, str],
                 listener: Listener, check_listener: CheckListener | None = None) -> None:
        self._services, self._headers, self._listener = services, headers, listener
        self._check_listener = check_listener or (lambda report: None)
        self.probers: dict[tuple[str, str], MemberProber] = {}
        self.checks: dict[tuple[str, str], list[CheckRunner]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

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
                context = replace(shared, variables=_variables(service, member))
                prober = MemberProber(service.name, member.name, make_probe(member.probe, context),
                                      service.policy, self._listener)
                self.probers[(service.name, member.name)] = prober
                self._tasks.append(asyncio.create_task(
                    prober.run(), name=f"probe:{service.name}/{member.name}"))
                runners = self.checks[(service.name, member.name)] = []
                for check in member.readiness:
                    runner = CheckRunner(service.name, member.name, check,
                                         make_probe(check, context), self._check_listener)
                    runners.append(runner)
                    self._tasks.append(asyncio.create_task(
                        runner.run(), name=f"check:{service.name}/{member.name}/{check.name}"))

    def health(self, service: str, member: str) -> MemberHealth:
        return self.probers[(service, member)].state

    def readiness(self, service: str, member: str) -> dict[str, CheckState]:
        """Each readiness check's latest state (empty: the member has none)."""
        return {r.config.name: r.state for r in self.checks.get((service, member), [])}


    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()


def _variables(service: ServiceConfig, member: MemberConfig) -> dict[str, str]:
    return {"service": service.name, "member": member.name, "address": member.address}
