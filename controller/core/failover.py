"""The automatic failover as a pure step machine: verify the epoch, fence the failed primary,
promote the first candidate that takes it (each promote written ahead), commit the decision
against the version of the very record read, publish. No I/O, no clock: the shell carries
out each command (core/commands.py) and hands back its answer with ``now`` (unix seconds).

    VERIFY -> FENCE (the old primary) --failed, unreachable--> NOTE_UNFENCED
       |        |  failed, still answers: aborted "fence_failed"     |
       v        v                                                    v
    for each candidate, best first:  CHECK --refused: skip--> (next)
                                       v
                                 WRITE_AHEAD -> PROMOTE --ok--> COMMIT -> PUBLISH -> done
                                                   | failed
                                                   v
                                   EXCLUDE -> FENCE_CANDIDATE --ok, or unreachable--> (next)
                                                   | failed, still answers
                                                   v
                                            aborted "promote_failed"
    no candidate left: aborted "promote_failed". Any command the store or the gate refuses
    ends it with that fault (interrupted, fenced, conflict, store_failed).

Each promote is written ahead: the member joins the decision's ``unfenced`` marks in
ZooKeeper before its hook goes out, so a leader that dies mid-hook leaves a record that it
may have been promoted, and the next leader fences it before it promotes anyone else. A
promote that failed or timed out is likewise "maybe promoted": it is fenced before the next
candidate; if that fence fails it stays marked when it is unreachable, and the failover stops
when it still answers. (A member without a fence hook cannot be taken back; its operator
chose so: the shell answers its fence as done.)

Every write compares-and-sets against the version of the record this failover read or last
wrote, never a newer one read later (that would turn a stale read into an overwrite of a
decision this failover never saw).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from controller.core.commands import (
    ENDING_OF,
    Answer,
    CheckEpoch,
    CheckPromotable,
    Command,
    CommitDecision,
    Committed,
    Ending,
    EpochChecked,
    Exclude,
    Failed,
    HookRan,
    IllegalAnswer,
    Noted,
    NoteUnfenced,
    Outcome,
    Promotable,
    Publish,
    Published,
    RunHook,
    WriteAhead,
)
from controller.core.decide import Decision
from controller.core.records import Decided, RouteReason
from controller.core.steps import Hook, Step, as_dicts, passes_failed_fence

FENCE_FAILED, PROMOTE_FAILED = "fence_failed", "promote_failed"


class Stage(StrEnum):
    VERIFY = "verify_epoch"
    FENCE = "fence"  # the old primary
    NOTE_UNFENCED = "note_unfenced"
    CHECK = "check"  # the candidate is healthy in our view
    WRITE_AHEAD = "write_ahead"
    PROMOTE = "promote"
    EXCLUDE = "exclude"
    FENCE_CANDIDATE = "fence_candidate"  # after its promote failed
    COMMIT = "commit"
    PUBLISH = "publish"
    ENDED = "ended"


# The answer each stage's command has (a Failed one aside); any other is illegal.
_EXPECTED: dict[Stage, type] = {
    Stage.VERIFY: EpochChecked, Stage.FENCE: HookRan, Stage.NOTE_UNFENCED: Noted,
    Stage.CHECK: Promotable, Stage.WRITE_AHEAD: Committed, Stage.PROMOTE: HookRan,
    Stage.EXCLUDE: Noted, Stage.FENCE_CANDIDATE: HookRan, Stage.COMMIT: Committed,
    Stage.PUBLISH: Published,
}
# Stages whose command can fail (the gate, the store); the shell never fails the others.
_MAY_FAIL = {Stage.VERIFY, Stage.FENCE, Stage.WRITE_AHEAD, Stage.PROMOTE,
             Stage.FENCE_CANDIDATE, Stage.COMMIT}
# Stages timed as a step of their own, also when the write failed (the hooks' steps come
# from the hook runner).
_TIMED = {Stage.VERIFY, Stage.WRITE_AHEAD, Stage.COMMIT, Stage.PUBLISH}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A configured member to promote. ``promotes``: it has a promote hook; one without is
    chosen as it is (no write-ahead, no hook: nothing could be taken back)."""

    name: str
    address: str
    promotes: bool = True


@dataclass(frozen=True, slots=True)
class Failover:
    epoch: int
    decision: Decision  # the planner's, as the publish and the log show it
    base: Decided  # the record the next write builds on
    version: int  # its znode version
    old: str | None  # the failed primary, if it is a configured member
    candidates: tuple[Candidate, ...]  # the target, then the fallbacks, best first
    stage: Stage = Stage.VERIFY
    index: int = 0  # the candidate at hand
    unfenced: frozenset[str] = frozenset()
    steps: tuple[Step, ...] = ()
    detail: str = ""  # the failed fence NOTE_UNFENCED reports
    commit: Decided | None = None  # the decision COMMIT writes
    outcome: Outcome | None = None

    @property
    def candidate(self) -> Candidate:
        return self.candidates[self.index]


def begin(decision: Decision, snapshot: tuple[Decided, int], epoch: int, old: str | None,
          candidates: tuple[Candidate, ...]) -> Failover:
    """A failover from ``snapshot`` (the decision and the znode version it was read at)."""
    decided, version = snapshot
    return Failover(epoch=epoch, decision=decision, base=decided, version=version, old=old,
                    candidates=candidates, unfenced=frozenset(decided.unfenced))


def command_for(fo: Failover) -> Command | None:
    """What ``fo`` needs done next; None once it has ended (``fo.outcome``)."""
    match fo.stage:
        case Stage.VERIFY:
            return CheckEpoch(fo.epoch)
        case Stage.FENCE:
            return RunHook(Hook.FENCE, fo.old or "", fo.base.primary)
        case Stage.NOTE_UNFENCED:
            return NoteUnfenced(fo.old or "", fo.detail)
        case Stage.CHECK:
            return CheckPromotable(fo.candidate.name)
        case Stage.WRITE_AHEAD:
            return WriteAhead(fo.base.with_marks(fo.unfenced | {fo.candidate.name}),
                              fo.version)
        case Stage.PROMOTE:
            return RunHook(Hook.PROMOTE, fo.candidate.name, fo.base.primary)
        case Stage.EXCLUDE:
            return Exclude(fo.candidate.name)
        case Stage.FENCE_CANDIDATE:
            return RunHook(Hook.FENCE, fo.candidate.name, fo.base.primary)
        case Stage.COMMIT:
            assert fo.commit is not None
            return CommitDecision(fo.commit, fo.version)
        case Stage.PUBLISH:
            return Publish("failover", {"trigger": "auto", "decision": fo.decision.as_dict(),
                                        "steps": as_dicts(fo.steps)})
    return None


def step(fo: Failover, answer: Answer, now: float) -> Failover:
    """``fo`` after its command's ``answer``; raises IllegalAnswer (and changes nothing)
    if that command cannot have it."""
    stage = fo.stage
    if stage is Stage.ENDED:
        raise IllegalAnswer("the failover has ended")
    if isinstance(answer, Failed):
        if stage not in _MAY_FAIL:
            raise IllegalAnswer(f"{stage} cannot fail")
        if stage in _TIMED and answer.ms is not None:
            fo = replace(fo, steps=(*fo.steps, Step(step=str(stage), ms=answer.ms)))
        return _end(fo, Outcome(ENDING_OF[answer.fault], detail=answer.detail))
    if not isinstance(answer, _EXPECTED[stage]):
        raise IllegalAnswer(f"{stage} cannot be answered with {type(answer).__name__}")
    if stage in _TIMED:
        assert isinstance(answer, EpochChecked | Committed | Published)
        fo = replace(fo, steps=(*fo.steps, Step(step=str(stage), ms=answer.ms)))
    elif isinstance(answer, HookRan) and answer.step is not None:
        fo = replace(fo, steps=(*fo.steps, answer.step))
    return _after(fo, answer, now)


def _after(fo: Failover, answer: Answer, now: float) -> Failover:
    match fo.stage, answer:
        case Stage.VERIFY, _:
            return replace(fo, stage=Stage.FENCE) if fo.old is not None else _try(fo, 0)
        case Stage.FENCE, HookRan(ok=ok, detail=detail, answers=answers):
            if ok:
                return _try(fo, 0)
            if not passes_failed_fence(answers):
                # It answers, so it may still take writes: do not make a second primary.
                return _end(fo, Outcome(Ending.ABORTED, FENCE_FAILED, detail))
            return replace(fo, stage=Stage.NOTE_UNFENCED, detail=detail,
                           unfenced=fo.unfenced | {fo.old or ""})
        case Stage.NOTE_UNFENCED, _:
            return _try(fo, 0)
        case Stage.CHECK, Promotable(refusal=refusal):
            if refusal is not None:  # not worth a write-ahead
                skip = Step(step="skip", member=fo.candidate.name, detail=refusal)
                return _try(replace(fo, steps=(*fo.steps, skip)), fo.index + 1)
            if not fo.candidate.promotes:
                return _chosen(fo, now)
            return replace(fo, stage=Stage.WRITE_AHEAD)
        case Stage.WRITE_AHEAD, Committed(version=version):
            marked = fo.base.with_marks(fo.unfenced | {fo.candidate.name})
            return replace(fo, stage=Stage.PROMOTE, base=marked, version=version)
        case Stage.PROMOTE, HookRan(ok=ok):
            return _chosen(fo, now) if ok else replace(fo, stage=Stage.EXCLUDE)
        case Stage.EXCLUDE, _:
            return replace(fo, stage=Stage.FENCE_CANDIDATE)
        case Stage.FENCE_CANDIDATE, HookRan(ok=ok, detail=detail, answers=answers):
            if ok:
                return _try(fo, fo.index + 1)
            name = fo.candidate.name
            if not passes_failed_fence(answers):
                return _end(fo, Outcome(Ending.ABORTED, PROMOTE_FAILED, f"{name}: promote "
                                        "failed and it refused to be fenced, so it may act "
                                        f"as primary: {detail}"))
            return _try(replace(fo, unfenced=fo.unfenced | {name}), fo.index + 1)
        case Stage.COMMIT, Committed():
            return replace(fo, stage=Stage.PUBLISH)
        case Stage.PUBLISH, Published(outcome=outcome):
            assert fo.commit is not None
            return _end(fo, Outcome(Ending.DONE, primary=fo.commit.primary,
                                    version=fo.commit.version, published=outcome))
    raise IllegalAnswer(f"{fo.stage} cannot take {answer!r}")  # pragma: no cover - guarded


def _try(fo: Failover, index: int) -> Failover:
    """Candidate ``index`` next, or the end when none is left."""
    if index >= len(fo.candidates):
        return _end(replace(fo, index=index),
                    Outcome(Ending.ABORTED, PROMOTE_FAILED, "no candidate could be promoted"))
    return replace(fo, stage=Stage.CHECK, index=index)


def _chosen(fo: Failover, now: float) -> Failover:
    """The candidate at hand took the promote: the decision that routes to it, with every
    mark this failover made (its own dropped)."""
    chosen = fo.candidate
    new = fo.base.routed_to(primary=chosen.name, address=chosen.address, epoch=fo.epoch,
                            reason=RouteReason.FAILOVER, now=now, unfenced=fo.unfenced,
                            recovery_end=now)
    return replace(fo, stage=Stage.COMMIT, commit=new)


def _end(fo: Failover, outcome: Outcome) -> Failover:
    return replace(fo, stage=Stage.ENDED, outcome=outcome)
