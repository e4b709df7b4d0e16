"""Interleavings the simulation found, replayed step by step as regression tests."""

from __future__ import annotations

from controller.core.plan import Work
from controller.core.steps import Hook
from controller.core.switchover import Phase, Switchover
from tests.sim import runners
from tests.sim.cluster import REPLICAS, Cluster
from tests.sim.replica import Replica
from tests.sim.world import (
    CheckEpoch,
    CommitDecision,
    Publish,
    ReadRoute,
    Route,
    SendHook,
    Wait,
)


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


def test_a_session_lives_a_timeout_past_its_last_request() -> None:
    # The model's own fault, found while explaining the failure replayed below: its
    # ZooKeeper counted a session as heard only on the clock's heartbeats, not on requests,
    # so a replica thawed after 2.5 s, whose gate then checked the epoch, and which was then
    # cut off, lost its session 0.5 s later, inside the lease that check began. ZooKeeper
    # resets a session's expiry on every request, so the lease (a third of the timeout,
    # counted from the check's send) always ends first.
    c = Cluster()
    leader = settle_leader(c)
    session, epoch = leader.session_id, leader.epoch
    assert epoch is not None
    leader.frozen = True
    c.advance(2.5)  # frozen: no heartbeat; the granted timeout is 3 s
    leader.frozen = False
    c.reconnect(leader)
    c.world.perform(CheckEpoch(epoch), session, True, "ok")  # the gate's check
    leader.linked = False
    c.advance(0.5)
    assert c.world.zk.live(session)
    c.advance(2.5)
    assert not c.world.zk.live(session)


def test_a_check_answered_on_a_new_session_starts_no_lease() -> None:
    # Found by the simulation (invariant 5): a leader paused past its session; kazoo opened
    # a new one; before the loss reached the loop, a task's gate asked ZooKeeper over the
    # new session, found the epoch still its own and took a lease; the next leader was
    # elected at once (our lock went with the old session), and the lease let a fence of
    # the old epoch through after the new one existed. The check now counts only on the
    # session that took the epoch (ZkStore.check_epoch).
    c = Cluster()
    leader = settle_leader(c)
    old_session = leader.session_id
    leader.frozen = True
    c.advance(3.0)  # the granted timeout: the session expires
    leader.frozen = False
    c.reconnect(leader)  # LOST waits in its inbox; the client has a new session
    assert leader.session_id != old_session and leader.may_act
    leader.spawn(runners.publish(leader), "reconcile-pass")
    (task,) = leader.tasks.values()
    assert isinstance(task.pending, CheckEpoch)  # the lease ran out while it was paused
    lease = leader.lease
    c.run(leader.name, ("task", task.id), "ok")  # answered on the new session
    assert leader.lease == lease  # not renewed
    assert not leader.may_act and not leader.tasks  # fenced: it stepped down
    assert not c.world.violations


def test_a_route_write_sent_before_a_flushall_does_not_land_after_it() -> None:
    # Found by the simulation (invariant 1): a route write that passed its gate before a
    # FLUSHALL met no stored epoch when it landed, so a deposed leader's older route could
    # come back. Only a writer that read the route as missing may create it now.
    c = Cluster()
    leader = settle_leader(c)
    leader.spawn(runners.publish(leader), "reconcile-pass")
    (task,) = leader.tasks.values()
    assert isinstance(task.pending, Publish) and not task.pending.create
    c.world.flushall()
    c.run(leader.name, ("task", task.id), "ok")  # lands: refused as missing
    assert c.world.routes[-1] is None  # nothing landed after the flush
    assert isinstance(task.pending, ReadRoute)  # the repair reads first
    c.run(leader.name, ("task", task.id), "ok")
    assert isinstance(task.pending, Publish) and task.pending.create


def test_a_promote_that_timed_out_is_fenced_before_the_next_candidate() -> None:
    # The failover machine's fallback (core/failover.py): b's promote times out and lands
    # later; b is fenced (a higher (epoch, seq)) before c is promoted, so the late promote
    # is refused. Without that fence b would act as primary beside c, and the decision,
    # whose write-ahead for c no longer marks b, would not know.
    c = Cluster()
    leader = settle_leader(c)
    c.world.members["a"].alive = False
    for name in REPLICAS:
        c.probe(name, "a")
    leader.evaluate()  # the leader fails over to b, c as its fallback
    run_until(c, leader, lambda op: isinstance(op, SendHook) and op.hook is Hook.PROMOTE)
    task = leader.tasks[leader.service.tasks[Work.RECOVERY]]
    c.run(leader.name, ("task", task.id), "late")  # b's promote times out, still in flight
    while Work.RECOVERY in leader.service.tasks:
        task = leader.tasks[leader.service.tasks[Work.RECOVERY]]
        c.run(leader.name, ("task", task.id), "ok")
    c.deliver_orphan(0, "ok")  # the late promote lands now
    decision = c.world.zk.decision
    assert decision is not None and decision.primary == "c", c.world.tail()
    assert not c.world.members["b"].primary, c.world.tail()


def test_a_primary_that_refuses_its_fence_and_still_answers_stops_the_failover() -> None:
    # The failover machine's first safety step (core/failover.py): the degraded primary
    # still answers, so a fence it refuses leaves it able to take writes; no other member
    # is promoted, and the attempt fails.
    c = Cluster()
    leader = settle_leader(c)
    a = c.world.members["a"]
    a.degraded, a.fence_broken = True, True
    for name in REPLICAS:
        c.probe(name, "a")
    leader.evaluate()  # a quorum sees the primary failing: the leader fails over
    assert Work.RECOVERY in leader.service.tasks
    while Work.RECOVERY in leader.service.tasks:
        task = leader.tasks[leader.service.tasks[Work.RECOVERY]]
        c.run(leader.name, ("task", task.id), "ok")
    assert c.world.promotes == [], c.world.tail()
    decision = c.world.zk.decision
    assert decision is not None and decision.primary == "a" and a.primary
    assert leader.service.last_failed_attempt == c.world.now


def test_a_failover_publishes_its_route_itself() -> None:
    # The failover machine ends with the publish: Redis names the new primary as soon as
    # the failover is done, not at the next reconcile.
    c = Cluster()
    leader = settle_leader(c)
    c.world.members["a"].alive = False
    for name in REPLICAS:
        c.probe(name, "a")
    leader.evaluate()
    while Work.RECOVERY in leader.service.tasks:
        task = leader.tasks[leader.service.tasks[Work.RECOVERY]]
        c.run(leader.name, ("task", task.id), "ok")
    route, decision = c.world.redis.route, c.world.zk.decision
    assert decision is not None and decision.primary == "b"
    assert route is not None and (route.primary, route.version) == ("b", decision.version)


def test_taking_office_republishes_the_route_under_the_new_epoch() -> None:
    # The taking-office machine (core/takeoffice.py) republishes every route under its
    # epoch before it acts: a proxy sees the new leader's fence at once, not at the next
    # reconcile. Then a new leader's epoch raises it again.
    c = Cluster()
    leader = settle_leader(c)
    decision = c.world.zk.decision
    assert decision is not None
    first = leader.epoch
    assert first is not None and c.world.redis.route == Route("a", first, decision.version)
    leader.step_down()
    successor = settle_leader(c)
    assert successor.epoch is not None and successor.epoch > first
    assert c.world.redis.route == Route("a", successor.epoch, decision.version)


def test_taking_office_loads_the_stored_requests() -> None:
    # The taking-office machine loads every stored request: a leader whose watches have
    # not told it of one (a new session, a watch not yet fired) still resumes it.
    c = Cluster()
    leader = settle_leader(c)
    request = Switchover(id="r9", service="web", requested_by="operator:test",
                         requested_at=c.world.now, at=c.world.now + 3600.0,
                         phase=Phase.SCHEDULED)
    c.world.zk.switchovers[request.id] = (request, 0)  # stored; no watch has fired
    leader.step_down()
    for _ in range(12):  # elections and tasks only: no watch notifications
        for name in REPLICAS:
            c.elect(name)
            for what in c.runnable(name):
                c.run(name, what, "ok")
    successor = next(r for r in c.replicas.values() if r.may_act)
    assert successor.service.switchovers.get("r9") == (request, 0)


def test_a_switchover_publishes_its_route_itself() -> None:
    # The switchover's drive (core/switchover_drive.py) publishes right after its commit:
    # Redis names the target before the verify window begins, not at the next reconcile.
    c = Cluster()
    leader = settle_leader(c)
    request = Switchover(id="r1", service="web", requested_by="operator:test",
                         requested_at=c.world.now, to="b")
    c.world.zk.switchovers[request.id] = (request, 0)
    leader.service.switchovers[request.id] = (request, 0)
    leader.evaluate()
    for _ in range(40):
        if Work.SWITCHOVER not in leader.service.tasks:
            break
        task = leader.tasks[leader.service.tasks[Work.SWITCHOVER]]
        if isinstance(task.pending, Wait) and leader.service.decided is not None \
                and leader.service.decided.primary == "b":
            break  # the verify window: the commit and its publish are done
        c.run(leader.name, ("task", task.id), "ok")
    decision, route = c.world.zk.decision, c.world.redis.route
    assert decision is not None and decision.primary == "b", c.world.tail()
    assert route is not None and (route.primary, route.version) == ("b", decision.version)
