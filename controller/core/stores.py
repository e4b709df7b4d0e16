"""What this replica knows of its two stores, and whether it can act: pure, fed by the shell
with each state it observes and the time it observed it.

An operator reading status during an outage needs three facts the session state alone does
not give: since when a store has been out (not since its last state change: SUSPENDED then
LOST is one outage), when it was last good, and what that means for this replica now (a
leader cut off from ZooKeeper holds its epoch but may not act on it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Store(StrEnum):
    ZOOKEEPER = "zookeeper"
    REDIS = "redis"


class Blocker(StrEnum):
    """Why this replica cannot act now (reason codes: status, explain and metrics)."""

    NOT_LEADER = "not_leader"
    TAKING_OFFICE = "taking_office"
    ZOOKEEPER_OUT = "zookeeper_unavailable"  # no session: no decision can be committed
    REDIS_OUT = "redis_unreachable"  # decisions commit, but no route reaches the proxies


@dataclass(frozen=True, slots=True)
class Link:
    """One store as this replica sees it. ``state`` is the store's own word for it
    (ZooKeeper's session state, lowercased; for Redis reachable/unreachable)."""

    store: Store
    ok: bool = False
    state: str = "unknown"
    since: float | None = None  # when ``state`` began
    out_since: float | None = None  # when the current outage began; None while ok
    last_ok: float | None = None  # when last seen good (now, while ok); None: never yet
    error: str | None = None

    def observe(self, ok: bool, state: str, now: float, error: str | None = None) -> Link:
        """The link after seeing ``state`` at ``now``; an unchanged state keeps its dates."""
        since = self.since if state == self.state and self.since is not None else now
        if ok:
            return replace(self, ok=True, state=state, since=since, out_since=None,
                           last_ok=now, error=None)
        # An outage begins when it is first seen; SUSPENDED then LOST is still the one.
        out_since = now if self.ok or self.out_since is None else self.out_since
        last_ok = now if self.ok else self.last_ok  # good until this very report
        return replace(self, ok=False, state=state, since=since, out_since=out_since,
                       last_ok=last_ok, error=error)

    def out_for(self, now: float) -> float:
        """Seconds out in the current outage; 0 while ok."""
        if self.ok or self.out_since is None:
            return 0.0
        return max(0.0, now - self.out_since)

    def as_dict(self, now: float) -> dict[str, object]:
        return {"ok": self.ok, "state": self.state, "since": self.since,
                "out_since": self.out_since, "out_seconds": round(self.out_for(now), 3),
                "last_ok": now if self.ok else self.last_ok, "error": self.error}


@dataclass(frozen=True, slots=True)
class Stores:
    zookeeper: Link = Link(Store.ZOOKEEPER)
    redis: Link = Link(Store.REDIS)

    def links(self) -> tuple[Link, Link]:
        return self.zookeeper, self.redis

    def out(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links() if not link.ok)


def session_link(link: Link, session: str, now: float) -> Link:
    """ZooKeeper's link after kazoo reports ``session`` (CONNECTING, CONNECTED, SUSPENDED,
    LOST)."""
    ok = session == "CONNECTED"
    return link.observe(ok, session.lower(), now,
                        None if ok else f"session {session.lower()}")


def redis_link(link: Link, reachable: bool, error: str | None, now: float) -> Link:
    return link.observe(reachable, "reachable" if reachable else "unreachable", now, error)


@dataclass(frozen=True, slots=True)
class Acting:
    """Whether this replica can act as leader now, and every reason it cannot."""

    can_act: bool
    blockers: tuple[Blocker, ...]

    def as_dict(self) -> dict[str, object]:
        return {"can_act": self.can_act, "why_not": [str(b) for b in self.blockers]}


def acting(stores: Stores, *, holds_epoch: bool, in_office: bool) -> Acting:
    """A leader acts while it holds its epoch, has taken office, and reaches both stores
    (without Redis it still commits decisions, but no proxy hears of them)."""
    blockers: list[Blocker] = []
    if not holds_epoch:
        blockers.append(Blocker.NOT_LEADER)
    elif not in_office:
        blockers.append(Blocker.TAKING_OFFICE)
    if not stores.zookeeper.ok:
        blockers.append(Blocker.ZOOKEEPER_OUT)
    if not stores.redis.ok:
        blockers.append(Blocker.REDIS_OUT)
    return Acting(not blockers, tuple(blockers))


@dataclass(frozen=True, slots=True)
class StoresCheck:
    """The condition explain shows first: both stores reachable from the asked replica.
    Shaped like the policy's conditions (decide.Check.as_dict)."""

    ok: bool
    reason: Blocker | None
    evidence: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {"check": "stores_reachable", "ok": self.ok,
                "reason": None if self.reason is None else str(self.reason),
                "until": None, "evidence": self.evidence}


def stores_check(stores: Stores, now: float) -> StoresCheck:
    out = stores.out()
    reason = None
    if not stores.zookeeper.ok:
        reason = Blocker.ZOOKEEPER_OUT
    elif not stores.redis.ok:
        reason = Blocker.REDIS_OUT
    evidence: dict[str, object] = {
        link.store.value: {"state": link.state, "out_seconds": round(link.out_for(now), 1),
                           **({"error": link.error} if link.error else {})}
        for link in stores.links()}
    return StoresCheck(not out, reason, evidence)
