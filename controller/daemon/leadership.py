"""Leadership as kazoo reports it: the session's state, gaining and losing the election, a
newer epoch appearing, stepping down, and taking office (bootstrap the decisions, republish
every route under the new epoch, load the requests, evaluate).

Any doubt stops the leader's work at once: SUSPENDED, LOST, a newer epoch, a step-down all
cancel every office task and timer before anything else (``cancel``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from controller.adapters.zookeeper import Session, ZkStore
from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.records import Decided
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
                 evaluate_all: Callable[[], None]) -> None:
        self._node_id, self._office, self._zk, self._metrics = node_id, office, zk, metrics
        self._log, self._services, self._cancel, self._resign = log, services, cancel, resign
        self._on_decision, self._take, self._evaluate_all = on_decision, take_office, evaluate_all
        self.leader_info: dict[str, Any] = {}  # the epoch node: the leader's epoch and node

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

    def on_gained(self, epoch: int) -> None:
        self._office.epoch = epoch
        self._metrics.is_leader.set(1)
        self._metrics.epoch.set(epoch)
        self._log.info(Event.LEADERSHIP_GAINED, epoch=epoch)
        self._office.resigning = False
        self._begin(epoch)

    def on_lost(self) -> None:
        office = self._office
        if office.epoch is not None:
            self._log.warning(Event.LEADERSHIP_LOST, epoch=office.epoch)
        office.epoch, office.in_office = None, False
        office.forget_lease()
        office.taking, office.resigning = None, False
        self._metrics.is_leader.set(0)
        self._cancel("leadership lost")

    def on_epoch_node(self, info: dict[str, Any]) -> None:
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
        for state in self._services.values():
            await self._take(state)
        self._evaluate_all()

    async def _bootstrap(self, state: ServiceState, epoch: int) -> None:
        """The first listed member is the initial primary, written once, fenced."""
        name = state.config.name
        first = state.config.members[0]
        initial = Decided(primary=first.name, address=first.address, epoch=epoch, version=1,
                          reason="initial", updated_at=time.time())
        await self._office.confirm(epoch)
        if await self._zk.create_decision(name, initial, epoch):
            self._log.info(Event.BOOTSTRAPPED, service=name, primary=first.name, epoch=epoch)
        current = await self._zk.read_decision(name)
        if current is not None:
            self._on_decision(name, *current)
