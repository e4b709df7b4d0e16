"""The daemon's engine: gathers events, asks the pure core, starts what it says.

Events come in three kinds and all end in ``evaluate``, synchronously, on the event loop:
a member's health changed (probes), leadership changed (election, session state), or the
periodic reconcile ticked (the level-triggered safety net under the edge-triggered path).
Only the leader acts, only while its ZooKeeper session is not suspended, and every write
and hook passes the office gate (office.py) first.

The engine wires the parts and owns the per-service state; the work itself is done by
failover.py (failovers, late fences), operations.py (switchovers, pauses, explain),
views.py (other replicas' views) and the adapters. None of them imports the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Coroutine
from typing import Any

import structlog

from config.models import Config
from config.windows import parse_window
from controller import __version__
from controller.adapters.election import LeaderElection
from controller.adapters.hooks import ActionRunner
from controller.adapters.routes import PublishOutcome, RouteStore, RouteStoreError
from controller.adapters.zookeeper import Session, ZkStore
from controller.core.decide import MemberView, ServiceView, redundancy
from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.plan import (
    Effect,
    EvacuationFacts,
    FailOver,
    FenceLate,
    Inputs,
    LiftPause,
    Memory,
    ReportDryRun,
    ReportEvacuationDryRun,
    ReportRedundancy,
    ReportSplitView,
    RequestEvacuation,
    RunSwitchover,
    Work,
    evacuation,
    mode_of,
    plan,
    recovering,
)
from controller.core.records import Decided, Pause
from controller.core.switchover import Switchover
from controller.daemon.collaborators import Collaborators
from controller.daemon.failover import FailoverRunner
from controller.daemon.hooks import HookRunner
from controller.daemon.metrics import HEALTH_VALUES, Metrics
from controller.daemon.office import Office
from controller.daemon.operations import Operations
from controller.daemon.state import ServiceState
from controller.daemon.views import PeerViews
from controller.events import Event
from probes.health import MemberHealth, readiness
from probes.scheduler import CheckReport, ProbeReport, ProbeScheduler

log = structlog.get_logger("engine")



class Engine:
    def __init__(self, config: Config, node_id: str) -> None:
        self.config, self.node_id = config, node_id
        self.metrics = Metrics()
        self.zk = ZkStore(config.zookeeper, config.cluster)
        self.routes = RouteStore(config.redis)
        user_agent = f"failoverctl/{__version__}"
        self.actions = ActionRunner(user_agent)
        self.probes = ProbeScheduler(
            config.services, {"User-Agent": user_agent, "X-Failover-Node": node_id},
            self._on_probe, self._on_check)
        self.election = LeaderElection(self.zk, node_id, self._on_gained, self._on_lost)
        self.services = {s.name: ServiceState(s, windows=tuple(parse_window(w)
                                                               for w in s.windows))
                         for s in config.services}
        self.leader_info: dict[str, Any] = {}
        self.redis_ok = False
        self.redis_error: str | None = "not checked yet"
        self._tasks: set[asyncio.Task[Any]] = set()
        # Leadership: the epoch, in office or not, the lease, and the gate (office.py).
        self.office = Office(self.zk, self.spawn, log.bind(node=node_id))
        # Other replicas' verdicts on every member (quorum), and the publishing of ours.
        self.peers = PeerViews(self.zk, node_id, self._views_changed)
        # Swapped for a fresh one on every member health change / request change: waiters
        # (switchover steps, API long-polls) await the current one.
        self._health_event = asyncio.Event()
        self.requests_changed = asyncio.Event()
        self.log = log.bind(node=node_id)
        self.hooks = HookRunner(self.office, self.probes, self.actions, self.log)
        self.failovers = FailoverRunner(
            office=self.office, zk=self.zk, hooks=self.hooks,
            metrics=self.metrics, log=self.log, publish=self.publish, record=self.record,
            reread=self.reread, on_decision=self.on_decision, step_down=self.step_down)
        self.operations = Operations(Collaborators(
            node_id=node_id, services=self.services, zk=self.zk, probes=self.probes,
            metrics=self.metrics, log=self.log, office=self.office,
            leadership=self.leadership, step_down=self.step_down, inputs=self.inputs,
            on_decision=self.on_decision, reread=self.reread, hooks=self.hooks,
            publish=self.publish, record=self.record,
            wait_health_change=self.wait_health_change,
            requests_changed=lambda: self.requests_changed))

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.probes.start()
        self.spawn(self._connect_and_contend(), "zookeeper")
        self.spawn(self._reconcile_loop(), "reconcile")

    async def stop(self) -> None:
        """Graceful: resign at once (the next replica takes over without waiting for a
        session to expire), then stop probing and close connections."""
        self.office.stopping = True
        self.office.in_office = False
        self._cancel_recoveries("shutting down")  # no hook runs after we resign
        await self.election.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.probes.stop()
        await self.actions.close()
        await self.zk.stop()
        await self.routes.close()
        self.log.info(Event.STOPPED)

    async def _connect_and_contend(self) -> None:
        while True:
            try:
                await self.zk.start(self._on_session)
                break
            except StoreError as exc:
                self.metrics.store_errors.labels("zookeeper").inc()
                self.log.warning(Event.ZOOKEEPER_UNREACHABLE, error=str(exc))
                await asyncio.sleep(1.0)
        self.office.session = Session.CONNECTED
        await self.zk.watch_epoch(self._on_epoch_node)
        for name in self.services:
            await self.zk.watch_decision(name, functools.partial(self.on_decision, name))
            await self.zk.watch_pause(name, functools.partial(self._on_pause, name))
            await self.zk.watch_switchovers(name, functools.partial(self._on_switchover, name))
        await self.zk.watch_views(self.peers.heard)
        self.spawn(self.peers.publish(self._own_view), "view-publisher")
        self.election.start()
        self.log.info(Event.CONTENDING, cluster=self.config.cluster)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error(Event.TASK_CRASHED, task=task.get_name(),
                           error=repr(task.exception()), exc_info=task.exception())

    # --- events: ZooKeeper --------------------------------------------------------------

    def _on_session(self, state: Session) -> None:
        previous, self.office.session = self.office.session, state
        if state == previous:
            return
        self.log.info(Event.ZOOKEEPER_SESSION, state=state, previous=previous,
                      epoch=self.office.epoch, granted_timeout=self.zk.granted_session_timeout,
                      lease=round(self.zk.lease_seconds(), 3))
        if state is not Session.CONNECTED:
            # SUSPENDED: we may no longer be leader and cannot know. Stop acting now.
            self.office.forget_lease()
            self._cancel_recoveries(f"zookeeper session {state.lower()}")
        elif self.office.in_office:
            self.evaluate_all()
        elif self.office.epoch is not None and not self.office.resigning:
            # Suspended while taking office: that task was cancelled; take office again.
            self._begin_office(self.office.epoch)

    def _on_gained(self, epoch: int) -> None:
        self.office.epoch = epoch
        self.metrics.is_leader.set(1)
        self.metrics.epoch.set(epoch)
        self.log.info(Event.LEADERSHIP_GAINED, epoch=epoch)
        self.office.resigning = False
        self._begin_office(epoch)

    def _begin_office(self, epoch: int) -> None:
        self.office.taking = epoch
        self.office.spawn(self._take_office(epoch), "take-office")

    def _on_lost(self) -> None:
        if self.office.epoch is not None:
            self.log.warning(Event.LEADERSHIP_LOST, epoch=self.office.epoch)
        self.office.epoch, self.office.in_office = None, False
        self.office.forget_lease()
        self.office.taking, self.office.resigning = None, False
        self.metrics.is_leader.set(0)
        self._cancel_recoveries("leadership lost")

    def _on_epoch_node(self, info: dict[str, Any]) -> None:
        self.leader_info = info
        if isinstance(info.get("epoch"), int):
            self.metrics.epoch.set(max(info["epoch"], self.office.epoch or 0))
        if self.office.epoch is not None and info.get("epoch", 0) > self.office.epoch:
            self.step_down("a newer epoch exists")

    def _views_changed(self) -> None:
        """A replica's vote changed, or a view came, went or aged out."""
        self._member_changed()
        self.evaluate_all()

    def _own_view(self) -> dict[str, Any]:
        members = {}
        wall_minus_mono = time.time() - time.monotonic()  # health.since is monotonic
        for (service, member), prober in self.probes.probers.items():
            state, last = prober.state, prober.state.last
            members[f"{service}/{member}"] = {
                "health": str(state.health),
                "since": round(state.since + wall_minus_mono, 3) if state.since else None,
                "latency_ms": round(last.latency * 1000, 1) if last else None,
                "detail": last.detail if last else None,
            }
        # Automatic failovers only: switchovers are visible to every replica in ZooKeeper.
        recovering = [name for name, state in self.services.items()
                      if self.office.may_act and Work.RECOVERY in state.tasks]
        return {"node": self.node_id, "at": time.time(), "members": members,
                "recovering": recovering}

    def views_of(self, service: str, member: str) -> dict[str, str]:
        """Each live replica's verdict on one member, ours included: the split view."""
        return self.peers.verdicts(service, member,
                                   str(self.probes.health(service, member).health))

    def _on_pause(self, service: str, pause: Pause | None) -> None:
        state = self.services[service]
        if pause != state.pause:
            self.log.info(Event.PAUSE_CHANGED, service=service, paused=pause is not None,
                          by=pause.by if pause else None, until=pause.until if pause else None)
        state.pause = pause
        self.metrics.paused.labels(service).set(int(pause is not None))
        self.evaluate(state)

    def _on_switchover(self, service: str, request_id: str, record: Switchover | None,
                       version: int) -> None:
        state = self.services[service]
        known = state.switchovers.get(request_id)
        if record is None:
            state.switchovers.pop(request_id, None)
        elif known is None or version >= known[1]:
            state.switchovers[request_id] = (record, version)
        event, self.requests_changed = self.requests_changed, asyncio.Event()
        event.set()
        self.evaluate(state)

    def _member_changed(self) -> None:
        event, self._health_event = self._health_event, asyncio.Event()
        event.set()

    async def wait_health_change(self, seconds: float) -> bool:
        """Until some member's health or readiness changes (True) or ``seconds`` pass."""
        event = self._health_event
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await event.wait()
        except TimeoutError:
            return False
        return True

    def on_decision(self, service: str, decided: Decided | None, znode_version: int) -> None:
        state = self.services[service]
        if znode_version >= state.znode_version:
            state.decided, state.znode_version = decided, znode_version

    def step_down(self, why: str) -> None:
        if self.office.epoch is None:
            return
        self.log.warning(Event.STEPPING_DOWN, epoch=self.office.epoch, why=why)
        self.office.in_office, self.office.taking, self.office.resigning = False, None, True
        self._cancel_recoveries(why)
        self.election.resign()

    async def _take_office(self, epoch: int) -> None:
        """Bootstrap missing decisions, republish every route under our epoch, evaluate."""
        try:
            for state in self.services.values():
                await self._bootstrap(state, epoch)
        except Fenced:
            self.step_down("fenced during takeover")
            return
        except NotInOffice:
            return
        except StoreError as exc:
            self.log.error(Event.TAKEOVER_FAILED, epoch=epoch, error=str(exc))
            self.step_down("takeover failed")
            return
        if not self.office.holds(epoch):
            return
        self.office.in_office, self.office.taking = True, None
        self.log.info(Event.IN_OFFICE, epoch=epoch)
        for state in self.services.values():
            await self.publish(state, origin="takeover")
            await self.operations.load(state)
        self.evaluate_all()

    async def _bootstrap(self, state: ServiceState, epoch: int) -> None:
        name = state.config.name
        first = state.config.members[0]
        initial = Decided(primary=first.name, address=first.address, epoch=epoch, version=1,
                          reason="initial", updated_at=time.time())
        await self.office.confirm(epoch)
        if await self.zk.create_decision(name, initial, epoch):
            self.log.info(Event.BOOTSTRAPPED, service=name, primary=first.name, epoch=epoch)
        current = await self.zk.read_decision(name)
        if current is not None:
            self.on_decision(name, *current)

    # --- events: probes -----------------------------------------------------------------

    def _on_probe(self, report: ProbeReport) -> None:
        result = report.after.last
        if result is None:  # a report always follows a probe; nothing to count otherwise
            return
        m = self.metrics
        m.probe_latency.labels(report.service, report.member).observe(result.latency)
        m.probe_results.labels(report.service, report.member,
                               report.after.recent[-1].verdict).inc()
        m.probe_lag.observe(max(0.0, report.lag))
        decided = self.services[report.service].decided
        if (report.after.failures == 1 and decided is not None
                and decided.primary == report.member):
            self.office.refresh_lease(self.step_down)
        if report.after.health is report.before.health:
            return
        m.member_health.labels(report.service, report.member).set(
            HEALTH_VALUES[report.after.health])
        self.log.info(Event.MEMBER_HEALTH_CHANGED, service=report.service, member=report.member,
                      health=str(report.after.health), previous=str(report.before.health),
                      evidence=[e.as_dict() for e in report.after.recent])
        state = self.services[report.service]
        self.peers.dirty.set()
        self._member_changed()
        self.evaluate(state)

    def _on_check(self, report: CheckReport) -> None:
        """A readiness check ran: count it, say when a member's readiness changes."""
        after = report.after
        self.metrics.readiness_checks.labels(report.service, report.member, report.check,
                                             "pass" if after.ok else "fail").inc()
        if report.before.ok is after.ok:
            return
        state = self.services[report.service]
        reasons = readiness(self.probes.readiness(report.service, report.member))
        level = self.log.info if after.ok else self.log.warning
        level(Event.MEMBER_READINESS_CHANGED, service=report.service, member=report.member,
              check=report.check, ok=after.ok, detail=after.detail, ready=not reasons,
              not_ready=list(reasons))
        self._member_changed()
        self.evaluate(state)

    # --- the plan, and carrying it out ---------------------------------------------------

    def inputs(self, state: ServiceState, now: float | None = None) -> Inputs:
        """A frozen snapshot of the service for the core: the planner, explain, status."""
        now = time.time() if now is None else now
        config, decided = state.config, state.decided
        running, requests = state.running, state.requests()
        leader_recovering = self.peers.recovering(config.name)
        members = []
        replicas = 1
        for member in config.members:
            health = self.probes.health(config.name, member.name)
            votes = self.peers.votes(config.name, member.name, str(health.health))
            replicas = votes.replicas
            members.append(MemberView(
                name=member.name, priority=member.priority, health=health.health,
                unfenced=decided is not None and member.name in decided.unfenced,
                evidence=tuple(e.as_dict() for e in health.recent),
                failing_votes=votes.failing, healthy_votes=votes.healthy,
                not_ready=readiness(self.probes.readiness(config.name, member.name))))
        policy = config.policy
        view = ServiceView(
            name=config.name, primary=decided.primary if decided else None,
            members=tuple(members), mode=mode_of(policy.auto_failover, state.pause, now),
            cooldown=policy.cooldown, retry_backoff=policy.retry_backoff,
            last_recovery_end=decided.last_recovery_end if decided else None,
            last_failed_attempt=state.last_failed_attempt,
            recovery_in_flight=recovering(running, requests, leader_recovering),
            excluded=state.memory.excluded, replicas=replicas,
            quorum=None if policy.quorum == "majority" else policy.quorum)
        primary = view.primary if view.primary and config.member(view.primary) else None
        return Inputs(
            view=view, leading=self.office.may_act, running=running, switchovers=requests,
            pause=state.pause, leader_recovering=leader_recovering,
            fenceable=frozenset(m.name for m in config.members if m.fence is not None),
            fence_retry_after=state.fence_retry_after,
            evacuation=EvacuationFacts(
                conditions=tuple(config.evacuate_on), hold=config.evacuate_after,
                checks=self.probes.readiness(config.name, primary) if primary else {},
                windows=state.windows))

    def view(self, state: ServiceState) -> ServiceView:
        return self.inputs(state).view

    def evaluate_all(self) -> None:
        for state in self.services.values():
            self.evaluate(state)

    def evaluate(self, state: ServiceState) -> None:
        """Snapshot, plan, carry out; called on every event and by the service's timer."""
        if self.office.stopping:
            return
        now = time.time()
        inputs = self.inputs(state, now)
        planned = plan(inputs, state.memory, now)
        state.memory = planned.memory
        self._gauges(inputs.view, planned.memory)
        for effect in planned.effects:
            self._carry_out(state, effect)
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if planned.wake_at is not None:
            state.timer = asyncio.get_running_loop().call_later(
                max(0.0, planned.wake_at - now), self.evaluate, state)

    def _gauges(self, view: ServiceView, memory: Memory) -> None:
        name, m = view.name, self.metrics
        m.redundant.labels(name).set(int(bool(memory.redundant)))
        for member in view.members:  # members without readiness checks are ready
            m.member_ready.labels(name, member.name).set(int(member.ready))
        m.split_view.labels(name).set(int(memory.split_view))
        primary = view.member(view.primary)
        if primary is not None:
            m.failing_votes.labels(name).set(primary.failing)

    def _carry_out(self, state: ServiceState, effect: Effect) -> None:
        name, epoch = state.config.name, self.office.epoch
        match effect:
            case ReportRedundancy(redundant=redundant, evidence=evidence):
                # Every replica says it, so an alert fires before the primary fails.
                level = self.log.info if redundant else self.log.warning
                level(Event.REDUNDANCY_CHANGED, service=name, redundant=redundant,
                      primary=state.decided.primary if state.decided else None, **evidence)
            case FenceLate(member=member_name):
                member, snapshot = state.config.member(member_name), state.snapshot()
                if member is not None and epoch is not None and snapshot is not None:
                    self._start(state, Work.RECOVERY, f"late-fence:{name}/{member_name}",
                                self.failovers.fence_late(state, member, epoch, snapshot))
            case FailOver(decision=decision):
                # Repoint time counts from here: the event (probe result, timer, reconcile)
                # after which the decision said "fail over".
                self._start(state, Work.RECOVERY, f"failover:{name}",
                            self.failovers.failover(state, decision, time.monotonic()))
            case ReportDryRun(decision=decision):
                self.log.warning(Event.DRY_RUN_FAILOVER, service=name, epoch=epoch,
                                 **decision.as_dict())
                self.office.spawn(self.record(state, "dry_run", by="auto",
                                              decision=decision.as_dict()), "history")
            case ReportSplitView(split=True, member=member_name, summary=summary,
                                 evidence=evidence):
                self.log.warning(Event.SPLIT_VIEW, service=name, member=member_name, epoch=epoch,
                                 summary=summary, evidence=evidence)
            case ReportSplitView(split=False):
                self.log.info(Event.SPLIT_VIEW_CLEARED, service=name, epoch=epoch)
            case LiftPause(pause=pause):
                self._start(state, Work.LIFT_PAUSE, f"lift-pause:{name}",
                            self.operations.lift_pause(state, pause))
            case RunSwitchover(request_id=request_id):
                self._start(state, Work.SWITCHOVER, f"switchover:{name}/{request_id}",
                            self.operations.runner.drive(state, request_id))
            case ReportEvacuationDryRun(evacuation=evacuation):
                self.log.warning(Event.DRY_RUN_EVACUATION, service=name, **evacuation.as_dict())
                self.office.spawn(self.record(state, "dry_run", by="auto:evacuation",
                                              decision=evacuation.as_dict()), "history")
            case RequestEvacuation(evacuation=evacuation):
                self._start(state, Work.EVACUATION, f"evacuate:{name}",
                            self.operations.request_evacuation(state, evacuation))

    def _start(self, state: ServiceState, work: Work, name: str,
               coro: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as an office task; when it ends, the service is evaluated again."""
        task = self.office.spawn(coro, name)
        state.tasks[work] = task
        if work is Work.RECOVERY:
            self.peers.dirty.set()  # followers refuse switchovers while it runs
        task.add_done_callback(functools.partial(self._ended, state, work))

    def _ended(self, state: ServiceState, work: Work, task: asyncio.Task[None]) -> None:
        if state.tasks.get(work) is task:
            del state.tasks[work]
        if work is Work.RECOVERY:
            self.peers.dirty.set()
        self.evaluate(state)

    def _cancel_recoveries(self, why: str) -> None:
        """Stop everything this replica does as leader: every office task (failovers, late
        fences, switchovers, take-office, reconcile passes, evacuations, pause lifts) and
        every service's timer. A switchover stays in ZooKeeper at its last persisted
        phase, for the next leader."""
        self.office.cancel_tasks(why)
        for state in self.services.values():
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None

    async def reread(self, state: ServiceState) -> None:
        with contextlib.suppress(StoreError):
            current = await self.zk.read_decision(state.config.name)
            if current is not None:
                self.on_decision(state.config.name, *current)

    # --- Redis --------------------------------------------------------------------------

    async def publish(self, state: ServiceState, origin: str,
                      detail: dict[str, Any] | None = None) -> PublishOutcome | None:
        """Copy the committed decision to Redis under our epoch, behind the office gate."""
        epoch = self.office.epoch
        if epoch is None:
            return None
        try:
            await self.office.confirm(epoch)
        except NotInOffice as exc:
            self.log.info(Event.PUBLISH_SKIPPED, service=state.config.name, why=str(exc))
            return None
        except Fenced:
            self.step_down("fenced before publishing")
            return None
        except StoreError as exc:  # ZooKeeper cannot confirm us: the reconcile loop retries
            self.log.warning(Event.PUBLISH_DEFERRED, service=state.config.name, error=str(exc))
            return None
        decided = state.decided  # read after the gate: the newest committed decision
        if decided is None:
            return None
        try:
            result = await self.routes.publish(state.config, decided, epoch,
                                               {"origin": origin, **(detail or {})})
        except RouteStoreError as exc:
            # ZooKeeper has the decision; the reconcile loop publishes once Redis is back.
            self.redis_ok, self.redis_error = False, str(exc)
            self.metrics.store_errors.labels("redis").inc()
            self.log.error(Event.PUBLISH_FAILED, service=state.config.name, epoch=epoch,
                           version=decided.version, error=str(exc))
            return None
        self.redis_ok, self.redis_error = True, None
        self.metrics.publishes.labels(result.outcome).inc()
        if result.outcome == "applied":
            self.log.info(Event.ROUTE_PUBLISHED, service=state.config.name, epoch=epoch,
                          primary=decided.primary, version=decided.version, origin=origin)
        elif result.refused:
            # "conflict": Redis holds another primary under this very version. Never
            # overwritten by a retry; loud, counted, and repeated by every reconcile.
            self.log.error(Event.PUBLISH_REFUSED, service=state.config.name, epoch=epoch,
                           version=decided.version, outcome=result.outcome,
                           stored_epoch=result.stored_epoch,
                           stored_version=result.stored_version)
            if result.outcome == "stale_epoch":
                self.step_down("Redis holds a newer epoch")
        return result

    async def record(self, state: ServiceState, event: str, **fields: Any) -> None:
        """Append to the service's history; a follower records operator requests it took."""
        epoch = self.leadership()[2]
        try:
            await self.routes.record(state.config.name, event, epoch=str(epoch or ""),
                                     node=self.node_id, **fields)
        except RouteStoreError as exc:
            self.log.warning(Event.HISTORY_WRITE_FAILED, service=state.config.name, error=str(exc))

    async def _reconcile_loop(self) -> None:
        """Safety net: repair Redis from ZooKeeper (restart, FLUSHALL, missed writes) and
        re-evaluate every service, on a timer rather than on an event."""
        interval = self.config.redis.reconcile_interval
        while True:
            try:
                if not self.office.may_act:
                    await self._check_redis()
                else:
                    self.office.refresh_lease(self.step_down)
                    # An office task, so leaving office cancels a pass half way through.
                    await asyncio.wait({self.office.spawn(self._reconcile_all(),
                                                              "reconcile-pass")})
            except Exception:  # the safety net must outlive any bug it meets
                self.log.exception(Event.RECONCILE_CRASHED)
            await asyncio.sleep(interval)

    async def _reconcile_all(self) -> None:
        for state in self.services.values():
            if Work.RECOVERY not in state.tasks:
                await self._reconcile(state)
                self.evaluate(state)

    async def _reconcile(self, state: ServiceState) -> None:
        decided, epoch = state.decided, self.office.epoch
        if decided is None or epoch is None:
            return
        try:
            route = await self.routes.read(state.config.name)
        except RouteStoreError as exc:
            self.redis_ok, self.redis_error = False, str(exc)
            return
        self.redis_ok, self.redis_error = True, None
        if (route is None or route.version != decided.version
                or route.primary != decided.primary or route.epoch < epoch):
            self.log.warning(Event.ROUTE_OUT_OF_SYNC, service=state.config.name, epoch=epoch,
                             redis=None if route is None else f"{route.primary}"
                             f"@{route.epoch}/{route.version}",
                             zookeeper=f"{decided.primary}@{decided.version}")
            await self.publish(state, origin="reconcile")

    async def _check_redis(self) -> None:
        try:
            await self.routes.ping()
            self.redis_ok, self.redis_error = True, None
        except RouteStoreError as exc:
            self.redis_ok, self.redis_error = False, str(exc)

    # --- what the API shows -------------------------------------------------------------

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        zk_ok = self.office.session is Session.CONNECTED
        detail = {
            "zookeeper": "connected" if zk_ok else f"session {self.office.session.lower()}",
            "redis": "reachable" if self.redis_ok else f"unreachable: {self.redis_error}",
        }
        return zk_ok and self.redis_ok, detail

    def status(self) -> dict[str, Any]:
        services = {}
        for name, state in self.services.items():
            inputs = self.inputs(state)
            view = inputs.view
            members = {}
            for member in state.config.members:
                health: MemberHealth = self.probes.health(name, member.name)
                voted = view.member(member.name)
                if voted is None:  # the view holds every configured member
                    continue
                last = health.last
                members[member.name] = {
                    "health": str(health.health),
                    "latency_ms": round(last.latency * 1000, 1) if last else None,
                    "ready": voted.ready,
                    "not_ready": list(voted.not_ready),
                    "checks": {name: check.as_dict() for name, check in
                               self.probes.readiness(name, member.name).items()},
                    "address": member.address,
                    # a former primary whose fence has not succeeded yet: never promoted
                    "unfenced": bool(state.decided and member.name in state.decided.unfenced),
                    "votes": {"failing": voted.failing, "healthy": voted.healthy,
                                      "replicas": view.replicas},
                    "views": self.views_of(name, member.name),
                }
            redundant = redundancy(view)[0]
            pause = state.pause if state.pause and state.pause.active(time.time()) else None
            services[name] = {
                "primary": view.primary,
                "version": state.decided.version if state.decided else None,
                "mode": str(view.mode),
                "redundant": redundant,
                "recovery_in_flight": view.recovery_in_flight,
                "quorum": view.required,
                "split_view": state.memory.split_view,
                "paused": None if pause is None else {"by": pause.by, "at": pause.at,
                                                      "until": pause.until},
                "switchovers": self.operations.open_requests(state),
                "evacuation": evacuation(inputs, time.time()).as_dict(),
                "members": members,
            }
        leader, leader_node, epoch = self.leadership()
        return {
            "node": self.node_id,
            "leader": leader,
            "leader_node": leader_node,
            "epoch": epoch,
            "services": services,
        }

    def leadership(self) -> tuple[bool, str | None, int | None]:
        """(we lead, the leader's node id, the newest epoch we know of)."""
        # The epoch watch can lag our own election by a moment: never show an older epoch
        # (or another leader) than the one we hold.
        watched = self.leader_info.get("epoch")
        epoch = max(e for e in (watched, self.office.epoch, 0) if isinstance(e, int))
        leader_node = self.node_id if self.office.epoch is not None and self.office.epoch >= epoch \
            else self.leader_info.get("node")
        return self.office.epoch is not None, leader_node, epoch or None
