"""The daemon's engine: takes every event, asks the core's planner, carries out its plan.

Events (a probe result, a readiness check, a vote, a request, a pause, a decision, a
session change, a timer, a task that ended, the periodic reconcile) all end in
``evaluate(service)``: snapshot -> plan -> carry out, synchronously, on the event loop,
with one timer per service re-armed from the plan's ``wake_at``. Only the leader acts,
only while its ZooKeeper session is connected, and every write and hook passes the office
gate (office.py) first.

The engine wires the parts and owns the per-service state; none of them imports it:
leadership.py (session, election, taking office), effects.py (carrying out a plan),
failover.py and switchovers.py (the runners), operations.py (operator requests, explain),
publishing.py (Redis), views.py (other replicas' views), report.py (status, readiness),
followers.py (what proxies and applications acknowledged).
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
from controller.adapters.routes import RouteStore
from controller.adapters.zookeeper import Session, ZkStore
from controller.core.errors import StoreError
from controller.core.plan import Inputs, Work, plan
from controller.core.records import Decided, Pause
from controller.core.switchover import Switchover
from controller.core.views import ReplicaView
from controller.daemon import report
from controller.daemon.collaborators import Collaborators
from controller.daemon.effects import Effects
from controller.daemon.epochs import routed_at
from controller.daemon.failover import FailoverRunner
from controller.daemon.followers import FollowerWatch, read_acks
from controller.daemon.hooks import HookRunner
from controller.daemon.interpreter import Interpreter, Ports
from controller.daemon.leadership import Leadership
from controller.daemon.metrics import HEALTH_VALUES, Metrics
from controller.daemon.notify import Notifier
from controller.daemon.office import Leader, Office
from controller.daemon.operations import Operations
from controller.daemon.publishing import Publisher
from controller.daemon.snapshot import own_view, snapshot
from controller.daemon.state import ServiceState
from controller.daemon.views import PeerViews
from controller.events import Event
from probes.health import readiness
from probes.scheduler import CheckReport, ProbeReport, ProbeScheduler

log = structlog.get_logger("engine")


class Engine:
    def __init__(self, config: Config, node_id: str) -> None:
        self.config, self.node_id = config, node_id
        self.log = log.bind(node=node_id)
        self.metrics = Metrics(config)
        self.zk = ZkStore(config.zookeeper, config.cluster)
        self.routes: RouteStore = report.SeenRoutes(config.redis, self.metrics)
        user_agent = f"failoverctl/{__version__}"
        self.actions = ActionRunner(user_agent)
        self.notifier = Notifier(config, node_id, self.metrics, self.log, user_agent)
        self.probes = ProbeScheduler(
            config.services, {"User-Agent": user_agent, "X-Failover-Node": node_id},
            self._on_probe, self._on_check)
        self.services = {s.name: ServiceState(s, windows=tuple(map(parse_window, s.windows)))
                         for s in config.services}
        self._tasks: set[asyncio.Task[Any]] = set()
        # The epoch, in office or not, the lease, and the gate (office.py).
        self.office = Office(self.zk, self.spawn, self.log)
        self.leadership = Leadership(
            node_id=node_id, office=self.office, zk=self.zk, metrics=self.metrics,
            log=self.log, services=self.services, cancel=self._cancel_leader_work,
            resign=lambda: self.election.resign(), interpreter=lambda: self.interpreter,
            evaluate_all=self.evaluate_all, routes=self.routes)
        self.watch = report.StoreWatch(self.log, self.office, lambda: self.publisher, self.metrics)
        self.election = LeaderElection(self.zk, node_id, self.leadership.on_gained,
                                       self.leadership.on_lost, self.leadership.floor)
        step_down = self.leadership.step_down
        # Other replicas' verdicts on every member (quorum), and the publishing of ours.
        self.peers = PeerViews(self.zk, node_id, self._views_changed)
        # Swapped for a fresh one on every member health change / request change: waiters
        # (switchover steps, API long-polls) await the current one.
        self._health_event = asyncio.Event()
        self.requests_changed = asyncio.Event()
        self.publisher = Publisher(
            office=self.office, routes=self.routes, metrics=self.metrics, log=self.log,
            node_id=node_id, step_down=step_down,
            newest_epoch=lambda: self.leadership.leader().epoch,
            epoch_handed_out=self.zk.newest_epoch, notifier=self.notifier)
        self.followers = FollowerWatch(self.services, self.routes, self.metrics, self.log,
                                       self.publisher.record, lambda: self.office.may_act)
        self.hooks = HookRunner(self.office, self.probes, self.actions, self.log, self.metrics)
        # Carries out the commands of every machine that acts (failover, late fence,
        # taking office, switchover).
        self.interpreter = Interpreter(office=self.office, zk=self.zk, hooks=self.hooks,
                                       ports=Ports(
            services=self.services, probes=self.probes, metrics=self.metrics, log=self.log,
            inputs=self.inputs, publish=self.publisher.publish,
            republish=lambda state: self.publisher.republish(state, origin="takeover"),
            load=lambda state: self.operations.load(state), reread=self.reread,
            record=self.publisher.record, on_decision=self.on_decision,
            enter_office=self.leadership.enter_office,
            read_route=lambda service: routed_at(self.routes, service,
                                                 self.leadership.saw_redis_epoch),
            read_acks=functools.partial(read_acks, self.routes),
            wait_health_change=self.wait_health_change))
        self.failovers = FailoverRunner(
            office=self.office, interpreter=self.interpreter, metrics=self.metrics,
            log=self.log, record=self.publisher.record, reread=self.reread,
            step_down=step_down)
        self.operations = Operations(Collaborators(
            node_id=node_id, services=self.services, zk=self.zk, probes=self.probes,
            metrics=self.metrics, log=self.log, office=self.office,
            leadership=self.leadership.leader, step_down=step_down, inputs=self.inputs,
            on_decision=self.on_decision, reread=self.reread, hooks=self.hooks,
            interpreter=self.interpreter, publish=self.publisher.publish,
            record=self.publisher.record, wait_health_change=self.wait_health_change,
            requests_changed=lambda: self.requests_changed))
        self.effects = Effects(
            office=self.office, log=self.log, failovers=self.failovers,
            operations=self.operations, record=self.publisher.record,
            recovery_changed=self.peers.dirty.set, on_changed=self.evaluate)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.probes.start()
        self.spawn(self._connect_and_contend(), "zookeeper")
        self.spawn(self._reconcile_loop(), "reconcile")
        self.spawn(self.followers.run(), "followers")
        self.spawn(self.notifier.run(), "notifier")

    async def stop(self) -> None:
        """Graceful: resign at once (the next replica takes over without waiting for a
        session to expire), then stop probing and close connections."""
        self.office.stopping = True
        self.office.in_office = False
        self._cancel_leader_work("shutting down")  # no hook runs after we resign
        await self.election.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.probes.stop()
        await asyncio.gather(self.actions.close(), self.notifier.close())
        await self.zk.stop()
        await self.routes.close()
        self.log.info(Event.STOPPED)

    async def _connect_and_contend(self) -> None:
        while True:
            try:
                await self.zk.start(self.watch.on_session(self.leadership.on_session))
                break
            except StoreError as exc:
                self.metrics.store_errors.labels("zookeeper").inc()
                self.log.warning(Event.ZOOKEEPER_UNREACHABLE, error=str(exc))
                await asyncio.sleep(1.0)
        self.office.session = Session.CONNECTED
        self.watch.observe(time.time())
        await self.zk.watch_epoch(self.watch.on_epoch_node(self.leadership.on_epoch_node))
        for name in self.services:
            await self.zk.watch_decision(name, functools.partial(self.on_decision, name))
            await self.zk.watch_pause(name, functools.partial(self._on_pause, name))
            await self.zk.watch_switchovers(name, functools.partial(self._on_switchover, name))
        await self.zk.watch_views(self.peers.heard)
        self.spawn(self.peers.publish(self._own_view), "view-publisher")
        self.election.start()  # at once: a view counts only once our election node exists
        await self.leadership.learn_floor(self.spawn)
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

    def _cancel_leader_work(self, why: str) -> None:
        """Stop every office task (failovers, late fences, switchovers, take-office,
        reconcile passes, evacuations, pause lifts) and every service's timer. A switchover
        stays in ZooKeeper at its last persisted phase, for the next leader."""
        self.office.cancel_tasks(why)
        for state in self.services.values():
            state.cancel_timer()

    # --- events: ZooKeeper (the decision, pauses, requests, other replicas' views) --------

    def on_decision(self, service: str, decided: Decided | None, znode_version: int) -> None:
        state = self.services[service]
        if decided is None and znode_version < 0 and (lost := state.vanished()) is not None:
            self.log.error(Event.DECISION_VANISHED, service=service, primary=lost.primary,
                           version=lost.version)
            return
        if znode_version >= state.znode_version:
            state.decided, state.znode_version = decided, znode_version
            self.probes.route_changed(service, decided.primary if decided else None)

    async def reread(self, state: ServiceState) -> None:
        with contextlib.suppress(StoreError):
            current = await self.zk.read_decision(state.config.name)
            if current is not None:
                self.on_decision(state.config.name, *current)

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
        if record is None:
            state.switchovers.pop(request_id, None)
        else:
            state.learn({request_id: (record, version)})
        event, self.requests_changed = self.requests_changed, asyncio.Event()
        event.set()
        self.evaluate(state)

    def _views_changed(self) -> None:
        """A replica's vote changed, or a view came, went or aged out."""
        self._member_changed()
        self.evaluate_all()

    def _own_view(self) -> ReplicaView:
        return own_view(self.node_id, self.probes, self.services, self.office.may_act)

    # --- events: probes -----------------------------------------------------------------

    def _on_probe(self, report: ProbeReport) -> None:
        self.metrics.probed(report)
        decided = self.services[report.service].decided
        if (report.after.failures == 1 and decided is not None
                and decided.primary == report.member):
            self.office.refresh_lease(self.leadership.step_down)
        if report.after.health is report.before.health:
            return
        self.metrics.member_health.labels(report.service, report.member).set(
            HEALTH_VALUES[report.after.health])
        self.log.info(Event.MEMBER_HEALTH_CHANGED, service=report.service, member=report.member,
                      health=str(report.after.health), previous=str(report.before.health),
                      evidence=[e.as_dict() for e in report.after.recent])
        self.peers.dirty.set()
        self._member_changed()
        self.evaluate(self.services[report.service])

    def _on_check(self, report: CheckReport) -> None:
        """A readiness check ran: count it, say when a member's readiness changes."""
        after = report.after
        self.metrics.checked(report)
        if report.before.ok is after.ok:
            return
        reasons = readiness(self.probes.readiness(report.service, report.member))
        level = self.log.info if after.ok else self.log.warning
        level(Event.MEMBER_READINESS_CHANGED, service=report.service, member=report.member,
              check=report.check, ok=after.ok, detail=after.detail, ready=not reasons,
              not_ready=list(reasons))
        self._member_changed()
        self.evaluate(self.services[report.service])

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

    # --- the plan, and carrying it out ---------------------------------------------------

    def inputs(self, state: ServiceState, now: float | None = None) -> Inputs:
        """A frozen snapshot of the service for the core: the planner, explain, status."""
        return snapshot(state, self.probes, self.peers, self.office.may_act,
                        time.time() if now is None else now)

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
        report.set_gauges(self.metrics, inputs.view, planned.memory, state.decided)
        for effect in planned.effects:
            self.effects.carry_out(state, effect)
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if planned.wake_at is not None:
            state.timer = asyncio.get_running_loop().call_later(
                max(0.0, planned.wake_at - now), self.evaluate, state)

    # --- the safety net -----------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        """Repair Redis from ZooKeeper (restart, FLUSHALL, missed writes) and evaluate every
        service again, on a timer rather than on an event."""
        interval = self.config.redis.reconcile_interval
        while True:
            try:
                if not self.office.may_act:
                    await self.publisher.check_redis()
                else:
                    self.office.refresh_lease(self.leadership.step_down)
                    # An office task, so leaving office cancels a pass half way through.
                    await asyncio.wait({self.office.spawn(self._reconcile_all(),
                                                          "reconcile-pass")})
            except Exception:  # the safety net must outlive any bug it meets
                self.log.exception(Event.RECONCILE_CRASHED)
            self.watch.observe(time.time())
            await asyncio.sleep(interval)

    async def _reconcile_all(self) -> None:
        for state in self.services.values():
            if Work.RECOVERY not in state.tasks:
                await self.publisher.reconcile(state)
                self.evaluate(state)

    # --- what the API shows -------------------------------------------------------------

    def leader(self) -> Leader:
        return self.leadership.leader()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return report.readiness(self.watch.observe(time.time()))

    def status(self) -> dict[str, Any]:
        return report.status(node_id=self.node_id, leader=self.leader(),
                             services=self.services, inputs=self.inputs, probes=self.probes,
                             peers=self.peers, open_requests=self.operations.open_requests,
                             top=self.watch.shown(time.time()), followers=self.followers.shown)
