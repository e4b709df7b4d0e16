"""What is left of the daemon's sequences kept by hand for the simulation: publishing
(daemon/publishing.py: publish, republish, reconcile) and loading the requests
(Operations.load), one ``yield`` per await. Their decisions come from the core
(core/republish.py); every other sequence the simulation runs is a production machine
(tests/sim/machines.py). What they leave out (logs, metrics) changes no route.
"""

from __future__ import annotations

from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.records import Decided
from controller.core.republish import Next, after_publish, out_of_sync
from controller.core.stored_route import Answer, judge
from tests.sim.replica import Replica, Steps, Task
from tests.sim.world import (
    Publish,
    ReadRoute,
    ReadSwitchovers,
    Route,
    RouteStoreError,
)

# --- publishing.py --------------------------------------------------------------------------


def publish(rep: Replica, create: bool = False) -> Steps:
    """Publisher.publish: the gate, then the newest committed decision under our epoch; a
    route found missing is repaired by a reconcile at once."""
    epoch = rep.epoch
    if epoch is None:
        return None
    try:
        yield from rep.confirm(epoch)
    except NotInOffice:
        return None
    except Fenced:
        rep.step_down()
        return None
    except StoreError:
        return None
    decided = rep.service.decided  # read after the gate
    if decided is None:
        return None
    try:
        outcome = yield Publish(decided, epoch, create, rep.world.flushes)
    except RouteStoreError:
        return None
    follow = after_publish(outcome, create)  # the daemon's decision, from the core
    if follow is Next.JUDGE and judge_stored(rep, epoch, decided) is Answer.STEP_DOWN:
        rep.step_down()
    elif follow is Next.REPAIR:
        yield from repair(rep)
    return outcome


def judge_stored(rep: Replica, epoch: int, decided: Decided) -> Answer:
    """Publisher._judge_stored, against the simulation's stores, which no stranger writes:
    what Redis holds, judged with the newest epoch ZooKeeper handed out."""
    route = rep.world.redis.route
    if route is None:
        return Answer.KEEP
    return judge(str(route.epoch), str(route.version), True, epoch, decided.version,
                 rep.world.zk.epoch).answer


def republish(rep: Replica) -> Steps:
    """Publisher.republish (taking office): read, then publish, creating a missing route."""
    try:
        route: Route | None = yield ReadRoute()
    except RouteStoreError:
        return
    yield from publish(rep, create=route is None)


def repair(rep: Replica) -> Steps:
    """Publisher.reconcile: publish again if Redis does not hold the decision."""
    decided, epoch = rep.service.decided, rep.epoch
    if decided is None or epoch is None:
        return
    try:
        route: Route | None = yield ReadRoute()
    except RouteStoreError:
        return
    if out_of_sync(route, decided, epoch):
        yield from publish(rep, create=route is None)


def reconcile(rep: Replica) -> Task:
    """Engine._reconcile_all (an office task)."""
    from controller.core.plan import Work

    if Work.RECOVERY in rep.service.tasks:
        return
    yield from repair(rep)
    rep.evaluate()


def load(rep: Replica) -> Steps:
    """Operations.load: every stored request."""
    try:
        stored = yield ReadSwitchovers()
    except StoreError:
        return
    for rid, (record, version) in stored.items():
        known = rep.service.switchovers.get(rid)
        if known is None or version >= known[1]:
            rep.service.switchovers[rid] = (record, version)
