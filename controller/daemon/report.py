"""What the API shows of this replica: its stores and whether it can act, readiness, and the
status of every service (the same snapshot the planner gets, with each member's probes,
checks and votes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from config.models import RedisConfig, ServiceConfig
from controller.adapters.routes import PublishOutcome, RouteStore
from controller.adapters.zookeeper import Session
from controller.core.decide import ServiceView, redundancy
from controller.core.plan import Inputs, Memory, evacuation
from controller.core.records import Decided
from controller.core.stores import (
    Acting,
    Blocker,
    Link,
    Stores,
    acting,
    redis_link,
    session_link,
    stores_check,
)
from controller.daemon.metrics import Metrics
from controller.daemon.office import Leader, Office
from controller.daemon.publishing import Publisher
from controller.daemon.state import ServiceState
from controller.daemon.views import PeerViews
from controller.events import Event
from controller.followers.route import Route
from probes.scheduler import ProbeScheduler


class SeenRoutes(RouteStore):
    """The route store, remembering the version Redis last answered per service (a read,
    or a write's stored version): the Redis side of failover_route_version, at no extra
    round trip."""

    def __init__(self, config: RedisConfig, metrics: Metrics) -> None:
        super().__init__(config)
        self._versions = metrics.route_version

    async def publish(self, service: ServiceConfig, decided: Decided, writer_epoch: int,
                      detail: dict[str, Any] | None = None, *, create: bool = False
                      ) -> PublishOutcome:
        outcome = await super().publish(service, decided, writer_epoch, detail, create=create)
        if outcome.stored_version.isdigit():  # as Redis holds it: a forged one may not be
            self._versions.labels(service.name, "redis").set(int(outcome.stored_version))
        return outcome

    async def read(self, service: str) -> Route | None:
        route = await super().read(service)
        self._versions.labels(service, "redis").set(-1 if route is None else route.version)
        return route


class StoreWatch:
    """Dates what the shell sees of its stores (the session as kazoo reports it, Redis as
    the last route read or ping answered: a reconcile interval's precision) and logs each
    outage once, as a warning, and its end with how long it lasted."""

    def __init__(self, log: Any, office: Office, publisher: Callable[[], Publisher],
                 metrics: Metrics) -> None:
        self._log, self._office, self._metrics = log, office, metrics
        self._publisher = publisher  # Redis's state is its last answer
        self.stores = Stores()
        self._epoch: int | None = None  # the newest seen on the epoch node
        metrics.watch(lambda: self.observe(time.time()), lambda: (
            office.epoch is not None and office.session is Session.CONNECTED))

    def observe(self, now: float) -> Stores:
        """The stores as last seen (the session; Redis's last answer), dated ``now``."""
        before, publisher = self.stores, self._publisher()
        self.stores = after = Stores(
            session_link(before.zookeeper, self._office.session, now),
            redis_link(before.redis, publisher.redis_ok, publisher.redis_error, now))
        for old, new in zip(before.links(), after.links(), strict=True):
            self._log_change(old, new, now)
        return after

    def acting(self, now: float) -> Acting:
        office = self._office
        return acting(self.observe(now), holds_epoch=office.epoch is not None,
                      in_office=office.in_office)

    def shown(self, now: float) -> dict[str, Any]:
        """Status's top: each store, and whether this replica can act (a leader whose
        session is suspended still holds its epoch, and must not look as if all were
        well)."""
        stores = self.observe(now)
        return {"stores": {link.store.value: link.as_dict(now) for link in stores.links()},
                "session": stores.zookeeper.state, **self.acting(now).as_dict(),
                "config_digest": self._metrics.config_digest}

    def on_session(self, then: Callable[[Session], None]) -> Callable[[Session], None]:
        """kazoo's session listener: ``then`` (leadership) first, then the state dated."""
        def heard(state: Session) -> None:
            then(state)
            self.observe(time.time())
        return heard

    def on_epoch_node(self, then: Callable[[dict[str, Any]], None]
                      ) -> Callable[[dict[str, Any]], None]:
        """The epoch node's watch: count each new leadership (not the first one seen)."""
        def heard(info: dict[str, Any]) -> None:
            epoch = info.get("epoch")
            if isinstance(epoch, int) and epoch != self._epoch:
                if self._epoch:  # None or 0: no leader seen yet
                    self._metrics.leadership_changes.inc()
                self._epoch = epoch
            then(info)
        return heard

    def _log_change(self, old: Link, new: Link, now: float) -> None:
        # Only once it has been good: before that, starting up says enough.
        if new.state == old.state or old.last_ok is None:
            return
        if new.ok:
            self._log.info(Event.STORE_RECOVERED, store=str(new.store), state=new.state,
                           out_seconds=round(now - (old.out_since or now), 3))
        else:
            self._log.warning(Event.STORE_UNAVAILABLE, store=str(new.store),
                              state=new.state, previous=old.state, error=new.error,
                              out_seconds=round(new.out_for(now), 3))


def with_stores(explained: dict[str, Any], stores: Stores, now: float) -> dict[str, Any]:
    """Explain's answer with the asked replica's stores as its first condition: an outage
    is the blocker, ahead of the policy's reason (kept as ``policy_reason``). Without
    ZooKeeper nothing is committed; without Redis a failover commits, but no proxy hears."""
    check = stores_check(stores, now)
    out = {**explained, "conditions": [check.as_dict(), *explained["conditions"]]}
    if check.ok:
        return out
    out["blocked_by"] = ["stores_reachable", *explained["blocked_by"]]
    out["policy_reason"], out["reason"] = explained["reason"], str(check.reason)
    if check.reason is Blocker.ZOOKEEPER_OUT:
        out["would_fail_over"] = False
    return out


def readiness(stores: Stores) -> tuple[bool, dict[str, Any]]:
    """Ready while connected to ZooKeeper and Redis, with what is not (the same dated
    states status shows)."""
    zk, redis = stores.zookeeper, stores.redis
    detail = {
        "zookeeper": "connected" if zk.ok else f"session {zk.state}",
        "redis": "reachable" if redis.ok else f"unreachable: {redis.error}",
    }
    return zk.ok and redis.ok, detail


def status(*, node_id: str, leader: Leader, services: Mapping[str, ServiceState],
           inputs: Callable[[ServiceState], Inputs], probes: ProbeScheduler,
           peers: PeerViews,
           open_requests: Callable[[ServiceState], list[dict[str, Any]]],
           top: Mapping[str, Any],
           followers: Callable[[str, float], dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    """``top``: what describes the replica itself (stores, can_act, config digest);
    ``followers``: a service's followers, as they acknowledged its route."""
    shown = {}
    now = time.time()
    for name, state in services.items():
        snap = inputs(state)
        view = snap.view
        members = {}
        for member in state.config.members:
            health = probes.health(name, member.name)
            voted = view.member(member.name)
            if voted is None:  # the view holds every configured member
                continue
            last = health.last
            role = probes.primary_check(name, member.name)
            members[member.name] = {
                "health": str(health.health),
                # its primary_probe's own verdict while routed primary; "standby": not run
                "primary_probe": None if role is None else (
                    str(role.health) if view.primary == member.name else "standby"),
                "latency_ms": round(last.latency * 1000, 1) if last else None,
                "ready": voted.ready,
                "not_ready": list(voted.not_ready),
                "checks": {check: result.as_dict() for check, result in
                           probes.readiness(name, member.name).items()},
                "address": member.address,
                # a former primary whose fence has not succeeded yet: never promoted
                "unfenced": voted.unfenced,
                "votes": {"failing": voted.failing, "healthy": voted.healthy,
                          "replicas": view.replicas},
                # each live replica's verdict on the member, ours included: the split view
                "views": peers.verdicts(name, member.name, str(health.health)),
            }
        pause = state.pause if state.pause and state.pause.active(now) else None
        shown[name] = {
            "primary": view.primary,
            "version": state.decided.version if state.decided else None,
            "mode": str(view.mode),
            "redundant": redundancy(view)[0],
            "recovery_in_flight": view.recovery_in_flight,
            "quorum": view.required,
            "split_view": state.memory.split_view,
            "paused": None if pause is None else {"by": pause.by, "at": pause.at,
                                                  "until": pause.until},
            "switchovers": open_requests(state),
            "evacuation": evacuation(snap, now).as_dict(),
            "members": members,
            **(followers(name, now) if followers is not None else {}),
        }
    return {"node": node_id, "leader": leader.us, "leader_node": leader.node,
            "epoch": leader.epoch, **top, "services": shown}


def set_gauges(metrics: Metrics, view: ServiceView, memory: Memory,
               decided: Decided | None) -> None:
    """The service's gauges, after every evaluation."""
    name = view.name
    for member in view.members:  # which member this replica knows as primary
        metrics.primary.labels(name, member.name).set(int(member.name == view.primary))
    if decided is not None:
        metrics.route_version.labels(name, "zookeeper").set(decided.version)
    metrics.redundant.labels(name).set(int(bool(memory.redundant)))
    for member in view.members:  # members without readiness checks are ready
        metrics.member_ready.labels(name, member.name).set(int(member.ready))
    metrics.split_view.labels(name).set(int(memory.split_view))
    metrics.config_differs.labels(name).set(
        int(view.config_agreeing < view.config_known // 2 + 1))
    primary = view.member(view.primary)
    if primary is not None:
        metrics.failing_votes.labels(name).set(primary.failing)
