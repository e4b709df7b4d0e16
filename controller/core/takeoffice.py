"""Taking office as a pure step machine: a replica that won the election under an epoch
reads each service's decision; where none exists it writes one (written once, fenced),
rebuilt from the most recent truth (core/recovery.py: the decision this replica still holds,
else Redis's route, else, with no history anywhere, the first listed member), and reads it
back; only then, if it still holds the epoch, is it in office; then, service by service, it
records what changed (a new leader; ZooKeeper's lost data), republishes the route under its
epoch and loads the stored requests. No I/O, no clock: ``now`` comes with each answer.

    FIND -> [ROUTE -> CREATE -> [REBUILT] -> READ] (each service) -> ENTER
         -> [RECORD] -> [LOST] -> REPUBLISH -> LOAD (each) -> done

A failure before ENTER ends it (fenced, interrupted, or the store failed: the shell steps
down so that another replica may take office), but for Redis's route when this replica
still holds the decision (that one is newer than Redis's, or as new); after ENTER nothing
can fail: the publisher and the loader report their own failures, and the reconcile loop
mends them.
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
    Fault,
    IllegalAnswer,
    LoadRequests,
    Noted,
    Outcome,
    ReadDecision,
    ReadRoute,
    Record,
    Republish,
    RouteRead,
)
from controller.core.records import Decided
from controller.core.recovery import Member, RoutedAt, Source, rebuilt_decision


class Stage(StrEnum):
    FIND = "find"  # read the decision: none means it must be created
    ROUTE = "route"  # read Redis's route, a truth to rebuild it from
    CREATE = "create"
    REBUILT = "rebuilt"  # record where a rebuilt decision came from
    READ = "read"
    ENTER = "enter"
    RECORD = "record"
    LOST = "lost"  # record that ZooKeeper had lost its data
    REPUBLISH = "republish"
    LOAD = "load"
    ENDED = "ended"


_EXPECTED: dict[Stage, type] = {
    Stage.FIND: DecisionRead, Stage.ROUTE: RouteRead, Stage.CREATE: Created,
    Stage.REBUILT: Noted, Stage.READ: DecisionRead, Stage.ENTER: Noted, Stage.RECORD: Noted,
    Stage.LOST: Noted, Stage.REPUBLISH: Noted, Stage.LOAD: Noted,
}
_MAY_FAIL = {Stage.FIND, Stage.ROUTE, Stage.CREATE, Stage.READ, Stage.ENTER}


@dataclass(frozen=True, slots=True)
class Seat:
    """A service: its configured members (the first is the initial primary of a new
    cluster), and the decision this replica holds for it, if any (a truth to rebuild a
    decision ZooKeeper lost)."""

    service: str
    members: tuple[Member, ...]
    remembered: Decided | None = None


@dataclass(frozen=True, slots=True)
class Predecessor:
    node: str | None
    epoch: int | None


@dataclass(frozen=True, slots=True)
class TakeOffice:
    epoch: int
    seats: tuple[Seat, ...]
    predecessor: Predecessor | None  # recorded in each service's history once in office
    # ZooKeeper's epoch counter when this epoch found it had lost epochs (None: it had not);
    # recorded in each service's history once in office.
    lost_from: int | None = None
    stage: Stage = Stage.FIND
    index: int = 0
    initial: Decided | None = None  # what CREATE writes
    source: Source | None = None  # where ``initial`` came from
    outcome: Outcome | None = None

    @property
    def seat(self) -> Seat:
        return self.seats[self.index]


def begin(epoch: int, seats: tuple[Seat, ...], predecessor: Predecessor | None,
          now: float, lost_from: int | None = None) -> TakeOffice:
    return _find(TakeOffice(epoch=epoch, seats=seats, predecessor=predecessor,
                            lost_from=lost_from), 0)


def command_for(to: TakeOffice) -> Command | None:
    match to.stage:
        case Stage.FIND | Stage.READ:
            return ReadDecision(to.seat.service)
        case Stage.ROUTE:
            return ReadRoute(to.seat.service)
        case Stage.CREATE:
            assert to.initial is not None
            rebuilt = None if to.source is Source.FIRST_MEMBER else str(to.source)
            return CreateDecision(to.seat.service, to.initial, rebuilt)
        case Stage.REBUILT:
            assert to.initial is not None and to.source is not None
            return Record(to.seat.service, "decision_rebuilt", {
                "source": str(to.source), "target": to.initial.primary,
                "version": to.initial.version,
                "detail": {"unfenced": list(to.initial.unfenced)}})
        case Stage.ENTER:
            return EnterOffice(to.epoch)
        case Stage.RECORD:
            before = to.predecessor or Predecessor(None, None)
            return Record(to.seat.service, "leadership_changed",
                          {"previous_leader": before.node, "previous_epoch": before.epoch})
        case Stage.LOST:
            return Record(to.seat.service, "zookeeper_data_lost", {
                "previous_epoch": to.lost_from,
                "message": "ZooKeeper had lost its data: epochs were raised past every one "
                           "known, and missing decisions rebuilt"})
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
        if (stage is Stage.ROUTE and answer.fault is Fault.STORE_ERROR
                and to.seat.remembered is not None):
            return _create(to, None, now)  # what this replica holds is truth enough
        return _end(to, Outcome(ENDING_OF[answer.fault], detail=answer.detail))
    if not isinstance(answer, _EXPECTED[stage]):
        raise IllegalAnswer(f"{stage} cannot be answered with {type(answer).__name__}")
    match stage:
        case Stage.FIND:
            assert isinstance(answer, DecisionRead)
            if answer.current is not None:
                return _find(to, to.index + 1)
            return replace(to, stage=Stage.ROUTE)
        case Stage.ROUTE:
            assert isinstance(answer, RouteRead)
            return _create(to, answer.route, now)
        case Stage.CREATE:
            assert isinstance(answer, Created)
            rebuilt = answer.created and to.source is not Source.FIRST_MEMBER
            return replace(to, stage=Stage.REBUILT if rebuilt else Stage.READ)
        case Stage.REBUILT:
            return replace(to, stage=Stage.READ)
        case Stage.READ:
            return _find(to, to.index + 1)
        case Stage.ENTER:
            return _serve(to, 0)
        case Stage.RECORD:
            return replace(to, stage=Stage.LOST if to.lost_from is not None
                           else Stage.REPUBLISH)
        case Stage.LOST:
            return replace(to, stage=Stage.REPUBLISH)
        case Stage.REPUBLISH:
            return replace(to, stage=Stage.LOAD)
    return _serve(to, to.index + 1)  # LOAD


def _find(to: TakeOffice, index: int) -> TakeOffice:
    """Service ``index``'s decision next; once every one is read, take office."""
    if index >= len(to.seats):
        return replace(to, stage=Stage.ENTER, index=0, initial=None, source=None)
    return replace(to, stage=Stage.FIND, index=index, initial=None, source=None)


def _create(to: TakeOffice, route: RoutedAt | None, now: float) -> TakeOffice:
    """The decision to write for the current service, rebuilt from the most recent truth."""
    initial, source = rebuilt_decision(to.seat.members, to.seat.remembered, route, to.epoch,
                                       now)
    return replace(to, stage=Stage.CREATE, initial=initial, source=source)


def _serve(to: TakeOffice, index: int) -> TakeOffice:
    """In office: service ``index``'s route and requests next, or the end."""
    if index >= len(to.seats):
        return _end(to, Outcome(Ending.DONE))
    stage = (Stage.RECORD if to.predecessor is not None
             else Stage.LOST if to.lost_from is not None else Stage.REPUBLISH)
    return replace(to, stage=stage, index=index)


def _end(to: TakeOffice, outcome: Outcome) -> TakeOffice:
    return replace(to, stage=Stage.ENDED, outcome=outcome)
