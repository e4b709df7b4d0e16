"""The simulation's interpreter of the production machines (controller/core/failover.py,
latefence.py, takeoffice.py, switchover_drive.py): each command becomes the ops the daemon's
interpreter would await (daemon/interpreter.py), one ``yield`` per await, so the simulation
interleaves and faults every one; each answer goes back into the same pure ``step`` the
daemon calls. The sequence is the machine's alone: nothing here decides what comes next.

What it leaves out changes no route: logs, metrics, history entries, step timings (every
``ms`` is 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from controller.core import commands as do
from controller.core import failover as failover_machine
from controller.core import latefence, switchover_drive, takeoffice
from controller.core.commands import Answer, Ending, Fault
from controller.core.decide import Decision
from controller.core.errors import Conflict, Fenced, NotInOffice, StoreError
from controller.core.plan import busy
from controller.core.preflight import preflight
from controller.core.records import Decided
from controller.core.recovery import Member, RoutedAt
from controller.core.steps import Hook
from controller.core.switchover import Checked, StepEnded, Timing
from probes.health import Health
from tests.sim.replica import RETRY_BACKOFF, SERVICE, Replica, Steps, Task
from tests.sim.world import (
    MEMBERS,
    CommitDecision,
    CreateDecision,
    ReadDecision,
    ReadRoute,
    RouteStoreError,
    SaveSwitchover,
    SendHook,
    Wait,
)

M = TypeVar("M")
TIMING = Timing(ready_timeout=5.0, verify_window=2.0)
FAULTS: dict[type[Exception], Fault] = {
    NotInOffice: Fault.NOT_IN_OFFICE, Fenced: Fault.FENCED, Conflict: Fault.CONFLICT,
    StoreError: Fault.STORE_ERROR,
}
_DOMAIN = (NotInOffice, Fenced, Conflict, StoreError)


def _failed(exc: Exception, ms: float | None) -> do.Failed:
    fault = next(f for kind, f in FAULTS.items() if isinstance(exc, kind))
    return do.Failed(fault, str(exc), ms)


# --- the interpreter ------------------------------------------------------------------------


def run(rep: Replica, machine: M, command_for: Callable[[M], do.Command | None],
        step: Callable[[M, Answer, float], M], epoch: int) -> Steps:
    """Interpreter.run: carry out ``machine``'s commands until it ends; returns it."""
    while (command := command_for(machine)) is not None:
        answer = yield from carry_out(rep, epoch, command)
        machine = step(machine, answer, rep.world.now)
    return machine


def carry_out(rep: Replica, epoch: int, command: do.Command) -> Steps:
    """Interpreter.carry_out: the command's ops; returns its answer."""
    if isinstance(command, do.CreateDecision | do.ReadDecision | do.ReadRoute | do.EnterOffice
                  | do.Record | do.Republish | do.LoadRequests):
        return (yield from _office_work(rep, epoch, command))
    if isinstance(command, do.CheckEpoch):
        try:
            yield from rep.confirm(command.epoch)
        except _DOMAIN as exc:
            return _failed(exc, 0.0)
        return do.EpochChecked(0.0)
    if isinstance(command, do.WriteAhead | do.CommitDecision):
        try:
            yield from rep.confirm(epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        request = command.switchover if isinstance(command, do.CommitDecision) else None
        try:
            version, saved = yield CommitDecision(command.decided, epoch, command.base_version,
                                                  request)
        except _DOMAIN as exc:
            return _failed(exc, 0.0)
        rep.on_decision(command.decided, version)
        return do.Committed(version, 0.0, saved)
    if isinstance(command, do.RunHook):
        if command.previous is None and rep.service.decided is None:
            return do.HookRan(False, f"{command.member} is not configured", False)
        try:
            ok = yield from run_hook(rep, command.hook, command.member, epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        return do.HookRan(ok, "", answers(rep, command.member))
    if isinstance(command, do.CheckPromotable):
        return do.Promotable(promote_refusal(rep, command.member))
    if isinstance(command, do.Publish):
        from tests.sim.runners import publish  # runners import this module

        outcome = yield from publish(rep)
        return do.Published(outcome, 0.0)
    if isinstance(command, do.Exclude):
        rep.service.exclude(command.member)
    elif isinstance(command, do.Reread):
        yield from reread(rep)
    elif isinstance(command, do.Sleep):
        yield Wait()  # asyncio.sleep
    elif not isinstance(command, do.NoteUnfenced | do.CountStoreError):
        return (yield from _switchover_work(rep, epoch, command))
    return do.Noted()  # and NoteUnfenced, CountStoreError: a log line, a metric


def _switchover_work(rep: Replica, epoch: int, command: do.Command) -> Steps:
    """Interpreter._switchover_work: the check, the waits that end on the view, the
    snapshot, the save."""
    if isinstance(command, do.Preflight):
        inputs = rep.inputs()
        target, refusal, evidence = preflight(inputs.view, command.to, busy=busy(
            inputs.running, inputs.switchovers, inputs.leader_recovering, command.request),
            force=command.force)
        return Checked(inputs.view.primary, target, refusal, evidence)
    if isinstance(command, do.AwaitReady | do.VerifyPrimary):
        yield Wait()  # waits.py: the view when the wait ends decides
        return StepEnded(rep.health[command.member] is Health.HEALTHY, "", 0.0)
    if isinstance(command, do.ReadSnapshot):
        return do.Snapshot(rep.service.snapshot(), f"{command.primary}:80")
    assert isinstance(command, do.SaveSwitchover), command
    try:
        yield from rep.confirm(epoch)
        version = yield SaveSwitchover(command.record, epoch, command.base_version)
    except _DOMAIN as exc:
        return _failed(exc, None)
    rep.service.switchovers[command.record.id] = (command.record, version)
    return do.Saved(version)


def _office_work(rep: Replica, epoch: int, command: do.Command) -> Steps:
    """Interpreter._office_work (one service: the simulation's)."""
    from tests.sim.runners import load, republish  # runners import this module

    if isinstance(command, do.CreateDecision):
        try:
            yield from rep.confirm(epoch)
            created: bool = yield CreateDecision(command.decided, epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        return do.Created(created)
    if isinstance(command, do.ReadDecision):
        try:
            current = yield ReadDecision()
        except _DOMAIN as exc:
            return _failed(exc, None)
        if current is not None:
            rep.on_decision(*current)
        return do.DecisionRead(current)
    if isinstance(command, do.ReadRoute):  # engine.routed_at
        try:
            route = yield ReadRoute()
        except RouteStoreError as exc:
            return do.Failed(Fault.STORE_ERROR, str(exc))
        return do.RouteRead(None if route is None else RoutedAt(route.primary, route.version))
    if isinstance(command, do.EnterOffice):
        if not rep.holds(command.epoch):
            return do.Failed(Fault.NOT_IN_OFFICE, f"no longer holds epoch {command.epoch}")
        rep.in_office, rep.taking = True, None
    elif isinstance(command, do.Republish):
        yield from republish(rep)
    elif isinstance(command, do.LoadRequests):
        yield from load(rep)
    return do.Noted()  # Record: a history entry, left out


# --- hooks.py -----------------------------------------------------------------------------


def answers(rep: Replica, member: str) -> bool:
    """HookRunner.answers."""
    return rep.health[member] is not Health.DOWN


def promote_refusal(rep: Replica, member: str) -> str | None:
    """HookRunner.promote_refusal (invariant 3)."""
    health = rep.health[member]
    return None if health is Health.HEALTHY else f"not promoted: {member} is {health}"


def run_hook(rep: Replica, hook: Hook, member: str, epoch: int) -> Steps:
    """HookRunner.run: a promote only to a healthy member, the gate, then the hook."""
    if hook is Hook.PROMOTE and promote_refusal(rep, member) is not None:
        return False
    yield from rep.confirm(epoch)
    if hook is Hook.PROMOTE and promote_refusal(rep, member) is not None:
        return False  # seen failing while the gate asked ZooKeeper
    rep.hooks_sent += 1
    rep.world.note(f"{rep.name} sends {hook} {member} (epoch {epoch}, seq {rep.hooks_sent}, "
                   f"seen {rep.health[member]})")
    send = SendHook(member, hook, epoch, rep.hooks_sent, rep.health[member])
    if hook is Hook.PROMOTE:
        rep.world.promotes.append(send)  # invariant 3 holds the send to the view
    ok: bool = yield send
    return ok


def reread(rep: Replica) -> Steps:
    """Engine.reread."""
    try:
        current = yield ReadDecision()
    except StoreError:
        return
    if current is not None:
        rep.on_decision(*current)


# --- leadership.py and failover.py: the runners around the machines ------------------------


def take_office(rep: Replica, epoch: int) -> Task:
    """Leadership._take_office: the machine, then evaluate, or step down."""
    seats = (takeoffice.Seat(SERVICE, tuple(Member(name, f"{name}:80") for name, _ in MEMBERS),
                             rep.service.decided),)
    to = takeoffice.begin(epoch, seats, None, rep.world.now)
    to = yield from run(rep, to, takeoffice.command_for, takeoffice.step, epoch)
    assert to.outcome is not None
    match to.outcome.ending:
        case Ending.DONE:
            rep.evaluate()
        case Ending.FENCED | Ending.STORE_FAILED | Ending.CONFLICT:
            rep.step_down()



def failover(rep: Replica, decision: Decision) -> Task:
    """FailoverRunner.failover: the machine, then what its outcome asks of the replica."""
    epoch, state, snapshot = rep.epoch, rep.service, rep.service.snapshot()
    if epoch is None or snapshot is None or decision.target is None:
        return
    candidates = tuple(failover_machine.Candidate(name, f"{name}:80")
                       for name in (decision.target, *decision.fallbacks))
    fo = failover_machine.begin(decision, snapshot, epoch, snapshot[0].primary, candidates)
    fo = yield from run(rep, fo, failover_machine.command_for, failover_machine.step, epoch)
    assert fo.outcome is not None
    match fo.outcome.ending:
        case Ending.DONE:
            state.end_episode()
        case Ending.ABORTED:
            state.last_failed_attempt = rep.world.now
        case Ending.FENCED:
            rep.step_down()
        case Ending.CONFLICT | Ending.STORE_FAILED:
            state.last_failed_attempt = rep.world.now
            yield from reread(rep)


def fence_late(rep: Replica, member: str, epoch: int, snapshot: tuple[Decided, int]) -> Task:
    """FailoverRunner.fence_late."""
    state = rep.service
    lf = yield from run(rep, latefence.begin(member, snapshot), latefence.command_for,
                        latefence.step, epoch)
    assert lf.outcome is not None
    match lf.outcome.ending:
        case Ending.ABORTED | Ending.STORE_FAILED:
            state.fence_retry_after = rep.world.now + RETRY_BACKOFF
        case Ending.FENCED:
            rep.step_down()
        case Ending.CONFLICT:
            yield from reread(rep)


# --- switchovers.py -----------------------------------------------------------------------


def drive(rep: Replica, request_id: str) -> Task:
    """SwitchoverRunner.drive: the machine, then what its outcome asks of the replica."""
    from tests.sim.runners import load  # runners import this module

    epoch, state = rep.epoch, rep.service
    if epoch is None or request_id not in state.switchovers:
        return
    record, version = state.switchovers[request_id]
    d = switchover_drive.begin(record, version, epoch, TIMING, RETRY_BACKOFF, rep.world.now)
    d = yield from run(rep, d, switchover_drive.command_for, switchover_drive.step, epoch)
    assert d.outcome is not None
    match d.outcome.ending:
        case Ending.FENCED:
            rep.step_down()
        case Ending.CONFLICT:
            yield from load(rep)
        case Ending.STORE_FAILED:
            yield Wait()  # asyncio.sleep(retry_backoff)
            yield from load(rep)
