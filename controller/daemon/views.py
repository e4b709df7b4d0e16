"""The other replicas' views, as this replica hears them, and the publishing of its own.

A view votes for VIEW_TTL from when *this* replica received it; its sender's heartbeat
renews it. A frozen replica's ephemeral node outlives its truth (until ZooKeeper expires
its session): its view must stop voting long before that.

Only a replica's view votes: an ephemeral node (it goes with its session), held by the
session that holds a contender's node in the election, named after that contender, and
saying that name inside. Anyone who may write to ZooKeeper can add nodes under views/; such
a view is refused and said (once per node), never counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from controller.adapters.zookeeper import ZkStore, node_name
from controller.core.errors import StoreError
from controller.core.views import ReplicaView, Votes, count
from controller.events import Event

VIEW_HEARTBEAT = 0.5  # a replica re-sends its view at least this often
VIEW_TTL = 3 * VIEW_HEARTBEAT
ASK_EVERY = 0.2  # seconds between reads of the election's contenders

class PeerViews:
    def __init__(self, zk: ZkStore, node_id: str, on_change: Callable[[], None]) -> None:
        self._zk, self._node_id, self._own = zk, node_id, node_name(node_id)
        self._on_change = on_change  # a vote changed, or a view came, went or aged out
        self._views: dict[str, ReplicaView] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}  # pending: the view still votes
        self.dirty = asyncio.Event()  # set: publish our own view now
        self._log = structlog.get_logger("views").bind(node=node_id)
        self._sessions: dict[int, str] = {}  # contenders' sessions -> their node names
        self._unsure: dict[str, tuple[object, int]] = {}  # views from sessions not yet known
        self._refused: dict[str, str] = {}  # node -> why its view was last refused
        self._asking: asyncio.Task[None] | None = None
        self._asked_at = -ASK_EVERY
        self._unknown_since: dict[str, float] = {}  # node -> when its session was first unknown

    def heard(self, node: str, raw: object | None, owner: int = 0,
              may_ask: bool = True) -> None:
        """A replica's view node changed (``None``: it went); ``owner``: the session that
        holds it (0: a persistent node, no replica's)."""
        if node == self._own:
            return
        view = None if raw is None else ReplicaView.from_json(raw, node)
        if view is None:
            self._unsure.pop(node, None)
            self._unknown_since.pop(node, None)
        else:
            why = self._not_a_replicas(node, view, owner, may_ask)
            if why == "unknown_session":  # judged again once ZooKeeper answers
                self._unsure[node] = (raw, owner)
                return
            if why is not None:
                if self._refused.get(node) != why:
                    self._refused[node] = why
                    self._log.warning(Event.REPLICA_VIEW_REFUSED, replica=node, why=why,
                                      claims=view.node)
                view = None  # as if it went: whatever it said before stops voting too
            else:
                self._refused.pop(node, None)
        timer = self._expiry.pop(node, None)
        if timer is not None:
            timer.cancel()
        previous = self._views.pop(node, None) if timer is not None else None
        if view is None:
            if timer is not None:
                self._log.info(Event.REPLICA_VIEW_GONE, replica=node)
        else:
            if timer is None:
                self._log.info(Event.REPLICA_VIEW_FRESH, replica=node)
            self._views[node] = view
            self._expiry[node] = asyncio.get_running_loop().call_later(
                VIEW_TTL, self._expired, node)
        # A heartbeat that changes no vote changes no decision.
        if previous is None or view is None or previous.what_votes() != view.what_votes():
            self._on_change()

    def _not_a_replicas(self, node: str, view: ReplicaView, owner: int,
                        may_ask: bool) -> str | None:
        if node_name(view.node) != node:
            return "names_another_replica"
        if owner == 0:
            return "not_ephemeral"
        if owner not in self._sessions:
            # A replica that just started (its view may come before its election node), or
            # a stranger's session: not counted while ZooKeeper is asked again, refused
            # once it has not become a contender's within VIEW_TTL.
            first = self._unknown_since.setdefault(node, time.monotonic())
            if time.monotonic() - first < VIEW_TTL:
                if may_ask:
                    self._ask()
                return "unknown_session"
            return "not_a_contenders_session"
        self._unknown_since.pop(node, None)
        if self._sessions[owner] != node:
            return "session_of_another_replica"
        return None

    def _ask(self) -> None:
        """Read the election's contenders again, then judge the views that came from a
        session not known yet. At most one read at a time and one per ASK_EVERY (a
        stranger's view, refreshed often, must not become a load on ZooKeeper)."""
        now = time.monotonic()
        if self._asking is not None or now - self._asked_at < ASK_EVERY:
            return
        self._asked_at = now

        async def ask() -> None:
            try:
                self._sessions = await self._zk.contenders()
            except StoreError as exc:
                self._log.debug(Event.VIEW_PUBLISH_FAILED, error=str(exc))
            finally:
                self._asking = None
            unsure, self._unsure = self._unsure, {}
            for node, (raw, owner) in unsure.items():
                self.heard(node, raw, owner, may_ask=False)

        self._asking = asyncio.get_running_loop().create_task(ask(), name="view-sessions")

    def _expired(self, node: str) -> None:
        self._expiry.pop(node, None)
        self._views.pop(node, None)
        self._log.warning(Event.REPLICA_VIEW_STALE, replica=node, ttl=VIEW_TTL)
        self._on_change()

    def live(self) -> list[ReplicaView]:
        """The other replicas' views that still vote."""
        return list(self._views.values())

    def verdicts(self, service: str, member: str, own: str) -> dict[str, str]:
        """Each live replica's verdict on one member, ours (``own``) included."""
        seen = {self._node_id: own}
        for view in self.live():
            seen[view.node] = view.verdict(service, member)
        return seen

    def votes(self, service: str, member: str, own: str) -> Votes:
        return count(self.verdicts(service, member, own).values())

    def configs(self, service: str) -> list[str | None]:
        """Each live replica's digest of ``service``'s config (None: it publishes none)."""
        return [view.configs.get(service) for view in self.live()]

    def recovering(self, service: str) -> bool:
        """Does a live replica (the leader, seen from a follower) say it is recovering it?"""
        return any(service in view.recovering for view in self.live())

    async def publish(self, own_view: Callable[[], ReplicaView]) -> None:
        """Publish our view when it changes (at most one write in flight) and at least every
        VIEW_HEARTBEAT, which also recreates the ephemeral node after a new session."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dirty.wait(), VIEW_HEARTBEAT)
            self.dirty.clear()
            try:
                await self._zk.publish_view(self._node_id, own_view().to_json())
            except StoreError as exc:
                self._log.debug(Event.VIEW_PUBLISH_FAILED, error=str(exc))
            except Exception as exc:  # a heartbeat that dies silences our vote for good
                self._log.error(Event.VIEW_PUBLISH_FAILED, error=repr(exc), exc_info=exc)
