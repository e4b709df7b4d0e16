"""The failover runner: runs the automatic failover (core/failover.py: fence the failed
primary, promote the best candidate, each promote written ahead, commit against the record
it read, publish) and the late fence of a member that may still act as primary
(core/latefence.py) through the daemon's interpreter, and reports how each ended: logs,
metrics, history, and the outcome in the service's state for the planner to weigh. The
engine runs each as the service's one recovery in flight (an office task) and evaluates the
service when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from config.models import MemberConfig, ServiceConfig
from controller.core import failover, latefence
from controller.core.commands import Ending, Outcome
from controller.core.decide import Decision
from controller.core.failover import Candidate
from controller.core.history import FailedAttempts
from controller.core.records import Decided
from controller.core.steps import Step, as_dicts
from controller.daemon.interpreter import Interpreter
from controller.daemon.metrics import Metrics
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from controller.events import Event

# A failed late fence is retried every policy.retry_backoff; history records the first
# failure and then one in this many seconds while it keeps failing (the log has each).
LATE_FENCE_REPORT_EVERY = 300.0


class FailoverRunner:
    def __init__(self, *, office: Office, interpreter: Interpreter, metrics: Metrics,
                 log: Any, record: Callable[..., Coroutine[Any, Any, None]],
                 reread: Callable[[ServiceState], Awaitable[None]],
                 step_down: Callable[[str], None]) -> None:
        self._office, self._interpreter, self._metrics, self._log = (
            office, interpreter, metrics, log)
        self._record, self._reread, self._step_down = record, reread, step_down
        # Failed late fences per (service, member) since the last success.
        self._late_failures: dict[tuple[str, str], FailedAttempts] = {}

    async def failover(self, state: ServiceState, decision: Decision,
                       trigger_at: float) -> None:
        """Fail over to ``decision.target`` (or a fallback); ``trigger_at`` (monotonic): the
        event after which the policy said so, from which the repoint time counts. The
        sequence is core/failover.py's; this runs it and reports how it ended."""
        epoch, service, snapshot = self._office.epoch, state.config, state.snapshot()
        if epoch is None or snapshot is None or decision.target is None:
            return  # the planner asks for one only with all three
        old = service.member(snapshot[0].primary)
        flog = self._log.bind(service=service.name, epoch=epoch, previous=snapshot[0].primary)
        flog.warning(Event.FAILOVER_STARTED, reason=str(decision.reason), target=decision.target,
                     evidence=decision.evidence)
        fo = failover.begin(decision, snapshot, epoch, old.name if old else None,
                            _candidates(service, decision))
        ending = Ending.ABORTED
        try:
            fo = await self._interpreter.run(fo, failover.command_for, failover.step, state,
                                             epoch, flog)
            assert fo.outcome is not None
            ending = fo.outcome.ending
            await self._report(state, decision, fo.outcome, fo.steps, trigger_at, flog)
        finally:
            done = ending is Ending.DONE
            self._metrics.failovers.labels(service.name, "done" if done else "failed").inc()
            if done:
                state.end_episode()

    async def _report(self, state: ServiceState, decision: Decision, outcome: Outcome,
                      steps: tuple[Step, ...], trigger_at: float, flog: Any) -> None:
        name = state.config.name
        match outcome.ending:
            case Ending.DONE:
                repoint = time.monotonic() - trigger_at
                self._metrics.repoint_seconds.labels(name).observe(repoint)
                flog.warning(Event.FAILOVER_DONE, primary=outcome.primary,
                             version=outcome.version, published=outcome.published or "pending",
                             repoint_ms=round(repoint * 1000, 1), steps=as_dicts(steps))
            case Ending.ABORTED:
                state.last_failed_attempt = time.time()
                flog.error(Event.FAILOVER_ABORTED, why=outcome.code, detail=outcome.detail,
                           steps=as_dicts(steps))
                await self._record(state, "failover_failed", by="auto", target=decision.target,
                                   reason=outcome.code, message=outcome.detail,
                                   decision=decision.as_dict(), steps=as_dicts(steps))
            case Ending.INTERRUPTED:
                flog.warning(Event.FAILOVER_INTERRUPTED, why=outcome.detail,
                             steps=as_dicts(steps))
            case Ending.FENCED:
                flog.error(Event.FAILOVER_FENCED, steps=as_dicts(steps))
                self._step_down("fenced during failover")
            case Ending.CONFLICT | Ending.STORE_FAILED:
                state.last_failed_attempt = time.time()
                self._metrics.store_errors.labels("zookeeper").inc()
                flog.error(Event.FAILOVER_COMMIT_FAILED, error=outcome.detail,
                           steps=as_dicts(steps))
                await self._reread(state)

    async def fence_late(self, state: ServiceState, member: MemberConfig, epoch: int,
                         snapshot: tuple[Decided, int]) -> None:
        """Fence ``member`` (marked unfenced, answering again), then clear its mark,
        committed against the record it was read from (core/latefence.py)."""
        name = state.config.name
        flog = self._log.bind(service=name, member=member.name, epoch=epoch)
        key = (name, member.name)
        lf = await self._interpreter.run(latefence.begin(member.name, snapshot),
                                         latefence.command_for, latefence.step, state, epoch,
                                         flog)
        assert lf.outcome is not None
        outcome = lf.outcome
        match outcome.ending:
            case Ending.ABORTED:
                now = time.time()
                state.fence_retry_after = now + state.config.policy.retry_backoff
                flog.warning(Event.FENCE_RETRY_FAILED, detail=outcome.detail)
                failures, report = self._late_failures.get(key, FailedAttempts()).failed(
                    now, LATE_FENCE_REPORT_EVERY)
                self._late_failures[key] = failures
                if report:
                    await self._record(state, "fence_late_failed", by="auto",
                                       member=member.name, attempts=failures.count,
                                       message=outcome.detail)
            case Ending.DONE:
                flog.info(Event.FENCED_LATE, detail=outcome.detail)
                failed = self._late_failures.pop(key, FailedAttempts()).count
                await self._record(state, "fenced_late", by="auto", member=member.name,
                                   failed_attempts=failed, message=outcome.detail)
            case Ending.INTERRUPTED:
                flog.warning(Event.FENCE_RETRY_INTERRUPTED, why=outcome.detail)
            case Ending.FENCED:
                self._step_down("fenced during fence retry")
            case Ending.CONFLICT:  # the decision changed since we read it: look again
                flog.warning(Event.FENCE_RETRY_CONFLICT, error=outcome.detail)
                await self._reread(state)
            case Ending.STORE_FAILED:
                state.fence_retry_after = time.time() + state.config.policy.retry_backoff
                flog.warning(Event.FENCE_RETRY_COMMIT_FAILED, error=outcome.detail)


def _candidates(service: ServiceConfig, decision: Decision) -> tuple[Candidate, ...]:
    """The target, then the fallbacks, best first: those configured here."""
    members = (service.member(name) if name else None
               for name in (decision.target, *decision.fallbacks))
    return tuple(Candidate(m.name, m.address, promotes=m.promote is not None)
                 for m in members if m is not None)
