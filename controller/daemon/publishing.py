"""The route in Redis and the service's history: publishing the committed decision under
the leader's epoch (behind the office gate), repairing a route out of step with ZooKeeper,
and appending history entries. Redis itself refuses a stale epoch or version (the route
script); this side only reports what it answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.adapters.routes import PublishOutcome, RouteStore, RouteStoreError
from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.republish import Next, after_publish, out_of_sync
from controller.daemon.metrics import Metrics
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from controller.events import Event


class Publisher:
    def __init__(self, *, office: Office, routes: RouteStore, metrics: Metrics, log: Any,
                 node_id: str, step_down: Callable[[str], None],
                 newest_epoch: Callable[[], int | None]) -> None:
        self._office, self._routes, self._metrics, self._log = office, routes, metrics, log
        self._node_id, self._step_down, self._newest_epoch = node_id, step_down, newest_epoch
        self.redis_ok = False
        self.redis_error: str | None = "not checked yet"

    async def publish(self, state: ServiceState, origin: str,
                      detail: dict[str, Any] | None = None, *, create: bool = False
                      ) -> PublishOutcome | None:
        """Copy the committed decision to Redis under our epoch, behind the office gate.
        ``create``: the route was read as missing (only the reconcile says so); a write that
        finds it missing otherwise is refused by Redis, and repaired by a reconcile now."""
        epoch, name = self._office.epoch, state.config.name
        if epoch is None:
            return None
        try:
            await self._office.confirm(epoch)
        except NotInOffice as exc:
            self._log.info(Event.PUBLISH_SKIPPED, service=name, why=str(exc))
            return None
        except Fenced:
            self._step_down("fenced before publishing")
            return None
        except StoreError as exc:  # ZooKeeper cannot confirm us: the reconcile loop retries
            self._log.warning(Event.PUBLISH_DEFERRED, service=name, error=str(exc))
            return None
        decided = state.decided  # read after the gate: the newest committed decision
        if decided is None:
            return None
        try:
            result = await self._routes.publish(state.config, decided, epoch,
                                                {"origin": origin, **(detail or {})},
                                                create=create)
        except RouteStoreError as exc:
            # ZooKeeper has the decision; the reconcile loop publishes once Redis is back.
            self._redis(exc)
            self._metrics.store_errors.labels("redis").inc()
            self._log.error(Event.PUBLISH_FAILED, service=name, epoch=epoch,
                            version=decided.version, error=str(exc))
            return None
        self._redis(None)
        self._metrics.publishes.labels(result.outcome).inc()
        if result.outcome == "applied":
            self._log.info(Event.ROUTE_PUBLISHED, service=name, epoch=epoch,
                           primary=decided.primary, version=decided.version, origin=origin)
        elif result.refused:
            # "conflict": Redis holds another primary under this very version. Never
            # overwritten by a retry; loud, counted, and repeated by every reconcile.
            self._log.error(Event.PUBLISH_REFUSED, service=name, epoch=epoch,
                            version=decided.version, outcome=result.outcome,
                            stored_epoch=result.stored_epoch,
                            stored_version=result.stored_version)
        follow = after_publish(result.outcome, create)
        if follow is Next.STEP_DOWN:
            self._step_down("Redis holds a newer epoch")
        elif follow is Next.REPAIR:
            await self.reconcile(state)
        return result

    async def republish(self, state: ServiceState, origin: str) -> None:
        """Read the route, then publish, creating it if it is missing (on taking office:
        a first start, or Redis emptied meanwhile)."""
        try:
            route = await self._routes.read(state.config.name)
        except RouteStoreError as exc:  # the reconcile loop publishes once Redis is back
            self._redis(exc)
            return
        await self.publish(state, origin, create=route is None)

    async def reconcile(self, state: ServiceState) -> None:
        """Publish again if Redis does not hold the committed decision under our epoch
        (a Redis restart, a FLUSHALL, a write that never arrived)."""
        decided, epoch = state.decided, self._office.epoch
        if decided is None or epoch is None:
            return
        try:
            route = await self._routes.read(state.config.name)
        except RouteStoreError as exc:
            self._redis(exc)
            return
        self._redis(None)
        if out_of_sync(route, decided, epoch):
            self._log.warning(Event.ROUTE_OUT_OF_SYNC, service=state.config.name, epoch=epoch,
                              redis=None if route is None else f"{route.primary}"
                              f"@{route.epoch}/{route.version}",
                              zookeeper=f"{decided.primary}@{decided.version}")
            await self.publish(state, origin="reconcile", create=route is None)

    async def check_redis(self) -> None:
        try:
            await self._routes.ping()
            self._redis(None)
        except RouteStoreError as exc:
            self._redis(exc)

    async def record(self, state: ServiceState, event: str, **fields: Any) -> None:
        """Append to the service's history; a follower records operator requests it took.
        Every entry says who wrote it, in which epoch, and the route's primary as the
        writer knew it then (the member column: "primary -> target" for a move)."""
        primary = state.decided.primary if state.decided is not None else None
        try:
            await self._routes.record(state.config.name, event, epoch=self._newest_epoch(),
                                      node=self._node_id, primary=primary, **fields)
        except RouteStoreError as exc:
            self._log.warning(Event.HISTORY_WRITE_FAILED, service=state.config.name,
                              error=str(exc))

    def _redis(self, error: RouteStoreError | None) -> None:
        self.redis_ok, self.redis_error = error is None, None if error is None else str(error)
