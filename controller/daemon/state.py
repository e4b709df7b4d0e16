"""What the daemon tracks per service. The core gets a frozen ServiceView of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from config.models import ServiceConfig
from config.windows import Window
from controller.core.records import Decided, Pause
from controller.core.switchover import Switchover


@dataclass
class ServiceState:
    """What the shell tracks per service; the core gets a frozen ServiceView of it."""

    config: ServiceConfig
    decided: Decided | None = None
    znode_version: int = -1
    # The one recovery in flight: a failover, or a late fence of a former primary.
    recovery: asyncio.Task[None] | None = None
    fence_retry_after: float = 0.0  # monotonic: no new late-fence attempt before this
    last_failed_attempt: float | None = None
    excluded: set[str] = field(default_factory=set)
    wake: asyncio.TimerHandle | None = None
    last_dry_run: tuple[str | None, str] | None = None
    split_view: bool = False  # the leader sees the primary failing, too few others do
    pause: Pause | None = None  # an operator's, from ZooKeeper
    pause_timer: asyncio.TimerHandle | None = None
    # Operator switchover requests (id -> record, znode version), from ZooKeeper.
    switchovers: dict[str, tuple[Switchover, int]] = field(default_factory=dict)
    switchover: asyncio.Task[None] | None = None  # the one this leader is running
    schedule: asyncio.TimerHandle | None = None  # wakes the leader for the next --at
    windows: tuple[Window, ...] = ()  # maintenance windows for evacuations (parsed config)
    redundant: bool | None = None  # last reported: can it survive losing the primary?
    evacuation_wake: asyncio.TimerHandle | None = None
    evacuating: bool = False  # an evacuation request is being written
    last_evacuation_dry_run: str | None = None

    def snapshot(self) -> tuple[Decided, int] | None:
        """The decision and the znode version it was read at, taken together: a commit
        compares-and-sets against the version of the very record it started from."""
        return None if self.decided is None else (self.decided, self.znode_version)

    @property
    def switchover_running(self) -> bool:
        return self.switchover is not None or any(
            record.phase.running for record, _ in self.switchovers.values())
