"""Operator work in the daemon's shell: switchovers, maintenance pauses, explain.

Any replica accepts a request and records it in ZooKeeper; only the leader runs it, through
the pure machine in switchover.py, persisting every step under its epoch. A new leader finds
unfinished requests in ZooKeeper and resumes them from their last persisted phase, so a
request is never lost: it ends done, failed, refused or cancelled, with the reason recorded
in ZooKeeper and in the service's history.

A pause is an operator's order, not a decision: the replica that receives it writes it to
ZooKeeper at once; the leader reads it (mode) and lifts it when ``until`` passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.adapters.zookeeper import Conflict, Fenced, NotInOffice, StoreError, ZkStore
from controller.core.decide import Action, ServiceView, checks, decide, redundancy
from controller.core.evacuate import EvacReason, Evacuation, EvacuationView, decide_evacuation
from controller.core.records import Decided, Pause
from controller.core.switchover import (
    AwaitHealthy,
    CancelRequested,
    Checked,
    CheckSafe,
    Command,
    CommitRoute,
    Due,
    Event,
    IllegalEvent,
    Phase,
    Refusal,
    RunHook,
    StepEnded,
    Switchover,
    Timing,
    Verify,
    command_for,
    durable_before_next,
    preflight,
    step,
)
from controller.core.timespec import iso
from controller.daemon.hooks import HookRunner
from controller.daemon.metrics import Metrics
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from probes.health import Health, readiness
from probes.scheduler import ProbeScheduler

KEEP_FINISHED = 20  # finished requests kept in ZooKeeper per service (history keeps all)


class OperatorError(Exception):
    """A request refused or impossible; ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


def unknown_outcome(what: str, exc: StoreError, **about: Any) -> OperatorError:
    """503 for a write ZooKeeper did not confirm: it may still have been applied."""
    return OperatorError(503, f"ZooKeeper did not answer in time: {what}",
                         {"outcome": "unknown", "error": str(exc), **about})


@dataclass(frozen=True, slots=True)
class Collaborators:
    """All that operator work needs from the rest of the daemon, by name. The engine builds
    it; this module never imports the engine. Shrinking the list is the redesign's next
    step (a switchover runner of its own; the per-service planner)."""

    node_id: str
    services: Mapping[str, ServiceState]
    zk: ZkStore
    probes: ProbeScheduler
    metrics: Metrics
    log: Any  # structlog's logger, bound to the node
    # Leadership, and the gate in front of every leader write and hook.
    office: Office
    leadership: Callable[[], tuple[bool, str | None, int | None]]
    step_down: Callable[[str], None]
    # The service: its view for the core, its decision, hooks, route and history.
    view: Callable[[ServiceState], ServiceView]
    recovering: Callable[[ServiceState], bool]
    on_decision: Callable[[str, Decided | None, int], None]
    reread: Callable[[ServiceState], Awaitable[None]]
    hooks: HookRunner
    publish: Callable[..., Awaitable[object]]
    record: Callable[..., Coroutine[Any, Any, None]]
    # Events: look at a service again; member health changed; a request changed.
    evaluate: Callable[[ServiceState], None]
    wait_health_change: Callable[[float], Awaitable[bool]]
    requests_changed: Callable[[], asyncio.Event]


class Operations:
    def __init__(self, ctx: Collaborators) -> None:
        self.ctx = ctx

    # --- any replica: take and answer requests ------------------------------------------

    def service(self, name: str) -> ServiceState:
        state = self.ctx.services.get(name)
        if state is None:
            raise OperatorError(404, "unknown service",
                                {"service": name, "services": sorted(self.ctx.services)})
        return state

    async def request_switchover(self, name: str, to: str | None, at: float | None,
                                 force: bool, by: str) -> Switchover:
        """Record a switchover for the leader to run; refuse at once what is unsafe now."""
        state, ctx = self.service(name), self.ctx
        if to is not None and state.config.member(to) is None:
            raise OperatorError(404, "unknown member", {
                "service": name, "member": to,
                "members": [m.name for m in state.config.members]})
        now = time.time()
        scheduled = at is not None and at > now
        if not scheduled:
            _, refusal, evidence = preflight(ctx.view(state), to, busy=self._busy(state),
                                             force=force)
            if refusal is not None:
                await ctx.record(state, "switchover_refused", by=by, to=to or "",
                                    reason=str(refusal), evidence=evidence)
                ctx.metrics.switchovers.labels(name, "refused").inc()
                raise OperatorError(409, f"switchover refused: {refusal}",
                                    {"reason": str(refusal), "evidence": evidence})
        record = Switchover(id="", service=name, requested_by=by, requested_at=now, to=to,
                            at=at if scheduled else None, force=force,
                            phase=Phase.SCHEDULED if scheduled else Phase.PENDING)
        try:
            request_id = await ctx.zk.create_switchover(name, record)
        except StoreError as exc:
            # The create may still land (it can sit in ZooKeeper's queue): never say it did
            # not. The operator finds it by its time in status before asking again.
            raise unknown_outcome("the switchover request may or may not be recorded", exc,
                                  requested_at=now, requested_by=by) from exc
        record = replace(record, id=request_id)
        ctx.log.info("switchover_requested", service=name, request=request_id, by=by,
                        to=to, at=iso(record.at), force=force)
        await ctx.record(state, "switchover_requested", by=by, request=request_id,
                            to=to or "", scheduled_for=iso(record.at) or "",
                            force=str(force).lower())
        return record

    async def cancel(self, name: str, request_id: str, by: str) -> tuple[Switchover, int]:
        state, ctx = self.service(name), self.ctx
        found = await self.find(state, request_id)
        if found is None:
            raise OperatorError(404, "unknown switchover", {"service": name, "id": request_id})
        record, version = found
        try:
            cancelled = step(record, CancelRequested(by), time.time())
        except IllegalEvent as exc:
            raise OperatorError(409, "cannot cancel", {"id": request_id,
                                                       "phase": str(record.phase),
                                                       "why": str(exc)}) from exc
        try:
            new_version = await ctx.zk.update_switchover(name, cancelled, version)
        except Conflict as exc:
            raise OperatorError(409, "the switchover changed meanwhile (it may have started)",
                                {"id": request_id, "why": str(exc)}) from exc
        except StoreError as exc:
            raise unknown_outcome("the request may or may not be cancelled", exc,
                                  id=request_id) from exc
        ctx.log.info("switchover_cancelled", service=name, request=request_id, by=by)
        ctx.metrics.switchovers.labels(name, "cancelled").inc()
        await ctx.record(state, "switchover_cancelled", by=by, request=request_id)
        return cancelled, new_version

    async def pause(self, name: str, duration: float | None, by: str) -> Pause:
        state, ctx = self.service(name), self.ctx
        now = time.time()
        pause = Pause(by=by, at=now, until=now + duration if duration else None)
        try:
            await ctx.zk.set_pause(name, pause)
        except StoreError as exc:
            raise unknown_outcome("the pause may or may not be in place", exc) from exc
        ctx.log.warning("paused", service=name, by=by, until=iso(pause.until))
        await ctx.record(state, "paused", by=by, until=iso(pause.until) or "")
        return pause

    async def resume(self, name: str, by: str) -> bool:
        state, ctx = self.service(name), self.ctx
        try:
            removed = await ctx.zk.clear_pause(name)
        except StoreError as exc:
            raise unknown_outcome("the service may or may not be resumed", exc) from exc
        if removed:
            ctx.log.warning("resumed", service=name, by=by)
            await ctx.record(state, "resumed", by=by)
        return removed

    async def find(self, state: ServiceState, request_id: str
                   ) -> tuple[Switchover, int] | None:
        """A request from the watched copy, or from ZooKeeper if it is too new for that."""
        found = state.switchovers.get(request_id)
        if found is None:
            try:
                found = await self.ctx.zk.read_switchover(state.config.name, request_id)
            except StoreError as exc:
                raise OperatorError(503, "ZooKeeper unavailable", {
                    "outcome": "not_read", "error": str(exc)}) from exc
        return found

    async def wait_for_change(self, name: str, request_id: str, after: int,
                              wait: float) -> tuple[Switchover, int]:
        """The request once its znode version passes ``after``, or as it is after ``wait``
        seconds (a long poll: ``failoverctl switchover --wait`` follows the steps with it)."""
        state = self.service(name)
        deadline = time.monotonic() + wait
        while True:
            changed = self.ctx.requests_changed()  # taken before reading: no lost wake-up
            found = await self.find(state, request_id)
            if found is None:
                raise OperatorError(404, "unknown switchover", {"service": name,
                                                                "id": request_id})
            remaining = deadline - time.monotonic()
            if found[1] > after or remaining <= 0 or found[0].phase.terminal:
                return found
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                pass

    def open_requests(self, state: ServiceState) -> list[dict[str, Any]]:
        """Unfinished requests, oldest first, as status shows them."""
        return [{"id": rid, "phase": str(r.phase), "to": r.to, "target": r.target,
                 "at": r.at, "at_iso": iso(r.at), "requested_by": r.requested_by,
                 "force": r.force}
                for rid, (r, _) in sorted(state.switchovers.items()) if not r.phase.terminal]

    def explain(self, name: str) -> dict[str, Any]:
        """Would the leader fail over now, to whom, and what stops it: every condition of
        the policy with its evidence (decide.checks), from this replica's view."""
        state, ctx = self.service(name), self.ctx
        view, now = ctx.view(state), time.time()
        decision = decide(view, now)
        conditions = [c.as_dict() for c in checks(view, now)]
        for condition in conditions:
            condition["until_iso"] = iso(condition["until"])  # type: ignore[arg-type]
        leader, leader_node, epoch = ctx.leadership()
        pause = state.pause if state.pause and state.pause.active(now) else None
        return {
            "service": name, "node": ctx.node_id, "leader": leader,
            "leader_node": leader_node, "epoch": epoch, "mode": str(view.mode),
            "would_fail_over": decision.action is Action.FAILOVER,
            "action": str(decision.action), "reason": str(decision.reason),
            "target": decision.target, "fallbacks": list(decision.fallbacks),
            "wake_at": decision.wake_at, "blocked_by": [c["check"] for c in conditions
                                                        if not c["ok"]],
            "conditions": conditions,
            "paused": None if pause is None else {"by": pause.by, "until": pause.until,
                                                  "until_iso": iso(pause.until)},
            "switchovers": self.open_requests(state),
            "redundancy": dict(zip(("redundant", "evidence"), redundancy(view),
                                   strict=True)),
            "evacuation": self.evacuation(state, view).as_dict(),
        }

    def _busy(self, state: ServiceState, besides: str | None = None) -> Refusal | None:
        if state.recovery is not None:
            return Refusal.RECOVERY_IN_FLIGHT
        if any(r.phase.running for rid, (r, _) in state.switchovers.items() if rid != besides):
            return Refusal.SWITCHOVER_IN_PROGRESS
        if besides is None and self.ctx.recovering(state):
            return Refusal.RECOVERY_IN_FLIGHT  # the leader's, as its published view says
        return None

    # --- the leader ---------------------------------------------------------------------

    async def load(self, state: ServiceState) -> None:
        """On taking office: read every request, so evaluate() resumes unfinished ones."""
        try:
            state.switchovers.update(await self.ctx.zk.read_switchovers(state.config.name))
        except StoreError as exc:
            self.ctx.log.error("switchovers_unreadable", service=state.config.name,
                                  error=str(exc))

    def evaluate(self, state: ServiceState) -> None:
        """Called by the engine on every event while leading and no failover runs: lift
        an expired pause, and start (or schedule) the next switchover."""
        ctx, now = self.ctx, time.time()
        pause = state.pause
        if pause is not None and pause.until is not None and state.pause_timer is None:
            state.pause_timer = asyncio.get_running_loop().call_later(
                max(0.0, pause.until - now), self._lift_pause, state, pause)
        if state.switchover is not None:
            return
        ordered = sorted(state.switchovers.items())
        runnable = next((rid for rid, (r, _) in ordered if r.phase.running), None) or next(
            (rid for rid, (r, _) in ordered if r.phase is Phase.PENDING), None)
        scheduled = sorted((r.at or 0.0, rid) for rid, (r, _) in ordered
                           if r.phase is Phase.SCHEDULED)
        if runnable is None and scheduled and scheduled[0][0] <= now:
            runnable = scheduled[0][1]
        if state.schedule is not None:
            state.schedule.cancel()
            state.schedule = None
        if runnable is not None:
            state.switchover = ctx.office.spawn(
                self._drive(state, runnable), f"switchover:{state.config.name}/{runnable}")
            return
        if scheduled:
            state.schedule = asyncio.get_running_loop().call_later(
                scheduled[0][0] - now, ctx.evaluate, state)
        self._consider_evacuation(state)

    # --- pre-emptive switchover (evacuate.py decides) -----------------------------------

    def evacuation(self, state: ServiceState, view: ServiceView | None = None) -> Evacuation:
        """What the evacuation policy says now, from this replica's view."""
        ctx, config = self.ctx, state.config
        view = view or ctx.view(state)
        target, refusal, _ = preflight(view, None)
        finished = [r.finished_at for r, _ in state.switchovers.values()
                    if r.kind == "evacuation" and r.finished_at is not None]
        busy = ctx.recovering(state) or state.evacuating or any(
            r.phase is Phase.PENDING for r, _ in state.switchovers.values())
        checks_of_primary = ctx.probes.readiness(config.name, view.primary) \
            if view.primary and config.member(view.primary) else {}
        return decide_evacuation(EvacuationView(
            primary=view.primary, conditions=tuple(config.evacuate_on),
            checks=checks_of_primary, hold=config.evacuate_after, windows=state.windows,
            mode=view.mode, busy=busy, last_evacuation_end=max(finished, default=None),
            cooldown=config.policy.cooldown, target=target if refusal is None else None),
            time.time())

    def _consider_evacuation(self, state: ServiceState) -> None:
        ctx = self.ctx
        decision = self.evacuation(state)
        if state.evacuation_wake is not None:
            state.evacuation_wake.cancel()
            state.evacuation_wake = None
        if decision.wake_at is not None:
            state.evacuation_wake = asyncio.get_running_loop().call_later(
                max(0.0, decision.wake_at - time.time()) + 0.01, ctx.evaluate, state)
        if decision.reason is EvacReason.DRY_RUN:
            if state.last_evacuation_dry_run != decision.target:
                state.last_evacuation_dry_run = decision.target
                ctx.log.warning("dry_run_evacuation", service=state.config.name,
                                   **decision.as_dict())
                ctx.office.spawn(ctx.record(state, "dry_run", by="auto:evacuation",
                                                      decision=decision.as_dict()), "history")
            return
        state.last_evacuation_dry_run = None
        if decision.act and not state.evacuating:
            state.evacuating = True
            ctx.office.spawn(self._evacuate(state, decision),
                                    f"evacuate:{state.config.name}")

    async def _evacuate(self, state: ServiceState, decision: Evacuation) -> None:
        """Write the evacuation as a switchover request; the watch (or this) starts it."""
        ctx, name = self.ctx, state.config.name
        record = Switchover(id="", service=name, requested_by="auto:evacuation",
                            requested_at=time.time(), to=decision.target, kind="evacuation",
                            evidence=dict(decision.evidence))
        try:
            await ctx.office.confirm(ctx.office.epoch)
            request_id = await ctx.zk.create_switchover(name, record)
            record = replace(record, id=request_id)
            state.switchovers.setdefault(request_id, (record, 0))
            ctx.log.warning("evacuation_requested", service=name, request=request_id,
                               target=decision.target, **dict(decision.evidence))
            await ctx.record(state, "evacuation_requested", by=record.requested_by,
                                request=request_id, to=decision.target or "",
                                evidence=dict(decision.evidence))
        except (NotInOffice, StoreError) as exc:  # Fenced included
            ctx.log.error("evacuation_request_failed", service=name, error=str(exc))
        finally:
            state.evacuating = False
        ctx.evaluate(state)

    def _lift_pause(self, state: ServiceState, pause: Pause) -> None:
        async def lift() -> None:
            try:
                await self.ctx.office.confirm(self.ctx.office.epoch)
                if await self.ctx.zk.clear_pause(state.config.name, expected=pause):
                    self.ctx.log.warning("resumed", service=state.config.name, by="expiry")
                    await self.ctx.record(state, "resumed", by="expiry",
                                             paused_by=pause.by)
            except (NotInOffice, StoreError) as exc:  # retried on the next evaluation
                self.ctx.log.warning("pause_lift_failed", service=state.config.name,
                                        error=str(exc))
            finally:
                state.pause_timer = None

        self.ctx.office.spawn(lift(), f"lift-pause:{state.config.name}")

    async def _drive(self, state: ServiceState, request_id: str) -> None:
        ctx, policy = self.ctx, state.config.policy
        epoch = ctx.office.epoch
        record, version = state.switchovers[request_id]
        log = ctx.log.bind(service=state.config.name, request=request_id, epoch=epoch)
        timing = Timing(policy.ready_timeout, policy.verify_window)
        try:
            assert epoch is not None
            if record.phase is Phase.SCHEDULED:
                record, version = await self._save(state, step(record, Due(), time.time(),
                                                               epoch), version, epoch)
            log.warning("switchover_resumed" if record.phase.running else "switchover_started",
                        phase=str(record.phase), to=record.to, by=record.requested_by)
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
                    log.info("switchover_checked", phase=str(record.phase),
                             source=record.source, target=record.target, reason=record.reason)
                    continue
                last = record.steps[-1]
                log.info("switchover_step", phase=str(record.phase), step=last.get("step"),
                         member=last.get("member"), ok=last.get("ok"), ms=last.get("ms"),
                         detail=last.get("detail"))
            await self._finished(state, record)
        except NotInOffice as exc:  # the next leader resumes it from its persisted phase
            log.warning("switchover_interrupted", phase=str(record.phase), why=str(exc))
        except Fenced:
            log.error("switchover_fenced", phase=str(record.phase))
            ctx.step_down("fenced during a switchover")
        except Conflict as exc:  # changed under us (cancelled, or a timed-out write landed)
            log.warning("switchover_changed_meanwhile", phase=str(record.phase),
                        error=str(exc))
            await self.load(state)
        except StoreError as exc:
            # Outcome unknown; the record stays at its phase and is resumed after a pause.
            log.error("switchover_store_error", phase=str(record.phase), error=str(exc))
            ctx.metrics.store_errors.labels("zookeeper").inc()
            await asyncio.sleep(policy.retry_backoff)
            await self.load(state)
        finally:
            state.switchover = None
        ctx.evaluate(state)

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
                       epoch: int) -> Event:
        ctx, service = self.ctx, state.config.name
        if isinstance(command, CheckSafe):
            view = ctx.view(state)
            target, refusal, evidence = preflight(view, record.to,
                                                  busy=self._busy(state, besides=record.id),
                                                  force=record.force)
            return Checked(view.primary, target, refusal, evidence)
        started = time.monotonic()
        reachable = True
        if isinstance(command, RunHook):
            ok, detail, reachable = await self._run_hook(state, command, epoch)
        elif isinstance(command, AwaitHealthy):
            ok, detail = await self._await_ready(service, command.member, command.timeout,
                                                 record.force)
        else:
            assert isinstance(command, Verify)
            ok, detail = await self._verify(service, command.member, command.window)
        return StepEnded(ok, detail, round((time.monotonic() - started) * 1000, 1), reachable)

    async def _run_hook(self, state: ServiceState, command: RunHook,
                        epoch: int) -> tuple[bool, str, bool]:
        ctx = self.ctx
        member = state.config.member(command.member)
        if member is None or state.decided is None:
            return False, f"{command.member} is not configured", False
        # The daemon's hook runner passes the office gate and promotes only a healthy member.
        result = await ctx.hooks.run([], command.hook, state.config.name, member,
                                       state.decided, epoch)
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
        come), and must be healthy at its end."""
        deadline = time.monotonic() + window
        while True:
            health = self.ctx.probes.health(service, member)
            if health.health.failing:
                probes = "; ".join(f"{e.verdict} {e.detail}" for e in health.recent)
                return False, f"{member} turned {health.health}: {probes}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if health.health is Health.HEALTHY:
                    return True, f"{member} stayed healthy for {window:g}s"
                return False, f"{member} is {health.health} at the end of {window:g}s"
            await self.ctx.wait_health_change(remaining)

    async def _commit(self, state: ServiceState, record: Switchover, version: int,
                      command: CommitRoute, epoch: int) -> tuple[Switchover, int]:
        """Move the route and the request on in one ZooKeeper transaction, then publish."""
        ctx, service = self.ctx, state.config
        member = service.member(command.primary)
        assert member is not None
        started = time.monotonic()
        await ctx.office.confirm(epoch)
        # The decision and its version taken together, after the last await before the
        # commit: the compare-and-set is against the very record the successor is built on.
        snapshot = state.snapshot()
        assert snapshot is not None
        decided, base_version = snapshot
        now = time.time()
        unfenced = tuple(sorted((set(decided.unfenced) | set(command.unfenced))
                                - {command.primary}))
        # Same primary (a rollback before the route moved): only the unfenced marks change,
        # and the route keeps its version.
        new = replace(decided, unfenced=unfenced) if decided.primary == member.name else \
            decided.successor(primary=member.name, address=member.address, epoch=epoch,
                              reason=command.reason, now=now, unfenced=unfenced,
                              recovery_end=None)
        detail = f"route -> {member.name} (version {new.version})"
        # The record rides in the commit's transaction, so the step's duration is unknown
        # there ("ms": null) and filled in by the save after.
        after = step(record, StepEnded(True, detail, 0.0), now, epoch).with_last_step(ms=None)
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
            return await self._save(state, failed, version, epoch)
        assert saved is not None
        ctx.on_decision(service.name, new, committed)
        committed_ms = round((time.monotonic() - started) * 1000, 1)
        await ctx.publish(state, origin=command.reason, detail={
            "trigger": record.requested_by, "request": record.id, "steps": list(after.steps)})
        total_ms = round((time.monotonic() - started) * 1000, 1)
        timed = after.with_last_step(ms=total_ms, detail=f"{detail}; ZooKeeper {committed_ms} "
                                     f"ms, Redis {round(total_ms - committed_ms, 1)} ms")
        return await self._save(state, timed, saved, epoch, recorded=True)

    async def _finished(self, state: ServiceState, record: Switchover) -> None:
        ctx, name = self.ctx, state.config.name
        ctx.metrics.switchovers.labels(name, record.outcome).inc()
        level = ctx.log.warning if record.phase is Phase.DONE else ctx.log.error
        level(f"switchover_{record.outcome}", service=name, request=record.id,
              epoch=record.epoch, source=record.source, target=record.target,
              reason=record.reason, detail=record.detail, rolled_back=record.rolled_back,
              steps=list(record.steps))
        await self._prune(state)

    async def _record_outcome(self, state: ServiceState, record: Switchover) -> None:
        await self.ctx.record(state, f"switchover_{record.outcome}",
                                 by=record.requested_by, request=record.id, kind=record.kind,
                                 source=record.source or "", target=record.target or "",
                                 reason=record.reason or "", detail=record.detail or "",
                                 rolled_back=record.rolled_back, steps=list(record.steps),
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
