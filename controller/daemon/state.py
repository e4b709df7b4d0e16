"""What the daemon tracks per service. The core gets frozen snapshots of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from config.models import ServiceConfig
from config.windows import Window
from controller.core.plan import Memory, Work
from controller.core.records import Decided, Pause
from controller.core.switchover import Switchover


@dataclass
class ServiceState:
    """What the shell tracks per service; the planner gets a frozen snapshot of it."""

    config: ServiceConfig
    decided: Decided | None = None
    znode_version: int = -1
    # The decision this replica held when its node vanished from ZooKeeper (decisions are
    # never deleted: ZooKeeper lost its data). The most recent truth for rebuilding it.
    lost: Decided | None = None
    # The work this replica runs for the service as leader, at most one of each kind; an
    # entry is removed when its task ends (and the service is evaluated again).
    tasks: dict[Work, asyncio.Task[None]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None  # the one timer: the planner's wake_at
    memory: Memory = field(default_factory=Memory)  # the planner's, passed back to it on every call
    # Outcomes the runners record for the planner to weigh (wall-clock seconds).
    fence_retry_after: float = 0.0  # no new late-fence attempt before this
    last_failed_attempt: float | None = None
    pause: Pause | None = None  # an operator's, from ZooKeeper
    # Operator switchover requests (id -> record, znode version), from ZooKeeper.
    switchovers: dict[str, tuple[Switchover, int]] = field(default_factory=dict)
    windows: tuple[Window, ...] = ()  # maintenance windows for evacuations (parsed config)

    def snapshot(self) -> tuple[Decided, int] | None:
        """The decision and the znode version it was read at, taken together: a commit
        compares-and-sets against the version of the very record it started from."""
        return None if self.decided is None else (self.decided, self.znode_version)

    def vanished(self) -> Decided | None:
        """The decision's node is gone: decisions are never deleted, so ZooKeeper lost its
        data. Keep the decision as the truth to rebuild it from, and stop acting on it: the
        next one is created at znode version 0. Returns it (None if none was held)."""
        if self.decided is None:
            return None
        self.lost, self.decided, self.znode_version = self.decided, None, -1
        return self.lost

    def remembered(self) -> Decided | None:
        return self.decided if self.decided is not None else self.lost

    @property
    def running(self) -> frozenset[Work]:
        return frozenset(self.tasks)

    def learn(self, stored: dict[str, tuple[Switchover, int]]) -> None:
        """Requests read from ZooKeeper or its watch: a newer znode version wins, an older
        read never undoes what the watch already told."""
        for request_id, (record, version) in stored.items():
            known = self.switchovers.get(request_id)
            if known is None or version >= known[1]:
                self.switchovers[request_id] = (record, version)

    def requests(self) -> tuple[Switchover, ...]:
        """Every stored request, oldest id first."""
        return tuple(record for _, (record, _) in sorted(self.switchovers.items()))

    def exclude(self, member: str) -> None:
        """``member`` failed to be promoted: not a candidate again in this episode."""
        self.memory = replace(self.memory, excluded=self.memory.excluded | {member})

    def end_episode(self) -> None:
        self.memory = replace(self.memory, excluded=frozenset())
