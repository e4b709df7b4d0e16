"""The cluster the simulation drives: replicas over one world, and the plumbing between
them that the real system leaves to ZooKeeper and the network: sessions that are heard or
expire as the clock moves, watch notifications, the election thread, views and probes.
Every method is one thing that can happen; test_simulation.py chooses which and when.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from controller.core.records import Decided
from tests.sim.replica import Replica
from tests.sim.world import WRITES, World

REPLICAS = ("r1", "r2", "r3")


@dataclass
class Cluster:
    world: World = field(default_factory=World)
    replicas: dict[str, Replica] = field(default_factory=dict)
    # What each replica's watches last told it: (decision version, requests, epoch).
    told: dict[str, tuple[int, tuple[tuple[str, int], ...], int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in REPLICAS:
            self.start(name)

    # --- processes and sessions -----------------------------------------------------------

    def start(self, name: str) -> None:
        rep = Replica(name, self.world)
        self.replicas[name] = rep
        self._new_session(rep)
        self.told.pop(name, None)

    def _new_session(self, rep: Replica) -> None:
        rep.session_id = self.world.zk.open_session(rep.name, self.world.now)
        rep.contending = rep.leading_thread = False
        rep.inbox.append(("session", "CONNECTED"))
        self.told.pop(rep.name, None)

    def connected(self, rep: Replica) -> bool:
        """Its process runs (or is frozen: the socket buffers), linked, its session live."""
        return rep.alive and rep.linked and self.world.zk.live(rep.session_id)

    def reconnect(self, rep: Replica) -> None:
        """kazoo after a freeze or a partition: the same session if it is still live, else
        LOST (the election thread resigns too) and a new one."""
        if self.world.zk.live(rep.session_id):
            rep.inbox.append(("session", "CONNECTED"))
            self.told.pop(rep.name, None)
            return
        rep.inbox.append(("session", "LOST"))
        if rep.leading_thread:
            rep.inbox.append(("lost",))
        self._new_session(rep)

    def kill(self, name: str) -> None:
        rep = self.replicas[name]
        rep.alive = False
        for task in rep.tasks.values():  # what was sent is still on its way
            if task.pending is not None and isinstance(task.pending, WRITES):
                self.world.orphans.append((task.pending, rep.session_id, rep.linked))
        rep.tasks.clear()
        rep.inbox.clear()

    def advance(self, seconds: float) -> None:
        world = self.world
        world.now += seconds
        for session in world.zk.sessions.values():
            if not session.alive:
                continue
            owner = self.replicas[session.owner]
            if owner.session_id == session.id and owner.runs and owner.linked:
                session.last_heard = world.now  # kazoo pings through the interval
            elif world.now - session.last_heard >= session.timeout:
                world.zk.expire(session.id)
                world.note(f"session {session.id} of {session.owner} expired")
        for rep in self.replicas.values():
            for gone in [n for n in rep.peers if n not in world.zk.views]:
                del rep.peers[gone]  # the view's ephemeral node went with its session
            self.publish_view(rep)  # the heartbeat

    def elect(self, name: str) -> None:
        """One turn of the election thread (adapters/election.py): contend, or, first in
        line, take the next epoch (bump_epoch_blocking) and tell the loop, naming the
        session that took it."""
        rep, zk = self.replicas[name], self.world.zk
        if not rep.runs or not self.connected(rep) or rep.leading_thread:
            return
        if not rep.contending:
            zk.seq += 1
            zk.contenders.append((zk.seq, name, rep.session_id or 0))
            rep.contending = True
        elif zk.first_contender() == rep.session_id:
            zk.epoch += 1
            zk.leader = name
            self.world.note(f"{name} elected, epoch {zk.epoch}")
            rep.leading_thread = True
            rep.inbox.append(("gained", zk.epoch, rep.session_id))

    # --- watches, views, probes ---------------------------------------------------------

    def notify(self) -> None:
        """Watch notifications: each connected replica hears every change of the decision,
        the requests and the epoch node, in order."""
        zk = self.world.zk
        requests = tuple(sorted((rid, v) for rid, (_, v) in zk.switchovers.items()))
        now = (zk.version, requests, zk.epoch)
        for rep in self.replicas.values():
            if not self.connected(rep) or self.told.get(rep.name) == now:
                continue
            before = self.told.get(rep.name, (-2, (), -1))
            self.told[rep.name] = now
            if zk.version != before[0]:
                rep.inbox.append(("decision", zk.decision, zk.version))
            for rid, version in requests:
                if (rid, version) not in before[1]:
                    rep.inbox.append(("switchover", rid, zk.switchovers[rid][0], version))
            if zk.epoch != before[2]:
                rep.inbox.append(("epoch", zk.epoch))

    def handle(self, rep: Replica, item: tuple[object, ...]) -> None:
        """The event loop runs one callback: a watch, a session change, the election."""
        kind = item[0]
        if kind == "decision":
            decided = item[1]
            assert decided is None or isinstance(decided, Decided)
            rep.on_decision(decided, int(str(item[2])))
        elif kind == "switchover":
            rid, record, version = item[1], item[2], int(str(item[3]))
            known = rep.service.switchovers.get(str(rid))
            if known is None or version >= known[1]:
                rep.service.switchovers[str(rid)] = (record, version)  # type: ignore[assignment]
        elif kind == "epoch":
            rep.on_epoch_node(int(str(item[1])))
        elif kind == "session":
            rep.on_session(str(item[1]))
        elif kind == "gained":
            rep.on_gained(int(str(item[1])), int(str(item[2])))
        elif kind == "lost":
            rep.on_lost()
        rep.evaluate()

    def publish_view(self, rep: Replica) -> None:
        """PeerViews.publish and .heard: a view counts from when each replica received it."""
        zk = self.world.zk
        if not rep.runs or not self.connected(rep) or rep.session_id is None:
            return
        view = rep.own_view()
        zk.views[rep.name] = (view, rep.session_id)
        for other in self.replicas.values():
            if other is not rep and other.runs and self.connected(other):
                other.peers[rep.name] = (view, self.world.now)

    def probe(self, name: str, member: str) -> None:
        rep = self.replicas[name]
        if not rep.runs:
            return
        health = self.world.members[member].health
        if rep.health[member] is not health:
            rep.health[member] = health
            self.world.note(f"{name} sees {member} {health}")
            self.publish_view(rep)
        rep.evaluate()

    def runnable(self, name: str) -> list[tuple[str, int]]:
        """What the replica's loop could run next: its oldest callback, or a task whose
        pending op arrives."""
        rep = self.replicas[name]
        if not rep.runs:
            return []
        out = [("inbox", 0)] if rep.inbox else []
        return out + [("task", tid) for tid, t in sorted(rep.tasks.items())
                      if t.pending is not None]

    def run(self, name: str, what: tuple[str, int], fate: str) -> None:
        rep = self.replicas[name]
        if what[0] == "inbox":
            self.handle(rep, rep.inbox.popleft())
        elif what[1] in rep.tasks:
            rep.deliver(what[1], fate)
        self.publish_view(rep)  # recovery started or ended: PeerViews.dirty

    def deliver_orphan(self, index: int, fate: str) -> None:
        op, session, linked = self.world.orphans.pop(index)
        with contextlib.suppress(Exception):  # nobody awaits the answer any more
            self.world.perform(op, session, linked, "ok" if fate == "late" else fate)

    # --- the end of a run -----------------------------------------------------------------

    def settle(self, seconds: float) -> bool:
        """Every fault healed (the members' excepted), every message in flight landed, then
        the cluster runs on its own for ``seconds``: does Redis hold ZooKeeper's decision?"""
        from tests.sim.runners import reconcile

        while self.world.orphans:
            self.deliver_orphan(0, "ok")
        for name, rep in list(self.replicas.items()):
            if not rep.alive:
                self.start(name)
            elif rep.frozen or not rep.linked:
                rep.frozen, rep.linked = False, True
                self.reconnect(rep)
        end = self.world.now + seconds
        while self.world.now < end:
            for name, rep in self.replicas.items():
                self.elect(name)
                for what in self.runnable(name):
                    self.run(name, what, "ok")
                for member in self.world.members:
                    self.probe(name, member)
                if rep.may_act and not rep.tasks:
                    rep.spawn(reconcile(rep), "reconcile-pass")
            self.notify()
            self.advance(0.25)
            route, decided = self.world.redis.route, self.world.zk.decision
            if decided is not None and route is not None and (
                    (route.primary, route.version) == (decided.primary, decided.version)):
                return True
        return False
