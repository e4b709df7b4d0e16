"""What to do when ZooKeeper has lost its data (a lost volume, a redeployed ensemble on the
same address): pure rules, no I/O.

ZooKeeper hands out the epoch (the epoch node's version), and every fencing token is that
epoch. An ensemble rebuilt empty starts counting at 0 again, so without a floor it would
hand out epochs that already named other leaders, and tokens that members, Redis and the
running replicas already hold would be as high as new ones. Two rules close that:

1. **The epoch never repeats.** The next epoch is above every epoch this replica has seen
   in ZooKeeper, and, when ZooKeeper's counter is at 0 (new, or emptied), above every epoch
   in Redis's routes. While ZooKeeper's counter is at 0 and Redis has not been read, no
   epoch is taken: a new cluster waits for Redis, an emptied one must not guess.
   Redis's epoch counts only then: while ZooKeeper has history it is the authority, and an
   epoch in Redis above its counter is corruption or forgery, never a floor.
2. **The decision is rebuilt from the most recent truth**, never from "the first configured
   member": the decision a running replica still holds, else Redis's route (the newer of the
   two by version), else, on a cluster with no history at all, the first member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.core.records import Decided, RouteReason

# Raising an emptied ZooKeeper's counter costs one write per epoch (batched); a floor this
# far above the counter is not a history but a forged or corrupt value, and is refused.
MAX_EPOCH_RAISE = 1_000_000


@dataclass(frozen=True, slots=True)
class EpochFloor:
    """What this replica knows of epochs handed out before."""

    seen: int = 0  # the highest epoch it saw in ZooKeeper (the epoch watch, its own terms)
    redis: int | None = None  # the highest epoch in Redis's routes; None: not read yet


@dataclass(frozen=True, slots=True)
class NextEpoch:
    """How to take the next epoch from a counter at ``current``: first raise the counter to
    ``raise_to`` (equal to ``current`` when nothing is missing), then take ``raise_to + 1``;
    or do not take one (``refusal``)."""

    raise_to: int
    refusal: str | None = None

    def lost_from(self, current: int) -> int | None:
        """The counter ZooKeeper had when it had lost epochs; None if it had not."""
        return current if self.raise_to > current else None


def next_epoch(current: int, floor: EpochFloor) -> NextEpoch:
    """``current``: the epoch node's version, the last epoch ZooKeeper handed out."""
    known = floor.seen
    if current == 0:
        if floor.redis is None and known == 0:
            return NextEpoch(current, "ZooKeeper's epoch counter is at 0 and Redis's routes "
                                      "are not read yet: waiting for Redis before taking an "
                                      "epoch (an emptied ZooKeeper must not repeat one)")
        known = max(known, floor.redis or 0)
    if known <= current:
        return NextEpoch(current)
    if known - current > MAX_EPOCH_RAISE:
        return NextEpoch(current, f"the epoch floor {known} is {known - current} above "
                                  f"ZooKeeper's counter {current}: not a history but a "
                                  "corrupt or forged value; an operator must look")
    return NextEpoch(known)


class Source(StrEnum):
    """Where a missing decision was rebuilt from."""

    REMEMBERED = "remembered"  # the decision this replica held before ZooKeeper lost it
    REDIS = "redis"  # Redis's route
    FIRST_MEMBER = "first_member"  # no history anywhere: a new cluster


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    address: str
    fenceable: bool = True  # has a fence hook


@dataclass(frozen=True, slots=True)
class RoutedAt:
    """Redis's route, as far as the rebuild needs it (already validated by its reader)."""

    primary: str
    version: int


def rebuilt_decision(members: Sequence[Member], remembered: Decided | None,
                     route: RoutedAt | None, epoch: int, now: float
                     ) -> tuple[Decided, Source]:
    """The decision to create when ZooKeeper has none. A primary that is no longer
    configured is not taken from either source (its address would come from nowhere we
    trust); the address always comes from the config, never from Redis."""
    by_name = {m.name: m for m in members}
    if remembered is not None and remembered.primary not in by_name:
        remembered = None
    if route is not None and route.primary not in by_name:
        route = None
    if remembered is not None and (route is None or route.version <= remembered.version):
        member = by_name[remembered.primary]
        return Decided(primary=member.name, address=member.address, epoch=epoch,
                       version=remembered.version, reason=remembered.reason, updated_at=now,
                       unfenced=remembered.unfenced,
                       last_recovery_end=remembered.last_recovery_end), Source.REMEMBERED
    if route is not None:
        # Redis keeps no marks: any other member may have taken a promote that never
        # reached the route. Each that can be fenced is marked, so it is fenced as soon as
        # it answers and is never promoted before that (a member without a fence hook
        # cannot be taken back: its operator chose so).
        member = by_name[route.primary]
        marks = sorted(m.name for m in members if m.fenceable and m.name != member.name)
        return Decided(primary=member.name, address=member.address, epoch=epoch,
                       version=route.version, reason=RouteReason.INITIAL, updated_at=now,
                       unfenced=tuple(marks)), Source.REDIS
    first = members[0]
    return Decided(primary=first.name, address=first.address, epoch=epoch, version=1,
                   reason=RouteReason.INITIAL, updated_at=now), Source.FIRST_MEMBER
