"""The switchover runner: drives one operator switchover (or evacuation) request through the
pure machine (core/switchover.py), persisting each step under the leader's epoch before its
side effect, so the next leader resumes it from its last saved phase. The engine runs it as
an office task and evaluates the service when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from controller.core.errors import Conflict, Fenced, NotInOffice, StoreError
from controller.core.plan import busy
from controller.core.preflight import preflight
from controller.core.steps import as_dicts
from controller.core.switchover import (
    AwaitHealthy,
    Checked,
    CheckSafe,
    Command,
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
from controller.daemon.collaborators import Collaborators
from controller.daemon.state import ServiceState
from controller.events import Event
from probes.health import Health, readiness
from probes.roles import verified

KEEP_FINISHED = 20  # finished requests kept in ZooKeeper per service (history keeps all)


class SwitchoverRunner:
    def __init__(self, ctx: Collaborators,
                 load: Callable[[ServiceState], Awaitable[None]]) -> None:
        self.ctx, self._load = ctx, load

    async def drive(self, state: ServiceState, request_id: str) -> None:
        ctx, policy = self.ctx, state.config.policy
        epoch = ctx.office.epoch
        record, version = state.switchovers[request_id]
        log = ctx.log.bind(service=state.config.name, request=request_id, epoch=epoch)
        timing = Timing(policy.ready_timeout, policy.verify_window)
        if epoch is None:  # left office before the task ran: the next leader resumes it
            return
        try:
            if record.phase is Phase.SCHEDULED:
                record, version = await self._save(state, step(record, Due(), time.time(),
                                                               epoch), version, epoch)
            log.warning(Event.SWITCHOVER_RESUMED if record.phase.running
                        else Event.SWITCHOVER_STARTED, phase=str(record.phase), to=record.to,
                        by=record.requested_by)
            while (command := command_for(record, timing)) is not None:
                if isinstance(command, CommitRoute):
                    record, version = await self._commit(state, record, version, command,
                                                         epoch)
                else:
                    event = await self._execute(state, record, command, epoch)
                    record = step(record, event, time.time(), epoch)
                    if durable_before_next(record):
                        record, version = await self._save(state, record, version, epoch)
                if isinstance(command, CheckSafe):
                    log.info(Event.SWITCHOVER_CHECKED, phase=str(record.phase),
                             source=record.source, target=record.target, reason=record.reason)
                    continue
                last = record.steps[-1]
                log.info(Event.SWITCHOVER_STEP, phase=str(record.phase), step=last.step,
                         member=last.member, ok=last.ok, ms=last.ms, detail=last.detail)
            await self._finished(state, record)
        except NotInOffice as exc:  # the next leader resumes it from its persisted phase
            log.warning(Event.SWITCHOVER_INTERRUPTED, phase=str(record.phase), why=str(exc))
        except Fenced:
            log.error(Event.SWITCHOVER_FENCED, phase=str(record.phase))
            ctx.step_down("fenced during a switchover")
        except Conflict as exc:  # changed under us (cancelled, or a timed-out write landed)
            log.warning(Event.SWITCHOVER_CHANGED_MEANWHILE, phase=str(record.phase),
                        error=str(exc))
            await self._load(state)
        except StoreError as exc:
            # Outcome unknown; the record stays at its phase and is resumed after a pause.
            log.error(Event.SWITCHOVER_STORE_ERROR, phase=str(record.phase), error=str(exc))
            ctx.metrics.store_errors.labels("zookeeper").inc()
            await asyncio.sleep(policy.retry_backoff)
            await self._load(state)

    async def _save(self, state: ServiceState, record: Switchover, version: int,
                    epoch: int, *, recorded: bool = False) -> tuple[Switchover, int]:
        if record.phase.terminal and not recorded:
            # History before the record: once a replica sees the request finished,
            # `--wait` returns, and the operator's next `history` must already hold the
            # outcome. If this save then fails, the next leader resumes the request and
            # records its outcome again (same request id, its own epoch).
            await self._record_outcome(state, record)
        await self.ctx.office.confirm(epoch)
        new_version = await self.ctx.zk.save_switchover(state.config.name, record, epoch,
                                                           version)
        state.switchovers[record.id] = (record, new_version)
        return record, new_version

    async def _execute(self, state: ServiceState, record: Switchover, command: Command,
                       epoch: int) -> Checked | StepEnded:
        ctx, service = self.ctx, state.config.name
        if isinstance(command, CheckSafe):
            inputs = ctx.inputs(state)
            view = inputs.view
            target, refusal, evidence = preflight(view, record.to, busy=busy(
                inputs.running, inputs.switchovers, inputs.leader_recovering, record.id),
                force=record.force)
            return Checked(view.primary, target, refusal, evidence)
        started = time.monotonic()
        reachable = True
        if isinstance(command, RunHook):
            ok, detail, reachable = await self._run_hook(state, command, epoch)
        elif isinstance(command, AwaitHealthy):
            ok, detail = await self._await_ready(service, command.member, command.timeout,
                                                 record.force)
        elif isinstance(command, Verify):
            ok, detail = await self._verify(service, command.member, command.window)
        else:  # CommitRoute: carried out by _commit, never here
            raise TypeError(f"not a step to execute: {command!r}")
        return StepEnded(ok, detail, round((time.monotonic() - started) * 1000, 1), reachable)

    async def _run_hook(self, state: ServiceState, command: RunHook,
                        epoch: int) -> tuple[bool, str, bool]:
        ctx = self.ctx
        member = state.config.member(command.member)
        if member is None or state.decided is None:
            return False, f"{command.member} is not configured", False
        # The daemon's hook runner passes the office gate and promotes only a healthy member.
        result = await ctx.hooks.run([], command.hook, state.config.name, member,
                                       state.decided.primary, epoch)
        return result.ok, result.detail, ctx.hooks.answers(state.config.name, member.name)

    async def _await_ready(self, service: str, member: str, limit: float,
                           force: bool) -> tuple[bool, str]:
        """Until the target is healthy and (unless forced) ready, within ``limit``."""
        probes = self.ctx.probes
        deadline = time.monotonic() + limit
        while True:
            health = probes.health(service, member).health
            reasons = () if force else readiness(probes.readiness(service, member))
            if health is Health.HEALTHY and not reasons:
                forced = readiness(probes.readiness(service, member)) if force else ()
                return True, f"{member} is healthy" + (
                    f"; not ready, forced: {'; '.join(forced)}" if forced else "")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                why = f"{health}" if health is not Health.HEALTHY else "not ready: " + \
                    "; ".join(reasons)
                return False, f"{member} still {why} after {limit:g}s"
            await self.ctx.wait_health_change(remaining)

    async def _verify(self, service: str, member: str, window: float) -> tuple[bool, str]:
        """The new primary must not turn failing during ``window`` (its probes, as they
        come, its primary_probe included), and must be healthy at its end, with its
        primary_probe passed ``rise`` times since the route moved (probes/roles.py)."""
        deadline = time.monotonic() + window
        while True:
            health = self.ctx.probes.health(service, member)
            if health.health.failing:
                probes = "; ".join(f"{e.probe} {e.verdict} {e.detail}" for e in health.recent)
                return False, f"{member} turned {health.health}: {probes}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                role = self.ctx.probes.primary_check(service, member)
                if health.health is Health.HEALTHY and verified(role):
                    return True, f"{member} stayed healthy for {window:g}s" + (
                        "; its primary_probe passed" if role is not None else "")
                if health.health is Health.HEALTHY:
                    return False, (f"{member}'s primary_probe has no verdict at the end of "
                                   f"{window:g}s")
                return False, f"{member} is {health.health} at the end of {window:g}s"
            await self.ctx.wait_health_change(remaining)

    async def _commit(self, state: ServiceState, record: Switchover, version: int,
                      command: CommitRoute, epoch: int) -> tuple[Switchover, int]:
        """Move the route and the request on in one ZooKeeper transaction, then publish."""
        ctx, service = self.ctx, state.config
        member = service.member(command.primary)
        started = time.monotonic()
        await ctx.office.confirm(epoch)
        # The decision and its version taken together, after the last await before the
        # commit: the compare-and-set is against the very record the successor is built on.
        snapshot = state.snapshot()
        if member is None or snapshot is None:  # a record from another configuration
            failed = step(record, StepEnded(False, f"{command.primary} is not a configured "
                                            "member, or no decision is known", 0.0,
                                            final=member is None), time.time(), epoch)
            return await self._retry_later(state, failed, version, epoch)
        decided, base_version = snapshot
        now = time.time()
        # Same primary (a rollback before the route moved): only the marks change, and the
        # route keeps its version.
        new = decided.routed_to(primary=member.name, address=member.address, epoch=epoch,
                                reason=command.reason, now=now,
                                unfenced={*decided.unfenced, *command.unfenced})
        detail = f"route -> {member.name} (version {new.version})"
        # The record rides in the commit's transaction, so the step's duration is unknown
        # there ("ms": null) and filled in by the save after.
        after = step(record, StepEnded(True, detail, 0.0), now, epoch).with_last_step(None)
        if after.phase.terminal:  # a rollback: the transaction makes the outcome visible
            await self._record_outcome(state, after)
        try:
            committed, saved = await ctx.zk.commit_decision(
                service.name, new, epoch, base_version, (after, version))
        except Fenced:
            raise
        except (Conflict, StoreError) as exc:
            ctx.metrics.store_errors.labels("zookeeper").inc()
            await ctx.reread(state)
            ms = round((time.monotonic() - started) * 1000, 1)
            failed = step(record, StepEnded(False, f"commit failed: {exc}", ms), now, epoch)
            return await self._retry_later(state, failed, version, epoch)
        if saved is None:  # the adapter returns the request's version whenever it is given one
            raise StoreError("the commit did not return the request's version")
        ctx.on_decision(service.name, new, committed)
        committed_ms = round((time.monotonic() - started) * 1000, 1)
        await ctx.publish(state, origin=command.reason, detail={
            "trigger": record.requested_by, "request": record.id, "steps": as_dicts(after.steps)})
        total_ms = round((time.monotonic() - started) * 1000, 1)
        timed = after.with_last_step(total_ms, f"{detail}; ZooKeeper {committed_ms} "
                                     f"ms, Redis {round(total_ms - committed_ms, 1)} ms")
        return await self._save(state, timed, saved, epoch, recorded=True)

    async def _retry_later(self, state: ServiceState, failed: Switchover, version: int,
                           epoch: int) -> tuple[Switchover, int]:
        """Save a failed commit's outcome; a rollback commit stays to be tried again (the
        marks it carries must reach the decision), after the policy's retry_backoff."""
        saved = await self._save(state, failed, version, epoch)
        if saved[0].phase is Phase.ROLLBACK_COMMITTING:
            await asyncio.sleep(state.config.policy.retry_backoff)
        return saved

    async def _finished(self, state: ServiceState, record: Switchover) -> None:
        ctx, name = self.ctx, state.config.name
        ctx.metrics.switchovers.labels(name, record.outcome).inc()
        level = ctx.log.warning if record.phase is Phase.DONE else ctx.log.error
        level(Event(f"switchover_{record.outcome}"), service=name, request=record.id,
              epoch=record.epoch, source=record.source, target=record.target,
              reason=record.reason, detail=record.detail, rolled_back=record.rolled_back,
              steps=as_dicts(record.steps))
        await self._prune(state)

    async def _record_outcome(self, state: ServiceState, record: Switchover) -> None:
        await self.ctx.record(state, f"switchover_{record.outcome}",
                              by=record.requested_by, request=record.id, kind=record.kind,
                              source=record.source, target=record.target,
                              reason=record.reason, message=record.detail,
                              rolled_back=record.rolled_back, steps=as_dicts(record.steps),
                              evidence=dict(record.evidence))

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
