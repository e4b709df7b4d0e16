"""Taking office as a pure step machine: a replica that won the election under an epoch
writes each service's first decision where none exists (the first listed member, written
once, fenced) and reads each decision back; only then, if it still holds the epoch, is it in
office; then, service by service, it records the change of leader (if it knows who led
before), republishes the route under its epoch and loads the stored requests. No I/O, no
clock: ``now`` comes with each answer.

    CREATE -> READ (each service) -> ENTER -> [RECORD] -> REPUBLISH -> LOAD (each) -> done

A failure before ENTER ends it (fenced, interrupted, or the store failed: the shell steps
down so that another replica may take office); after ENTER nothing can fail: the publisher
and the loader report their own failures, and the reconcile loop mends them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from controller.core.commands import (
    ENDING_OF,
    Answer,
    Command,
    Created,
    CreateDecision,
    DecisionRead,
    Ending,
    EnterOffice,
    Failed,
    IllegalAnswer,
    LoadRequests,
    Noted,
    Outcome,
    ReadDecision,
    Record,
    Republish,
)
from controller.core.records import Decided, RouteReason


class Stage(StrEnum):
    CREATE = "create"
    READ = "read"
    ENTER = "enter"
    RECORD = "record"
    REPUBLISH = "republish"
    LOAD = "load"
    ENDED = "ended"


_EXPECTED: dict[Stage, type] = {
    Stage.CREATE: Created, Stage.READ: DecisionRead, Stage.ENTER: Noted, Stage.RECORD: Noted,
    Stage.REPUBLISH: Noted, Stage.LOAD: Noted,
}
_MAY_FAIL = {Stage.CREATE, Stage.READ, Stage.ENTER}


@dataclass(frozen=True, slots=True)
class Seat:
    """A service, and its first listed member: the initial primary if none is recorded."""

    service: str
    first: str
    address: str


@dataclass(frozen=True, slots=True)
class Predecessor:
    node: str | None
    epoch: int | None


@dataclass(frozen=True, slots=True)
class TakeOffice:
    epoch: int
    seats: tuple[Seat, ...]
    predecessor: Predecessor | None  # recorded in each service's history once in office
    stage: Stage = Stage.CREATE
    index: int = 0
    initial: Decided | None = None  # what CREATE writes
    outcome: Outcome | None = None

    @property
    def seat(self) -> Seat:
        return self.seats[self.index]


def begin(epoch: int, seats: tuple[Seat, ...], predecessor: Predecessor | None,
          now: float) -> TakeOffice:
    return _create(TakeOffice(epoch=epoch, seats=seats, predecessor=predecessor), 0, now)


def command_for(to: TakeOffice) -> Command | None:
    match to.stage:
        case Stage.CREATE:
            assert to.initial is not None
            return CreateDecision(to.seat.service, to.initial)
        case Stage.READ:
            return ReadDecision(to.seat.service)
        case Stage.ENTER:
            return EnterOffice(to.epoch)
        case Stage.RECORD:
            before = to.predecessor or Predecessor(None, None)
            return Record(to.seat.service, "leadership_changed",
                          {"previous_leader": before.node, "previous_epoch": before.epoch})
        case Stage.REPUBLISH:
            return Republish(to.seat.service)
        case Stage.LOAD:
            return LoadRequests(to.seat.service)
    return None


def step(to: TakeOffice, answer: Answer, now: float) -> TakeOffice:
    """``to`` after its command's ``answer``; raises IllegalAnswer (and changes nothing)
    if that command cannot have it."""
    stage = to.stage
    if stage is Stage.ENDED:
        raise IllegalAnswer("taking office has ended")
    if isinstance(answer, Failed):
        if stage not in _MAY_FAIL:
            raise IllegalAnswer(f"{stage} cannot fail")
        return _end(to, Outcome(ENDING_OF[answer.fault], detail=answer.detail))
    if not isinstance(answer, _EXPECTED[stage]):
        raise IllegalAnswer(f"{stage} cannot be answered with {type(answer).__name__}")
    match stage:
        case Stage.CREATE:
            return replace(to, stage=Stage.READ)
        case Stage.READ:
            return _create(to, to.index + 1, now)
        case Stage.ENTER:
            return _serve(to, 0)
        case Stage.RECORD:
            return replace(to, stage=Stage.REPUBLISH)
        case Stage.REPUBLISH:
            return replace(to, stage=Stage.LOAD)
    return _serve(to, to.index + 1)  # LOAD


def _create(to: TakeOffice, index: int, now: float) -> TakeOffice:
    """Service ``index``'s first decision next; once every one is read, take office."""
    if index >= len(to.seats):
        return replace(to, stage=Stage.ENTER, index=0, initial=None)
    seat = to.seats[index]
    initial = Decided(primary=seat.first, address=seat.address, epoch=to.epoch, version=1,
                      reason=RouteReason.INITIAL, updated_at=now)
    return replace(to, stage=Stage.CREATE, index=index, initial=initial)


def _serve(to: TakeOffice, index: int) -> TakeOffice:
    """In office: service ``index``'s route and requests next, or the end."""
    if index >= len(to.seats):
        return _end(to, Outcome(Ending.DONE))
    stage = Stage.RECORD if to.predecessor is not None else Stage.REPUBLISH
    return replace(to, stage=stage, index=index)


def _end(to: TakeOffice, outcome: Outcome) -> TakeOffice:
    return replace(to, stage=Stage.ENDED, outcome=outcome)
