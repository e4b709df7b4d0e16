"""The leadership epoch in ZooKeeper: taking the next one (raised past every epoch known
when ZooKeeper has lost its data, core/recovery.py), confirming that ours is current, and
watching it. Part of ZkStore (zookeeper.py); the epoch node's version *is* the epoch.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kazoo.exceptions import NoNodeError

from controller.adapters.zk_connection import ZkConnection, describe
from controller.core.errors import Fenced, StoreError
from controller.core.recovery import EpochFloor, next_epoch


class Term(NamedTuple):
    """An epoch we took, and the session that took it (and holds our election lock)."""

    epoch: int
    session: int
    # Set when ZooKeeper had lost epochs: its counter before we raised it to the floor.
    lost_from: int | None = None


# Versions raised per transaction when an emptied ZooKeeper's counter is brought up to the
# floor (each op is ~100 bytes; ZooKeeper takes requests up to about 1 MB).
RAISE_BATCH = 1000


class ZkEpoch(ZkConnection):
    """The epoch node: taken, confirmed and watched."""

    def bump_epoch_blocking(self, node_id: str, lock_node: str, floor: EpochFloor) -> Term:
        """Take the next epoch; called by the election thread only, once it holds the lock.

        Compare-and-set on the epoch node: its new version is our epoch, strictly larger than
        any before, and every later fenced write checks that version. The term names the
        session that owns ``lock_node`` (our election lock) and took the epoch: a check of
        the epoch counts only on that session (``check_epoch``).

        An emptied ZooKeeper counts from 0 again: the counter is first raised to ``floor``
        (core/recovery.py), so no epoch is ever handed out twice.
        """
        session = self.session_id
        lock = self.client.exists(lock_node)
        if session is None or lock is None or lock.ephemeralOwner != session:
            raise StoreError("our election lock is not our session's: the session was replaced")
        try:
            _, stat = self.client.get(self.epoch_path)
        except NoNodeError:  # gone with ZooKeeper's data: the counter starts at 0 again
            self._ensure_paths()
            _, stat = self.client.get(self.epoch_path)
        plan = next_epoch(stat.version, floor)
        if plan.refusal is not None:
            raise StoreError(plan.refusal)
        current = self._raise_counter(stat.version, plan.raise_to)
        epoch = current + 1
        data = json.dumps({"epoch": epoch, "node": node_id, "at": time.time()}).encode()
        new = self.client.set(self.epoch_path, data, version=current)
        if new.version != epoch:  # pragma: no cover - ZooKeeper guarantees this
            raise StoreError(f"epoch node version {new.version}, expected {epoch}")
        if self.session_id != session:
            raise StoreError("the session was replaced while taking the epoch")
        return Term(int(epoch), session, plan.lost_from(stat.version))

    def _raise_counter(self, current: int, target: int) -> int:
        """Bring the epoch node's version from ``current`` up to ``target``, a batch of
        writes per transaction, each batch a compare-and-set on the version it starts from
        (a racing replica makes it fail, and the election tries again)."""
        while current < target:
            count = min(RAISE_BATCH, target - current)
            tx = self.client.transaction()
            tx.check(self.epoch_path, current)
            raising = json.dumps({"raising_to": target}).encode()  # no "epoch": not a term
            for _ in range(count):
                tx.set_data(self.epoch_path, raising)
            results = tx.commit()
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise StoreError(f"raising the epoch counter: {describe(failed[0])}")
            current += count
        return current

    async def check_epoch(self, term: Term) -> None:
        """Raise Fenced unless ``term``'s epoch is still current and its session still ours.

        ``sync`` first, so the read sees every epoch committed before it; cheaper than a
        check-only transaction, which ZooKeeper would write (and fsync) to its log. The
        commit itself is fenced again by its own transaction: this only keeps a stale leader
        from running hooks.

        The session matters as much as the epoch: once the session that holds our election
        lock expires, kazoo carries on with a new one, on which the epoch still reads as ours
        until the next leader takes its own, which it may do at once. A lease counted from
        a check on that new session would cover hooks sent after a newer epoch existed (the
        simulation in tests/sim found this, when the loss of the session reached the leader
        after the answer).
        """
        # Both requests go out at once: ZooKeeper answers one session's requests in order,
        # so the read still follows the sync, at the cost of one round trip instead of two.
        synced = self._await(self.client.sync_async(self.epoch_path))
        read = self._await(self.client.exists_async(self.epoch_path))
        _, stat = await asyncio.gather(synced, read)
        session = self.session_id
        if session is None:  # disconnected since: a doubt, not a fence (the gate retries)
            raise StoreError("ZooKeeper connection lost while confirming the epoch")
        if session != term.session:
            raise Fenced(f"the session that took epoch {term.epoch} is gone")
        if stat is None or stat.version != term.epoch:
            raise Fenced(f"epoch {term.epoch} is not current "
                         f"(now {getattr(stat, 'version', None)})")

    async def newest_epoch(self) -> int:
        """The newest epoch ever handed out (the epoch node's version), after a ``sync``:
        no legitimate writer anywhere holds a higher one."""
        synced = self._await(self.client.sync_async(self.epoch_path))
        read = self._await(self.client.exists_async(self.epoch_path))
        _, stat = await asyncio.gather(synced, read)
        return 0 if stat is None else int(stat.version)

    async def watch_epoch(self, callback: Callable[[dict[str, Any]], None]) -> None:
        await self._watch(self.epoch_path, lambda raw, _version: callback(_epoch_info(raw)))


def _epoch_info(raw: bytes | None) -> dict[str, Any]:
    """The epoch node's data; {} when absent or not an object (anyone may write ZooKeeper
    without auth: what it holds is input)."""
    try:
        info = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


