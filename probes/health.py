"""Pure health assessment: probe results in, a member's health out. No I/O, no clock.

A result is classified first (pass, slow, failed answer, no answer); then ``fall``
consecutive failing results make a member failing and ``rise`` consecutive passes make it
healthy again, as HAProxy's checks do. Slowness beyond ``degraded_latency`` is a failing
result, so a primary that answers slowly on every probe is failing, while one slow probe is
not. A failing member that still answers (slow, 5xx: a disk gone read-only) is DEGRADED; one
that does not answer at all is DOWN. Both are failing for the decision core.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Health(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def failing(self) -> bool:
        return self in (Health.DEGRADED, Health.DOWN)


class Verdict(StrEnum):
    PASS = "pass"
    SLOW = "slow"  # answered as expected, but slower than degraded_latency
    BAD_ANSWER = "bad_answer"  # answered, but not as expected (status, body)
    NO_ANSWER = "no_answer"  # refused, reset, timed out

    @property
    def failing(self) -> bool:
        return self is not Verdict.PASS


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe saw. ``latency`` and ``at`` are seconds; ``at`` is monotonic."""

    answered: bool
    ok: bool
    latency: float
    detail: str
    at: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    fall: int
    rise: int
    degraded_latency: float


class ProbeRole(StrEnum):
    """Which of a member's probes a result came from (its config key)."""

    LIVENESS = "probe"  # always run: alive, and could take over
    PRIMARY = "primary_probe"  # run only while the member is the routed primary


@dataclass(frozen=True, slots=True)
class Evidence:
    """A probe result as the decision records it: small, serialisable."""

    verdict: Verdict
    latency_ms: float
    detail: str
    probe: ProbeRole = ProbeRole.LIVENESS
    at: float = 0.0  # monotonic, to merge two probes' evidence in order; not recorded

    def as_dict(self) -> dict[str, object]:
        return {"verdict": str(self.verdict), "latency_ms": self.latency_ms,
                "detail": self.detail, "probe": str(self.probe)}


@dataclass(frozen=True, slots=True)
class MemberHealth:
    health: Health = Health.UNKNOWN
    failures: int = 0  # consecutive failing results
    passes: int = 0  # consecutive passing results
    since: float | None = None  # monotonic time of the last health change
    last: ProbeResult | None = None
    recent: tuple[Evidence, ...] = ()  # newest last; as many as the larger of fall and rise

    @property
    def in_doubt(self) -> bool:
        """True while a change of health is possible soon: probe at ``fast_interval`` then."""
        if self.health is Health.UNKNOWN:
            return True
        if self.health is Health.HEALTHY:
            return self.failures > 0
        return self.passes > 0


def classify(result: ProbeResult, thresholds: Thresholds) -> Verdict:
    if not result.answered:
        return Verdict.NO_ANSWER
    if not result.ok:
        return Verdict.BAD_ANSWER
    if result.latency > thresholds.degraded_latency:
        return Verdict.SLOW
    return Verdict.PASS


def assess(state: MemberHealth, result: ProbeResult, thresholds: Thresholds,
           probe: ProbeRole = ProbeRole.LIVENESS) -> MemberHealth:
    """Fold one result of one of a member's probes into that probe's health."""
    verdict = classify(result, thresholds)
    evidence = Evidence(verdict, round(result.latency * 1000, 1), result.detail, probe,
                        result.at)
    recent = (*state.recent, evidence)[-max(thresholds.fall, thresholds.rise) :]
    if verdict.failing:
        failures, passes = state.failures + 1, 0
        health = state.health
        if failures >= thresholds.fall:
            health = Health.DOWN if verdict is Verdict.NO_ANSWER else Health.DEGRADED
    else:
        failures, passes = 0, state.passes + 1
        health = Health.HEALTHY if passes >= thresholds.rise else state.health
    since = result.at if health is not state.health else state.since
    return replace(
        state,
        health=health,
        failures=failures,
        passes=passes,
        since=since,
        last=result,
        recent=recent,
    )


# --- readiness: "could it take over?", separate from "is it up?" --------------------------


@dataclass(frozen=True, slots=True)
class CheckState:
    """One readiness check of one member. Times are wall-clock seconds (``now``)."""

    ok: bool | None = None  # None: not run yet
    detail: str = "not checked yet"
    since: float | None = None  # when the current result (ok or failing) began
    at: float | None = None  # the last result

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "since": self.since, "at": self.at}


def fold_check(state: CheckState, ok: bool, detail: str, now: float) -> CheckState:
    since = state.since if state.ok is ok and state.since is not None else now
    return CheckState(ok=ok, detail=detail, since=since, at=now)


def readiness(checks: dict[str, CheckState]) -> tuple[str, ...]:
    """Why a member is not ready, one reason a failing (or not yet run) check; () if ready."""
    return tuple(f"{name}: {state.detail}" for name, state in sorted(checks.items())
                 if state.ok is not True)
