"""The daemon's runners, one awaitable at a time: each ``yield`` (or ``yield from`` a gate)
stands where the daemon awaits, in the same order, so that the simulation can interleave
and fault every await. Each function names the daemon function it follows; what it leaves
out (logs, metrics, history entries, which change no route) is said there.
"""

from __future__ import annotations

from controller.core.errors import Conflict, Fenced, NotInOffice, StoreError
from controller.core.plan import busy
from controller.core.preflight import preflight
from controller.core.switchover import (
    AwaitHealthy,
    Checked,
    CheckSafe,
    CommitRoute,
    Due,
    Phase,
    RunHook,
    StepEnded,
    Switchover,
    Timing,
    Verify,
    command_for,
    durable_before_next,
    step,
)
from probes.health import Health
from tests.sim.machines import answers, reread, run_hook
from tests.sim.replica import Replica, Steps, Task
from tests.sim.world import (
    CommitDecision,
    Publish,
    ReadRoute,
    ReadSwitchovers,
    Route,
    RouteStoreError,
    SaveSwitchover,
    Wait,
)

TIMING = Timing(ready_timeout=5.0, verify_window=2.0)


# --- publishing.py --------------------------------------------------------------------------


def publish(rep: Replica, create: bool = False) -> Steps:
    """Publisher.publish: the gate, then the newest committed decision under our epoch; a
    route found missing is repaired by a reconcile at once."""
    epoch = rep.epoch
    if epoch is None:
        return None
    try:
        yield from rep.confirm(epoch)
    except NotInOffice:
        return None
    except Fenced:
        rep.step_down()
        return None
    except StoreError:
        return None
    decided = rep.service.decided  # read after the gate
    if decided is None:
        return None
    try:
        outcome = yield Publish(decided, epoch, create, rep.world.flushes)
    except RouteStoreError:
        return None
    if outcome == "stale_epoch":
        rep.step_down()
    elif outcome == "missing" and not create:
        yield from repair(rep)
    return outcome


def republish(rep: Replica) -> Steps:
    """Publisher.republish (taking office): read, then publish, creating a missing route."""
    try:
        route: Route | None = yield ReadRoute()
    except RouteStoreError:
        return
    yield from publish(rep, create=route is None)


def repair(rep: Replica) -> Steps:
    """Publisher.reconcile: publish again if Redis does not hold the decision."""
    decided, epoch = rep.service.decided, rep.epoch
    if decided is None or epoch is None:
        return
    try:
        route: Route | None = yield ReadRoute()
    except RouteStoreError:
        return
    if (route is None or route.version != decided.version
            or route.primary != decided.primary or route.epoch < epoch):
        yield from publish(rep, create=route is None)


def reconcile(rep: Replica) -> Task:
    """Engine._reconcile_all (an office task)."""
    from controller.core.plan import Work

    if Work.RECOVERY in rep.service.tasks:
        return
    yield from repair(rep)
    rep.evaluate()


def load(rep: Replica) -> Steps:
    """Operations.load: every stored request."""
    try:
        stored = yield ReadSwitchovers()
    except StoreError:
        return
    for rid, (record, version) in stored.items():
        known = rep.service.switchovers.get(rid)
        if known is None or version >= known[1]:
            rep.service.switchovers[rid] = (record, version)


# --- switchovers.py -----------------------------------------------------------------------


def drive(rep: Replica, request_id: str) -> Task:
    """SwitchoverRunner.drive (history entries and logs left out)."""
    epoch, state = rep.epoch, rep.service
    if epoch is None or request_id not in state.switchovers:
        return
    record, version = state.switchovers[request_id]
    try:
        if record.phase is Phase.SCHEDULED:
            record, version = yield from _save(rep, step(record, Due(), rep.world.now, epoch),
                                               version, epoch)
        while (command := command_for(record, TIMING)) is not None:
            if isinstance(command, CommitRoute):
                record, version = yield from _commit(rep, record, version, command, epoch)
            else:
                event = yield from _execute(rep, record, command, epoch)
                record = step(record, event, rep.world.now, epoch)
                if durable_before_next(record):
                    record, version = yield from _save(rep, record, version, epoch)
    except NotInOffice:
        pass
    except Fenced:
        rep.step_down()
    except Conflict:
        yield from load(rep)
    except StoreError:
        yield Wait()  # asyncio.sleep(retry_backoff)
        yield from load(rep)


def _save(rep: Replica, record: Switchover, version: int, epoch: int) -> Steps:
    """SwitchoverRunner._save (the outcome's history entry left out)."""
    yield from rep.confirm(epoch)
    new_version = yield SaveSwitchover(record, epoch, version)
    rep.service.switchovers[record.id] = (record, new_version)
    return record, new_version


def _execute(rep: Replica, record: Switchover, command: object, epoch: int) -> Steps:
    """SwitchoverRunner._execute: a check, a hook, or a wait that ends on the view."""
    if isinstance(command, CheckSafe):
        inputs = rep.inputs()
        target, refusal, evidence = preflight(inputs.view, record.to, busy=busy(
            inputs.running, inputs.switchovers, inputs.leader_recovering, record.id),
            force=record.force)
        return Checked(inputs.view.primary, target, refusal, evidence)
    if isinstance(command, RunHook):  # _run_hook
        if rep.service.decided is None:
            return StepEnded(False, "no decision", 0.0, False)
        ok = yield from run_hook(rep, command.hook, command.member, epoch)
        return StepEnded(ok, "", 0.0, answers(rep, command.member))
    assert isinstance(command, AwaitHealthy | Verify)
    yield Wait()  # _await_ready / _verify: the view when the wait ends decides
    ok = rep.health[command.member] is Health.HEALTHY
    return StepEnded(ok, "", 0.0)


def _commit(rep: Replica, record: Switchover, version: int, command: CommitRoute,
            epoch: int) -> Steps:
    """SwitchoverRunner._commit: the route and the request in one transaction, publish."""
    yield from rep.confirm(epoch)
    snapshot = rep.service.snapshot()
    if snapshot is None:
        failed = step(record, StepEnded(False, "no decision", 0.0), rep.world.now, epoch)
        return (yield from _retry_later(rep, failed, version, epoch))
    decided, base_version = snapshot
    now = rep.world.now
    new = decided.routed_to(primary=command.primary, address=f"{command.primary}:80",
                            epoch=epoch, reason=command.reason, now=now,
                            unfenced={*decided.unfenced, *command.unfenced})
    after = step(record, StepEnded(True, "", 0.0), now, epoch).with_last_step(None)
    try:
        committed, saved = yield CommitDecision(new, epoch, base_version, (after, version))
    except Fenced:
        raise
    except (Conflict, StoreError) as exc:
        yield from reread(rep)
        failed = step(record, StepEnded(False, f"commit failed: {exc}", 0.0), now, epoch)
        return (yield from _retry_later(rep, failed, version, epoch))
    rep.on_decision(new, committed)
    yield from publish(rep)
    return (yield from _save(rep, after.with_last_step(0.0), saved, epoch))


def _retry_later(rep: Replica, failed: Switchover, version: int, epoch: int) -> Steps:
    """SwitchoverRunner._retry_later: a rollback commit waits, then is tried again."""
    saved = yield from _save(rep, failed, version, epoch)
    if saved[0].phase is Phase.ROLLBACK_COMMITTING:
        yield Wait()  # asyncio.sleep(retry_backoff)
    return saved
