"""The waits of a switchover: on this replica's probes, the target turning healthy (and
ready) before its promote, and the new primary staying healthy through the verify window,
each ending as soon as a health change settles it, or at its deadline; then the followers
acknowledging the new route (read from Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from controller.core.errors import StoreError
from controller.followers.acks import STALE_AFTER, Ack, followers_applied, required
from probes.health import Health, readiness
from probes.roles import verified
from probes.scheduler import ProbeScheduler

WaitChange = Callable[[float], Awaitable[bool]]


async def await_ready(probes: ProbeScheduler, wait_change: WaitChange, service: str,
                      member: str, limit: float, force: bool) -> tuple[bool, str]:
    """Until the target is healthy and (unless forced) ready, within ``limit``."""
    deadline = time.monotonic() + limit
    while True:
        health = probes.health(service, member).health
        reasons = () if force else readiness(probes.readiness(service, member))
        if health is Health.HEALTHY and not reasons:
            forced = readiness(probes.readiness(service, member)) if force else ()
            return True, f"{member} is healthy" + (
                f"; not ready, forced: {'; '.join(forced)}" if forced else "")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            why = f"{health}" if health is not Health.HEALTHY else "not ready: " + \
                "; ".join(reasons)
            return False, f"{member} still {why} after {limit:g}s"
        await wait_change(remaining)


async def verify(probes: ProbeScheduler, wait_change: WaitChange, service: str, member: str,
                 window: float) -> tuple[bool, str]:
    """The new primary must not turn failing during ``window`` (its probes, as they come,
    its primary_probe included), and must be healthy at its end, with its primary_probe
    passed ``rise`` times since the route moved (probes/roles.py)."""
    deadline = time.monotonic() + window
    while True:
        health = probes.health(service, member)
        if health.health.failing:
            detail = "; ".join(f"{e.probe} {e.verdict} {e.detail}" for e in health.recent)
            return False, f"{member} turned {health.health}: {detail}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            role = probes.primary_check(service, member)
            if health.health is Health.HEALTHY and verified(role):
                return True, f"{member} stayed healthy for {window:g}s" + (
                    "; its primary_probe passed" if role is not None else "")
            if health.health is Health.HEALTHY:
                return False, (f"{member}'s primary_probe has no verdict at the end of "
                               f"{window:g}s")
            return False, f"{member} is {health.health} at the end of {window:g}s"
        await wait_change(remaining)


ReadAcks = Callable[[str], Awaitable[list[Ack]]]
FOLLOWERS_WAIT = 10.0  # a switchover's verify step waits this long for the followers
FOLLOWERS_POLL = 0.05  # between reads of the applied hash while waiting


async def await_followers(read_acks: ReadAcks, service: str, version: int,
                          configured: Sequence[str] | None, limit: float) -> str:
    """Until every follower that must apply route ``version`` acknowledged it (confirmed by
    its proxy), within ``limit``: what the verify step's detail then says. "Done" means
    traffic moved, or says who did not follow; a lagging follower does not roll the move
    back (the route is right; the proxy is late)."""
    started = time.monotonic()
    deadline = started + limit
    while True:
        try:
            acks = await read_acks(service)
        except StoreError as exc:
            acks, error = [], str(exc)
        else:
            error = ""
        now = time.time()
        must = required(acks, configured, now)
        done, lagging = followers_applied(acks, version, now, STALE_AFTER, must)
        waited = time.monotonic() - started
        if done:
            if not must:
                return "no follower acknowledges routes (none configured or heard from)"
            return (f"every follower applied version {version} within {waited:.2f}s: "
                    f"{', '.join(sorted(must))}")
        if time.monotonic() >= deadline:
            return (f"not applied within {limit:g}s by {', '.join(lagging)}"
                    + (f" (Redis: {error})" if error else ""))
        await asyncio.sleep(FOLLOWERS_POLL)
