"""The late fence as a pure step machine: fence a member that is marked unfenced (its fence
failed while it was unreachable) and answers again, then clear its mark, committed against
the version of the record it was read from. No I/O, no clock.

    FENCE --ok--> COMMIT (the mark cleared) --> done
      | failed: aborted (the shell tries again after the policy's retry_backoff)

Any command the store or the gate refuses ends it with that fault.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from controller.core.commands import (
    ENDING_OF,
    Answer,
    Command,
    CommitDecision,
    Committed,
    Ending,
    Failed,
    HookRan,
    IllegalAnswer,
    Outcome,
    RunHook,
)
from controller.core.records import Decided
from controller.core.steps import Hook


class Stage(StrEnum):
    FENCE = "fence"
    COMMIT = "commit"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class LateFence:
    member: str
    base: Decided  # the record read when the planner asked for it
    version: int  # its znode version
    stage: Stage = Stage.FENCE
    detail: str = ""  # the fence's answer
    outcome: Outcome | None = None


def begin(member: str, snapshot: tuple[Decided, int]) -> LateFence:
    decided, version = snapshot
    return LateFence(member=member, base=decided, version=version)


def command_for(lf: LateFence) -> Command | None:
    if lf.stage is Stage.FENCE:
        return RunHook(Hook.FENCE, lf.member, lf.base.primary)
    if lf.stage is Stage.COMMIT:
        return CommitDecision(lf.base.cleared(lf.member), lf.version)
    return None


def step(lf: LateFence, answer: Answer, now: float) -> LateFence:
    """``lf`` after its command's ``answer``; raises IllegalAnswer (and changes nothing) if
    that command cannot have it. ``now`` is taken for the shape every machine shares."""
    del now
    if lf.stage is Stage.ENDED:
        raise IllegalAnswer("the late fence has ended")
    if isinstance(answer, Failed):
        return _end(lf, Outcome(ENDING_OF[answer.fault], detail=answer.detail))
    if lf.stage is Stage.FENCE and isinstance(answer, HookRan):
        if not answer.ok:
            return _end(lf, Outcome(Ending.ABORTED, "fence_failed", answer.detail))
        return replace(lf, stage=Stage.COMMIT, detail=answer.detail)
    if lf.stage is Stage.COMMIT and isinstance(answer, Committed):
        return _end(lf, Outcome(Ending.DONE, detail=lf.detail))
    raise IllegalAnswer(f"{lf.stage} cannot be answered with {type(answer).__name__}")


def _end(lf: LateFence, outcome: Outcome) -> LateFence:
    return replace(lf, stage=Stage.ENDED, outcome=outcome)
