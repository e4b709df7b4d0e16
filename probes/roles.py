"""Pure: a member's health as the core sees it, from its two probes. No I/O, no clock.

Every member has a liveness ``probe`` (always run: "is it up, and could it take over?") and
may have a ``primary_probe`` (a write canary) that runs only while it is the routed primary.
The rule:

* A standby's health is its liveness probe's. Its primary_probe does not run: a fenced old
  primary fails its write canary by design, and must still count as a healthy standby that
  a switchover can go back to.
* The routed primary's health is the worse of both, once its primary_probe has a verdict:
  a failing primary_probe (``fall`` failures) makes it degraded (down only if its liveness
  probe gets no answer either, or has no verdict yet and the primary_probe gets none: a member
  whose read endpoint answers still answers). A primary_probe without a verdict yet (just
  routed: fewer than ``fall`` failures and ``rise`` passes) changes nothing, so a move of the
  route never by itself makes the new primary look worse than it did as a standby, which
  would invite an immediate failover back.
* When the route moves, the old primary's primary_probe stops counting at once and the new
  primary's starts from nothing (its own fall/rise history), probed at once and then every
  ``fast_interval`` until it has a verdict. A switchover's verify step requires that verdict
  to be healthy (see ``verified``).
"""

from __future__ import annotations

from dataclasses import replace

from probes.health import Health, MemberHealth


def combine(previous: MemberHealth, liveness: MemberHealth, primary: MemberHealth | None,
            at: float) -> MemberHealth:
    """The member's health from its liveness probe's and, while it is the routed primary and
    has one, its primary_probe's (None otherwise). ``previous`` is the last combined health,
    for ``since``; ``at`` is now (monotonic)."""
    health = liveness.health
    counted = [liveness]
    if primary is not None:
        counted.append(primary)
        if primary.health.failing and health is not Health.DOWN:
            answers = health in (Health.HEALTHY, Health.DEGRADED)
            health = Health.DEGRADED if answers else primary.health
    recent = tuple(sorted((e for state in counted for e in state.recent), key=lambda e: e.at))
    lasts = [state.last for state in counted if state.last is not None]
    return replace(
        liveness, health=health,
        failures=max(state.failures for state in counted),
        passes=min(state.passes for state in counted),
        since=previous.since if health is previous.health else at,
        last=max(lasts, key=lambda result: result.at) if lasts else None,
        recent=recent)


def verified(primary: MemberHealth | None) -> bool:
    """A new primary's primary_probe has passed ``rise`` times in a row (True as well when it
    has none): what a switchover's verify step waits for besides the combined health."""
    return primary is None or primary.health is Health.HEALTHY
