"""The leader's lease: how long a confirmation of its epoch by ZooKeeper stays good.

No other leader can be elected before ZooKeeper expires this replica's session, which it does
no sooner than the session timeout it granted after it last heard from the replica. A third
of that leaves room for clock rates and scheduling. Times are monotonic seconds: the clock
runs on while the process is frozen (SIGSTOP), so a leader woken late always finds its lease
expired and asks ZooKeeper again before it writes or runs a hook.
"""

from __future__ import annotations

from dataclasses import dataclass


def lease_length(granted: float | None, requested: float) -> float:
    """Seconds a confirmation lasts. An unknown grant: none (every write asks ZooKeeper
    first, one round trip, never unsafe)."""
    if granted is None:
        return 0.0
    return min(granted, requested) / 3


@dataclass(frozen=True, slots=True)
class Lease:
    """ZooKeeper confirmed ``epoch`` as the newest in answer to a check sent at ``sent_at``."""

    epoch: int
    sent_at: float

    def covers(self, epoch: int, now: float, length: float) -> bool:
        """Still good for ``epoch`` at ``now``: counted from when the check was sent (the
        answer may have taken a while), never backwards."""
        return self.epoch == epoch and 0.0 <= now - self.sent_at < length
