"""Carrying out what the planner returns (core/plan.py): each effect becomes a log line, a
history entry, or a task registered under its kind of work; when such a task ends, the
service is evaluated again (``on_changed``)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from controller.core.plan import (
    Effect,
    FailOver,
    FenceLate,
    LiftPause,
    ReportDryRun,
    ReportEvacuationDryRun,
    ReportRedundancy,
    ReportSplitView,
    RequestEvacuation,
    RunSwitchover,
    Work,
)
from controller.daemon.failover import FailoverRunner
from controller.daemon.office import Office
from controller.daemon.operations import Operations
from controller.daemon.state import ServiceState
from controller.events import Event


class Effects:
    def __init__(self, *, office: Office, log: Any, failovers: FailoverRunner,
                 operations: Operations,
                 record: Callable[..., Coroutine[Any, Any, None]],
                 recovery_changed: Callable[[], None],
                 on_changed: Callable[[ServiceState], None]) -> None:
        self._office, self._log, self._failovers = office, log, failovers
        self._operations, self._record = operations, record
        self._recovery_changed, self._on_changed = recovery_changed, on_changed

    def carry_out(self, state: ServiceState, effect: Effect) -> None:
        name, epoch, log = state.config.name, self._office.epoch, self._log
        match effect:
            case ReportRedundancy(redundant=redundant, evidence=evidence):
                # Every replica says it, so an alert fires before the primary fails.
                level = log.info if redundant else log.warning
                level(Event.REDUNDANCY_CHANGED, service=name, redundant=redundant,
                      primary=state.decided.primary if state.decided else None, **evidence)
            case FenceLate(member=member_name):
                member, snapshot = state.config.member(member_name), state.snapshot()
                if member is not None and epoch is not None and snapshot is not None:
                    self._start(state, Work.RECOVERY, f"late-fence:{name}/{member_name}",
                                self._failovers.fence_late(state, member, epoch, snapshot))
            case FailOver(decision=decision):
                # Repoint time counts from here: the event (probe result, timer, reconcile)
                # after which the decision said "fail over".
                self._start(state, Work.RECOVERY, f"failover:{name}",
                            self._failovers.failover(state, decision, time.monotonic()))
            case ReportDryRun(decision=decision):
                log.warning(Event.DRY_RUN_FAILOVER, service=name, epoch=epoch,
                            **decision.as_dict())
                self._office.spawn(self._record(state, "dry_run", by="auto",
                                                target=decision.target,
                                                decision=decision.as_dict()), "history")
            case ReportSplitView(split=True, member=member_name, summary=summary,
                                 evidence=evidence):
                log.warning(Event.SPLIT_VIEW, service=name, member=member_name, epoch=epoch,
                            summary=summary, evidence=evidence)
            case ReportSplitView(split=False):
                log.info(Event.SPLIT_VIEW_CLEARED, service=name, epoch=epoch)
            case LiftPause(pause=pause):
                self._start(state, Work.LIFT_PAUSE, f"lift-pause:{name}",
                            self._operations.lift_pause(state, pause))
            case RunSwitchover(request_id=request_id):
                self._start(state, Work.SWITCHOVER, f"switchover:{name}/{request_id}",
                            self._operations.runner.drive(state, request_id))
            case ReportEvacuationDryRun(evacuation=evacuation):
                log.warning(Event.DRY_RUN_EVACUATION, service=name, **evacuation.as_dict())
                self._office.spawn(self._record(state, "dry_run", by="auto:evacuation",
                                                target=evacuation.target,
                                                decision=evacuation.as_dict()), "history")
            case RequestEvacuation(evacuation=evacuation):
                self._start(state, Work.EVACUATION, f"evacuate:{name}",
                            self._operations.request_evacuation(state, evacuation))

    def _start(self, state: ServiceState, work: Work, name: str,
               coro: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as an office task; when it ends, the service is evaluated again."""
        task = self._office.spawn(coro, name)
        state.tasks[work] = task
        if work is Work.RECOVERY:
            self._recovery_changed()  # followers refuse switchovers while it runs
        task.add_done_callback(functools.partial(self._ended, state, work))

    def _ended(self, state: ServiceState, work: Work, task: asyncio.Task[None]) -> None:
        if state.tasks.get(work) is task:
            del state.tasks[work]
        if work is Work.RECOVERY:
            self._recovery_changed()
        if task.cancelled() or task.exception() is None:
            self._on_changed(state)
        # A task that crashed (the engine logs it) is not started again at once, which
        # could repeat its hooks back to back: the next event or reconcile pass looks again.
