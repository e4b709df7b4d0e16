"""Leader election through ZooKeeper (kazoo's Election recipe), bridged into asyncio.

The recipe blocks, so it runs in its own thread: contend, and once elected take a new epoch
(zkstore.bump_epoch_blocking, which names the session that holds our lock) and hold the
leadership until told to resign or the session is lost. Gains and losses reach the event
loop through ``call_soon_threadsafe``; the loop never waits on this thread.

Resigning deletes our contender node at once, so the next replica in line is elected
without waiting for a session to expire: that is what makes a rolling restart cheap.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import structlog
from kazoo.client import KazooState
from kazoo.exceptions import KazooException

from controller.adapters.zookeeper import Term, ZkStore
from controller.core.errors import StoreError
from controller.core.recovery import EpochFloor
from controller.events import Event

log = structlog.get_logger("election")


class LeaderElection:
    def __init__(
        self,
        store: ZkStore,
        node_id: str,
        on_gained: Callable[[Term], None],
        on_lost: Callable[[], None],
        floor: Callable[[], EpochFloor],
    ) -> None:
        self._store, self._node_id, self._floor = store, node_id, floor
        self._on_gained, self._on_lost = on_gained, on_lost
        self._resign = threading.Event()  # set: leave the current leadership (or contention)
        self._stopping = threading.Event()
        self._released = threading.Event()  # set while we hold no leadership
        self._released.set()
        self._thread: threading.Thread | None = None
        self._election: Any = None  # kazoo's Election: untyped
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._store.client.add_listener(self._session_changed)
        self._thread = threading.Thread(target=self._contend, name="election", daemon=True)
        self._thread.start()

    def resign(self) -> None:
        """Give up leadership now (we were fenced); contend again afterwards."""
        self._resign.set()

    async def stop(self, wait: float = 3.0) -> None:
        """Resign for good and wait (bounded) until our contender node is gone."""
        self._stopping.set()
        self._resign.set()
        election = self._election
        if election is not None:
            election.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._released.wait, wait)

    # --- election thread ----------------------------------------------------------------

    def _session_changed(self, state: str) -> None:  # kazoo thread; must not block
        if state == KazooState.LOST:
            self._resign.set()

    def _contend(self) -> None:
        while not self._stopping.is_set():
            self._resign.clear()
            try:
                election = self._store.client.Election(self._store.leader_path, self._node_id)
                self._election = election
                election.run(self._lead)
            except (KazooException, StoreError) as exc:
                log.warning(Event.ELECTION_ERROR, error=f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception(Event.ELECTION_CRASHED)
            finally:
                self._released.set()
            # Back off a little before contending again (lost session, fenced, error).
            self._stopping.wait(0.1)

    def _lead(self) -> None:
        self._released.clear()
        if self._stopping.is_set() or self._resign.is_set():
            return
        lock = self._election.lock  # kazoo's Lock: the node it created for us
        term = self._store.bump_epoch_blocking(self._node_id, f"{lock.path}/{lock.node}",
                                               self._floor())
        self._notify(self._on_gained, term)
        try:
            self._resign.wait()
        finally:
            self._notify(self._on_lost)

    def _notify(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)
