"""A graceful switchover as a pure state machine: the record, what each phase does, and
where each outcome leads. No I/O, no clock: the shell passes ``now``.

The leader persists the record in ZooKeeper (fenced by its epoch) before every hook and
every outcome (``durable_before_next``), so a new leader resumes from the last persisted
phase by running that phase's command again; every command is idempotent (hooks get the
epoch; the commit is a compare-and-set). The commit of the new route and the move to
VERIFYING are one ZooKeeper transaction, so "committed" is never ambiguous after a crash.

    SCHEDULED --due--> PENDING --safe--> FENCING -> WAITING -> PROMOTING -> COMMITTING
        |                 |                 |          |          |            |
     cancel            unsafe               +----------+-- fail --+            |
        v                 v                            v                       v
    CANCELLED          REFUSED         ROLLBACK_FENCING (the target) <-fail- VERIFYING --ok--> DONE
                                              v
                                       ROLLBACK_PROMOTING (the old primary)
                                              v  (the route had moved, or marks to record)
                                       ROLLBACK_COMMITTING --> FAILED

A failed fence of the old primary is not a reason to fence the target (it was never
promoted), so it goes straight to ROLLBACK_PROMOTING: the old primary is armed again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from controller.core.preflight import Refusal
from controller.core.records import RouteReason
from controller.core.steps import Hook, Step, as_dicts, passes_failed_fence


class Phase(StrEnum):
    SCHEDULED = "scheduled"
    PENDING = "pending"
    FENCING = "fencing"
    WAITING = "waiting"
    PROMOTING = "promoting"
    COMMITTING = "committing"
    VERIFYING = "verifying"
    ROLLBACK_FENCING = "rollback_fencing"
    ROLLBACK_PROMOTING = "rollback_promoting"
    ROLLBACK_COMMITTING = "rollback_committing"
    DONE = "done"
    FAILED = "failed"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (Phase.DONE, Phase.FAILED, Phase.REFUSED, Phase.CANCELLED)

    @property
    def running(self) -> bool:
        """Started and not finished: the service has a recovery in flight."""
        return not self.terminal and self not in (Phase.SCHEDULED, Phase.PENDING)


class IllegalEvent(ValueError):
    """An event that the current phase cannot take; the record is left as it was."""


# --- the record ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Switchover:
    id: str
    service: str
    requested_by: str  # "operator:<token name>", or "auto:evacuation" for pre-emptive moves
    requested_at: float  # unix seconds
    kind: str = RouteReason.SWITCHOVER  # or EVACUATION: the route's reason when it commits
    to: str | None = None  # as requested; None: the best healthy member
    at: float | None = None  # scheduled for (unix seconds)
    force: bool = False
    phase: Phase = Phase.PENDING
    source: str | None = None  # the primary when it started
    target: str | None = None  # the member chosen at start
    committed: bool = False  # the route names the target (ZooKeeper)
    rolled_back: bool = False
    reason: str | None = None  # why it was refused, failed or cancelled (a code)
    detail: str | None = None
    unfenced: tuple[str, ...] = ()  # members whose fence failed while unreachable (or forced)
    steps: tuple[Step, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)  # probe views at the start
    epoch: int | None = None  # the last leadership that advanced it
    updated_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def outcome(self) -> str:
        """done / failed / refused / cancelled, or the phase while unfinished."""
        return str(self.phase)

    def with_last_step(self, ms: float | None, detail: str | None = None) -> Switchover:
        """This record with its newest step timed (the commit's, known only after it)."""
        return replace(self, steps=(*self.steps[:-1], self.steps[-1].timed(ms, detail)))

    def to_json(self) -> bytes:
        data = asdict(self)
        data["steps"] = as_dicts(self.steps)
        data["unfenced"] = list(self.unfenced)
        data["evidence"] = dict(self.evidence)
        return json.dumps(data, sort_keys=True, default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Switchover:
        try:
            data: dict[str, Any] = json.loads(raw)
            data["phase"] = Phase(data["phase"])
            data["steps"] = tuple(Step.from_dict(s) for s in data.get("steps", ()))
            data["unfenced"] = tuple(data.get("unfenced", ()))
            return cls(**data)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            # RecursionError: nested deeper than the parser goes (a stranger's node).
            raise ValueError(f"not a switchover record: {raw[:120]!r}") from exc

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.to_json())
        return data


# --- commands (what a phase needs done) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckSafe:
    """Run ``preflight`` on the leader's current view; answer with ``Checked``."""


@dataclass(frozen=True, slots=True)
class RunHook:
    hook: Hook
    member: str


@dataclass(frozen=True, slots=True)
class AwaitHealthy:
    member: str
    timeout: float


@dataclass(frozen=True, slots=True)
class CommitRoute:
    primary: str
    reason: RouteReason
    unfenced: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verify:
    member: str
    window: float


Command = CheckSafe | RunHook | AwaitHealthy | CommitRoute | Verify


@dataclass(frozen=True, slots=True)
class Timing:
    ready_timeout: float  # how long WAITING waits for the target to be healthy
    verify_window: float  # how long the new primary must stay healthy


def command_for(sw: Switchover, timing: Timing) -> Command | None:
    """What ``sw``'s phase needs done; None for SCHEDULED (a timer) and terminal phases."""
    source, target = sw.source or "", sw.target or ""
    match sw.phase:
        case Phase.PENDING:
            return CheckSafe()
        case Phase.FENCING:
            return RunHook(Hook.FENCE, source)
        case Phase.WAITING:
            return AwaitHealthy(target, timing.ready_timeout)
        case Phase.PROMOTING:
            return RunHook(Hook.PROMOTE, target)
        case Phase.COMMITTING:
            return CommitRoute(target, RouteReason(sw.kind), sw.unfenced)
        case Phase.VERIFYING:
            return Verify(target, timing.verify_window)
        case Phase.ROLLBACK_FENCING:
            return RunHook(Hook.FENCE, target)
        case Phase.ROLLBACK_PROMOTING:
            return RunHook(Hook.PROMOTE, source)
        case Phase.ROLLBACK_COMMITTING:
            return CommitRoute(_rollback_primary(sw) or "", RouteReason.ROLLBACK, sw.unfenced)
    return None


def durable_before_next(sw: Switchover) -> bool:
    """Must the shell persist ``sw`` before it runs the next command?

    Yes before a hook: the phase is written ahead of the side effect, so a new leader knows
    it may have happened (and rolls back if needed). Yes for an outcome. No before waiting
    for the target, which does nothing, or before a commit, whose transaction carries the
    record: a leader that dies in between leaves the previous phase persisted, and the next
    one repeats that phase's hook, which is idempotent. One ZooKeeper write fewer each.
    """
    return sw.phase not in (Phase.WAITING, Phase.COMMITTING, Phase.ROLLBACK_COMMITTING)


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A scheduled switchover's time has come."""


@dataclass(frozen=True, slots=True)
class CancelRequested:
    by: str


@dataclass(frozen=True, slots=True)
class Checked:
    source: str | None
    target: str | None
    refusal: Refusal | None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepEnded:
    """A command other than CheckSafe finished. ``reachable``: for a failed fence, whether
    the member still answers its probes (then it may still act as primary). ``final``: a
    failed rollback commit that no retry can mend."""

    ok: bool
    detail: str
    ms: float
    reachable: bool = True
    final: bool = False  # a failure that trying again cannot mend (a member not configured)


Event = Due | CancelRequested | Checked | StepEnded


# --- the transition function --------------------------------------------------------------


def step(sw: Switchover, event: Event, now: float, epoch: int | None = None) -> Switchover:
    """The record after ``event``; raises IllegalEvent (and changes nothing) if ``sw``'s
    phase cannot take it."""
    sw = replace(sw, updated_at=now, epoch=epoch if epoch is not None else sw.epoch)
    phase = sw.phase
    if isinstance(event, CancelRequested):
        if phase not in (Phase.SCHEDULED, Phase.PENDING):
            raise IllegalEvent(f"cannot cancel a switchover that is {phase}")
        return _finish(sw, Phase.CANCELLED, now, "cancelled", f"cancelled by {event.by}")
    if isinstance(event, Due):
        if phase is not Phase.SCHEDULED:
            raise IllegalEvent(f"a {phase} switchover is not waiting for its time")
        return replace(sw, phase=Phase.PENDING)
    if isinstance(event, Checked):
        if phase is not Phase.PENDING:
            raise IllegalEvent(f"a {phase} switchover is not being checked")
        if event.refusal is not None:
            return replace(_finish(sw, Phase.REFUSED, now, str(event.refusal), None),
                           evidence=event.evidence)
        return replace(sw, phase=Phase.FENCING, source=event.source, target=event.target,
                       evidence=event.evidence, started_at=now)
    if phase.terminal or phase in (Phase.SCHEDULED, Phase.PENDING):
        raise IllegalEvent(f"a {phase} switchover runs no step")
    record = Step(step=str(phase), member=_subject(sw), ok=event.ok, ms=event.ms,
                  detail=event.detail, epoch=sw.epoch, at=now)
    sw = replace(sw, steps=(*sw.steps, record))
    return _after_step(sw, event, now)


def _after_step(sw: Switchover, event: StepEnded, now: float) -> Switchover:
    phase, ok = sw.phase, event.ok
    if phase is Phase.FENCING:
        if ok:
            return replace(sw, phase=Phase.WAITING)
        if passes_failed_fence(event.reachable, forced=sw.force):
            # Unreachable (or the operator forced it): go on, and never promote it again
            # until a later fence succeeds.
            return replace(sw, phase=Phase.WAITING,
                           unfenced=_plus(sw.unfenced, sw.source))
        return _fail(sw, Phase.ROLLBACK_PROMOTING, "fence_failed", event.detail)
    if phase is Phase.WAITING:
        return replace(sw, phase=Phase.PROMOTING) if ok else _fail(
            sw, Phase.ROLLBACK_PROMOTING, "target_not_ready", event.detail)
    if phase is Phase.PROMOTING:
        return replace(sw, phase=Phase.COMMITTING) if ok else _fail(
            sw, Phase.ROLLBACK_FENCING, "promote_failed", event.detail)
    if phase is Phase.COMMITTING:
        if ok:
            return replace(sw, phase=Phase.VERIFYING, committed=True)
        return _fail(sw, Phase.ROLLBACK_FENCING, "commit_failed", event.detail)
    if phase is Phase.VERIFYING:
        if ok:
            return _finish(sw, Phase.DONE, now, None, None)
        return _fail(sw, Phase.ROLLBACK_FENCING, "verification_failed", event.detail)
    if phase is Phase.ROLLBACK_FENCING:
        return _after_rollback_fence(sw, event, now)
    if phase is Phase.ROLLBACK_PROMOTING:
        return _after_rollback_promote(sw, event, now)
    if phase is Phase.ROLLBACK_COMMITTING:
        return _after_rollback_commit(sw, event, now)
    raise IllegalEvent(f"no step in phase {phase}")  # pragma: no cover - guarded above


def _after_rollback_fence(sw: Switchover, event: StepEnded, now: float) -> Switchover:
    """The target (which may have been promoted) fenced, or not: arm the old primary only
    if nothing could then act as a second primary."""
    if event.ok or passes_failed_fence(event.reachable):
        unfenced = sw.unfenced if event.ok else _plus(sw.unfenced, sw.target)
        return replace(sw, phase=Phase.ROLLBACK_PROMOTING, unfenced=unfenced)
    # It answers and refused to be fenced: arming the old primary too could make two.
    failed = _also(sw, "rollback fence failed: " + event.detail)
    if not sw.committed:
        # It may have been promoted, and the route never moved: record its mark, so it
        # is fenced before anything else happens to the service.
        return replace(sw, phase=Phase.ROLLBACK_COMMITTING, detail=failed,
                       unfenced=_plus(sw.unfenced, sw.target))
    return _finish(sw, Phase.FAILED, now, sw.reason, failed)


def _after_rollback_promote(sw: Switchover, event: StepEnded, now: float) -> Switchover:
    """The old primary armed again, or not: commit the route back, or the marks alone."""
    if not event.ok:
        failed = _also(sw, "rollback promote failed: " + event.detail)
        if sw.committed:
            # The route stays at the target; the old primary may have taken the promote
            # that failed (it timed out, or lands late): record its mark, so it is
            # fenced before anything else happens (found by the simulation).
            return replace(sw, phase=Phase.ROLLBACK_COMMITTING, detail=failed,
                           unfenced=_plus(sw.unfenced, sw.source))
        if sw.target in sw.unfenced:
            # The old primary is not armed again, but the target's mark (it may have
            # been promoted, and could not be fenced) must still reach the decision.
            return replace(sw, phase=Phase.ROLLBACK_COMMITTING, detail=failed)
        return _finish(sw, Phase.FAILED, now, sw.reason, failed)
    # Commit back to the source; or, when the route never moved, still commit the mark
    # of a target that may have been promoted and could not be fenced.
    if sw.committed or sw.target in sw.unfenced:
        return replace(sw, phase=Phase.ROLLBACK_COMMITTING)
    return replace(_finish(sw, Phase.FAILED, now, sw.reason, sw.detail), rolled_back=True)


def _after_rollback_commit(sw: Switchover, event: StepEnded, now: float) -> Switchover:
    """The route back (or only the marks) committed, or tried again until it lands."""
    if event.ok:  # rolled back when the old primary was armed again; else only marks recorded
        rearmed = _rearmed(sw)
        return replace(_finish(sw, Phase.FAILED, now, sw.reason, sw.detail),
                       committed=sw.committed and not rearmed, rolled_back=rearmed)
    if not event.final:
        # Its marks must reach the decision before the request may end (nothing reads
        # a finished record's): stay, and the shell tries again after retry_backoff
        # (found by review: ending here lost a mark the simulation had made needed).
        return sw
    return _finish(sw, Phase.FAILED, now, sw.reason,
                   _also(sw, "rollback commit failed: " + event.detail))


def _subject(sw: Switchover) -> str | None:
    """The member the current phase acts on."""
    if sw.phase is Phase.ROLLBACK_COMMITTING:
        return _rollback_primary(sw)
    on_source = (Phase.FENCING, Phase.ROLLBACK_PROMOTING)
    return sw.source if sw.phase in on_source else sw.target


def _rearmed(sw: Switchover) -> bool:
    """The rollback promoted the old primary again."""
    return any(s.step == Phase.ROLLBACK_PROMOTING and s.ok for s in sw.steps)


def _rollback_primary(sw: Switchover) -> str | None:
    """Where the rollback's commit routes: back to the old primary if it was armed again
    or the route never moved; else the route stays at the target, and the commit only
    records the marks."""
    return sw.target if sw.committed and not _rearmed(sw) else sw.source


def _fail(sw: Switchover, phase: Phase, reason: str, detail: str) -> Switchover:
    return replace(sw, phase=phase, reason=reason, detail=detail)


def _finish(sw: Switchover, phase: Phase, now: float, reason: str | None,
            detail: str | None) -> Switchover:
    return replace(sw, phase=phase, reason=reason, detail=detail, finished_at=now)


def _also(sw: Switchover, more: str) -> str:
    return f"{sw.detail}; {more}" if sw.detail else more


def _plus(names: tuple[str, ...], name: str | None) -> tuple[str, ...]:
    return names if name is None or name in names else (*names, name)
