"""One simulated controller replica: the daemon's leadership and office (leadership.py,
office.py), its evaluate loop (engine.py, snapshot.py, effects.py) around the pure planner,
and its tasks, each a generator that yields one ``Op`` per await of the daemon's code.

A task advances only when the simulation delivers its pending op, so tasks of different
replicas interleave at every await, and a replica frozen between its gate and its write
sends the write when it is thawed, as a real one would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

from controller.core.decide import MemberView, ServiceView
from controller.core.errors import Fenced, NotInOffice
from controller.core.lease import Lease, lease_length
from controller.core.plan import (
    FailOver,
    FenceLate,
    Inputs,
    Memory,
    RunSwitchover,
    Work,
    mode_of,
    plan,
    recovering,
)
from controller.core.records import Decided
from controller.core.switchover import Switchover
from controller.core.views import count
from probes.health import Health
from tests.sim.world import MEMBERS, REQUESTED_SESSION, WRITES, CheckEpoch, Op, World

SERVICE = "web"
COOLDOWN, RETRY_BACKOFF = 2.0, 1.0
VIEW_TTL = 1.5  # daemon/views.py: 3 heartbeats of 0.5 s

Task = Generator[Op, Any, None]
Steps = Generator[Op, Any, Any]  # a part of a task: ``yield from`` it


@dataclass
class Running:
    id: int
    name: str
    gen: Task
    pending: Op | None = None
    work: Work | None = None
    office: bool = True  # cancelled when the replica may no longer act
    cancelled: bool = False


@dataclass
class Service:
    """daemon/state.py's ServiceState, without asyncio."""

    decided: Decided | None = None
    znode_version: int = -1
    tasks: dict[Work, int] = field(default_factory=dict)
    memory: Memory = field(default_factory=Memory)
    fence_retry_after: float = 0.0
    last_failed_attempt: float | None = None
    switchovers: dict[str, tuple[Switchover, int]] = field(default_factory=dict)

    def snapshot(self) -> tuple[Decided, int] | None:
        return None if self.decided is None else (self.decided, self.znode_version)

    def exclude(self, member: str) -> None:
        self.memory = replace(self.memory, excluded=self.memory.excluded | {member})

    def end_episode(self) -> None:
        self.memory = replace(self.memory, excluded=frozenset())


@dataclass
class Replica:
    name: str
    world: World
    alive: bool = True
    frozen: bool = False
    linked: bool = True  # its connection to ZooKeeper is up
    session_id: int | None = None  # its ZooKeeper session
    session: str = "CONNECTING"  # as kazoo has told it
    epoch: int | None = None
    term_session: int | None = None  # the session that took the epoch (adapters Term)
    in_office: bool = False
    taking: int | None = None
    resigning: bool = False
    lease: Lease | None = None
    contending: bool = False  # the election thread holds a contender node
    leading_thread: bool = False  # the election thread holds the leadership
    service: Service = field(default_factory=Service)
    health: dict[str, Health] = field(
        default_factory=lambda: {n: Health.UNKNOWN for n, _ in MEMBERS})
    peers: dict[str, tuple[dict[str, str], float]] = field(default_factory=dict)
    inbox: deque[tuple[Any, ...]] = field(default_factory=deque)
    tasks: dict[int, Running] = field(default_factory=dict)
    next_task: int = 0
    hooks_sent: int = 0  # HookRunner's {seq}: per process, a restart begins again at 1
    current: int | None = None  # the task running now

    # --- office.py ----------------------------------------------------------------------

    @property
    def runs(self) -> bool:
        return self.alive and not self.frozen

    @property
    def may_act(self) -> bool:
        return self.in_office and self.session == "CONNECTED"

    def holds(self, epoch: int | None) -> bool:
        return (epoch is not None and self.epoch == epoch and self.session == "CONNECTED"
                and (self.in_office or self.taking == epoch))

    def lease_seconds(self) -> float:
        granted = self.world.zk.sessions[self.session_id].timeout if self.session_id else None
        return lease_length(granted, REQUESTED_SESSION)

    def confirm(self, epoch: int | None) -> Steps:
        """Office.confirm: in office, the epoch confirmed within the lease, in office still."""
        if epoch is None or not self.holds(epoch):
            raise NotInOffice(f"not in office for epoch {epoch}")
        yield from self.verify_epoch(epoch)
        if not self.holds(epoch):
            raise NotInOffice(f"left office for epoch {epoch} while confirming it")
        # Invariant 5: a gate that lets a write through is right about it, now.
        zk = self.world.zk
        if zk.epoch != epoch or not zk.live(self.session_id):
            self.world.violations.append(
                f"invariant 5: {self.name} passed its gate for epoch {epoch} at "
                f"{self.world.now:g} while ZooKeeper's epoch is {zk.epoch}, session live "
                f"{zk.live(self.session_id)}")

    def verify_epoch(self, epoch: int, force: bool = False) -> Steps:
        now = self.world.now
        if (not force and self.lease is not None
                and self.lease.covers(epoch, now, self.lease_seconds())):
            return
        yield CheckEpoch(epoch)
        if self.session_id != self.term_session:  # ZkStore.check_epoch
            raise Fenced(f"the session that took epoch {epoch} is gone")
        if self.epoch == epoch:
            self.lease = Lease(epoch, now)

    # --- tasks --------------------------------------------------------------------------

    def spawn(self, gen: Task, name: str, work: Work | None = None,
              office: bool = True) -> None:
        self.next_task += 1
        self.world.note(f"{self.name} starts task {self.next_task} {name}")
        task = Running(self.next_task, name, gen, work=work, office=office)
        self.tasks[task.id] = task
        if work is not None:
            self.service.tasks[work] = task.id
        self._advance(task, lambda: next(gen))

    def deliver(self, task_id: int, fate: str) -> None:
        """The task's pending op arrives (or not) and the task runs to its next await."""
        task = self.tasks[task_id]
        op = task.pending
        assert op is not None
        try:
            answer = self.world.perform(op, self.session_id, self.linked, fate)
        except Exception as exc:  # the adapter's error, raised into the task
            error = exc
            self._advance(task, lambda: task.gen.throw(error))
            return
        self._advance(task, lambda: task.gen.send(answer))

    def _advance(self, task: Running, resume: Any) -> None:
        self.current = task.id
        try:
            task.pending = resume()
        except StopIteration:
            self._ended(task)
            return
        finally:
            self.current = None
        if task.cancelled:  # cancelled while it ran: asyncio stops it at this await
            self._drop(task)
            self.evaluate()

    def _ended(self, task: Running) -> None:
        self.tasks.pop(task.id, None)
        if task.work is not None and self.service.tasks.get(task.work) == task.id:
            del self.service.tasks[task.work]
        self.evaluate()  # effects.py _ended: the service is evaluated again

    def cancel_tasks(self) -> None:
        """Office.cancel_tasks. A task cancelled by its own step runs on to its next
        await, as in asyncio."""
        for task in [t for t in self.tasks.values() if t.office]:
            if task.id == self.current:
                task.cancelled = True
            else:
                self._drop(task)
        self.evaluate()

    def _drop(self, task: Running) -> None:
        """What was already sent stays in flight (an orphan op)."""
        self.tasks.pop(task.id, None)
        if task.pending is not None and isinstance(task.pending, WRITES):
            self.world.orphans.append((task.pending, self.session_id, self.linked))
        task.gen.close()
        if task.work is not None and self.service.tasks.get(task.work) == task.id:
            del self.service.tasks[task.work]

    # --- leadership.py ------------------------------------------------------------------

    def on_session(self, state: str) -> None:
        previous, self.session = self.session, state
        if state == previous:
            return
        if state != "CONNECTED":
            self.lease = None
            self.cancel_tasks()
        elif self.in_office:
            self.evaluate()
        elif self.epoch is not None and not self.resigning:
            self._begin(self.epoch)

    def on_gained(self, epoch: int, session: int) -> None:
        self.epoch, self.term_session, self.resigning = epoch, session, False
        self._begin(epoch)

    def on_lost(self) -> None:
        self.epoch, self.term_session, self.in_office, self.lease = None, None, False, None
        self.taking, self.resigning = None, False
        self.cancel_tasks()

    def on_epoch_node(self, epoch: int) -> None:
        if self.epoch is not None and epoch > self.epoch:
            self.step_down()

    def step_down(self) -> None:
        if self.epoch is None:
            return
        self.in_office, self.taking, self.resigning = False, None, True
        self.cancel_tasks()
        self.resign()

    def resign(self) -> None:
        """The election thread leaves: its contender node goes, then on_lost comes."""
        zk = self.world.zk
        zk.contenders = [c for c in zk.contenders if c[2] != self.session_id]
        self.contending = False
        if self.leading_thread:
            self.leading_thread = False
            self.inbox.append(("lost",))

    def _begin(self, epoch: int) -> None:
        from tests.sim.machines import take_office  # it imports this module

        self.taking = epoch
        self.spawn(take_office(self, epoch), "take-office")

    def on_decision(self, decided: Decided | None, version: int) -> None:
        if version >= self.service.znode_version:
            self.service.decided, self.service.znode_version = decided, version

    # --- engine.py: the planner ---------------------------------------------------------

    def inputs(self) -> Inputs:
        """snapshot.py: the view of the service the planner gets."""
        now, state = self.world.now, self.service
        fresh = [v for v, at in self.peers.values() if now - at < VIEW_TTL]
        members = []
        for name, priority in MEMBERS:
            own = self.health[name]
            votes = count([str(own), *(v.get(name, "unknown") for v in fresh)])
            members.append(MemberView(
                name=name, priority=priority, health=own,
                unfenced=state.decided is not None and name in state.decided.unfenced,
                failing_votes=votes.failing, healthy_votes=votes.healthy))
        requests = tuple(r for _, (r, _) in sorted(state.switchovers.items()))
        leader_recovering = any(v.get("recovering") == "yes" for v in fresh)
        running = frozenset(state.tasks)
        view = ServiceView(
            name=SERVICE, primary=state.decided.primary if state.decided else None,
            members=tuple(members), mode=mode_of(True, None, now), cooldown=COOLDOWN,
            retry_backoff=RETRY_BACKOFF,
            last_recovery_end=state.decided.last_recovery_end if state.decided else None,
            last_failed_attempt=state.last_failed_attempt,
            recovery_in_flight=recovering(running, requests, leader_recovering),
            excluded=state.memory.excluded, replicas=1 + len(fresh))
        return Inputs(view=view, leading=self.may_act, running=running, switchovers=requests,
                      leader_recovering=leader_recovering,
                      fenceable=frozenset(n for n, _ in MEMBERS),
                      fence_retry_after=state.fence_retry_after)

    def own_view(self) -> dict[str, str]:
        view = {name: str(health) for name, health in self.health.items()}
        view["recovering"] = "yes" if self.may_act and Work.RECOVERY in self.service.tasks \
            else "no"
        return view

    def evaluate(self) -> None:
        """engine.evaluate and effects.carry_out, for the effects that touch safety."""
        from tests.sim import machines

        if not self.runs:
            return
        state = self.service
        planned = plan(self.inputs(), state.memory, self.world.now)
        state.memory = planned.memory
        snapshot, epoch = state.snapshot(), self.epoch
        for effect in planned.effects:
            match effect:
                case FenceLate(member=member) if epoch is not None and snapshot is not None:
                    self.spawn(machines.fence_late(self, member, epoch, snapshot),
                               f"late-fence:{member}", Work.RECOVERY)
                case FailOver(decision=decision):
                    self.spawn(machines.failover(self, decision), "failover", Work.RECOVERY)
                case RunSwitchover(request_id=request_id):
                    self.spawn(machines.drive(self, request_id), f"switchover:{request_id}",
                               Work.SWITCHOVER)
                case _:
                    pass  # reports, pauses and evacuations change no route
