"""The routing decision as stored: authoritative in ZooKeeper, copied to Redis. Pure data."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any


class RecordError(ValueError):
    """Stored data that is not a decision this controller wrote."""


class RouteReason(StrEnum):
    """Why the route names its primary: the reason of the decision that named it."""

    INITIAL = "initial"  # the first listed member, at bootstrap
    FAILOVER = "failover"
    SWITCHOVER = "switchover"
    EVACUATION = "evacuation"  # a switchover the evacuation policy asked for
    ROLLBACK = "rollback"  # a switchover that failed and put the old primary back


@dataclass(frozen=True, slots=True)
class Decided:
    """Who is primary for a service, and under which epoch and version it was decided.

    ``version`` counts changes of the decision (it never goes back, across leaders, because
    every write is a compare-and-set in ZooKeeper); ``epoch`` is the leadership term that
    wrote it. Readers order routes by (epoch, version).
    """

    primary: str
    address: str
    epoch: int
    version: int
    reason: str  # a RouteReason (kept as text as stored)
    updated_at: float  # unix seconds
    # Former primaries whose fence failed while they were unreachable (see decide.py).
    unfenced: tuple[str, ...] = ()
    last_recovery_end: float | None = None

    def routed_to(self, *, primary: str, address: str, epoch: int, reason: RouteReason,
                  now: float, unfenced: Iterable[str] = (),
                  recovery_end: float | None = None) -> Decided:
        """The decision that routes to ``primary`` with ``unfenced`` as its marks (the
        primary's own never): when it names ``primary`` already (a rollback before the route
        moved), the same route with those marks; otherwise the next version, under
        ``epoch``."""
        if primary == self.primary:
            return self.with_marks(unfenced)
        return replace(
            self, primary=primary, address=address, epoch=epoch, version=self.version + 1,
            reason=reason, updated_at=now, unfenced=tuple(sorted(set(unfenced) - {primary})),
            last_recovery_end=recovery_end if recovery_end is not None else
            self.last_recovery_end,
        )

    def with_marks(self, members: Iterable[str]) -> Decided:
        """The same route with ``members`` as its unfenced marks (never its primary)."""
        return replace(self, unfenced=tuple(sorted(set(members) - {self.primary})))

    def cleared(self, member: str) -> Decided:
        """The same route with ``member``'s mark removed (a fence of it succeeded)."""
        return replace(self, unfenced=tuple(m for m in self.unfenced if m != member))

    def to_json(self) -> bytes:
        data = asdict(self)
        data["unfenced"] = list(self.unfenced)
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Decided:
        try:
            data: dict[str, Any] = json.loads(raw)
            data["unfenced"] = tuple(data.get("unfenced", ()))
            return cls(**data)
        except (ValueError, TypeError, RecursionError) as exc:
            raise RecordError(f"not a decision record: {raw[:120]!r}") from exc


@dataclass(frozen=True, slots=True)
class Pause:
    """An operator's maintenance pause of one service, as stored in ZooKeeper.

    Probes go on and manual switchovers still work; only automatic failover stops. ``until``
    (unix seconds) ends it by itself; None holds until resumed.
    """

    by: str
    at: float
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Pause:
        """RecordError unless ``at`` and ``until`` are finite numbers: an ``until`` of
        1e400 (infinity to the parser) or NaN (never passed) would be a pause that never
        ends, though none can be asked for longer than 30 days."""
        try:
            pause = cls(**json.loads(raw))
        except (ValueError, TypeError, RecursionError) as exc:
            raise RecordError(f"not a pause record: {raw[:120]!r}") from exc
        if not (isinstance(pause.by, str) and _finite(pause.at)
                and (pause.until is None or _finite(pause.until))):
            raise RecordError(f"not a pause record: {raw[:120]!r}")
        return pause


def _finite(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))
