"""The route in Redis and the service's history: publishing the committed decision under
the leader's epoch (behind the office gate), repairing a route out of step with ZooKeeper,
and appending history entries. Redis itself refuses a stale epoch or version (the route
script); this side reports what it answered. What Redis or ZooKeeper holds that no leader
wrote (core/stored_route.py judges it) is repaired or alarmed on, never obeyed: no stepping
down for an epoch ZooKeeper never handed out, no route for a member not configured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from controller.adapters.routes import PublishOutcome, RouteStore, RouteStoreError, Stored
from controller.core.errors import Fenced, NotInOffice, StoreError
from controller.core.records import Decided
from controller.core.republish import Next, after_publish, out_of_sync
from controller.core.stored_route import Answer, Forgery, judge, unconfigured
from controller.daemon.metrics import Metrics
from controller.daemon.notify import Notifier
from controller.daemon.office import Office
from controller.daemon.state import ServiceState
from controller.events import Event


class Publisher:
    def __init__(self, *, office: Office, routes: RouteStore, metrics: Metrics, log: Any,
                 node_id: str, step_down: Callable[[str], None],
                 newest_epoch: Callable[[], int | None],
                 epoch_handed_out: Callable[[], Awaitable[int]], notifier: Notifier) -> None:
        self._office, self._routes, self._metrics, self._log = office, routes, metrics, log
        self._notifier = notifier  # every history entry: a log line, and who must hear
        self._node_id, self._step_down, self._newest_epoch = node_id, step_down, newest_epoch
        self._handed_out = epoch_handed_out  # ZooKeeper's newest epoch, read now
        # Per service, the stored (epoch, version) last alarmed on: said once, not per pass.
        self._alarmed: dict[str, tuple[bytes, bytes]] = {}
        self._refused: dict[str, int] = {}  # per service, the decision version refused last
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
        decided = await self._trusted(state)  # after the gate: the newest committed decision
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
        follow = after_publish(result.outcome, create)
        if follow is Next.JUDGE:
            # Judged on what Redis holds now: a newer leader's (step down) or no leader's.
            await self._judge_stored(state, epoch)
        elif result.outcome == "applied":
            self._log.info(Event.ROUTE_PUBLISHED, service=name, epoch=epoch,
                           primary=decided.primary, version=decided.version, origin=origin)
            # The route script wrote the route_changed entry; it is news as any other.
            self._notifier.offer(name, "route_changed", epoch, primary=decided.primary,
                                 address=decided.address, version=decided.version,
                                 reason=decided.reason, origin=origin)
        elif result.refused:
            # "conflict": Redis holds another primary under this very version. Never
            # overwritten by a retry; loud, counted, and repeated by every reconcile.
            self._log.error(Event.PUBLISH_REFUSED, service=name, epoch=epoch,
                            version=decided.version, outcome=result.outcome,
                            stored_epoch=result.stored_epoch,
                            stored_version=result.stored_version)
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
            stored = await self._routes.read_stored(state.config.name)
        except RouteStoreError as exc:
            self._redis(exc)
            return
        self._redis(None)
        if await self._judge_stored(state, epoch, stored):
            return
        route = stored.route
        if out_of_sync(route, decided, epoch):
            self._log.warning(Event.ROUTE_OUT_OF_SYNC, service=state.config.name, epoch=epoch,
                              redis=None if route is None else f"{route.primary}"
                              f"@{route.epoch}/{route.version}",
                              zookeeper=f"{decided.primary}@{decided.version}")
            await self.publish(state, origin="reconcile", create=route is None)

    async def _judge_stored(self, state: ServiceState, epoch: int,
                            stored: Stored | None = None) -> bool:
        """Is the stored route not ours to publish over? A newer leader's (we step down),
        or no leader's (repaired, or alarmed on). ZooKeeper is asked only for an epoch
        above ours. False: carry on as usual."""
        name, decided = state.config.name, state.decided
        if decided is None:
            return False
        try:
            if stored is None:
                stored = await self._routes.read_stored(name)
            if stored.route is None and stored.problem is None:
                return False  # no route: created by the reconcile
            judged = judge(stored.epoch, stored.version, stored.problem is None, epoch,
                           decided.version)
            if judged.answer is Answer.ASK_ZOOKEEPER:
                judged = judge(stored.epoch, stored.version, True, epoch, decided.version,
                               await self._handed_out())
        except (RouteStoreError, StoreError) as exc:  # the next reconcile judges again
            self._log.warning(Event.PUBLISH_DEFERRED, service=name, error=str(exc))
            return True
        if judged.answer is Answer.STEP_DOWN:
            self._step_down("Redis holds a newer epoch")
        elif judged.forgery is not None:
            await self._forged(state, epoch, stored, judged.forgery,
                               repair=judged.answer is Answer.REPAIR)
        return judged.answer is not Answer.KEEP

    async def _forged(self, state: ServiceState, epoch: int, stored: Stored, why: Forgery,
                      *, repair: bool) -> None:
        """Replace a route no leader wrote (a compare-and-swap on the stored epoch and
        version, behind the office gate), or only alarm; never step down over it."""
        name = state.config.name
        seen = {"service": name, "why": str(why), "stored_epoch": stored.epoch,
                "stored_version": stored.version, "problem": stored.problem}
        outcome, decided = "alarm", None
        if repair:
            try:
                await self._office.confirm(epoch)
                decided = await self._trusted(state)  # after the gate, as a publish reads it
                if decided is not None:
                    outcome = (await self._routes.repair(
                        state.config, decided, epoch, stored, str(why),
                        {"origin": "repair", "forged_epoch": stored.epoch,
                         "forged_version": stored.version, "problem": stored.problem})).outcome
            except (NotInOffice, Fenced, StoreError, RouteStoreError) as exc:
                self._log.warning(Event.PUBLISH_DEFERRED, service=name, error=str(exc))
                return  # not in office, or no answer: the next reconcile looks again
        if outcome == "repaired":
            self._alarmed.pop(name, None)
            self._metrics.route_forgeries.labels(name, str(why)).inc()
            self._log.error(Event.ROUTE_FORGERY_REPAIRED, epoch=epoch,
                            primary=decided.primary if decided else None, **seen)
            return
        if outcome == "alarm" and self._alarmed.get(name) != (stored.raw_epoch,
                                                              stored.raw_version):
            self._alarmed[name] = (stored.raw_epoch, stored.raw_version)
            self._metrics.route_forgeries.labels(name, str(why)).inc()
            self._log.error(Event.ROUTE_FORGERY_UNREPAIRED, epoch=epoch, **seen)
            await self.record(state, "route_forgery_unrepaired", reason=str(why),
                              detail={"forged_epoch": stored.epoch,
                                      "forged_version": stored.version})

    async def _trusted(self, state: ServiceState) -> Decided | None:
        """The committed decision, unless it names no configured member or routes one at
        another address: a stranger's write to ZooKeeper, never published (the planner
        replaces it); refused, counted and recorded once per decision version."""
        decided = state.decided
        if decided is None:
            return None
        members = {m.name: m.address for m in state.config.members}
        why = unconfigured(decided.primary, decided.address, members)
        if why is None:
            return decided
        name = state.config.name
        if self._refused.get(name) != decided.version:
            self._refused[name] = decided.version
            self._metrics.route_forgeries.labels(name, str(why)).inc()
            self._log.error(Event.DECISION_REFUSED, service=name, why=str(why),
                            primary=decided.primary, address=decided.address,
                            version=decided.version)
            await self.record(state, "decision_refused", reason=str(why),
                              target=decided.primary, address=decided.address,
                              version=decided.version)
        return None

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
        epoch = self._newest_epoch()
        self._notifier.offer(state.config.name, event, epoch, primary=primary, **fields)
        try:
            await self._routes.record(state.config.name, event, epoch=epoch,
                                      node=self._node_id, primary=primary, **fields)
        except RouteStoreError as exc:
            self._log.warning(Event.HISTORY_WRITE_FAILED, service=state.config.name,
                              error=str(exc))

    def _redis(self, error: RouteStoreError | None) -> None:
        self.redis_ok, self.redis_error = error is None, None if error is None else str(error)
