"""Interleavings the simulation found, replayed step by step as regression tests."""

from __future__ import annotations

from controller.core.plan import Work
from tests.sim.cluster import REPLICAS, Cluster
from tests.sim.replica import Replica
from tests.sim.world import CheckEpoch, CommitDecision


def settle_leader(c: Cluster) -> Replica:
    """Run every replica until one is in office and everyone sees every member."""
    for _ in range(12):
        for name in REPLICAS:
            c.elect(name)
            for what in c.runnable(name):
                c.run(name, what, "ok")
            for member in c.world.members:
                c.probe(name, member)
        c.notify()
    leader = next(r for r in c.replicas.values() if r.may_act)
    assert leader.service.decided is not None and leader.service.decided.primary == "a"
    return leader


def run_until(c: Cluster, rep: Replica, done: object) -> None:
    """Deliver the failover task's ops, one at a time, until ``done(op)`` says stop."""
    for _ in range(20):
        task = rep.tasks[rep.service.tasks[Work.RECOVERY]]
        assert callable(done)
        if done(task.pending):
            return
        c.run(rep.name, ("task", task.id), "ok")
    raise AssertionError("the failover never got there")


def test_a_promote_is_not_sent_to_a_member_seen_failing_while_the_gate_asked_zookeeper() -> None:
    # Found by the simulation (invariant 3): the hook runner checked the target's health,
    # then its gate asked ZooKeeper (the lease had run out), a probe saw the target fail
    # meanwhile, and the promote went out anyway. daemon/hooks.py now checks again after
    # the gate, on the turn the hook goes out.
    c = Cluster()
    leader = settle_leader(c)
    c.world.members["a"].alive = False
    for name in REPLICAS:
        c.probe(name, "a")
    leader.evaluate()  # a quorum sees the primary down: the leader fails over to b
    run_until(c, leader, lambda op: isinstance(op, CommitDecision))  # b's write-ahead
    c.advance(1.5)  # the lease (a third of the 3 s granted) runs out meanwhile
    run_until(c, leader, lambda op: isinstance(op, CheckEpoch))  # the promote's gate
    c.world.members["b"].alive = False
    c.probe(leader.name, "b")  # b is seen down while ZooKeeper answers the gate
    task = leader.tasks[leader.service.tasks[Work.RECOVERY]]
    c.run(leader.name, ("task", task.id), "ok")
    assert c.world.promotes == [], c.world.tail()
