"""What publishing decides, pure (daemon/publishing.py carries it out, and the simulation
does too): whether Redis holds the committed decision under our epoch, and what the route
script's answer to a publish asks for next."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from controller.core.records import Decided


class RouteFacts(Protocol):
    """A route as read from Redis: what the comparison needs of it."""

    @property
    def primary(self) -> str: ...

    @property
    def epoch(self) -> int: ...

    @property
    def version(self) -> int: ...


def out_of_sync(route: RouteFacts | None, decided: Decided, epoch: int) -> bool:
    """Redis does not hold ``decided`` under ``epoch`` (a restart, a FLUSHALL, a write that
    never arrived, or a route written under an older epoch): publish it again."""
    return (route is None or route.version != decided.version
            or route.primary != decided.primary or route.epoch < epoch)


class Next(StrEnum):
    NOTHING = "nothing"
    # Redis holds a newer epoch, or a route that is not one: judge what it holds
    # (core/stored_route.py): a newer leader's (step down), or no leader's (repair, alarm).
    JUDGE = "judge"
    REPAIR = "repair"  # the route is missing: read it, and create it (the reconcile)


def after_publish(outcome: str, create: bool) -> Next:
    """What the route script's ``outcome`` asks for; ``create``: the publish was allowed to
    create a missing route (a writer that read it as missing)."""
    if outcome in ("stale_epoch", "corrupt"):
        return Next.JUDGE
    if outcome == "missing" and not create:
        return Next.REPAIR
    return Next.NOTHING
