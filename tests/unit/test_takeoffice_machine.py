"""Taking office as a pure machine (core/takeoffice.py), every path, with literal times."""

from __future__ import annotations

import pytest

from controller.core import takeoffice
from controller.core.commands import (
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
    ReadDecision,
    ReadRoute,
    Record,
    Republish,
    RouteRead,
)
from controller.core.records import Decided
from controller.core.recovery import Member, RoutedAt
from controller.core.takeoffice import Predecessor, Seat, TakeOffice

SEATS = (Seat("web", (Member("a", "a:80"), Member("b", "b:80"))),
         Seat("db", (Member("x", "x:5432"),)))


def answer(command: Command) -> Answer:
    if isinstance(command, CreateDecision):
        return Created(True)
    if isinstance(command, ReadDecision):
        return DecisionRead(None)
    if isinstance(command, ReadRoute):
        return RouteRead(None)
    return Noted()


def run(to: TakeOffice, fail: dict[type, Failed] | None = None) -> tuple[TakeOffice,
                                                                        list[Command]]:
    seen: list[Command] = []
    now = 100.0
    while (command := takeoffice.command_for(to)) is not None:
        seen.append(command)
        now += 1.0
        to = takeoffice.step(to, (fail or {}).get(type(command)) or answer(command), now)
    return to, seen


def initial(seat: Seat, at: float) -> Decided:
    first = seat.members[0]
    return Decided(primary=first.name, address=first.address, epoch=4, version=1,
                   reason="initial", updated_at=at)


def test_every_decision_is_written_and_read_before_office_then_each_service_is_taken() -> None:
    to, seen = run(takeoffice.begin(4, SEATS, Predecessor("r1", 3), 100.0))
    assert seen == [
        ReadDecision("web"), ReadRoute("web"), CreateDecision("web", initial(SEATS[0], 102.0)),
        ReadDecision("web"),
        ReadDecision("db"), ReadRoute("db"), CreateDecision("db", initial(SEATS[1], 106.0)),
        ReadDecision("db"),
        EnterOffice(4),
        Record("web", "leadership_changed", {"previous_leader": "r1", "previous_epoch": 3}),
        Republish("web"), LoadRequests("web"),
        Record("db", "leadership_changed", {"previous_leader": "r1", "previous_epoch": 3}),
        Republish("db"), LoadRequests("db")]
    assert to.outcome is not None and to.outcome.ending is Ending.DONE


def test_without_a_predecessor_nothing_is_recorded() -> None:
    _, seen = run(takeoffice.begin(4, SEATS, None, 100.0))
    assert not any(isinstance(c, Record) for c in seen)
    assert [type(c) for c in seen[8:]] == [EnterOffice, Republish, LoadRequests, Republish,
                                           LoadRequests]


def test_no_services_still_takes_office() -> None:
    to, seen = run(takeoffice.begin(4, (), None, 100.0))
    assert seen == [EnterOffice(4)]
    assert to.outcome is not None and to.outcome.ending is Ending.DONE


@pytest.mark.parametrize(("fault", "ending"), [
    (Fault.NOT_IN_OFFICE, Ending.INTERRUPTED), (Fault.FENCED, Ending.FENCED),
    (Fault.STORE_ERROR, Ending.STORE_FAILED)])
@pytest.mark.parametrize("command", [CreateDecision, ReadDecision, ReadRoute])
def test_a_failure_before_office_ends_it_out_of_office(fault: Fault, ending: Ending,
                                                       command: type) -> None:
    to, seen = run(takeoffice.begin(4, SEATS, None, 100.0), {command: Failed(fault, "no")})
    assert to.outcome is not None and (to.outcome.ending, to.outcome.detail) == (ending, "no")
    assert not any(isinstance(c, EnterOffice | Republish) for c in seen)


def test_losing_the_epoch_before_office_takes_no_route() -> None:
    to, seen = run(takeoffice.begin(4, SEATS, Predecessor("r1", 3), 100.0),
                   {EnterOffice: Failed(Fault.NOT_IN_OFFICE, "gone")})
    assert isinstance(seen[-1], EnterOffice)
    assert to.outcome is not None and to.outcome.ending is Ending.INTERRUPTED


def test_an_illegal_answer_raises_and_changes_nothing() -> None:
    to = takeoffice.begin(4, SEATS, None, 100.0)
    with pytest.raises(IllegalAnswer):
        takeoffice.step(to, Noted(), 101.0)
    assert to == takeoffice.begin(4, SEATS, None, 100.0)
    entered, _ = run(to, {})
    with pytest.raises(IllegalAnswer):
        takeoffice.step(entered, Noted(), 101.0)
    serving = takeoffice.begin(4, (), None, 100.0)
    serving = takeoffice.step(serving, Noted(), 101.0)
    assert takeoffice.command_for(serving) is None
    republishing = takeoffice.step(takeoffice.begin(4, SEATS[:1], None, 100.0),
                                   DecisionRead((initial(SEATS[0], 1.0), 0)), 101.0)
    republishing = takeoffice.step(republishing, Noted(), 103.0)
    assert takeoffice.command_for(republishing) == Republish("web")
    with pytest.raises(IllegalAnswer):  # publishing reports its own failures
        takeoffice.step(republishing, Failed(Fault.STORE_ERROR, "x"), 104.0)


def existing() -> DecisionRead:
    return DecisionRead((initial(SEATS[0], 1.0), 3))


def test_a_decision_that_exists_is_only_read() -> None:
    to = takeoffice.begin(4, SEATS[:1], None, 100.0)
    assert takeoffice.command_for(to) == ReadDecision("web")
    to = takeoffice.step(to, existing(), 101.0)
    assert takeoffice.command_for(to) == EnterOffice(4)


def test_a_lost_decision_is_rebuilt_from_redis_and_recorded() -> None:
    to = takeoffice.step(takeoffice.begin(4, SEATS[:1], None, 100.0), DecisionRead(None), 101.0)
    assert takeoffice.command_for(to) == ReadRoute("web")
    to = takeoffice.step(to, RouteRead(RoutedAt("b", 6)), 102.0)
    command = takeoffice.command_for(to)
    assert isinstance(command, CreateDecision) and command.rebuilt == "redis"
    assert (command.decided.primary, command.decided.version, command.decided.unfenced,
            command.decided.epoch) == ("b", 6, ("a",), 4)
    to = takeoffice.step(to, Created(True), 103.0)
    assert takeoffice.command_for(to) == Record("web", "decision_rebuilt", {
        "source": "redis", "target": "b", "version": 6, "detail": {"unfenced": ["a"]}})
    to = takeoffice.step(to, Noted(), 104.0)
    assert takeoffice.command_for(to) == ReadDecision("web")


def test_a_decision_someone_else_created_meanwhile_is_not_recorded_as_rebuilt() -> None:
    to = takeoffice.step(takeoffice.begin(4, SEATS[:1], None, 100.0), DecisionRead(None), 101.0)
    to = takeoffice.step(to, RouteRead(RoutedAt("b", 6)), 102.0)
    to = takeoffice.step(to, Created(False), 103.0)
    assert takeoffice.command_for(to) == ReadDecision("web")


def test_redis_out_is_enough_only_when_this_replica_holds_the_decision() -> None:
    held = Decided(primary="b", address="old:1", epoch=2, version=5, reason="failover",
                   updated_at=1.0)
    seat = Seat("web", SEATS[0].members, held)
    to = takeoffice.step(takeoffice.begin(4, (seat,), None, 100.0), DecisionRead(None), 101.0)
    to = takeoffice.step(to, Failed(Fault.STORE_ERROR, "redis down"), 102.0)
    command = takeoffice.command_for(to)
    assert isinstance(command, CreateDecision) and command.rebuilt == "remembered"
    assert (command.decided.primary, command.decided.address, command.decided.version) == \
        ("b", "b:80", 5)
    alone = takeoffice.step(takeoffice.begin(4, SEATS[:1], None, 100.0), DecisionRead(None),
                            101.0)
    alone = takeoffice.step(alone, Failed(Fault.STORE_ERROR, "redis down"), 102.0)
    assert alone.outcome is not None and alone.outcome.ending is Ending.STORE_FAILED


def test_lost_data_is_recorded_in_every_service_once_in_office() -> None:
    _, seen = run(takeoffice.begin(9, SEATS, None, 100.0, lost_from=0))
    records = [c for c in seen if isinstance(c, Record)]
    assert [(r.service, r.event, r.fields["previous_epoch"]) for r in records] == [
        ("web", "zookeeper_data_lost", 0), ("db", "zookeeper_data_lost", 0)]
    assert seen.index(records[0]) > seen.index(EnterOffice(9))
