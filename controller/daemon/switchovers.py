"""The switchover runner: drives one operator switchover (or evacuation) request through the
pure machines (core/switchover.py, and core/switchover_drive.py, which persists each step
under the leader's epoch before its side effect, so the next leader resumes it from its last
saved phase) with the daemon's interpreter, and reports how it ended. The engine runs it as
an office task and evaluates the service when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from controller.core import switchover_drive
from controller.core.commands import Ending
from controller.core.errors import StoreError
from controller.core.steps import as_dicts
from controller.core.switchover import Phase, Switchover, Timing
from controller.core.switchover_drive import Drive
from controller.daemon.collaborators import Collaborators
from controller.daemon.state import ServiceState
from controller.events import Event

KEEP_FINISHED = 20  # finished requests kept in ZooKeeper per service (history keeps all)


class SwitchoverRunner:
    def __init__(self, ctx: Collaborators,
                 load: Callable[[ServiceState], Awaitable[None]]) -> None:
        self.ctx, self._load = ctx, load

    async def drive(self, state: ServiceState, request_id: str) -> None:
        """Drive the request through core/switchover_drive.py's machine (each step saved
        before its side effect), and report how it ended."""
        ctx, policy = self.ctx, state.config.policy
        epoch = ctx.office.epoch
        record, version = state.switchovers[request_id]
        log = ctx.log.bind(service=state.config.name, request=request_id, epoch=epoch)
        timing = Timing(policy.ready_timeout, policy.verify_window)
        if epoch is None:  # left office before the task ran: the next leader resumes it
            return
        drive = switchover_drive.begin(record, version, epoch, timing, policy.retry_backoff,
                                       time.time())
        if drive.in_loop:
            _started(log, drive)

        def observe(before: Drive, after: Drive) -> None:
            if after.in_loop and not before.in_loop:
                _started(log, after)
            if after.iterations > before.iterations:
                _stepped(log, after)

        drive = await ctx.interpreter.run(drive, switchover_drive.command_for,
                                          switchover_drive.step, state, epoch, log, observe)
        assert drive.outcome is not None
        outcome, phase = drive.outcome, str(drive.record.phase)
        match outcome.ending:
            case Ending.DONE:
                await self._finished(state, drive.record)
            case Ending.INTERRUPTED:  # the next leader resumes it from its persisted phase
                log.warning(Event.SWITCHOVER_INTERRUPTED, phase=phase, why=outcome.detail)
            case Ending.FENCED:
                log.error(Event.SWITCHOVER_FENCED, phase=phase)
                ctx.step_down("fenced during a switchover")
            case Ending.CONFLICT:  # changed under us (cancelled, or a timed-out write landed)
                log.warning(Event.SWITCHOVER_CHANGED_MEANWHILE, phase=phase,
                            error=outcome.detail)
                await self._load(state)
            case Ending.STORE_FAILED:
                # Outcome unknown; the record stays at its phase and is resumed after a pause.
                log.error(Event.SWITCHOVER_STORE_ERROR, phase=phase, error=outcome.detail)
                ctx.metrics.store_errors.labels("zookeeper").inc()
                await asyncio.sleep(policy.retry_backoff)
                await self._load(state)

    async def _finished(self, state: ServiceState, record: Switchover) -> None:
        ctx, name = self.ctx, state.config.name
        ctx.metrics.switchovers.labels(name, record.outcome).inc()
        level = ctx.log.warning if record.phase is Phase.DONE else ctx.log.error
        level(Event(f"switchover_{record.outcome}"), service=name, request=record.id,
              epoch=record.epoch, source=record.source, target=record.target,
              reason=record.reason, detail=record.detail, rolled_back=record.rolled_back,
              steps=as_dicts(record.steps))
        await self._prune(state)

    async def _prune(self, state: ServiceState) -> None:
        finished = sorted(rid for rid, (r, _) in state.switchovers.items() if r.phase.terminal)
        for rid in finished[:-KEEP_FINISHED]:
            if not self.ctx.office.holds(self.ctx.office.epoch):
                return
            try:
                await self.ctx.zk.delete_switchover(state.config.name, rid)
            except StoreError:
                return  # next time
            state.switchovers.pop(rid, None)


def _started(log: Any, drive: Drive) -> None:
    record = drive.record
    log.warning(Event.SWITCHOVER_RESUMED if record.phase.running else Event.SWITCHOVER_STARTED,
                phase=str(record.phase), to=record.to, by=record.requested_by)


def _stepped(log: Any, drive: Drive) -> None:
    record = drive.record
    if drive.checked:
        log.info(Event.SWITCHOVER_CHECKED, phase=str(record.phase), source=record.source,
                 target=record.target, reason=record.reason)
        return
    last = record.steps[-1]
    log.info(Event.SWITCHOVER_STEP, phase=str(record.phase), step=last.step,
             member=last.member, ok=last.ok, ms=last.ms, detail=last.detail)
