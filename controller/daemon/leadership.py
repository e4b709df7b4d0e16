"""Leadership as kazoo reports it: the session's state, gaining and losing the election, a
newer epoch appearing, stepping down, and taking office (bootstrap the decisions, republish
every route under the new epoch, load the requests, evaluate).

Any doubt stops the leader's work at once: SUSPENDED, LOST, a newer epoch, a step-down all
cancel every office task and timer before anything else (``cancel``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.adapters.zookeeper import Session, Term, ZkStore
from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.records import Decided, RouteReason
from controller.daemon.metrics import Metrics
from controller.daemon.office import Leader, Office
from controller.daemon.state import ServiceState
from controller.events import Event


class Leadership:
    def __init__(self, *, node_id: str, office: Office, zk: ZkStore, metrics: Metrics,
                 log: Any, services: Mapping[str, ServiceState],
                 cancel: Callable[[str], None], resign: Callable[[], None],
                 on_decision: Callable[[str, Decided | None, int], None],
                 take_office: Callable[[ServiceState], Awaitable[None]],
                 evaluate_all: Callable[[], None],
                 record: Callable[..., Coroutine[Any, Any, None]]) -> None:
        self._node_id, self._office, self._zk, self._metrics = node_id, office, zk, metrics
        self._log, self._services, self._cancel, self._resign = log, services, cancel, resign
        self._on_decision, self._take, self._evaluate_all = on_decision, take_office, evaluate_all
        self._record = record
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
        self._log.info(Event.ZOOKEEPER_SESSION, state=state, previous=previous,
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

    def on_gained(self, term: Term) -> None:
        epoch = term.epoch
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
        if isinstance(info.get("epoch"), int):
            self._metrics.epoch.set(max(info["epoch"], self._office.epoch or 0))
        if self._office.epoch is not None and info.get("epoch", 0) > self._office.epoch:
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
        """Bootstrap missing decisions, then (in office) each service's takeover, evaluate."""
        try:
            for state in self._services.values():
                await self._bootstrap(state, epoch)
        except Fenced:
            self.step_down("fenced during takeover")
            return
        except NotInOffice:
            return
        except StoreError as exc:
            self._log.error(Event.TAKEOVER_FAILED, epoch=epoch, error=str(exc))
            self.step_down("takeover failed")
            return
        if not self._office.holds(epoch):
            return
        self._office.in_office, self._office.taking = True, None
        self._log.info(Event.IN_OFFICE, epoch=epoch)
        # Only the replica taking office records the change: a deposed leader is often cut
        # off from Redis too, and its successor's entry already names it and its epoch.
        before, self._predecessor = self._predecessor, None
        for state in self._services.values():
            if before is not None:  # not again when retaking office after a suspension
                self._office.spawn(self._record(
                    state, "leadership_changed", previous_leader=before.node,
                    previous_epoch=before.epoch), "history")
            await self._take(state)
        self._evaluate_all()

    async def _bootstrap(self, state: ServiceState, epoch: int) -> None:
        """The first listed member is the initial primary, written once, fenced."""
        name = state.config.name
        first = state.config.members[0]
        initial = Decided(primary=first.name, address=first.address, epoch=epoch, version=1,
                          reason=RouteReason.INITIAL, updated_at=time.time())
        await self._office.confirm(epoch)
        if await self._zk.create_decision(name, initial, epoch):
            self._log.info(Event.BOOTSTRAPPED, service=name, primary=first.name, epoch=epoch)
        current = await self._zk.read_decision(name)
        if current is not None:
            self._on_decision(name, *current)


@dataclass(frozen=True, slots=True)
class Predecessor:
    node: str | None
    epoch: int | None


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
