"""ZooKeeper: the authoritative decisions and the leadership epoch. The only module (with
election.py) that imports kazoo; kazoo errors leave it as StoreError, Fenced or Conflict.

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
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from enum import StrEnum
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
from controller.core.errors import Conflict, Fenced, StoreError
from controller.core.lease import lease_length
from controller.core.records import Decided, Pause, RecordError
from controller.core.switchover import Switchover


class Session(StrEnum):
    """This replica's ZooKeeper session, as kazoo reports it (CONNECTING until the first)."""

    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    SUSPENDED = "SUSPENDED"  # connection lost, session maybe alive: stop acting now
    LOST = "LOST"  # the session expired: every ephemeral node (our leadership) is gone


SessionListener = Callable[[Session], None]


class _GrantListener(logging.LoggerAdapter):  # type: ignore[type-arg]
    """kazoo's logger, passed through: kazoo keeps the session timeout it asked for, not the
    one ZooKeeper granted (the server clamps it to its maxSessionTimeout), and reports the
    granted one only in a log call. This catches that call's argument on its way."""

    granted_ms: int | None = None

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if isinstance(msg, str) and msg.startswith("Session created") and len(args) >= 3:
            try:
                self.granted_ms = int(args[2])
            except (TypeError, ValueError):
                self.granted_ms = None
        super().log(level, msg, *args, **kwargs)


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
        self._grant = _GrantListener(logging.getLogger("kazoo.client"), {})
        self.client = KazooClient(
            hosts=config.hosts,
            timeout=config.session_timeout,
            logger=self._grant,
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
                loop.call_soon_threadsafe(on_session, Session(str(state)))

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

    @property
    def granted_session_timeout(self) -> float | None:
        """Seconds ZooKeeper granted our current session (may be less than configured);
        None until a session exists or if kazoo did not report it."""
        granted = self._grant.granted_ms
        return None if granted is None or granted <= 0 else granted / 1000.0

    def lease_seconds(self) -> float:
        """How long a confirmation of our epoch stays good (core/lease.py says why)."""
        return lease_length(self.granted_session_timeout, self._config.session_timeout)

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
            path, lambda child, raw, version: callback(
                child, _switchover_or_none(child, raw) if raw else None, version))

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

        def parsed(child: str, raw: bytes | None, _version: int) -> None:
            try:
                view = json.loads(raw) if raw else None
            except ValueError:
                view = None
            callback(child, view)

        await self._watch_children(self.views_path, parsed)

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
        except BadVersionError as exc:
            raise Conflict(_describe(exc)) from exc
        except KazooException as exc:
            raise StoreError(_describe(exc)) from exc

    async def _watch_children(self, path: str,
                              callback: Callable[[str, bytes | None, int], None]) -> None:
        """Watch every child of ``path`` and its data: ``callback(child, data, version)`` on
        the loop on each change, ``(child, None, -1)`` when it goes."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("ZkStore.start() must run before a watch is set")
        watched: set[str] = set()

        def watcher(child: str) -> Callable[[bytes | None, Any], bool]:
            # Exactly two parameters: kazoo passes the event too to a three-parameter one.
            def on_data(data: bytes | None, stat: Any) -> bool:  # kazoo thread
                version = stat.version if stat is not None else -1
                loop.call_soon_threadsafe(callback, child, data, version)
                if stat is None:  # deleted: stop watching; a new node gets a new watch
                    watched.discard(child)
                    return False
                return True

            return on_data

        def on_children(children: list[str]) -> None:  # kazoo thread
            for child in set(children) - watched:
                watched.add(child)
                self.client.DataWatch(f"{path}/{child}", watcher(child))

        await loop.run_in_executor(None, self.client.ChildrenWatch, path, on_children)

    async def _watch(self, path: str, callback: Callable[[bytes | None, int], None]) -> None:
        """Watch a node's data; ``callback(data, znode_version)`` runs on the loop.

        kazoo's DataWatch reads the node once when it is set up, a blocking call: done from
        an executor thread, never on the loop.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("ZkStore.start() must run before a watch is set")

        def fire(data: bytes | None, stat: Any) -> None:  # kazoo thread
            version = stat.version if stat is not None else -1
            loop.call_soon_threadsafe(callback, data, version)

        await loop.run_in_executor(None, self.client.DataWatch, path, fire)


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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
