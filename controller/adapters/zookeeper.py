"""ZooKeeper: the authoritative decisions and the leadership epoch. With zk_connection.py (the
client and its plumbing), zk_epoch.py (the epoch node) and election.py, the only modules
that import kazoo; kazoo errors leave them as StoreError, Fenced or Conflict.

Layout under ``{root}/{cluster}``::

    leader/                    election contenders (kazoo's Election recipe)
    epoch                      {"epoch", "node", "at"}; its znode version *is* the epoch
    services/{name}/decision   a Decided record (records.py)
    services/{name}/control    an operator's Pause (records.py), absent when not paused
    services/{name}/switchovers/sw-NNNNNNNNNN
                               operator switchover requests and their progress
                               (switchover.py); the znode name is the request id
    views/{node}               ephemeral: one replica's verdict on every member (quorum)

kazoo runs its own threads. Blocking calls here are only made from those threads (the
election thread); the event loop uses kazoo's ``*_async`` calls, whose completion callbacks
are bridged back with ``call_soon_threadsafe``, and every await has a timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kazoo.exceptions import NodeExistsError, NoNodeError

from controller.adapters.zk_connection import Session, SessionListener
from controller.adapters.zk_epoch import Term, ZkEpoch
from controller.core.errors import Conflict
from controller.core.records import Decided, Pause, RecordError
from controller.core.switchover import Switchover

__all__ = ["Session", "SessionListener", "Term", "ZkStore", "node_name"]


class ZkStore(ZkEpoch):
    """The records: the epoch, each service's decision, pause and switchover requests, and
    the replicas' views (the layout above), each read and written as the daemon needs."""

    # --- decisions ----------------------------------------------------------------------

    def decision_path(self, service: str) -> str:
        return f"{self.base}/services/{service}/decision"

    async def read_decision(self, service: str) -> tuple[Decided, int] | None:
        """The committed decision and its znode version, or None if there is none yet."""
        try:
            raw, stat = await self._await(self.client.get_async(self.decision_path(service)))
        except NoNodeError:
            return None
        return _parse(raw), stat.version

    async def create_decision(self, service: str, decided: Decided, epoch: int) -> bool:
        """Create the first decision if there is none (deterministic bootstrap); fenced.

        Returns False when a decision already existed (then nothing was written).
        """
        path = self.decision_path(service)
        parent = path.rsplit("/", 1)[0]
        try:
            await self._await(self.client.create_async(parent, b""))
        except NodeExistsError:
            pass
        tx = self.client.transaction()
        tx.check(self.epoch_path, epoch)
        tx.create(path, decided.to_json())
        try:
            await self._commit(tx)
        except Conflict:
            return False
        return True

    async def commit_decision(
        self, service: str, decided: Decided, epoch: int, znode_version: int,
        switchover: tuple[Switchover, int] | None = None,
    ) -> tuple[int, int | None]:
        """Replace the decision iff our epoch is current and nobody changed it since we read
        it (znode_version); with ``switchover`` (record, its znode version), save that
        record in the same transaction. Returns the new znode versions."""
        tx = self.client.transaction()
        tx.check(self.epoch_path, epoch)
        tx.set_data(self.decision_path(service), decided.to_json(), version=znode_version)
        if switchover is not None:
            record, version = switchover
            tx.set_data(self.switchover_path(service, record.id), record.to_json(),
                        version=version)
        results = await self._commit(tx)
        return int(results[1].version), (int(results[2].version) if switchover else None)

    async def watch_decision(self, service: str,
                             callback: Callable[[Decided | None, int], None]) -> None:
        def changed(raw: bytes | None, version: int) -> None:
            try:
                callback(_parse(raw) if raw else None, version)
            except RecordError:
                callback(None, version)

        await self._watch(self.decision_path(service), changed)

    # --- operator state: pause and switchover requests -----------------------------------

    def control_path(self, service: str) -> str:
        return f"{self.base}/services/{service}/control"

    def switchovers_path(self, service: str) -> str:
        return f"{self.base}/services/{service}/switchovers"

    def switchover_path(self, service: str, request_id: str) -> str:
        return f"{self.switchovers_path(service)}/{request_id}"

    async def set_pause(self, service: str, pause: Pause) -> None:
        """Pause (or extend a pause). Any replica may: it is an operator's order, not a
        leader's decision, and the leader only reads it."""
        path, raw = self.control_path(service), pause.to_json()
        try:
            await self._await(self.client.set_async(path, raw))
        except NoNodeError:
            try:
                await self._await(self.client.create_async(path, raw, makepath=True))
            except NodeExistsError:
                await self._await(self.client.set_async(path, raw))

    async def clear_pause(self, service: str, expected: Pause | None = None) -> bool:
        """Resume. With ``expected``, only if the stored pause is still that one (an expiry
        must not undo a newer pause). Returns whether a pause was removed."""
        path = self.control_path(service)
        try:
            raw, stat = await self._await(self.client.get_async(path))
            if expected is not None and _pause_or_none(raw) != expected:
                return False
            await self._await(self.client.delete_async(path, version=stat.version))
        except NoNodeError:
            return False
        except Conflict:  # changed meanwhile: a newer pause (or a resume) wins
            return False
        return True

    async def watch_pause(self, service: str, callback: Callable[[Pause | None], None]) -> None:
        await self._watch(self.control_path(service),
                          lambda raw, _version: callback(_pause_or_none(raw)))

    async def create_switchover(self, service: str, record: Switchover) -> str:
        """Store a new request; returns its id (the sequential znode's name)."""
        prefix = f"{self.switchovers_path(service)}/sw-"
        path: str = await self._await(self.client.create_async(
            prefix, record.to_json(), sequence=True, makepath=True))
        return path.rsplit("/", 1)[1]

    async def read_switchovers(self, service: str) -> dict[str, tuple[Switchover, int]]:
        """Every stored request of ``service``: id -> (record, znode version)."""
        try:
            children = await self._await(self.client.get_children_async(
                self.switchovers_path(service)))
        except NoNodeError:
            return {}
        out = {}
        for child in sorted(children):
            try:
                raw, stat = await self._await(self.client.get_async(
                    self.switchover_path(service, child)))
            except NoNodeError:
                continue
            record = _switchover_or_none(child, raw)
            if record is not None:
                out[child] = (record, stat.version)
        return out

    async def read_switchover(self, service: str, request_id: str
                              ) -> tuple[Switchover, int] | None:
        """One stored request and its znode version, or None."""
        try:
            raw, stat = await self._await(self.client.get_async(
                self.switchover_path(service, request_id)))
        except NoNodeError:
            return None
        record = _switchover_or_none(request_id, raw)
        return None if record is None else (record, stat.version)

    async def save_switchover(self, service: str, record: Switchover, epoch: int,
                              version: int) -> int:
        """The leader's progress on a request: fenced by the epoch, compare-and-set on the
        record. Returns the new znode version."""
        tx = self.client.transaction()
        tx.check(self.epoch_path, epoch)
        tx.set_data(self.switchover_path(service, record.id), record.to_json(),
                    version=version)
        results = await self._commit(tx)
        return int(results[1].version)

    async def update_switchover(self, service: str, record: Switchover, version: int) -> int:
        """Compare-and-set without an epoch: an operator's cancel, from any replica. Loses
        (Conflict) to a leader that started the request first."""
        try:
            stat = await self._await(self.client.set_async(
                self.switchover_path(service, record.id), record.to_json(), version=version))
        except NoNodeError as exc:
            raise Conflict("the request is gone") from exc
        return int(stat.version)

    async def delete_switchover(self, service: str, request_id: str) -> None:
        try:
            await self._await(self.client.delete_async(
                self.switchover_path(service, request_id)))
        except NoNodeError:
            pass

    async def watch_switchovers(
            self, service: str,
            callback: Callable[[str, Switchover | None, int], None]) -> None:
        """``callback(id, record, znode version)`` on the loop for every request as it is
        created or changes, ``callback(id, None, -1)`` when it is deleted."""
        path = self.switchovers_path(service)
        await self._await(self.client.ensure_path_async(path))
        await self._watch_children(
            path, lambda child, raw, version, _owner: callback(
                child, _switchover_or_none(child, raw) if raw else None, version))

    # --- replicas' views (quorum) -------------------------------------------------------

    async def publish_view(self, node_id: str, view: dict[str, Any]) -> None:
        """Write this replica's verdicts; the node is ephemeral, so it goes when we go."""
        path = f"{self.views_path}/{node_name(node_id)}"
        raw = json.dumps(view, sort_keys=True).encode()
        try:
            await self._await(self.client.set_async(path, raw))
        except NoNodeError:  # first time, a new session, or ZooKeeper lost its data
            try:
                await self._await(self.client.create_async(path, raw, ephemeral=True,
                                                           makepath=True))
            except NodeExistsError:
                await self._await(self.client.set_async(path, raw))

    async def watch_views(
            self, callback: Callable[[str, dict[str, Any] | None, int], None]) -> None:
        """Call ``callback(node, view, owner)`` on the loop for every replica's view as it
        changes (``owner``: the session that holds its ephemeral node, 0 if it is not
        one), and ``callback(node, None, 0)`` when a replica's node goes (it stopped or its
        session expired)."""

        def parsed(child: str, raw: bytes | None, _version: int, owner: int) -> None:
            try:
                view = json.loads(raw) if raw else None
            except (ValueError, RecursionError):
                view = None
            callback(child, view, owner)

        await self._watch_children(self.views_path, parsed)

    async def contenders(self) -> dict[int, str]:
        """Each replica contending for leadership, by the session that holds its election
        node: session id -> its node name (as its view's node is named)."""
        try:
            children = await self._await(self.client.get_children_async(self.leader_path))
        except NoNodeError:
            return {}
        reads = [self._await(self.client.get_async(f"{self.leader_path}/{child}"))
                 for child in children]
        found: dict[int, str] = {}
        for read in await asyncio.gather(*reads, return_exceptions=True):
            if isinstance(read, BaseException):
                continue  # gone meanwhile: a replica that resigned
            data, stat = read
            found[stat.ephemeralOwner] = node_name(data.decode(errors="replace"))
        return found

def node_name(node_id: str) -> str:
    """A replica's node id as one ZooKeeper path segment."""
    return node_id.replace("/", "_") or "_"


def _parse(raw: bytes) -> Decided:
    return Decided.from_json(raw)


def _pause_or_none(raw: bytes | None) -> Pause | None:
    if not raw:
        return None
    try:
        return Pause.from_json(raw)
    except RecordError:
        return None


def _switchover_or_none(request_id: str, raw: bytes | None) -> Switchover | None:
    """A stored request with its id (the znode name); None if unreadable."""
    if not raw:
        return None
    try:
        return replace(Switchover.from_json(raw), id=request_id)
    except ValueError:
        return None
