"""The other replicas' views, as this replica hears them, and the publishing of its own.

A view votes for VIEW_TTL from when *this* replica received it; its sender's heartbeat
renews it. A frozen replica's ephemeral node outlives its truth (until ZooKeeper expires
its session): its view must stop voting long before that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from controller.adapters.zookeeper import ZkStore, node_name
from controller.core.errors import StoreError
from controller.core.views import ReplicaView, Votes, count
from controller.events import Event

VIEW_HEARTBEAT = 0.5  # a replica re-sends its view at least this often
VIEW_TTL = 3 * VIEW_HEARTBEAT

class PeerViews:
    def __init__(self, zk: ZkStore, node_id: str, on_change: Callable[[], None]) -> None:
        self._zk, self._node_id, self._own = zk, node_id, node_name(node_id)
        self._on_change = on_change  # a vote changed, or a view came, went or aged out
        self._views: dict[str, ReplicaView] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}  # pending: the view still votes
        self.dirty = asyncio.Event()  # set: publish our own view now
        self._log = structlog.get_logger("views").bind(node=node_id)

    def heard(self, node: str, raw: object | None) -> None:
        """A replica's view node changed (``None``: it went)."""
        if node == self._own:
            return
        view = None if raw is None else ReplicaView.from_json(raw, node)
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
