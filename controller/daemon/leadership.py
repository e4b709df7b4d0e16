"""Leadership as kazoo reports it: the session's state, gaining and losing the election, a
newer epoch appearing, stepping down, and taking office (bootstrap the decisions, republish
every route under the new epoch, load the requests, evaluate).

Any doubt stops the leader's work at once: SUSPENDED, LOST, a newer epoch, a step-down all
cancel every office task and timer before anything else (``cancel``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.adapters.routes import RouteStore
from controller.adapters.zookeeper import Session, Term, ZkStore
from controller.core import takeoffice
from controller.core.commands import Ending
from controller.core.recovery import EpochFloor, Member
from controller.core.takeoffice import Predecessor, Seat
from controller.daemon.epochs import read_route_epochs
from controller.daemon.interpreter import Interpreter
from controller.daemon.metrics import Metrics
from controller.daemon.office import Leader, Office, Spawn
from controller.daemon.state import ServiceState
from controller.events import Event


class Leadership:
    def __init__(self, *, node_id: str, office: Office, zk: ZkStore, metrics: Metrics,
                 log: Any, services: Mapping[str, ServiceState],
                 cancel: Callable[[str], None], resign: Callable[[], None],
                 interpreter: Callable[[], Interpreter],
                 evaluate_all: Callable[[], None], routes: RouteStore) -> None:
        self._node_id, self._office, self._zk, self._metrics = node_id, office, zk, metrics
        self._log, self._services, self._cancel, self._resign = log, services, cancel, resign
        self._interpreter, self._evaluate_all, self._routes = interpreter, evaluate_all, routes
        # What this replica knows of epochs handed out before (core/recovery.py): the
        # highest seen in ZooKeeper, and the highest in Redis's routes once read.
        self.seen_epoch = 0
        self.redis_epoch: int | None = None
        # ZooKeeper's counter when our epoch found it had lost epochs; recorded in every
        # service's history once in office.
        self._lost_from: int | None = None
        self.leader_info: dict[str, Any] = {}  # the epoch node: the leader's epoch and node
        # The epoch node before leader_info: the watch may show our own epoch before
        # on_gained runs, and the predecessor is then the one before it.
        self._earlier_info: dict[str, Any] = {}
        # Set on gaining office, recorded in history once in office (one entry per service).
        self._predecessor: Predecessor | None = None

    def on_session(self, state: Session) -> None:
        office = self._office
        previous, office.session = office.session, state
        if state == previous:
            return
        # Anything but CONNECTED means this replica may not act: a warning, not news.
        level = self._log.info if state is Session.CONNECTED else self._log.warning
        level(Event.ZOOKEEPER_SESSION, state=state, previous=previous,
                       epoch=office.epoch, granted_timeout=self._zk.granted_session_timeout,
                       lease=round(self._zk.lease_seconds(), 3))
        if state is not Session.CONNECTED:
            # SUSPENDED: we may no longer be leader and cannot know. Stop acting now.
            office.forget_lease()
            self._cancel(f"zookeeper session {state.lower()}")
        elif office.in_office:
            self._evaluate_all()
        elif office.epoch is not None and not office.resigning:
            # Suspended while taking office: that task was cancelled; take office again.
            self._begin(office.epoch)

    def floor(self) -> EpochFloor:
        """Read by the election thread when it takes an epoch (plain ints: no lock)."""
        return EpochFloor(self.seen_epoch, self.redis_epoch)

    def saw_redis_epoch(self, epoch: int) -> None:
        self.redis_epoch = max(self.redis_epoch or 0, epoch)

    async def learn_floor(self, spawn: Spawn) -> None:
        """Read Redis's epochs once, as contending begins; while Redis is out, keep trying in
        the background (no epoch is taken from a counter at 0 until then)."""
        services = list(self._services)
        if not await read_route_epochs(self._routes, services, self.saw_redis_epoch,
                                       self._log):
            spawn(read_route_epochs(self._routes, services, self.saw_redis_epoch, self._log,
                                    retry=1.0), "epoch-floor")

    def on_gained(self, term: Term) -> None:
        epoch = term.epoch
        self.seen_epoch = max(self.seen_epoch, epoch)
        if term.lost_from is not None:
            # An emptied ZooKeeper: its counter was raised past every epoch known here.
            self._lost_from = term.lost_from
            self._metrics.zookeeper_data_lost.inc()
            self._log.error(Event.ZOOKEEPER_DATA_LOST, epoch=epoch, counter=term.lost_from,
                            seen_epoch=self.seen_epoch, redis_epoch=self.redis_epoch)
        self._office.term = term
        self._metrics.is_leader.set(1)
        self._metrics.epoch.set(epoch)
        self._log.info(Event.LEADERSHIP_GAINED, epoch=epoch)
        self._predecessor = predecessor((self.leader_info, self._earlier_info), epoch)
        self._office.resigning = False
        self._begin(epoch)

    def on_lost(self) -> None:
        office = self._office
        if office.epoch is not None:
            self._log.warning(Event.LEADERSHIP_LOST, epoch=office.epoch)
        office.term, office.in_office = None, False
        office.forget_lease()
        office.taking, office.resigning = None, False
        self._metrics.is_leader.set(0)
        self._cancel("leadership lost")

    def on_epoch_node(self, info: dict[str, Any]) -> None:
        if info.get("epoch") != self.leader_info.get("epoch"):
            self._earlier_info = self.leader_info
        self.leader_info = info
        epoch = info.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            return  # not a term (being raised, or unreadable): nothing to compare
        self.seen_epoch = max(self.seen_epoch, epoch)
        self._metrics.epoch.set(max(epoch, self._office.epoch or 0))
        if self._office.epoch is not None and epoch > self._office.epoch:
            self.step_down("a newer epoch exists")

    def step_down(self, why: str) -> None:
        office = self._office
        if office.epoch is None:
            return
        self._log.warning(Event.STEPPING_DOWN, epoch=office.epoch, why=why)
        office.in_office, office.taking, office.resigning = False, None, True
        self._cancel(why)
        self._resign()

    def leader(self) -> Leader:
        # The epoch watch can lag our own election by a moment: never show an older epoch
        # (or another leader) than the one we hold.
        ours = self._office.epoch
        watched = self.leader_info.get("epoch")
        epoch = max(e for e in (watched, ours, 0) if isinstance(e, int))
        node = self._node_id if ours is not None and ours >= epoch \
            else self.leader_info.get("node")
        return Leader(ours is not None, node, epoch or None)

    def _begin(self, epoch: int) -> None:
        self._office.taking = epoch
        self._office.spawn(self._take_office(epoch), "take-office")

    async def _take_office(self, epoch: int) -> None:
        """Bootstrap missing decisions, then (in office) each service's takeover, evaluate:
        core/takeoffice.py's sequence, carried out by the interpreter."""
        seats = tuple(Seat(s.config.name, tuple(Member(m.name, m.address, m.fence is not None)
                                                for m in s.config.members), s.remembered())
                      for s in self._services.values())
        machine = takeoffice.begin(epoch, seats, self._predecessor, time.time(),
                                   self._lost_from)
        machine = await self._interpreter().run(machine, takeoffice.command_for,
                                                takeoffice.step, None, epoch, self._log)
        assert machine.outcome is not None
        match machine.outcome.ending:
            case Ending.DONE:
                self._evaluate_all()
            case Ending.FENCED:
                self.step_down("fenced during takeover")
            case Ending.STORE_FAILED | Ending.CONFLICT:
                self._log.error(Event.TAKEOVER_FAILED, epoch=epoch, error=machine.outcome.detail)
                self.step_down("takeover failed")

    def enter_office(self, epoch: int) -> bool:
        """In office under ``epoch``, if this replica still holds it."""
        if not self._office.holds(epoch):
            return False
        self._office.in_office, self._office.taking = True, None
        self._log.info(Event.IN_OFFICE, epoch=epoch)
        # Only the replica taking office records the change (the machine, once per
        # service): a deposed leader is often cut off from Redis too, and its successor's
        # entry already names it and its epoch. Not again when retaking office after a
        # suspension.
        self._predecessor, self._lost_from = None, None
        return True


def predecessor(seen: Sequence[Mapping[str, Any]], epoch: int) -> Predecessor:
    """The leader before ``epoch``: the newest epoch node this replica saw below it (its
    epoch says whether one was missed in between); unknown if it saw none."""
    earlier = [info for info in seen if isinstance(info.get("epoch"), int)
               and info["epoch"] < epoch]
    if not earlier:
        return Predecessor(None, None)
    newest = max(earlier, key=lambda info: int(info["epoch"]))
    node = newest.get("node")
    return Predecessor(node if isinstance(node, str) else None, int(newest["epoch"]))
