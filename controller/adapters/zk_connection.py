"""The connection to ZooKeeper, and the plumbing every read, write and watch goes through:
kazoo's answers awaited in waiter threads (never on the event loop) within
``request_timeout``, its errors turned into the domain's at this edge (StoreError: no
answer, outcome unknown; Fenced and Conflict: definite answers), and its watches bridged
back to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import structlog
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
from controller.events import Event


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


class ZkConnection:
    """A kazoo client, its session and the base paths; ZkStore adds the records."""

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
        self._log = structlog.get_logger("zookeeper")
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
        # Children watches to set again on a new session: kazoo's ChildrenWatch stops for
        # good when its node is gone, as it is after ZooKeeper loses its data.
        self._child_watches: list[tuple[str, Callable[[list[str]], None]]] = []
        self._new_session = False  # LOST seen: the next CONNECTED is a new session
        self._suspended: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Future[Any]] = set()  # renewals and restarts running
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
                loop.call_soon_threadsafe(self._session_changed, Session(str(state)),
                                          on_session)

            self.client.add_listener(listener)
            self._live = await loop.run_in_executor(None, self.client.start_async)
        timeout = self._config.request_timeout
        if not await loop.run_in_executor(None, self._live.wait, timeout):
            raise StoreError(f"ZooKeeper {self._config.hosts}: not connected after {timeout:g}s")
        await loop.run_in_executor(None, self._ensure_paths)

    def _session_changed(self, state: Session, on_session: SessionListener) -> None:
        """On the loop: re-create what a new session needs, restart a client stuck
        SUSPENDED, then tell the daemon."""
        if self._suspended is not None:
            self._suspended.cancel()
            self._suspended = None
        if state is Session.LOST:
            self._new_session = True
        elif state is Session.SUSPENDED and self._loop is not None:
            self._suspended = self._loop.call_later(self.stuck_after(), self._restart)
        elif state is Session.CONNECTED and self._new_session:
            self._new_session = False
            self._keep(asyncio.ensure_future(self._renew()))
        on_session(state)

    def stuck_after(self) -> float:
        """SUSPENDED this long, far past any session timeout, is not a blip: ZooKeeper may
        have been rebuilt, and refuses the session kazoo offers (one that has seen a zxid
        the new ensemble never wrote). Only a new client starts from nothing."""
        timeout = self.granted_session_timeout or self._config.session_timeout
        return max(3 * timeout, 10.0)

    def _restart(self) -> None:
        self._suspended = None
        self._log.error(Event.ZOOKEEPER_CLIENT_RESTARTED, suspended_for=self.stuck_after(),
                        hosts=self._config.hosts)
        loop = self._loop
        if loop is not None:
            self._keep(loop.run_in_executor(None, self._restart_blocking))

    def _keep(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    def _restart_blocking(self) -> None:
        try:
            self.client.stop()  # the session ends here: LOST; kazoo forgets its zxid
            self._live = self.client.start_async()
        except KazooException as exc:
            self._log.error(Event.ZOOKEEPER_CLIENT_RESTARTED, error=describe(exc))

    async def _renew(self) -> None:
        """A new session: the base paths again (ZooKeeper may have lost them), and every
        children watch that stopped with its node."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._ensure_paths)
            for path, on_children in self._child_watches:
                await loop.run_in_executor(None, self.client.ChildrenWatch, path, on_children)
        except (StoreError, KazooException) as exc:
            self._log.warning(Event.ZOOKEEPER_RENEW_FAILED, error=describe(exc))

    def _ensure_paths(self) -> None:
        try:
            for path in (self.leader_path, f"{self.base}/services", self.views_path):
                self.client.ensure_path(path)
            try:
                self.client.create(self.epoch_path, json.dumps({"epoch": 0}).encode())
            except NodeExistsError:
                pass
        except KazooException as exc:
            raise StoreError(f"ZooKeeper {self._config.hosts}: {describe(exc)}") from exc

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
    def session_id(self) -> int | None:
        """Our current session's id; None while kazoo is not connected (SUSPENDED
        included). kazoo opens a new session by itself after one expires, and a session's
        id never comes back, so a request answered while this still names a session was
        answered on that session."""
        client_id = self.client.client_id
        return None if client_id is None else int(client_id[0])

    @property
    def granted_session_timeout(self) -> float | None:
        """Seconds ZooKeeper granted our current session (may be less than configured);
        None until a session exists or if kazoo did not report it."""
        granted = self._grant.granted_ms
        return None if granted is None or granted <= 0 else granted / 1000.0

    def lease_seconds(self) -> float:
        """How long a confirmation of our epoch stays good (core/lease.py says why)."""
        return lease_length(self.granted_session_timeout, self._config.session_timeout)

    # --- plumbing: every ZooKeeper call goes through these -------------------------------

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
            raise Conflict(describe(real[0]))
        raise StoreError(describe(real[0] if real else failures[0]))

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
            raise Conflict(describe(exc)) from exc
        except KazooException as exc:
            raise StoreError(describe(exc)) from exc

    async def _watch_children(self, path: str,
                              callback: Callable[[str, bytes | None, int, int], None]) -> None:
        """Watch every child of ``path`` and its data: ``callback(child, data, version,
        owner)`` on the loop on each change (``owner``: the session of an ephemeral node, 0
        for a persistent one), ``(child, None, -1, 0)`` when it goes."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("ZkStore.start() must run before a watch is set")
        watched: set[str] = set()

        def watcher(child: str) -> Callable[[bytes | None, Any], bool]:
            # Exactly two parameters: kazoo passes the event too to a three-parameter one.
            def on_data(data: bytes | None, stat: Any) -> bool:  # kazoo thread
                version = stat.version if stat is not None else -1
                owner = stat.ephemeralOwner if stat is not None else 0
                loop.call_soon_threadsafe(callback, child, data, version, owner)
                if stat is None:  # deleted: stop watching; a new node gets a new watch
                    watched.discard(child)
                    return False
                return True

            return on_data

        def on_children(children: list[str]) -> None:  # kazoo thread
            for child in set(children) - watched:
                watched.add(child)
                self.client.DataWatch(f"{path}/{child}", watcher(child))

        self._child_watches.append((path, on_children))
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



def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
