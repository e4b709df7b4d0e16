"""The one interpreter of the machines that act (core/failover.py, latefence.py,
takeoffice.py, switchover_drive.py): each command becomes its adapter call, behind the office
gate when it writes; each result or domain error becomes the answer the machine steps on;
each step is timed for the history and the metrics. It decides nothing: which command comes
next is the machine's alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.adapters.routes import PublishOutcome
from controller.adapters.zookeeper import ZkStore
from controller.core import commands as do
from controller.core.errors import Conflict, Fenced, NotInOffice, StoreError
from controller.core.plan import Inputs, busy
from controller.core.preflight import preflight
from controller.core.records import Decided
from controller.core.recovery import RoutedAt
from controller.core.steps import Step
from controller.core.switchover import Checked, StepEnded
from controller.daemon import waits
from controller.daemon.hooks import HookRunner
from controller.daemon.metrics import Metrics
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from controller.events import Event
from probes.scheduler import ProbeScheduler

M = TypeVar("M")
FAULTS: dict[type[Exception], do.Fault] = {
    NotInOffice: do.Fault.NOT_IN_OFFICE, Fenced: do.Fault.FENCED,
    Conflict: do.Fault.CONFLICT, StoreError: do.Fault.STORE_ERROR,
}
_DOMAIN = (NotInOffice, Fenced, Conflict, StoreError)
# Commands that name their service (or need none).
_NAMED = (do.CheckEpoch, do.CreateDecision, do.ReadDecision, do.ReadRoute, do.EnterOffice,
          do.Record, do.Republish, do.LoadRequests, do.Sleep)


@dataclass(frozen=True, slots=True)
class Ports:
    """What the interpreter calls besides the stores, the office and the hooks."""

    services: Mapping[str, ServiceState]
    probes: ProbeScheduler
    metrics: Metrics
    log: Any
    inputs: Callable[[ServiceState], Inputs]
    publish: Callable[..., Awaitable[PublishOutcome | None]]
    republish: Callable[[ServiceState], Awaitable[None]]
    load: Callable[[ServiceState], Awaitable[None]]
    reread: Callable[[ServiceState], Awaitable[None]]
    record: Callable[..., Coroutine[Any, Any, None]]
    on_decision: Callable[[str, Decided | None, int], None]
    enter_office: Callable[[int], bool]
    read_route: Callable[[str], Awaitable[RoutedAt | None]]  # StoreError while Redis is out
    read_acks: waits.ReadAcks  # a service's followers' acknowledgements; StoreError likewise
    wait_health_change: Callable[[float], Awaitable[bool]]


class Interpreter:
    def __init__(self, *, office: Office, zk: ZkStore, hooks: HookRunner,
                 ports: Ports) -> None:
        self._office, self._zk, self._hooks, self._ports = office, zk, hooks, ports

    async def run(self, machine: M, command_for: Callable[[M], do.Command | None],
                  step: Callable[[M, do.Answer, float], M], state: ServiceState | None,
                  epoch: int, log: Any,
                  observe: Callable[[M, M], None] | None = None) -> M:
        """Carry out ``machine``'s commands until it ends; the machine as it ended.
        ``state``: the service the commands act on, unless they name theirs; ``observe``
        sees each step (before, after), for the runner's logs."""
        while (command := command_for(machine)) is not None:
            answer = await self.carry_out(state, epoch, command, log)
            before, machine = machine, step(machine, answer, time.time())
            if observe is not None:
                observe(before, machine)
        return machine

    async def carry_out(self, state: ServiceState | None, epoch: int, command: do.Command,
                        log: Any) -> do.Answer:
        if isinstance(command, _NAMED):
            return await self._office_work(epoch, command, log)
        assert state is not None, f"{command!r} needs the service it acts on"
        name, ports = state.config.name, self._ports
        if isinstance(command, do.WriteAhead | do.CommitDecision):
            return await self._commit(state, epoch, command)
        if isinstance(command, do.RunHook):
            return await self._hook(state, epoch, command)
        if isinstance(command, do.CheckPromotable):
            return do.Promotable(self._hooks.promote_refusal(name, command.member))
        if isinstance(command, do.Publish):
            started = time.monotonic()
            published = await ports.publish(state, origin=command.origin,
                                            detail=dict(command.detail))
            return do.Published(published.outcome if published else None, _ms(started))
        if isinstance(command, do.Exclude):
            state.exclude(command.member)
        elif isinstance(command, do.NoteUnfenced):
            log.warning(Event.FENCE_FAILED_UNREACHABLE, member=command.member,
                        detail=command.detail)
        elif isinstance(command, do.Reread):
            await ports.reread(state)
        elif isinstance(command, do.CountStoreError):
            ports.metrics.store_errors.labels("zookeeper").inc()
        else:
            return await self._switchover_work(state, epoch, command)
        return do.Noted()

    async def _switchover_work(self, state: ServiceState, epoch: int,
                               command: do.Command) -> do.Answer:
        name, ports = state.config.name, self._ports
        if isinstance(command, do.Preflight):
            inputs = ports.inputs(state)
            target, refusal, evidence = preflight(inputs.view, command.to, busy=busy(
                inputs.running, inputs.switchovers, inputs.leader_recovering,
                command.request), force=command.force)
            return Checked(inputs.view.primary, target, refusal, evidence)
        if isinstance(command, do.ReadSnapshot):
            member = state.config.member(command.primary)
            return do.Snapshot(state.snapshot(), member.address if member else None)
        if isinstance(command, do.SaveSwitchover):
            record = command.record
            try:
                await self._office.confirm(epoch)
                version = await self._zk.save_switchover(name, record, epoch,
                                                         command.base_version)
            except _DOMAIN as exc:
                return _failed(exc, None)
            state.switchovers[record.id] = (record, version)
            return do.Saved(version)
        started = time.monotonic()
        if isinstance(command, do.AwaitReady):
            ok, detail = await waits.await_ready(ports.probes, ports.wait_health_change, name,
                                                 command.member, command.timeout,
                                                 command.force)
        elif isinstance(command, do.VerifyPrimary):
            ok, detail = await waits.verify(ports.probes, ports.wait_health_change, name,
                                            command.member, command.window)
            if ok and state.decided is not None:  # done means traffic moved, or says not
                detail += "; " + await waits.await_followers(
                    ports.read_acks, name, state.decided.version, state.config.followers,
                    waits.FOLLOWERS_WAIT)
        else:
            raise TypeError(f"not a command: {command!r}")
        return StepEnded(ok, detail, _ms(started))

    async def _office_work(self, epoch: int, command: do.Command, log: Any) -> do.Answer:
        """Commands that name their service, or need none."""
        ports = self._ports
        if isinstance(command, do.CheckEpoch):  # the gate is the step: timed, failed or not
            started = time.monotonic()
            try:
                await self._office.confirm(command.epoch)
            except _DOMAIN as exc:
                return _failed(exc, _ms(started))
            return do.EpochChecked(_ms(started))
        if isinstance(command, do.CreateDecision):
            decided = command.decided
            try:
                await self._office.confirm(epoch)
                created = await self._zk.create_decision(command.service, decided, epoch)
            except _DOMAIN as exc:
                return _failed(exc, None)
            if created:  # a rebuilt decision is news an operator must see
                (log.error if command.rebuilt else log.info)(
                    Event.BOOTSTRAPPED, service=command.service, primary=decided.primary,
                    epoch=epoch, version=decided.version, rebuilt_from=command.rebuilt,
                    unfenced=list(decided.unfenced))
            return do.Created(created)
        if isinstance(command, do.ReadRoute):
            try:
                return do.RouteRead(await ports.read_route(command.service))
            except _DOMAIN as exc:
                return _failed(exc, None)
        if isinstance(command, do.ReadDecision):
            try:
                current = await self._zk.read_decision(command.service)
            except _DOMAIN as exc:
                return _failed(exc, None)
            if current is not None:
                ports.on_decision(command.service, *current)
            return do.DecisionRead(current)
        if isinstance(command, do.EnterOffice):
            if not ports.enter_office(command.epoch):
                return do.Failed(do.Fault.NOT_IN_OFFICE,
                                 f"no longer holds epoch {command.epoch}")
        elif isinstance(command, do.Record):
            entry = ports.record(ports.services[command.service], command.event,
                                 **command.fields)
            if command.wait:
                await entry
            else:
                self._office.spawn(entry, "history")
        elif isinstance(command, do.Republish):
            await ports.republish(ports.services[command.service])
        elif isinstance(command, do.LoadRequests):
            await ports.load(ports.services[command.service])
        elif isinstance(command, do.Sleep):
            await asyncio.sleep(command.seconds)
        return do.Noted()

    async def _commit(self, state: ServiceState, epoch: int,
                      command: do.WriteAhead | do.CommitDecision) -> do.Answer:
        """Behind the gate (not timed: the step is the write), the compare-and-set."""
        service = state.config.name
        try:
            await self._office.confirm(epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        started = time.monotonic()
        request = command.switchover if isinstance(command, do.CommitDecision) else None
        try:
            version, saved = await self._zk.commit_decision(
                service, command.decided, epoch, command.base_version, request)
        except _DOMAIN as exc:
            return _failed(exc, _ms(started))
        self._ports.on_decision(service, command.decided, version)
        return do.Committed(version, _ms(started), saved)

    async def _hook(self, state: ServiceState, epoch: int, command: do.RunHook) -> do.Answer:
        """The hook runner passes the gate itself and records the hook's step."""
        started = time.monotonic()
        name = state.config.name
        member = state.config.member(command.member)
        previous = command.previous if command.previous is not None else (
            state.decided.primary if state.decided is not None else None)
        if member is None or previous is None:
            return do.HookRan(False, f"{command.member} is not configured", False)
        steps: list[Step] = []
        try:
            result = await self._hooks.run(steps, command.hook, name, member, previous, epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        return do.HookRan(result.ok, result.detail, self._hooks.answers(name, member.name),
                          steps[-1] if steps else None, _ms(started))


def _failed(exc: Exception, ms: float | None) -> do.Failed:
    fault = next(f for kind, f in FAULTS.items() if isinstance(exc, kind))
    return do.Failed(fault, str(exc), ms)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
