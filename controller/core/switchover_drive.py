"""Driving one switchover request (or evacuation) as a pure step machine: the persistence
around core/switchover.py's phases. No I/O, no clock: ``now`` comes with each answer.

The request is saved under the leader's epoch before each side effect
(``durable_before_next``), and its outcome goes to history before the record that shows it
(once a replica sees it finished, ``--wait`` returns, and ``history`` must hold it). The
commit of the route carries the request in the same transaction, then the route is
published and the request saved with the step's timings. A commit that fails is saved as
the phase's failure; a rollback commit stays to be tried again after the policy's
retry_backoff, since the marks it carries must reach the decision.

    (SCHEDULED: due, SAVE) -> RUN the phase's command -> [SAVE] -> RUN ... -> done
    the commit: GATE -> SNAPSHOT -> [RECORD the outcome] -> COMMIT -> PUBLISH -> SAVE
                                 \\-- no decision, no member: SAVE the failure [-> WAIT]
                           COMMIT failed -> COUNT -> REREAD -> SAVE the failure [-> WAIT]

Any other refusal ends it with its fault: the shell then reloads the requests (conflict,
store_failed), steps down (fenced) or leaves it to the next leader (interrupted); the next
leader resumes the request from its last saved phase.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from controller.core import switchover as sw
from controller.core.commands import (
    ENDING_OF,
    Answer,
    AwaitReady,
    CheckEpoch,
    Command,
    CommitDecision,
    Committed,
    CountStoreError,
    Ending,
    EpochChecked,
    Failed,
    Fault,
    HookRan,
    IllegalAnswer,
    Noted,
    Outcome,
    Preflight,
    Publish,
    Published,
    ReadSnapshot,
    Record,
    Reread,
    RunHook,
    Saved,
    SaveSwitchover,
    Sleep,
    Snapshot,
    VerifyPrimary,
)
from controller.core.records import Decided
from controller.core.steps import as_dicts


class Stage(StrEnum):
    RUN = "run"  # the phase's own command
    RECORD = "record"  # the outcome in history, before the save that shows it
    SAVE = "save"
    WAIT = "wait"  # a rollback commit's backoff before it is tried again
    GATE = "gate"
    SNAPSHOT = "snapshot"
    RECORD_COMMIT = "record_commit"  # a rollback's outcome, before the commit that ends it
    COMMIT = "commit"
    COUNT = "count"
    REREAD = "reread"
    PUBLISH = "publish"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Drive:
    record: sw.Switchover  # as the shell's loop holds it
    version: int  # the request's znode version
    epoch: int
    timing: sw.Timing
    backoff: float  # the policy's retry_backoff
    stage: Stage = Stage.RUN
    pending: sw.Switchover | None = None  # what SAVE (RECORD) writes
    recorded: bool = False  # pending's outcome is in history already
    retry: bool = False  # pending is a failed commit: a rollback commit waits, then retries
    in_loop: bool = False  # past the first save of a scheduled request
    iterations: int = 0  # phase commands done (each saved if it must be): the shell logs each
    checked: bool = False  # the last one was the check
    commit: Decided | None = None  # the decision COMMIT writes
    base_version: int = -1  # the decision's znode version it is built on
    after: sw.Switchover | None = None  # the request riding along the commit
    detail: str = ""  # the commit's step detail, or why it failed
    ms: float = 0.0  # the commit's time so far
    saved: int | None = None  # the request's version the commit wrote
    outcome: Outcome | None = None


def begin(record: sw.Switchover, version: int, epoch: int, timing: sw.Timing, backoff: float,
          now: float) -> Drive:
    drive = Drive(record=record, version=version, epoch=epoch, timing=timing, backoff=backoff)
    if record.phase is sw.Phase.SCHEDULED:
        return _save(drive, sw.step(record, sw.Due(), now, epoch))
    return _next(drive)


def command_for(d: Drive) -> Command | None:
    rec = d.record
    match d.stage:
        case Stage.RUN:
            return _phase_command(d)
        case Stage.RECORD:
            assert d.pending is not None
            return _outcome(d.pending)
        case Stage.SAVE:
            assert d.pending is not None
            return SaveSwitchover(d.pending, d.version)
        case Stage.WAIT:
            return Sleep(d.backoff)
        case Stage.GATE:
            return CheckEpoch(d.epoch)
        case Stage.SNAPSHOT:
            return ReadSnapshot(_commit_route(d).primary)
        case Stage.RECORD_COMMIT:
            assert d.after is not None
            return _outcome(d.after)
        case Stage.COMMIT:
            assert d.commit is not None and d.after is not None
            return CommitDecision(d.commit, d.base_version, (d.after, d.version))
        case Stage.COUNT:
            return CountStoreError()
        case Stage.REREAD:
            return Reread()
        case Stage.PUBLISH:
            assert d.after is not None
            return Publish(str(_commit_route(d).reason), {
                "trigger": rec.requested_by, "request": rec.id,
                "steps": as_dicts(d.after.steps)})
    return None


def step(d: Drive, answer: Answer, now: float) -> Drive:
    """``d`` after its command's ``answer``; raises IllegalAnswer (and changes nothing) if
    that command cannot have it (the switchover machine's IllegalEvent likewise)."""
    stage = d.stage
    if stage is Stage.ENDED:
        raise IllegalAnswer("the switchover's drive has ended")
    if isinstance(answer, Failed):
        return _failed(d, answer, now)
    match stage, answer:
        case Stage.RUN, sw.Checked() | sw.StepEnded() | HookRan():
            if isinstance(answer, HookRan):
                answer = sw.StepEnded(answer.ok, answer.detail, answer.ms, answer.answers)
            if isinstance(_phase_command(d), Preflight) is not isinstance(answer, sw.Checked):
                raise IllegalAnswer(f"{type(answer).__name__} does not answer the phase")
            record = sw.step(d.record, answer, now, d.epoch)
            d = replace(d, record=record, checked=isinstance(answer, sw.Checked))
            if sw.durable_before_next(record):
                return _save(d, record)
            return _next(_done(d))
        case Stage.RECORD, Noted():
            return replace(d, stage=Stage.SAVE, recorded=True)
        case Stage.SAVE, Saved(version=version):
            assert d.pending is not None
            retry = d.retry
            d = replace(d, record=d.pending, version=version, pending=None, recorded=False,
                        retry=False)
            if not d.in_loop:
                return _next(d)
            if retry and d.record.phase is sw.Phase.ROLLBACK_COMMITTING:
                return replace(d, stage=Stage.WAIT)
            return _next(_done(d))
        case Stage.WAIT, Noted():
            return _next(_done(d))
        case Stage.GATE, EpochChecked(ms=ms):
            return replace(d, stage=Stage.SNAPSHOT, ms=ms, checked=False)
        case Stage.SNAPSHOT, Snapshot(current=current, address=address):
            return _build(d, current, address, now)
        case Stage.RECORD_COMMIT, Noted():
            return replace(d, stage=Stage.COMMIT)
        case Stage.COMMIT, Committed(ms=ms, saved=saved):
            if saved is None:  # the store returns it whenever it is given a request
                return _end(d, Outcome(Ending.STORE_FAILED,
                                       detail="the commit did not return the request's version"))
            return replace(d, stage=Stage.PUBLISH, ms=round(d.ms + ms, 1), saved=saved)
        case Stage.COUNT, Noted():
            return replace(d, stage=Stage.REREAD)
        case Stage.REREAD, Noted():
            failed = sw.step(d.record, sw.StepEnded(False, f"commit failed: {d.detail}", d.ms),
                             now, d.epoch)
            return _save(d, failed, retry=True)
        case Stage.PUBLISH, Published(ms=ms):
            assert d.after is not None and d.saved is not None
            total = round(d.ms + ms, 1)
            timed = d.after.with_last_step(total, f"{d.detail}; ZooKeeper {d.ms} ms, Redis "
                                           f"{round(total - d.ms, 1)} ms")
            return _save(replace(d, version=d.saved), timed, recorded=True)
    raise IllegalAnswer(f"{stage} cannot be answered with {type(answer).__name__}")


def _phase_command(d: Drive) -> Command:
    """The record's phase command, in the shared vocabulary."""
    rec, command = d.record, sw.command_for(d.record, d.timing)
    match command:
        case sw.CheckSafe():
            return Preflight(rec.id, rec.to, rec.force)
        case sw.RunHook(hook=hook, member=member):
            return RunHook(hook, member)
        case sw.AwaitHealthy(member=member, timeout=timeout):
            return AwaitReady(member, timeout, rec.force)
        case sw.Verify(member=member, window=window):
            return VerifyPrimary(member, window)
    raise IllegalAnswer(f"no phase command in {rec.phase}")  # pragma: no cover - guarded


def _commit_route(d: Drive) -> sw.CommitRoute:
    command = sw.command_for(d.record, d.timing)
    assert isinstance(command, sw.CommitRoute)
    return command


def _next(d: Drive) -> Drive:
    """The loop's head: the phase's next command, the commit, or the end."""
    d = replace(d, in_loop=True)
    command = sw.command_for(d.record, d.timing)
    if command is None:
        return _end(d, Outcome(Ending.DONE))
    if isinstance(command, sw.CommitRoute):
        return replace(d, stage=Stage.GATE, commit=None, after=None, saved=None, ms=0.0)
    return replace(d, stage=Stage.RUN)


def _done(d: Drive) -> Drive:
    return replace(d, iterations=d.iterations + 1)


def _save(d: Drive, record: sw.Switchover, *, recorded: bool = False,
          retry: bool = False) -> Drive:
    """Save ``record``; its outcome goes to history first when it is one (and not
    ``recorded`` already)."""
    stage = Stage.RECORD if record.phase.terminal and not recorded else Stage.SAVE
    return replace(d, stage=stage, pending=record, recorded=recorded, retry=retry)


def _build(d: Drive, current: tuple[Decided, int] | None, address: str | None,
           now: float) -> Drive:
    """The decision the commit writes, built on the decision as known after the gate, and
    the request as it will be once committed."""
    route = _commit_route(d)
    if address is None or current is None:  # a record from another configuration
        failed = sw.step(d.record, sw.StepEnded(
            False, f"{route.primary} is not a configured member, or no decision is known",
            0.0, final=address is None), now, d.epoch)
        return _save(d, failed, retry=True)
    decided, base_version = current
    # Same primary (a rollback before the route moved): only the marks change, and the
    # route keeps its version.
    new = decided.routed_to(primary=route.primary, address=address, epoch=d.epoch,
                            reason=route.reason, now=now,
                            unfenced={*decided.unfenced, *route.unfenced})
    detail = f"route -> {route.primary} (version {new.version})"
    # The record rides in the commit's transaction, so the step's duration is unknown
    # there ("ms": null) and filled in by the save after.
    after = sw.step(d.record, sw.StepEnded(True, detail, 0.0), now,
                    d.epoch).with_last_step(None)
    stage = Stage.RECORD_COMMIT if after.phase.terminal else Stage.COMMIT
    return replace(d, stage=stage, commit=new, base_version=base_version, after=after,
                   detail=detail)


def _failed(d: Drive, answer: Failed, now: float) -> Drive:
    if d.stage is Stage.COMMIT and answer.fault in (Fault.CONFLICT, Fault.STORE_ERROR):
        return replace(d, stage=Stage.COUNT, detail=answer.detail,
                       ms=round(d.ms + (answer.ms or 0.0), 1))
    if d.stage not in (Stage.RUN, Stage.SAVE, Stage.GATE, Stage.COMMIT):
        raise IllegalAnswer(f"{d.stage} cannot fail")
    return _end(d, Outcome(ENDING_OF[answer.fault], detail=answer.detail))


def _outcome(record: sw.Switchover) -> Record:
    fields: dict[str, Any] = {
        "by": record.requested_by, "request": record.id, "kind": record.kind,
        "source": record.source, "target": record.target, "reason": record.reason,
        "message": record.detail, "rolled_back": record.rolled_back,
        "steps": as_dicts(record.steps), "evidence": dict(record.evidence)}
    return Record(record.service, f"switchover_{record.outcome}", fields, wait=True)


def _end(d: Drive, outcome: Outcome) -> Drive:
    return replace(d, stage=Stage.ENDED, outcome=outcome)
