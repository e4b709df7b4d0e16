"""The one interpreter of the machines that act (core/failover.py, latefence.py,
takeoffice.py): each
command becomes its adapter call, behind the office gate when it writes; each result or
domain error becomes the answer the machine steps on; each step is timed for the history
and the metrics. It decides nothing: which command comes next is the machine's alone.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from controller.adapters.routes import PublishOutcome
from controller.adapters.zookeeper import ZkStore
from controller.core.commands import (
    Answer,
    CheckEpoch,
    CheckPromotable,
    Command,
    CommitDecision,
    Committed,
    Created,
    CreateDecision,
    DecisionRead,
    EnterOffice,
    EpochChecked,
    Exclude,
    Failed,
    Fault,
    HookRan,
    LoadRequests,
    Noted,
    NoteUnfenced,
    Promotable,
    Publish,
    Published,
    ReadDecision,
    Record,
    Republish,
    RunHook,
    WriteAhead,
)
from controller.core.errors import Conflict, Fenced, NotInOffice, StoreError
from controller.core.records import Decided
from controller.core.steps import Step
from controller.daemon.hooks import HookRunner
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from controller.events import Event

M = TypeVar("M")
FAULTS: dict[type[Exception], Fault] = {
    NotInOffice: Fault.NOT_IN_OFFICE, Fenced: Fault.FENCED, Conflict: Fault.CONFLICT,
    StoreError: Fault.STORE_ERROR,
}
_DOMAIN = (NotInOffice, Fenced, Conflict, StoreError)


class Interpreter:
    def __init__(self, *, office: Office, zk: ZkStore, hooks: HookRunner,
                 services: Mapping[str, ServiceState], log: Any,
                 publish: Callable[..., Awaitable[PublishOutcome | None]],
                 republish: Callable[[ServiceState], Awaitable[None]],
                 load: Callable[[ServiceState], Awaitable[None]],
                 record: Callable[..., Coroutine[Any, Any, None]],
                 on_decision: Callable[[str, Decided | None, int], None],
                 enter_office: Callable[[int], bool]) -> None:
        self._office, self._zk, self._hooks = office, zk, hooks
        self._services, self._log = services, log
        self._publish, self._republish, self._load = publish, republish, load
        self._record, self._on_decision, self._enter_office = record, on_decision, enter_office

    async def run(self, machine: M, command_for: Callable[[M], Command | None],
                  step: Callable[[M, Answer, float], M], state: ServiceState | None,
                  epoch: int, log: Any) -> M:
        """Carry out ``machine``'s commands until it ends; the machine as it ended.
        ``state``: the service the commands act on, unless they name theirs."""
        while (command := command_for(machine)) is not None:
            answer = await self.carry_out(state, epoch, command, log)
            machine = step(machine, answer, time.time())
        return machine

    async def carry_out(self, state: ServiceState | None, epoch: int, command: Command,
                        log: Any) -> Answer:
        if isinstance(command, CheckEpoch | CreateDecision | ReadDecision | EnterOffice
                      | Record | Republish | LoadRequests):
            return await self._office_work(epoch, command, log)
        assert state is not None, f"{command!r} needs the service it acts on"
        name = state.config.name
        if isinstance(command, WriteAhead | CommitDecision):
            return await self._commit(name, epoch, command.decided, command.base_version)
        if isinstance(command, RunHook):
            return await self._hook(state, epoch, command)
        if isinstance(command, CheckPromotable):
            return Promotable(self._hooks.promote_refusal(name, command.member))
        if isinstance(command, Publish):
            started = time.monotonic()
            published = await self._publish(state, origin=command.origin,
                                            detail=dict(command.detail))
            return Published(published.outcome if published else None, _ms(started))
        if isinstance(command, Exclude):
            state.exclude(command.member)
            return Noted()
        if isinstance(command, NoteUnfenced):
            log.warning(Event.FENCE_FAILED_UNREACHABLE, member=command.member,
                        detail=command.detail)
            return Noted()
        raise TypeError(f"not a command: {command!r}")

    async def _office_work(self, epoch: int, command: Command, log: Any) -> Answer:
        """Commands that name their service, or none."""
        if isinstance(command, CheckEpoch):  # the gate is the step: timed, failed or not
            started = time.monotonic()
            try:
                await self._office.confirm(command.epoch)
            except _DOMAIN as exc:
                return _failed(exc, _ms(started))
            return EpochChecked(_ms(started))
        if isinstance(command, CreateDecision):
            decided = command.decided
            try:
                await self._office.confirm(epoch)
                created = await self._zk.create_decision(command.service, decided, epoch)
            except _DOMAIN as exc:
                return _failed(exc, None)
            if created:
                log.info(Event.BOOTSTRAPPED, service=command.service, primary=decided.primary,
                         epoch=epoch)
            return Created(created)
        if isinstance(command, ReadDecision):
            try:
                current = await self._zk.read_decision(command.service)
            except _DOMAIN as exc:
                return _failed(exc, None)
            if current is not None:
                self._on_decision(command.service, *current)
            return DecisionRead(current)
        if isinstance(command, EnterOffice):
            if not self._enter_office(command.epoch):
                return Failed(Fault.NOT_IN_OFFICE, f"no longer holds epoch {command.epoch}")
            return Noted()
        if isinstance(command, Record):
            state = self._services[command.service]
            self._office.spawn(self._record(state, command.event, **command.fields), "history")
            return Noted()
        if isinstance(command, Republish):
            await self._republish(self._services[command.service])
            return Noted()
        assert isinstance(command, LoadRequests)
        await self._load(self._services[command.service])
        return Noted()

    async def _commit(self, service: str, epoch: int, decided: Decided,
                      base_version: int) -> Answer:
        """Behind the gate (not timed: the step is the write), the compare-and-set."""
        try:
            await self._office.confirm(epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        started = time.monotonic()
        try:
            version, _ = await self._zk.commit_decision(service, decided, epoch, base_version)
        except _DOMAIN as exc:
            return _failed(exc, _ms(started))
        self._on_decision(service, decided, version)
        return Committed(version, _ms(started))

    async def _hook(self, state: ServiceState, epoch: int, command: RunHook) -> Answer:
        """The hook runner passes the gate itself and records the hook's step."""
        name = state.config.name
        member = state.config.member(command.member)
        if member is None:
            return HookRan(False, f"{command.member} is not configured", False)
        steps: list[Step] = []
        try:
            result = await self._hooks.run(steps, command.hook, name, member,
                                           command.previous, epoch)
        except _DOMAIN as exc:
            return _failed(exc, None)
        return HookRan(result.ok, result.detail, self._hooks.answers(name, member.name),
                       steps[-1] if steps else None)


def _failed(exc: Exception, ms: float | None) -> Failed:
    fault = next(f for kind, f in FAULTS.items() if isinstance(exc, kind))
    return Failed(fault, str(exc), ms)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
