"""Probe every member on its own schedule and report each result as it happens.

One task per member, so a slow or hanging target never delays another. A member whose health
is in doubt (a failure while healthy, a pass while failing, not yet known) is probed again at
``fast_interval`` instead of ``interval``, as HAProxy's ``fastinter`` does: detection waits for
``fall`` quick re-probes, not ``fall`` whole intervals.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import structlog

from config.models import PolicyConfig, ServiceConfig
from probes.health import MemberHealth, ProbeResult, Thresholds, assess
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
        timeout = self._policy.timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._probe.check()
        except TimeoutError:
            return Outcome(False, False, f"no answer within {timeout:g}s")
        except Exception as exc:  # a probe bug must not stop probing
            log.exception("probe_crashed", service=self.service, member=self.member)
            return Outcome(False, False, f"probe error: {type(exc).__name__}")


class ProbeScheduler:
    """Owns the shared HTTP session and one prober task per member."""

    def __init__(self, services: list[ServiceConfig], headers: dict[str, str],
                 listener: Listener) -> None:
        self._services, self._headers, self._listener = services, headers, listener
        self.probers: dict[tuple[str, str], MemberProber] = {}
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
        context = ProbeContext(self._session, self._headers)
        for service in self._services:
            for member in service.members:
                prober = MemberProber(service.name, member.name, make_probe(member.probe, context),
                                      service.policy, self._listener)
                self.probers[(service.name, member.name)] = prober
                self._tasks.append(asyncio.create_task(
                    prober.run(), name=f"probe:{service.name}/{member.name}"))

    def health(self, service: str, member: str) -> MemberHealth:
        return self.probers[(service, member)].state

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
