"""What each service's followers (HAProxy agents, RouteWatchers) acknowledged, as every
replica reads it from Redis: for status, explain and metrics, and, on the leader, a
``followers_applied`` history entry after each route change, once every follower that must
apply it did (or at the deadline, naming those that did not).

Every replica reads all services' applied hashes in one round trip a second; what is in
them is input (acks.py). Only the leader writes: history, and dropping the entries of
followers not heard from in an hour (a follower never deletes another's entry).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from controller.adapters.routes import RouteStore, RouteStoreError
from controller.core.errors import StoreError
from controller.daemon.metrics import Metrics
from controller.daemon.state import ServiceState
from controller.events import Event
from controller.followers.acks import Ack, Awaiting, parse_acks, required, shown

Record = Callable[..., Awaitable[None]]  # publisher.record(state, event, **fields)


class FollowerWatch:
    def __init__(self, services: Mapping[str, ServiceState], routes: RouteStore,
                 metrics: Metrics, log: Any, record: Record, may_act: Callable[[], bool],
                 interval: float = 1.0) -> None:
        self._services, self._routes, self._metrics, self._log = services, routes, metrics, log
        self._record, self._may_act, self._interval = record, may_act, interval
        self._acks: dict[str, list[Ack]] = {}
        self._refused: dict[str, frozenset[str]] = {}  # what was wrong, per field refused
        self._labelled: dict[str, set[str]] = {}  # followers with metric series
        self._versions: dict[str, int] = {}  # the route version last seen, per service
        self._awaiting: dict[str, Awaiting] = {}  # route changes not settled yet

    async def run(self) -> None:
        names = list(self._services)
        while True:
            try:
                read = await self._routes.read_applied(names)
                now = time.time()
                for name, fields in read.items():
                    await self.heard(self._services[name], fields, now)
            except RouteStoreError:
                pass  # Redis's state is the store watch's to report; the last read stays
            except Exception:  # what followers write must never stop status or metrics
                self._log.exception(Event.FOLLOWER_WATCH_CRASHED)
            await asyncio.sleep(self._interval)

    async def heard(self, state: ServiceState, fields: Mapping[str, str], now: float) -> None:
        """One read of the service's applied hash."""
        name = state.config.name
        acks, refused = parse_acks(fields)
        new = frozenset(refused) - self._refused.get(name, frozenset())
        if new:  # the same forged field, read every second, counts once
            self._metrics.follower_acks_refused.labels(name).inc(len(new))
            self._log.warning(Event.FOLLOWER_ACKS_REFUSED, service=name, refused=sorted(new))
        self._refused[name] = frozenset(refused)
        expired = [a.follower for a in acks if a.expired(now)]
        if expired and self._may_act():
            with contextlib.suppress(RouteStoreError):
                await self._routes.forget_applied(name, expired)
        self._acks[name] = [a for a in acks if not a.expired(now)]
        self._gauges(state, now)
        await self._settle(state, now)

    def _route(self, state: ServiceState) -> tuple[int, float] | None:
        decided = state.decided
        return None if decided is None else (decided.version, decided.updated_at)

    def _gauges(self, state: ServiceState, now: float) -> None:
        name, m = state.config.name, self._metrics
        followers = shown(self._acks[name], self._route(state), now)
        before, after = self._labelled.get(name, set()), {f.name for f in followers}
        for gone in before - after:  # dropped: its series go too, not frozen at a value
            for gauge in (m.follower_behind, m.follower_lag, m.follower_stale):
                with contextlib.suppress(KeyError):
                    gauge.remove(name, gone)
        for f in followers:
            m.follower_behind.labels(name, f.name).set(int(f.behind))
            m.follower_stale.labels(name, f.name).set(int(f.stale))
            if f.lag is not None:
                m.follower_lag.labels(name, f.name).set(f.lag)
        self._labelled[name] = after

    async def _settle(self, state: ServiceState, now: float) -> None:
        """After a route change: once it settles, the leader records how it went."""
        name, decided = state.config.name, state.decided
        if decided is None:
            return
        seen, self._versions[name] = self._versions.get(name), decided.version
        if seen is not None and decided.version > seen:  # a newer change replaces one waited
            self._awaiting[name] = Awaiting(decided.version, decided.updated_at)
        waiting = self._awaiting.get(name)
        if waiting is None:
            return
        acks = self._acks[name]
        must = required(acks, state.config.followers, now)
        settled = waiting.settled(acks, must, now) if must else None
        if settled is None and must:
            return
        del self._awaiting[name]
        if settled is None or not self._may_act():  # no followers; or not ours to record
            return
        level = self._log.warning if settled.lagging else self._log.info
        level(Event.FOLLOWERS_NOT_APPLIED if settled.lagging else Event.FOLLOWERS_APPLIED,
              service=name, version=settled.version, **settled.as_detail())
        await self._record(state, "followers_applied", version=settled.version,
                           reason="followers_lagging" if settled.lagging else "applied",
                           message=settled.message(), detail=settled.as_detail())

    def shown(self, service: str, now: float) -> dict[str, Any]:
        """Status's and explain's followers of ``service``: each one's applied version,
        lag and staleness, a configured one never heard from as missing, and how many
        fields of the hash were refused."""
        state = self._services[service]
        acks = self._acks.get(service, [])
        listed = [f.as_dict() for f in shown(acks, self._route(state), now)]
        heard = {a.follower for a in acks}
        listed += [{"name": n, "version": None, "epoch": None, "confirmed": False,
                    "behind": True, "stale": True, "lag_s": None, "heartbeat_age_s": None,
                    "missing": True}
                   for n in state.config.followers or () if n not in heard]
        return {"followers": listed, "followers_required": state.config.followers,
                "followers_refused": len(self._refused.get(service, ()))}


async def read_acks(routes: RouteStore, service: str) -> list[Ack]:
    """One service's acknowledgements, read now (a switchover's verify step waits on them);
    StoreError while Redis is out. Refused fields are the watch's to count."""
    try:
        fields = (await routes.read_applied([service]))[service]
    except RouteStoreError as exc:
        raise StoreError(f"Redis: {exc}") from exc
    return parse_acks(fields)[0]
