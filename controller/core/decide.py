"""The failover policy, as one pure function: ``decide(view, now) -> Decision``.

No I/O, no asyncio, no clock: the shell passes what it knows (the committed primary, each
member's health, the mode, when the last recovery ended) and the time, and gets back what to
do and why. Read this file to answer "why did (or didn't) it fail over?".

The rules, in the order they are checked:
1. One recovery in flight per service: while one runs, nothing new starts.
2. A primary that is healthy, or whose health is not known yet, is left alone.
3. A failing primary (degraded or down) is replaced only by a member that is healthy, is not
   waiting to be fenced, and has not already failed to be promoted in this episode; the best
   is a ready one (its readiness checks pass) before one that is not, then the highest
   priority, then the name, so every replica picks the same one. A member that is healthy
   but not ready is promoted only as a last resort: no ready candidate, and a primary that
   is down (one that still answers, degraded, is kept rather than replaced by it).
4. Quorum: at least ``quorum`` live replicas (the leader included; default a majority) must
   see the primary failing, and a majority must see the candidate healthy. A leader that
   alone sees a failure is more likely cut off from the primary than the primary is down.
5. Paused: nothing. Dry-run: say what would happen, do nothing.
6. Cooldown, counted from the end of the last recovery; and a short back-off after a failed
   attempt. The decision then says when to look again.
There is no automatic failback: a recovered former primary is a standby like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from probes.health import Health


class Mode(StrEnum):
    AUTO = "auto"
    PAUSED = "paused"
    DRY_RUN = "dry-run"


class Action(StrEnum):
    NONE = "none"  # nothing to do
    WAIT = "wait"  # something should be done, but not before ``wake_at``
    FAILOVER = "failover"
    DRY_RUN = "dry-run"  # would fail over; record it and do nothing


class Reason(StrEnum):
    NO_DECISION = "no_decision"  # nothing committed yet (bootstrap pending)
    RECOVERY_IN_FLIGHT = "recovery_in_flight"
    PRIMARY_HEALTHY = "primary_healthy"
    PRIMARY_UNKNOWN = "primary_health_unknown"
    PRIMARY_FAILING = "primary_failing"
    PRIMARY_NOT_CONFIGURED = "primary_not_configured"
    NO_HEALTHY_CANDIDATE = "no_healthy_candidate"
    QUORUM_NOT_REACHED = "quorum_not_reached"  # too few replicas see the primary failing
    CANDIDATE_NOT_CONFIRMED = "candidate_not_confirmed"  # no majority sees a candidate healthy
    NO_READY_CANDIDATE = "no_ready_candidate"  # only not-ready ones, and the primary answers
    PAUSED = "paused"
    DRY_RUN = "dry_run"  # would act, but the service only records what it would do
    COOLDOWN = "cooldown"
    RETRY_BACKOFF = "retry_backoff"


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    priority: int
    health: Health
    # The member was primary, and fencing it failed while it was unreachable: it may still
    # believe it is primary, so it is never a candidate until a fence succeeds.
    unfenced: bool = False
    evidence: tuple[Mapping[str, object], ...] = ()
    # How many live replicas (this one included) see the member failing / healthy. The
    # defaults are a single replica's own view.
    failing_votes: int | None = None
    healthy_votes: int | None = None
    # Why it could not take over safely (failing readiness checks); () when ready.
    not_ready: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.not_ready

    @property
    def failing(self) -> int:
        return self.failing_votes if self.failing_votes is not None else int(
            self.health.failing)

    @property
    def healthy(self) -> int:
        return self.healthy_votes if self.healthy_votes is not None else int(
            self.health is Health.HEALTHY)


@dataclass(frozen=True, slots=True)
class ServiceView:
    name: str
    primary: str | None
    members: tuple[MemberView, ...]
    mode: Mode = Mode.AUTO
    cooldown: float = 60.0
    retry_backoff: float = 5.0
    last_recovery_end: float | None = None  # wall-clock seconds, as ``now``
    last_failed_attempt: float | None = None
    recovery_in_flight: bool = False
    excluded: frozenset[str] = frozenset()  # failed to promote during this episode
    replicas: int = 1  # live replicas whose views are counted, this one included
    quorum: int | None = None  # replicas that must see the primary failing; None: majority

    @property
    def majority(self) -> int:
        return self.replicas // 2 + 1

    @property
    def required(self) -> int:
        return self.quorum if self.quorum is not None else self.majority

    def member(self, name: str | None) -> MemberView | None:
        return next((m for m in self.members if m.name == name), None)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: Reason
    target: str | None = None
    fallbacks: tuple[str, ...] = ()  # next candidates, best first, should ``target`` fail
    wake_at: float | None = None
    evidence: Mapping[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "action": str(self.action),
            "reason": str(self.reason),
            "target": self.target,
            "fallbacks": list(self.fallbacks),
            "wake_at": self.wake_at,
            "evidence": dict(self.evidence),
        }


def candidates(view: ServiceView) -> tuple[MemberView, ...]:
    """Members that may be promoted, best first."""
    eligible = [
        m
        for m in view.members
        if m.name != view.primary
        and m.health is Health.HEALTHY
        and not m.unfenced
        and m.name not in view.excluded
    ]
    return tuple(sorted(eligible, key=rank))


def rank(member: MemberView) -> tuple[bool, int, str]:
    """Ready first, then priority, then name: the same order on every replica."""
    return (not member.ready, -member.priority, member.name)


def redundancy(view: ServiceView) -> tuple[bool, dict[str, object]]:
    """Can the service survive the loss of its primary now? Only with a standby that is
    healthy, ready and not awaiting a fence."""
    standbys = {m.name: {"health": str(m.health), "ready": m.ready,
                         "not_ready": list(m.not_ready), "unfenced": m.unfenced}
                for m in view.members if m.name != view.primary}
    able = sorted(m.name for m in view.members
                  if m.name != view.primary and m.health is Health.HEALTHY and m.ready
                  and not m.unfenced)
    return bool(able), {"ready_standbys": able, "standbys": standbys}


def confirmed(view: ServiceView) -> tuple[MemberView, ...]:
    """Candidates that a majority of live replicas also see healthy, best first."""
    return tuple(m for m in candidates(view) if m.healthy >= view.majority)


@dataclass(frozen=True, slots=True)
class Check:
    """One condition of the policy, evaluated on its own: ``explain`` shows every one."""

    name: str
    ok: bool
    reason: Reason | None = None  # why it blocks (None when ok)
    evidence: Mapping[str, object] = field(default_factory=dict)
    until: float | None = None  # a blocking timer's end (cooldown, back-off)

    def as_dict(self) -> dict[str, object]:
        return {"check": self.name, "ok": self.ok,
                "reason": None if self.reason is None else str(self.reason),
                "until": self.until, "evidence": dict(self.evidence)}


def checks(view: ServiceView, now: float) -> tuple[Check, ...]:
    """Every rule of the module docstring, in order, each evaluated whatever the others say.

    ``decide`` acts on the first that blocks; an operator asking "why not?" sees them all.
    """
    primary = view.member(view.primary)
    return (
        Check("decision_committed", view.primary is not None,
              None if view.primary is not None else Reason.NO_DECISION,
              {"primary": view.primary}),
        Check("no_recovery_in_flight", not view.recovery_in_flight,
              Reason.RECOVERY_IN_FLIGHT if view.recovery_in_flight else None),
        *_primary_checks(view, primary),
        *_candidate_checks(view, primary),
        Check("mode", view.mode is Mode.AUTO,
              {Mode.AUTO: None, Mode.PAUSED: Reason.PAUSED, Mode.DRY_RUN: Reason.DRY_RUN}[
                  view.mode], {"mode": str(view.mode)}),
        _timer("cooldown", view.last_recovery_end, view.cooldown, now, Reason.COOLDOWN,
               "cooldown_until"),
        _timer("retry_backoff", view.last_failed_attempt, view.retry_backoff, now,
               Reason.RETRY_BACKOFF, "retry_after"),
    )


def _primary_checks(view: ServiceView, primary: MemberView | None) -> tuple[Check, ...]:
    """Rules 2 and 4's first half: the primary fails, and enough replicas see it."""
    if primary is None:  # no decision (blocked above), or a primary no longer configured
        return (Check("primary_failing", True, None,
                      {"primary_configured": False} if view.primary else {}),)
    blocked = {Health.HEALTHY: Reason.PRIMARY_HEALTHY,
               Health.UNKNOWN: Reason.PRIMARY_UNKNOWN}.get(primary.health)
    votes = {"failing": primary.failing, "replicas": view.replicas, "required": view.required}
    enough = primary.failing >= view.required
    return (Check("primary_failing", blocked is None, blocked,
                  {"primary_health": str(primary.health),
                   "primary_probes": list(primary.evidence)}),
            Check("quorum", enough, None if enough else Reason.QUORUM_NOT_REACHED,
                  {"votes": votes}))


def _candidate_checks(view: ServiceView, primary: MemberView | None) -> tuple[Check, ...]:
    """Rules 3 and 4's second half: a candidate, that a majority confirms, ready (or the
    last resort)."""
    members = {
        m.name: {"health": str(m.health), "unfenced": m.unfenced, "priority": m.priority,
                 "excluded": m.name in view.excluded, "healthy_votes": m.healthy}
        for m in view.members
        if m.name != view.primary
    }
    own, ranked = candidates(view), confirmed(view)
    best = ranked[0] if ranked else None
    last_resort = primary is None or primary.health is Health.DOWN
    usable = best is None or best.ready or last_resort
    ready_evidence: dict[str, object] = {"candidate": best.name if best else None,
                                         "ready": best.ready if best else None}
    if best is not None and not best.ready:
        ready_evidence.update(not_ready=list(best.not_ready), last_resort=last_resort)
    return (
        Check("healthy_candidate", bool(own), None if own else Reason.NO_HEALTHY_CANDIDATE,
              {"members": members, "candidates": [m.name for m in own]}),
        Check("candidate_confirmed", bool(ranked),
              None if ranked else Reason.CANDIDATE_NOT_CONFIRMED,
              {"confirmed": [m.name for m in ranked], "majority": view.majority}),
        Check("ready_candidate", usable, None if usable else Reason.NO_READY_CANDIDATE,
              ready_evidence),
    )


def _timer(name: str, since: float | None, length: float, now: float, reason: Reason,
           key: str) -> Check:
    """Rule 6: a wait of ``length`` from ``since``; blocking until its end, which it names."""
    end = since + length if since is not None else None
    if end is None or now >= end:
        return Check(name, True)
    return Check(name, False, reason, {key: end}, end)


def decide(view: ServiceView, now: float) -> Decision:
    """Act on the first check that blocks; fail over when none does."""
    ranked = confirmed(view)
    target = ranked[0].name if ranked else None
    fallbacks = tuple(m.name for m in ranked[1:])
    evidence: dict[str, object] = {"primary": view.primary}
    primary = view.member(view.primary)
    failing_reason = (Reason.PRIMARY_NOT_CONFIGURED if primary is None
                      else Reason.PRIMARY_FAILING)
    for check in checks(view, now):
        evidence.update(check.evidence)
        if check.ok:
            continue
        assert check.reason is not None
        if check.reason is Reason.DRY_RUN:
            return Decision(Action.DRY_RUN, failing_reason, target, fallbacks, evidence=evidence)
        if check.reason is Reason.PAUSED:
            return Decision(Action.NONE, Reason.PAUSED, target, fallbacks, evidence=evidence)
        if check.until is not None:
            return Decision(Action.WAIT, check.reason, target, fallbacks, check.until, evidence)
        return Decision(Action.NONE, check.reason, evidence=evidence)
    assert target is not None  # candidate_confirmed passed
    return Decision(Action.FAILOVER, failing_reason, target, fallbacks, evidence=evidence)
