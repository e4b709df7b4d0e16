"""What followers say they applied, and what the controller makes of it. Pure: no I/O, no
clock (``now`` is an argument, unix seconds, since acks cross machines).

Each follower (the HAProxy agent, a RouteWatcher) keeps one field in the Redis hash
``{prefix}:applied:{service}``: its name -> ``{"version", "epoch", "at", "confirmed",
"heartbeat"}`` (JSON), rewritten on every apply and every heartbeat. ``at`` is when it
applied that version, ``heartbeat`` when it last wrote; ``confirmed`` says the proxy,
read back, does what the route says (the agent), or the application's callback ran (a
watcher).

Anyone who can write to Redis can write to that hash, so every field is input: a name or a
value that is not what a follower writes is refused (and counted by the reader), never
trusted and never a crash. Acks are what followers say about themselves, not proof that
traffic moved.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from config.shapes import FOLLOWER_PATTERN
from controller.core.stored_route import MOST

_NAME = re.compile(FOLLOWER_PATTERN)
HEARTBEAT = 2.0     # seconds between a follower's writes when nothing changes
STALE_AFTER = 10.0  # a heartbeat older than this: the follower may be gone
FORGET_AFTER = 3600.0  # the controller's reader drops entries older than this
SEEN_WITHIN = 60.0  # by default, the followers that must apply: those heard from lately
MAX_VALUE = 1000    # bytes: a follower's JSON is ~100; anything larger is not one


class BadAck(ValueError):
    """A field of the applied hash that no follower writes: ignored and counted."""


@dataclass(frozen=True, slots=True)
class Ack:
    follower: str
    version: int
    epoch: int
    at: float          # unix seconds it applied ``version``
    confirmed: bool
    heartbeat: float   # unix seconds it last wrote

    def encode(self) -> str:
        return json.dumps({"version": self.version, "epoch": self.epoch,
                           "at": round(self.at, 3), "confirmed": self.confirmed,
                           "heartbeat": round(self.heartbeat, 3)}, separators=(",", ":"))

    def stale(self, now: float, budget: float = STALE_AFTER) -> bool:
        return now - self.heartbeat > budget

    def expired(self, now: float) -> bool:
        return now - self.heartbeat > FORGET_AFTER


def _whole(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MOST:
        raise BadAck(f"{key} is not a whole number from 0 to 2**53")
    return value


def _time(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0 <= value <= 1e11:
        raise BadAck(f"{key} is not a time in unix seconds")
    return float(value)


def parse_ack(name: str, value: str) -> Ack:
    """One field of the applied hash; BadAck saying what is wrong."""
    if not _NAME.fullmatch(name):
        raise BadAck(f"follower name {name[:60]!r} is not a follower name")
    if len(value) > MAX_VALUE:
        raise BadAck(f"{name}: over {MAX_VALUE} bytes")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise BadAck(f"{name}: not JSON") from None
    if not isinstance(data, dict):
        raise BadAck(f"{name}: not a JSON object")
    try:
        confirmed = data["confirmed"]
        if not isinstance(confirmed, bool):
            raise BadAck(f"{name}: confirmed is not true or false")
        return Ack(name, _whole("version", data["version"]), _whole("epoch", data["epoch"]),
                   _time("at", data["at"]), confirmed, _time("heartbeat", data["heartbeat"]))
    except KeyError as exc:
        raise BadAck(f"{name}: no {exc.args[0]}") from None


def parse_acks(fields: Mapping[str, str]) -> tuple[list[Ack], list[str]]:
    """Every field of the hash: the acks, and what was wrong with each field refused."""
    acks, refused = [], []
    for name, value in sorted(fields.items()):
        try:
            acks.append(parse_ack(name, value))
        except BadAck as exc:
            refused.append(str(exc))
    return acks, refused


@dataclass(frozen=True, slots=True)
class FollowerShown:
    """One follower of a service, against the route it should have applied."""

    name: str
    version: int
    epoch: int
    confirmed: bool
    behind: bool           # applied an older version than the route's
    stale: bool            # its heartbeat is older than the budget
    lag: float | None      # route written -> applied (behind: -> now); None: no route known
    heartbeat_age: float

    @property
    def well(self) -> bool:
        return not (self.behind or self.stale) and self.confirmed

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "epoch": self.epoch,
                "confirmed": self.confirmed, "behind": self.behind, "stale": self.stale,
                "lag_s": None if self.lag is None else round(self.lag, 3),
                "heartbeat_age_s": round(self.heartbeat_age, 3)}


def lag(ack: Ack, route_version: int, route_at: float, now: float) -> float:
    """Seconds from the route's write to the follower's apply; while it is behind, to now.
    Never negative: followers' clocks are not ours."""
    end = ack.at if ack.version >= route_version else now
    return max(0.0, end - route_at)


def shown(acks: Iterable[Ack], route: tuple[int, float] | None, now: float,
          budget: float = STALE_AFTER) -> list[FollowerShown]:
    """Each follower not expired, against ``route`` (its version and unix write time)."""
    out = []
    for ack in acks:
        if ack.expired(now):
            continue
        behind = route is not None and ack.version < route[0]
        out.append(FollowerShown(
            ack.follower, ack.version, ack.epoch, ack.confirmed, behind, ack.stale(now, budget),
            None if route is None else lag(ack, route[0], route[1], now),
            max(0.0, now - ack.heartbeat)))
    return out


def required(acks: Iterable[Ack], configured: Iterable[str] | None, now: float,
             seen_within: float = SEEN_WITHIN) -> frozenset[str]:
    """The followers that must apply a route: the configured ones, or else every follower
    heard from in the last ``seen_within`` seconds."""
    if configured is not None:
        return frozenset(configured)
    return frozenset(a.follower for a in acks if now - a.heartbeat <= seen_within)


def followers_applied(acks: Iterable[Ack], route_version: int, now: float, budget: float,
                      required: Iterable[str]) -> tuple[bool, tuple[str, ...]]:
    """Whether every required follower has applied ``route_version`` (confirmed, with a
    heartbeat within ``budget``), and the names of those that have not, sorted. A required
    follower with no ack at all is lagging. For a switchover's verify step: done when the
    first is true; after its deadline, the second names who did not follow."""
    by_name = {a.follower: a for a in acks}
    lagging = tuple(sorted(
        name for name in set(required)
        if (ack := by_name.get(name)) is None or ack.version < route_version
        or not ack.confirmed or ack.stale(now, budget)))
    return not lagging, lagging


DEADLINE = 30.0  # after a route change: how long the controller waits for every follower


@dataclass(frozen=True, slots=True)
class Settled:
    """How a route change went, follower by follower: history's ``followers_applied``."""

    version: int
    took: Mapping[str, float]    # follower -> seconds from the route's write to its apply
    lagging: tuple[str, ...]     # required, and not applied (confirmed) by the deadline
    waited: float

    def as_detail(self) -> dict[str, Any]:
        return {"took": {name: round(s, 3) for name, s in sorted(self.took.items())},
                "lagging": list(self.lagging), "waited": round(self.waited, 3)}

    def message(self) -> str:
        if self.lagging:
            return (f"not applied after {self.waited:.0f}s by {', '.join(self.lagging)}")
        slowest = max(self.took.values(), default=0.0)
        return f"{len(self.took)} followers applied it, the slowest in {slowest:.3f}s"


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A route change the controller waits for its followers to apply."""

    version: int
    route_at: float  # unix seconds the route was written

    def settled(self, acks: Iterable[Ack], required: Iterable[str], now: float,
                budget: float = STALE_AFTER, deadline: float = DEADLINE) -> Settled | None:
        """None while some required follower has not applied it and the deadline is ahead;
        else how long each one that did took, and who did not."""
        acks, required = list(acks), frozenset(required)
        done, lagging = followers_applied(acks, self.version, now, budget, required)
        if not done and now < self.route_at + deadline:
            return None
        # One that applied it and has gone quiet since did apply it: it took, not lagged.
        took = {a.follower: lag(a, self.version, self.route_at, now) for a in acks
                if a.follower in required and a.version >= self.version and a.confirmed}
        return Settled(self.version, took, tuple(n for n in lagging if n not in took),
                       max(0.0, now - self.route_at))
