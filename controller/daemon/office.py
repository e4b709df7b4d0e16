"""This replica's leadership: the epoch it holds, whether it is in office, its lease, and
the tasks it runs as leader; and the gate in front of every leader write and hook.

The engine moves the state along as kazoo reports it (session, elected, lost, stepping
down); everything that acts as leader asks this object, right before it acts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

from controller.adapters.zookeeper import Session, Term, ZkStore
from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.lease import Lease
from controller.events import Event


class Leader(NamedTuple):
    """Who leads, as this replica knows it."""

    us: bool  # this replica holds an epoch
    node: str | None  # the leader's node id
    epoch: int | None  # the newest epoch known


Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Office:
    def __init__(self, zk: ZkStore, spawn: Spawn, log: Any) -> None:
        self._zk, self._spawn, self._log = zk, spawn, log
        self.term: Term | None = None  # while we lead: our epoch and the session that took it
        self.in_office = False  # leader, and bootstrap/takeover publish done
        self.taking: int | None = None  # the epoch whose take-office runs
        self.resigning = False  # stepped down; leadership_lost has not come yet
        self.session = Session.CONNECTING
        self.stopping = False
        self._lease: Lease | None = None  # see verify_epoch
        self._lease_refresh: asyncio.Task[None] | None = None
        # Tasks that act as leader: all cancelled the moment this replica may no longer act
        # (invariant 5).
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def epoch(self) -> int | None:
        """Ours, while we lead."""
        return None if self.term is None else self.term.epoch

    @property
    def may_act(self) -> bool:
        """In office, connected, not stopping: may start leader work."""
        return self.in_office and self.session is Session.CONNECTED and not self.stopping

    def holds(self, epoch: int | None) -> bool:
        """Leader under ``epoch`` (in office, or taking it), connected, not stopping."""
        return (epoch is not None and self.epoch == epoch and self.session is Session.CONNECTED
                and not self.stopping and (self.in_office or self.taking == epoch))

    async def confirm(self, epoch: int | None) -> None:
        """The gate in front of every leader write (ZooKeeper, Redis) and every hook.

        In office now, and the epoch confirmed by ZooKeeper within the lease (a frozen and
        woken leader always finds its lease expired: the clock is monotonic). Checked again
        after the await, so the caller's write goes out on the same turn of the loop as the
        last check. Raises NotInOffice or Fenced.
        """
        if epoch is None or not self.holds(epoch):
            raise NotInOffice(f"not in office for epoch {epoch}")
        await self.verify_epoch(epoch)
        if not self.holds(epoch):
            raise NotInOffice(f"left office for epoch {epoch} while confirming it")

    async def verify_epoch(self, epoch: int, force: bool = False) -> None:
        """Raise Fenced unless ``epoch`` is still the newest, at most a lease old.

        The lease (core/lease.py) counts from when a confirmed check was sent, on the
        monotonic clock, so a leader frozen and woken late asks ZooKeeper again.
        """
        now = time.monotonic()
        if (not force and self._lease is not None
                and self._lease.covers(epoch, now, self._zk.lease_seconds())):
            return
        term = self.term
        if term is None or term.epoch != epoch:
            raise NotInOffice(f"not in office for epoch {epoch}")
        await self._zk.check_epoch(term)
        if self.epoch == epoch:
            self._lease = Lease(epoch, now)

    def forget_lease(self) -> None:
        """The session is in doubt (or gone): the next gate asks ZooKeeper."""
        self._lease = None

    def refresh_lease(self, step_down: Callable[[str], None]) -> None:
        """Renew the lease ahead of need (the primary just failed a probe; a reconcile)."""
        epoch = self.epoch
        if epoch is None or not self.may_act or self._lease_refresh is not None:
            return

        async def refresh() -> None:
            try:
                await self.verify_epoch(epoch, force=True)
            except Fenced:
                step_down("fenced (lease refresh)")
            except NotInOffice:
                pass  # left office meanwhile: nothing to renew
            except StoreError as exc:
                self._log.warning(Event.LEASE_REFRESH_FAILED, epoch=epoch, error=str(exc))
            finally:
                self._lease_refresh = None

        self._lease_refresh = self.spawn(refresh(), "lease-refresh")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task that acts as leader: cancelled with every other such task as soon as
        this replica may no longer act."""
        task = self._spawn(coro, name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_tasks(self, why: str) -> None:
        """Stop every task that acts as leader, now."""
        for task in list(self._tasks):
            if not task.done():
                self._log.warning(Event.RECOVERY_CANCELLED, why=why, task=task.get_name())
                task.cancel()
