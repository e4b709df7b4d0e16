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
import contextlib
import time
from dataclasses import replace
from typing import Any

from controller.core.decide import Action, checks, decide, redundancy
from controller.core.errors import (
    Conflict,
    ErrorKind,
    Fenced,
    NotInOffice,
    RequestError,
    StoreError,
)
from controller.core.evacuate import Evacuation, evacuation_request
from controller.core.plan import busy, evacuation
from controller.core.preflight import Refusal, preflight
from controller.core.records import Pause
from controller.core.switchover import CancelRequested, IllegalEvent, Phase, Switchover, step
from controller.core.timespec import iso
from controller.daemon.collaborators import Collaborators
from controller.daemon.state import ServiceState
from controller.daemon.switchovers import SwitchoverRunner
from controller.events import Event


def unknown_outcome(what: str, exc: StoreError, **about: Any) -> RequestError:
    """A write ZooKeeper did not confirm: it may still have been applied."""
    return RequestError(ErrorKind.OUTCOME_UNKNOWN, f"ZooKeeper did not answer in time: {what}",
                        {"outcome": "unknown", "error": str(exc), **about})


class Operations:
    def __init__(self, ctx: Collaborators) -> None:
        self.ctx = ctx
        self.runner = SwitchoverRunner(ctx, self.load)

    # --- any replica: take and answer requests ------------------------------------------

    def service(self, name: str) -> ServiceState:
        state = self.ctx.services.get(name)
        if state is None:
            raise RequestError(ErrorKind.NOT_FOUND, "unknown service",
                                {"service": name, "services": sorted(self.ctx.services)})
        return state

    async def request_switchover(self, name: str, to: str | None, at: float | None,
                                 force: bool, by: str) -> Switchover:
        """Record a switchover for the leader to run; refuse at once what is unsafe now."""
        state, ctx = self.service(name), self.ctx
        if to is not None and state.config.member(to) is None:
            raise RequestError(ErrorKind.NOT_FOUND, "unknown member", {
                "service": name, "member": to,
                "members": [m.name for m in state.config.members]})
        now = time.time()
        scheduled = at is not None and at > now
        if scheduled:
            # One waiting request per service: a second is more likely a mistake (a retry,
            # two operators) than a plan; the first can be cancelled and asked again.
            waiting = next(((rid, r) for rid, (r, _) in sorted(state.switchovers.items())
                            if not r.phase.terminal), None)
            if waiting is not None:
                rid, record = waiting
                await self._refuse(state, by, to, Refusal.SWITCHOVER_PENDING, {
                    "pending": rid, "phase": str(record.phase), "at": record.at,
                    "at_iso": iso(record.at)})
        else:
            # From ZooKeeper, not only the watched copy: a follower's watch may not yet have
            # told it of a request another replica took, and both would be accepted. If
            # ZooKeeper does not answer, the watched copy decides, and the create below says
            # what became of the request.
            with contextlib.suppress(StoreError):
                state.learn(await ctx.zk.read_switchovers(name))
            inputs = ctx.inputs(state)
            _, refusal, evidence = preflight(inputs.view, to, force=force, busy=busy(
                inputs.running, inputs.switchovers, inputs.leader_recovering))
            if refusal is not None:
                await self._refuse(state, by, to, refusal, evidence)
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
        ctx.log.info(Event.SWITCHOVER_REQUESTED, service=name, request=request_id, by=by,
                        to=to, at=iso(record.at), force=force)
        await ctx.record(state, "switchover_requested", by=by, request=request_id,
                         target=to, scheduled_for=iso(record.at), force=force)
        return record

    async def _refuse(self, state: ServiceState, by: str, to: str | None, refusal: Refusal,
                      evidence: dict[str, Any]) -> None:
        """Record a refused request in history and the metric, and answer 409."""
        await self.ctx.record(state, "switchover_refused", by=by, target=to,
                              reason=str(refusal), evidence=evidence)
        self.ctx.metrics.switchovers.labels(state.config.name, "refused").inc()
        raise RequestError(ErrorKind.REFUSED, f"switchover refused: {refusal}",
                            {"reason": str(refusal), "evidence": evidence})

    async def cancel(self, name: str, request_id: str, by: str) -> tuple[Switchover, int]:
        state, ctx = self.service(name), self.ctx
        found = await self.find(state, request_id)
        if found is None:
            raise RequestError(ErrorKind.NOT_FOUND, "unknown switchover",
                               {"service": name, "id": request_id})
        record, version = found
        try:
            cancelled = step(record, CancelRequested(by), time.time())
        except IllegalEvent as exc:
            raise RequestError(ErrorKind.REFUSED, "cannot cancel", {"id": request_id,
                                                       "phase": str(record.phase),
                                                       "why": str(exc)}) from exc
        try:
            new_version = await ctx.zk.update_switchover(name, cancelled, version)
        except Conflict as exc:
            raise RequestError(ErrorKind.CHANGED,
                               "the switchover changed meanwhile (it may have started)",
                               {"id": request_id, "why": str(exc)}) from exc
        except StoreError as exc:
            raise unknown_outcome("the request may or may not be cancelled", exc,
                                  id=request_id) from exc
        ctx.log.info(Event.SWITCHOVER_CANCELLED, service=name, request=request_id, by=by)
        ctx.metrics.switchovers.labels(name, "cancelled").inc()
        await ctx.record(state, "switchover_cancelled", by=by, request=request_id,
                         target=record.to)
        return cancelled, new_version

    async def pause(self, name: str, duration: float | None, by: str
                    ) -> tuple[Pause, Pause | None]:
        """Pause, or change the end of the pause in force (returned second: then no second
        history entry, only a log line)."""
        state, ctx = self.service(name), self.ctx
        now = time.time()
        current = state.pause if state.pause is not None and state.pause.active(now) else None
        pause = Pause(by=by, at=current.at if current else now,
                      until=now + duration if duration else None)
        try:
            await ctx.zk.set_pause(name, pause)
        except StoreError as exc:
            raise unknown_outcome("the pause may or may not be in place", exc) from exc
        if current is not None:
            ctx.log.warning(Event.PAUSE_CHANGED_END, service=name, by=by,
                            until=iso(pause.until), previous_until=iso(current.until))
            return pause, current
        ctx.log.warning(Event.PAUSED, service=name, by=by, until=iso(pause.until))
        await ctx.record(state, "paused", by=by, until=iso(pause.until))
        return pause, None

    async def resume(self, name: str, by: str) -> bool:
        state, ctx = self.service(name), self.ctx
        try:
            removed = await ctx.zk.clear_pause(name)
        except StoreError as exc:
            raise unknown_outcome("the service may or may not be resumed", exc) from exc
        if removed:
            ctx.log.warning(Event.RESUMED, service=name, by=by)
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
                raise RequestError(ErrorKind.UNAVAILABLE, "ZooKeeper unavailable", {
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
                raise RequestError(ErrorKind.NOT_FOUND, "unknown switchover", {"service": name,
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
        inputs, now = ctx.inputs(state), time.time()
        view = inputs.view
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
            "evacuation": evacuation(inputs, now).as_dict(),
        }

    # --- the leader ---------------------------------------------------------------------

    async def load(self, state: ServiceState) -> None:
        """On taking office: read every request, so evaluate() resumes unfinished ones."""
        try:
            state.learn(await self.ctx.zk.read_switchovers(state.config.name))
        except StoreError as exc:
            self.ctx.log.error(Event.SWITCHOVERS_UNREADABLE, service=state.config.name,
                                  error=str(exc))

    async def request_evacuation(self, state: ServiceState, decision: Evacuation) -> None:
        """Write the evacuation as a switchover request; the planner then starts it."""
        ctx, name = self.ctx, state.config.name
        record = evacuation_request(decision, name, time.time())
        try:
            await ctx.office.confirm(ctx.office.epoch)
            request_id = await ctx.zk.create_switchover(name, record)
            record = replace(record, id=request_id)
            state.switchovers.setdefault(request_id, (record, 0))
            ctx.log.warning(Event.EVACUATION_REQUESTED, service=name, request=request_id,
                               target=decision.target, **dict(decision.evidence))
            await ctx.record(state, "evacuation_requested", by=record.requested_by,
                             request=request_id, target=decision.target,
                             evidence=dict(decision.evidence))
        except Fenced:
            ctx.step_down("fenced while requesting an evacuation")
        except (NotInOffice, Conflict, StoreError) as exc:
            ctx.log.error(Event.EVACUATION_REQUEST_FAILED, service=name, error=str(exc))

    async def lift_pause(self, state: ServiceState, pause: Pause) -> None:
        """Remove ``pause`` (expired) from ZooKeeper, unless another replaced it meanwhile."""
        ctx = self.ctx
        try:
            await ctx.office.confirm(ctx.office.epoch)
            if await ctx.zk.clear_pause(state.config.name, expected=pause):
                if state.pause == pause:  # gone: the watch will say so, maybe after we look
                    state.pause = None
                ctx.log.warning(Event.RESUMED, service=state.config.name, by="expiry")
                await ctx.record(state, "resumed", by="expiry", paused_by=pause.by)
        except Fenced:
            ctx.step_down("fenced while lifting a pause")
        except (NotInOffice, Conflict, StoreError) as exc:  # retried on the next evaluation
            ctx.log.warning(Event.PAUSE_LIFT_FAILED, service=state.config.name, error=str(exc))
