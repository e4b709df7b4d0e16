"""ZooKeeper: the authoritative decisions and the leadership epoch. The only module (with
election.py) that imports kazoo; kazoo errors leave it as StoreError, Fenced or Conflict.

Layout under ``{root}/{cluster}``::

    leader/                    election contenders (kazoo's Election recipe)
    epoch                      {"epoch", "node", "at"}; its znode version *is* the epoch
    services/{name}/decision   a Decided record (records.py)
    views/{node}               ephemeral: one replica's verdict on every member (quorum)

kazoo runs its own threads. Blocking calls here are only made from those threads (the
election thread); the event loop uses kazoo's ``*_async`` calls, whose completion callbacks
are bridged back with ``call_soon_threadsafe``, and every await has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
)
from kazoo.retry import KazooRetry
from kazoo.security import make_digest_acl

from config.models import ZooKeeperConfig
from controller.records import Decided, RecordError


class StoreError(Exception):
    """ZooKeeper could not be asked or did not answer in time: outcome unknown."""


class Fenced(StoreError):
    """The epoch moved on: another leader has been elected since ours."""


class Conflict(StoreError):
    """The decision changed under us (compare-and-set lost)."""


SessionListener = Callable[[str], None]  # "CONNECTED" / "SUSPENDED" / "LOST"


class ZkStore:
    def __init__(self, config: ZooKeeperConfig, cluster: str) -> None:
        self._config = config
        self.base = f"{config.root}/{cluster}"
        self.leader_path = f"{self.base}/leader"
        self.epoch_path = f"{self.base}/epoch"
        self.views_path = f"{self.base}/views"
        auth: dict[str, Any] = {}
        if config.username and config.password:
            secret = config.password.get_secret_value()
            auth = {
                "auth_data": [("digest", f"{config.username}:{secret}")],
                "default_acl": [make_digest_acl(config.username, secret, all=True)],
            }
        self.client = KazooClient(
            hosts=config.hosts,
            timeout=config.session_timeout,
            # Reconnect quickly and for ever: a replica that cannot reach ZooKeeper is useless
            # but must come back by itself.
            connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0),
            command_retry=KazooRetry(max_tries=3, delay=0.05, backoff=2, max_delay=0.5),
            **auth,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: Any = None  # kazoo's "connected" event, once started
        # Threads that wait on kazoo's answers so the event loop never does.
        self._waiters = ThreadPoolExecutor(max_workers=8, thread_name_prefix="zk-wait")

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, on_session: SessionListener) -> None:
        """Connect and create the base paths.

        The connection is started once; kazoo then retries for ever in the background. This
        raises StoreError each time ``request_timeout`` passes unconnected, and the caller
        logs it and calls again (kazoo's own ``start(timeout)`` would stop and close the
        client on a timeout instead).
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop

            def listener(state: str) -> None:  # kazoo thread: never block here
                loop.call_soon_threadsafe(on_session, str(state))

            self.client.add_listener(listener)
            self._live = await loop.run_in_executor(None, self.client.start_async)
        timeout = self._config.request_timeout
        if not await loop.run_in_executor(None, self._live.wait, timeout):
            raise StoreError(f"ZooKeeper {self._config.hosts}: not connected after {timeout:g}s")
        await loop.run_in_executor(None, self._ensure_paths)

    def _ensure_paths(self) -> None:
        try:
            for path in (self.leader_path, f"{self.base}/services", self.views_path):
                self.client.ensure_path(path)
            try:
                self.client.create(self.epoch_path, json.dumps({"epoch": 0}).encode())
            except NodeExistsError:
                pass
        except KazooException as exc:
            raise StoreError(f"ZooKeeper {self._config.hosts}: {_describe(exc)}") from exc

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._stop_blocking)

    def _stop_blocking(self) -> None:
        try:
            self.client.stop()
            self.client.close()
        except KazooException:
            pass
        self._waiters.shutdown(wait=False, cancel_futures=True)

    @property
    def connected(self) -> bool:
        return bool(self.client.state == KazooState.CONNECTED)

    # --- epoch --------------------------------------------------------------------------

    def bump_epoch_blocking(self, node_id: str) -> int:
        """Take the next epoch; called by the election thread only, once it holds the lock.

        Compare-and-set on the epoch node: its new version is our epoch, strictly larger than
        any before, and every later fenced write checks that version.
        """
        _, stat = self.client.get(self.epoch_path)
        epoch = stat.version + 1
        data = json.dumps({"epoch": epoch, "node": node_id, "at": time.time()}).encode()
        new = self.client.set(self.epoch_path, data, version=stat.version)
        if new.version != epoch:  # pragma: no cover - ZooKeeper guarantees this
            raise StoreError(f"epoch node version {new.version}, expected {epoch}")
        return int(epoch)

    async def check_epoch(self, epoch: int) -> None:
        """Raise Fenced unless ``epoch`` is still current.

        ``sync`` first, so the read sees every epoch committed before it; cheaper than a
        check-only transaction, which ZooKeeper would write (and fsync) to its log. The
        commit itself is fenced again by its own transaction: this only keeps a stale leader
        from running hooks.
        """
        # Both requests go out at once: ZooKeeper answers one session's requests in order,
        # so the read still follows the sync, at the cost of one round trip instead of two.
        synced = self._await(self.client.sync_async(self.epoch_path))
        read = self._await(self.client.exists_async(self.epoch_path))
        _, stat = await asyncio.gather(synced, read)
        if stat is None or stat.version != epoch:
            raise Fenced(f"epoch {epoch} is not current (now {getattr(stat, 'version', None)})")

    async def watch_epoch(self, callback: Callable[[dict[str, Any]], None]) -> None:
        await self._watch(self.epoch_path,
                          lambda raw, _version: callback(json.loads(raw) if raw else {}))

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
        self, service: str, decided: Decided, epoch: int, znode_version: int
    ) -> int:
        """Replace the decision iff our epoch is current and nobody changed it since we read
        it (znode_version). Returns the new znode version."""
        tx = self.client.transaction()
        tx.check(self.epoch_path, epoch)
        tx.set_data(self.decision_path(service), decided.to_json(), version=znode_version)
        results = await self._commit(tx)
        return int(results[1].version)

    async def watch_decision(self, service: str,
                             callback: Callable[[Decided | None, int], None]) -> None:
        def changed(raw: bytes | None, version: int) -> None:
            try:
                callback(_parse(raw) if raw else None, version)
            except RecordError:
                callback(None, version)

        await self._watch(self.decision_path(service), changed)

    # --- replicas' views (quorum) -------------------------------------------------------

    async def publish_view(self, node_id: str, view: dict[str, Any]) -> None:
        """Write this replica's verdicts; the node is ephemeral, so it goes when we go."""
        path = f"{self.views_path}/{node_name(node_id)}"
        raw = json.dumps(view, sort_keys=True).encode()
        try:
            await self._await(self.client.set_async(path, raw))
        except NoNodeError:  # first time, or a new session after the old one expired
            try:
                await self._await(self.client.create_async(path, raw, ephemeral=True))
            except NodeExistsError:
                await self._await(self.client.set_async(path, raw))

    async def watch_views(self, callback: Callable[[str, dict[str, Any] | None], None]) -> None:
        """Call ``callback(node, view)`` on the loop for every replica's view as it changes,
        and ``callback(node, None)`` when a replica's node goes (it stopped or its session
        expired)."""
        loop = self._loop
        assert loop is not None, "start() first"
        watched: set[str] = set()

        def watcher(child: str) -> Callable[[bytes | None, Any], bool]:
            # Exactly two parameters: kazoo passes the event too to a three-parameter one.
            def on_data(data: bytes | None, stat: Any) -> bool:  # kazoo thread
                try:
                    view = json.loads(data) if data else None
                except ValueError:
                    view = None
                loop.call_soon_threadsafe(callback, child, view)
                if stat is None:  # deleted: stop watching; a new node gets a new watch
                    watched.discard(child)
                    return False
                return True

            return on_data

        def on_children(children: list[str]) -> None:  # kazoo thread
            for child in set(children) - watched:
                watched.add(child)
                self.client.DataWatch(f"{self.views_path}/{child}", watcher(child))

        await loop.run_in_executor(None, self.client.ChildrenWatch, self.views_path,
                                   on_children)

    # --- plumbing -----------------------------------------------------------------------

    async def _commit(self, tx: Any) -> list[Any]:
        results: list[Any] = await self._await(tx.commit_async())
        failures = [r for r in results if isinstance(r, Exception)]
        if not failures:
            return results
        # The first op of every fenced transaction is the epoch check.
        if isinstance(results[0], BadVersionError | NoNodeError):
            raise Fenced("the leadership epoch moved on")
        real = [f for f in failures if not isinstance(f, RolledBackError)]
        if real and isinstance(real[0], BadVersionError | NodeExistsError | NoNodeError):
            raise Conflict(_describe(real[0]))
        raise StoreError(_describe(real[0] if real else failures[0]))

    async def _await(self, async_result: Any) -> Any:
        """Wait for a kazoo IAsyncResult in a waiter thread, bounded by request_timeout.

        A thread blocked in ``get`` is woken by kazoo's connection thread directly; a
        ``rawlink`` callback would first pass through kazoo's completion queue (measured:
        about 1 ms more per round trip on loopback).
        """
        loop = asyncio.get_running_loop()
        timeout = self._config.request_timeout
        try:
            return await loop.run_in_executor(self._waiters, async_result.get, True, timeout)
        except self.client.handler.timeout_exception as exc:
            raise StoreError(f"no answer from ZooKeeper within {timeout:g}s") from exc
        except (NoNodeError, NodeExistsError):
            raise  # answers, not failures: callers handle them
        except KazooException as exc:
            raise StoreError(_describe(exc)) from exc

    async def _watch(self, path: str, callback: Callable[[bytes | None, int], None]) -> None:
        """Watch a node's data; ``callback(data, znode_version)`` runs on the loop.

        kazoo's DataWatch reads the node once when it is set up, a blocking call: done from
        an executor thread, never on the loop.
        """
        loop = self._loop
        assert loop is not None, "start() first"

        def fire(data: bytes | None, stat: Any) -> None:  # kazoo thread
            version = stat.version if stat is not None else -1
            loop.call_soon_threadsafe(callback, data, version)

        await loop.run_in_executor(None, self.client.DataWatch, path, fire)


def node_name(node_id: str) -> str:
    """A replica's node id as one ZooKeeper path segment."""
    return node_id.replace("/", "_") or "_"


def _parse(raw: bytes) -> Decided:
    return Decided.from_json(raw)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
