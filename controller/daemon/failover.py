"""The failover runner: fence the failed primary, promote the best candidate (each promote
written ahead), commit the decision against the record it read, publish the route; and the
late fence of a member that may still act as primary. The engine runs each as the
service's one recovery in flight (an office task) and evaluates the service when it ends;
the runner records its outcome in the service's state for the planner to weigh.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from config.models import MemberConfig
from controller.adapters.zookeeper import ZkStore
from controller.core.decide import Decision
from controller.core.errors import Conflict, Fenced, NotInOffice, StoreError
from controller.core.history import FailedAttempts
from controller.core.records import Decided, RouteReason
from controller.core.steps import Hook, Step, as_dicts, passes_failed_fence
from controller.daemon.hooks import HookRunner
from controller.daemon.metrics import Metrics
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from controller.events import Event

# A failed late fence is retried every policy.retry_backoff; history records the first
# failure and then one in this many seconds while it keeps failing (the log has each).
LATE_FENCE_REPORT_EVERY = 300.0


class FailoverRunner:
    def __init__(self, *, office: Office, zk: ZkStore, hooks: HookRunner,
                 metrics: Metrics, log: Any,
                 publish: Callable[..., Coroutine[Any, Any, object]],
                 record: Callable[..., Coroutine[Any, Any, None]],
                 reread: Callable[[ServiceState], Awaitable[None]],
                 on_decision: Callable[[str, Decided | None, int], None],
                 step_down: Callable[[str], None]) -> None:
        self._office, self._zk, self._hooks = office, zk, hooks
        self._metrics, self._log = metrics, log
        self._publish, self._record, self._reread = publish, record, reread
        self._on_decision, self._step_down = on_decision, step_down
        # Failed late fences per (service, member) since the last success.
        self._late_failures: dict[tuple[str, str], FailedAttempts] = {}

    async def failover(self, state: ServiceState, decision: Decision,
                       trigger_at: float) -> None:
        """Fail over to ``decision.target`` (or a fallback); ``trigger_at`` (monotonic): the
        event after which the policy said so, from which the repoint time counts."""
        epoch, service, snapshot = self._office.epoch, state.config, state.snapshot()
        if epoch is None or snapshot is None or decision.target is None:
            return  # the planner asks for one only with all three
        # Every write of this failover compares-and-sets against the version of this very
        # record, never a newer one read later (that would turn a stale read into an
        # overwrite of a decision this task never saw).
        decided, version = snapshot
        old = service.member(decided.primary)
        steps: list[Step] = []
        flog = self._log.bind(service=service.name, epoch=epoch, previous=decided.primary)
        flog.warning(Event.FAILOVER_STARTED, reason=str(decision.reason), target=decision.target,
                     evidence=decision.evidence)
        outcome = "failed"
        try:
            await self._timed(steps, "verify_epoch", self._office.confirm(epoch))
            unfenced = set(decided.unfenced)
            if old is not None:
                fenced = await self._hooks.run(steps, Hook.FENCE, service.name, old, decided, epoch)
                if not fenced.ok:
                    if not passes_failed_fence(self._hooks.answers(service.name, old.name)):
                        # It answers, so it may still take writes: do not make a second primary.
                        raise _Abort("fence_failed", fenced.detail)
                    unfenced.add(old.name)
                    flog.warning(Event.FENCE_FAILED_UNREACHABLE, member=old.name,
                                 detail=fenced.detail)
            chosen, (decided, version) = await self._promote_first(
                state, decision, steps, (decided, version), unfenced, epoch)
            now = time.time()
            new = decided.routed_to(primary=chosen.name, address=chosen.address, epoch=epoch,
                                    reason=RouteReason.FAILOVER, now=now,
                                    unfenced=unfenced,
                                    recovery_end=now)
            await self._office.confirm(epoch)
            committed, _ = await self._timed(
                steps, "commit", self._zk.commit_decision(service.name, new, epoch, version))
            self._on_decision(service.name, new, committed)
            detail = {"trigger": "auto", "decision": decision.as_dict(), "steps": as_dicts(steps)}
            published = await self._timed(steps, "publish", self._publish(
                state, origin="failover", detail=detail))
            repoint = time.monotonic() - trigger_at
            outcome = "done"
            self._metrics.repoint_seconds.labels(service.name).observe(repoint)
            flog.warning(Event.FAILOVER_DONE, primary=chosen.name, version=new.version,
                         published=published.outcome if published else "pending",
                         repoint_ms=round(repoint * 1000, 1), steps=as_dicts(steps))
        except _Abort as abort:
            state.last_failed_attempt = time.time()
            flog.error(Event.FAILOVER_ABORTED, why=abort.code, detail=abort.detail,
                       steps=as_dicts(steps))
            await self._record(state, "failover_failed", by="auto", target=decision.target,
                               reason=abort.code, message=abort.detail,
                               decision=decision.as_dict(), steps=as_dicts(steps))
        except NotInOffice as exc:
            flog.warning(Event.FAILOVER_INTERRUPTED, why=str(exc), steps=as_dicts(steps))
        except Fenced:
            flog.error(Event.FAILOVER_FENCED, steps=as_dicts(steps))
            self._step_down("fenced during failover")
        except (Conflict, StoreError) as exc:
            state.last_failed_attempt = time.time()
            self._metrics.store_errors.labels("zookeeper").inc()
            flog.error(Event.FAILOVER_COMMIT_FAILED, error=str(exc), steps=as_dicts(steps))
            await self._reread(state)
        finally:
            self._metrics.failovers.labels(service.name, outcome).inc()
            if outcome == "done":
                state.end_episode()

    async def _promote_first(self, state: ServiceState, decision: Decision,
                             steps: list[Step], base: tuple[Decided, int],
                             unfenced: set[str], epoch: int
                             ) -> tuple[MemberConfig, tuple[Decided, int]]:
        """Promote the target; if its hook fails, the next candidate (best first).

        Each promote is written ahead: the member joins the decision's ``unfenced`` set in
        ZooKeeper before its hook goes out, so a leader that dies mid-hook leaves a record
        that it may have been promoted, and the next leader fences it before it promotes
        anyone else. A promote that failed or timed out is likewise "maybe promoted": it is
        fenced before the next candidate; if that fence fails it stays marked when it is
        unreachable, and the failover stops when it still answers. (A member without a
        fence hook cannot be taken back; its operator chose so.)
        """
        service = state.config
        for name in (decision.target, *decision.fallbacks):
            member = service.member(name) if name else None
            if member is None:
                continue
            refusal = self._hooks.promote_refusal(service.name, member.name)
            if refusal is not None:  # not worth a write-ahead
                steps.append(Step(step="skip", member=member.name, detail=refusal))
                continue
            if member.promote is None:
                return member, base
            marked = base[0].with_marks(unfenced | {member.name})
            await self._office.confirm(epoch)
            written, _ = await self._timed(steps, "write_ahead", self._zk.commit_decision(
                service.name, marked, epoch, base[1]))
            self._on_decision(service.name, marked, written)
            base = (marked, written)
            result = await self._hooks.run(steps, Hook.PROMOTE, service.name, member, marked, epoch)
            if result.ok:
                return member, base
            state.exclude(member.name)
            if member.fence is None:
                continue
            fenced = await self._hooks.run(steps, Hook.FENCE, service.name, member, marked, epoch)
            if fenced.ok:
                continue
            if not passes_failed_fence(self._hooks.answers(service.name, member.name)):
                raise _Abort("promote_failed", f"{member.name}: promote failed and it refused "
                             f"to be fenced, so it may act as primary: {fenced.detail}")
            unfenced.add(member.name)
        raise _Abort("promote_failed", "no candidate could be promoted")

    async def _timed(self, steps: list[Step], step: str,
                     work: Coroutine[Any, Any, Any]) -> Any:
        started = time.monotonic()
        try:
            return await work
        finally:
            steps.append(Step(step=step, ms=round((time.monotonic() - started) * 1000, 1)))

    async def fence_late(self, state: ServiceState, member: MemberConfig, epoch: int,
                         snapshot: tuple[Decided, int]) -> None:
        """Fence ``member`` (marked unfenced, answering again), then clear its mark,
        committed against the record it was read from."""
        decided, version = snapshot
        name = state.config.name
        flog = self._log.bind(service=name, member=member.name, epoch=epoch)
        key = (name, member.name)
        try:
            result = await self._hooks.run([], Hook.FENCE, name, member, decided, epoch)
            if not result.ok:
                now = time.time()
                state.fence_retry_after = now + state.config.policy.retry_backoff
                flog.warning(Event.FENCE_RETRY_FAILED, detail=result.detail)
                failures, report = self._late_failures.get(key, FailedAttempts()).failed(
                    now, LATE_FENCE_REPORT_EVERY)
                self._late_failures[key] = failures
                if report:
                    await self._record(state, "fence_late_failed", by="auto",
                                       member=member.name, attempts=failures.count,
                                       message=result.detail)
                return
            cleared = decided.cleared(member.name)
            await self._office.confirm(epoch)
            committed, _ = await self._zk.commit_decision(name, cleared, epoch, version)
            self._on_decision(name, cleared, committed)
            flog.info(Event.FENCED_LATE, detail=result.detail)
            failed = self._late_failures.pop(key, FailedAttempts()).count
            await self._record(state, "fenced_late", by="auto", member=member.name,
                               failed_attempts=failed, message=result.detail)
        except NotInOffice as exc:
            flog.warning(Event.FENCE_RETRY_INTERRUPTED, why=str(exc))
        except Fenced:
            self._step_down("fenced during fence retry")
        except Conflict as exc:  # the decision changed since we read it: look again
            flog.warning(Event.FENCE_RETRY_CONFLICT, error=str(exc))
            await self._reread(state)
        except StoreError as exc:
            state.fence_retry_after = time.time() + state.config.policy.retry_backoff
            flog.warning(Event.FENCE_RETRY_COMMIT_FAILED, error=str(exc))


class _Abort(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail
