"""The deterministic simulation (issue 17): three controller replicas running the pure core
and its machines step by step, over an in-memory ZooKeeper, Redis and three
members, on an explicit clock. Hypothesis chooses every step (which replica's next await
completes, and whether its message is dropped or its answer lost), every fault and every
clock advance, and the invariants are checked after each one.

The default run replays the same examples every time; ``SIM_EXAMPLES=5000`` (examples) and
``SIM_STEPS`` (steps per example) explore further, from a new seed each run. A failure
prints the steps that reproduce it and a ``@reproduce_failure(...)`` line to paste above
``class Simulation`` (see the README).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from controller.core.switchover import Switchover
from tests.sim.cluster import REPLICAS, Cluster
from tests.sim.replica import Replica
from tests.sim.world import MEMBERS, WRITES, Route

NAMES = [n for n, _ in MEMBERS]
replicas = st.sampled_from(REPLICAS)
members = st.sampled_from(NAMES)
SETTLE_SECONDS = 30.0
fates = st.sampled_from(["ok", "ok", "ok", "ok", "lose", "drop", "late"])


class Simulation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = Cluster()
        self.requests = 0
        self.last_version = -1

    # --- the schedule ---------------------------------------------------------------------

    @initialize()
    def elected(self) -> None:
        """Every run starts from a leader in office that has published the first route
        (faults before that are runs spent on bootstrap)."""
        for name in REPLICAS:
            for member in NAMES:
                self.c.probe(name, member)
        self.progress(10)

    @rule(name=replicas, pick=st.integers(0, 7), fate=fates)
    def step(self, name: str, pick: int, fate: str) -> None:
        """The replica's loop runs its next callback, or a task's pending op completes."""
        runnable = self.c.runnable(name)
        if runnable:
            self.c.run(name, runnable[pick % len(runnable)], fate)

    @rule(name=replicas)
    def elect(self, name: str) -> None:
        self.c.elect(name)

    @rule(rounds=st.integers(1, 6))
    def progress(self, rounds: int) -> None:
        """Everything runs a while without faults: every election thread takes a turn, and
        every replica runs each callback and each task's next step, in replica order."""
        for _ in range(rounds):
            for name in REPLICAS:
                self.c.elect(name)
                for what in self.c.runnable(name):
                    self.c.run(name, what, "ok")
            self.c.notify()

    @rule(seconds=st.sampled_from([0.2, 0.5, 1.0, 2.0, 3.5]), probe=st.booleans())
    def advance(self, seconds: float, probe: bool) -> None:
        """Time passes; every running replica's timer fires (and, maybe, its probes)."""
        self.c.advance(seconds)
        for name, rep in self.c.replicas.items():
            if probe:
                for member in NAMES:
                    self.c.probe(name, member)
            rep.evaluate()

    @rule(name=replicas, member=members)
    def probe(self, name: str, member: str) -> None:
        self.c.probe(name, member)

    @rule(name=replicas)
    def reconcile(self, name: str) -> None:
        from tests.sim.runners import reconcile

        rep = self.c.replicas[name]
        if rep.runs and rep.may_act:
            rep.spawn(reconcile(rep), "reconcile-pass")

    @precondition(lambda self: bool(self.c.world.orphans))
    @rule(pick=st.integers(0, 7), fate=fates)
    def orphan(self, pick: int, fate: str) -> None:
        """A message sent by a task that was cancelled, or a process that died, arrives."""
        self.c.deliver_orphan(pick % len(self.c.world.orphans), fate)

    @rule(to=st.sampled_from([None, *NAMES]))
    def request_switchover(self, to: str | None) -> None:
        """An operator's request (the API refuses one while another is open)."""
        zk = self.c.world.zk
        if any(not r.phase.terminal for r, _ in zk.switchovers.values()):
            return
        self.requests += 1
        rid = f"sw-{self.requests:010d}"
        zk.switchovers[rid] = (Switchover(id=rid, service="web", requested_by="operator:sim",
                                          requested_at=self.c.world.now, to=to), 0)

    # --- faults -------------------------------------------------------------------------

    @rule(member=members, kind=st.sampled_from(
        ["kill", "restart", "freeze", "thaw", "degrade", "recover", "break_fence",
         "mend_fence"]))
    def member_fault(self, member: str, kind: str) -> None:
        m = self.c.world.members[member]
        self.c.world.note(f"member {member}: {kind}")
        if kind == "thaw":
            m.thaw()
        else:
            attr, value = {"kill": ("alive", False), "restart": ("alive", True),
                           "freeze": ("frozen", True), "degrade": ("degraded", True),
                           "recover": ("degraded", False), "break_fence": ("fence_broken", True),
                           "mend_fence": ("fence_broken", False)}[kind]
            setattr(m, attr, value)

    @rule(name=replicas, kind=st.sampled_from(
        ["freeze", "thaw", "kill", "restart", "partition", "heal", "pause"]))
    def controller_fault(self, name: str, kind: str) -> None:
        c, rep = self.c, self.c.replicas[name]
        self._controller_fault(c, rep, name, kind)
        rep = c.replicas[name]
        c.world.note(f"controller {name}: {kind} (alive {rep.alive}, frozen {rep.frozen}, "
                     f"linked {rep.linked}, session {rep.session_id})")

    @staticmethod
    def _controller_fault(c: Cluster, rep: Replica, name: str, kind: str) -> None:
        if kind == "freeze" and rep.alive:
            rep.frozen = True
        elif kind == "thaw" and rep.alive and rep.frozen:
            rep.frozen = False
            if rep.linked:
                c.reconnect(rep)
        elif kind == "kill" and rep.alive:
            c.kill(name)
        elif kind == "restart" and not rep.alive:
            c.start(name)
        elif kind == "partition" and rep.alive and rep.linked:
            rep.linked = False
            rep.inbox.append(("session", "SUSPENDED"))
        elif kind == "heal" and rep.alive and not rep.linked:
            rep.linked = True
            c.reconnect(rep)
        elif kind == "pause" and rep.alive and not rep.frozen:
            # A pause longer than the session (a GC pause, a SIGSTOP): ZooKeeper expires it.
            rep.frozen = True
            c.advance(c.world.zk.sessions[rep.session_id or 0].timeout)
            rep.frozen = False
            if rep.linked:
                c.reconnect(rep)

    @rule(kind=st.sampled_from(["freeze", "pause", "partition"]))
    def strike_leader_mid_write(self, kind: str) -> None:
        """The fault that matters most, made likely: a leader with a write or a hook on
        its way (past its gate) is frozen, paused past its session, or cut off."""
        for name, rep in self.c.replicas.items():
            if rep.runs and rep.epoch is not None and any(
                    isinstance(t.pending, WRITES) for t in rep.tasks.values()):
                self.controller_fault(name, kind)
                return

    @rule()
    def flushall(self) -> None:
        self.c.world.flushall()

    def teardown(self) -> None:
        """7: ZooKeeper's decision and Redis's route agree within seconds once the faults
        end (the members' excepted: they may all be down)."""
        zk = self.c.world.zk
        event(f"epoch {min(zk.epoch, 3)}+, decision version "
              f"{min(zk.decision.version if zk.decision else 0, 3)}+")
        for member in self.c.world.members.values():
            if any(not taken and epoch < max(e for e, _, _ in member.received[:i + 1])
                   for i, (epoch, _, taken) in enumerate(member.received)):
                event("a member refused a hook below the highest (epoch, seq) it had accepted")
        agreed = self.c.settle(SETTLE_SECONDS)
        self.check_all()
        assert agreed, (
            f"invariant 7: {SETTLE_SECONDS:g} s after the last fault, Redis holds "
            f"{self.c.world.redis.route} and ZooKeeper {zk.decision}")

    def check_all(self) -> None:
        self.one_primary_and_no_route_goes_back()
        self.epochs_never_decrease()
        self.promoted_only_when_healthy()
        self.gates_are_right()
        self.zookeeper_knows_every_primary()

    # --- the invariants (README, "Invariants") -------------------------------------------

    @invariant()
    def watches(self) -> None:
        self.c.notify()  # not a check: ZooKeeper's watches fire after every change

    @invariant()
    def one_primary_and_no_route_goes_back(self) -> None:
        """1: ZooKeeper gives each version one primary; Redis holds only routes ZooKeeper
        decided, and a reader never sees one go back."""
        zk, world = self.c.world.zk, self.c.world
        two = [v for v in zk.primaries if v < 0]
        assert not two, f"invariant 1: version {-two[0]} committed naming two primaries"
        previous: Route | None = None
        flushes = 0
        for entry in world.routes:
            if entry is None:
                flushes += 1
                continue
            route, write = entry
            assert zk.primaries.get(route.version) == route.primary, (
                f"invariant 1: Redis routes {route}, ZooKeeper decided "
                f"{zk.primaries.get(route.version)} at that version" + world.tail())
            # A write that passed its gate before a FLUSHALL and lands after it is refused
            # as "missing" (found by this simulation). Not asserted: a create (its writer
            # read the route missing after one flush) that lands after the next flush: a
            # store that forgets everything cannot refuse it (the README says so); the
            # reconcile repairs it, checked at the end of the run.
            excused = write.create and write.flushes < flushes
            if previous is not None and not excused:
                assert (route.version >= previous.version
                        and route.epoch >= previous.epoch), (
                    f"invariant 1: the route went back from {previous} to {route}"
                    + world.tail())
            previous = route

    @invariant()
    def epochs_never_decrease(self) -> None:
        """2: the epoch node only grows (by construction); no replica holds, and no member
        has seen, an epoch ZooKeeper never gave; the decision's version only grows."""
        zk = self.c.world.zk
        for rep in self.c.replicas.values():
            assert rep.epoch is None or rep.epoch <= zk.epoch
        for member in self.c.world.members.values():
            assert member.highest[0] <= zk.epoch
        if zk.decision is not None:
            assert zk.decision.version >= self.last_version
            self.last_version = zk.decision.version

    @invariant()
    def promoted_only_when_healthy(self) -> None:
        """3: every promote went out to a member healthy in its sender's view."""
        bad = [p for p in self.c.world.promotes if p.health.value != "healthy"]
        assert not bad, (
            f"invariant 3: promote sent to a member seen {bad[0].health}: {bad[0]}"
            + self.c.world.tail())

    @invariant()
    def gates_are_right(self) -> None:
        """5: a replica's gate never lets a write or hook through unless it leads now."""
        assert not self.c.world.violations, self.c.world.violations[0] + self.c.world.tail()

    @invariant()
    def zookeeper_knows_every_primary(self) -> None:
        """7: no two members hold a promote that ZooKeeper does not account for: a member
        that believes it is primary is the decision's primary, marked unfenced in it (a
        write-ahead, or a fence that failed), or the subject of a running switchover."""
        zk = self.c.world.zk
        if zk.decision is None:
            return
        known = {zk.decision.primary, *zk.decision.unfenced}
        for record, _ in zk.switchovers.values():
            if record.phase.running:  # a rollback commit that failed stays running
                known |= {record.source or "", record.target or ""}
        # A promote that lands after a later hook of its own leader (sent by a task then
        # cancelled, or timed out) is refused by its (epoch, seq): found by this simulation
        # while members compared the epoch alone.
        believers = {m.name for m in self.c.world.members.values() if m.primary}
        assert believers <= known, (
            f"invariant 7: {sorted(believers - known)} may act as primary, and ZooKeeper "
            f"({zk.decision.primary}, unfenced {zk.decision.unfenced}) does not know"
            + self.c.world.tail())


TestSimulation = Simulation.TestCase
TestSimulation.settings = settings(
    max_examples=int(os.environ.get("SIM_EXAMPLES", "400")),
    stateful_step_count=int(os.environ.get("SIM_STEPS", "100")),
    deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True,
    derandomize="SIM_EXAMPLES" not in os.environ)
