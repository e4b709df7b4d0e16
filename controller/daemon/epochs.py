"""What Redis's routes say about epochs handed out before: the floor an emptied ZooKeeper's
counter is raised past (core/recovery.py), and the route a lost decision is rebuilt from."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from controller.adapters.routes import RouteStore, RouteStoreError
from controller.core.errors import StoreError
from controller.core.recovery import RoutedAt
from controller.events import Event


async def read_route_epochs(routes: RouteStore, services: Sequence[str],
                            saw: Callable[[int], None], log: Any,
                            retry: float | None = None) -> bool:
    """Tell ``saw`` the highest epoch in Redis's routes (0 with none). With ``retry``, tried
    every ``retry`` seconds until Redis answers; until then this replica takes no epoch
    from a counter at 0. Returns whether Redis answered."""
    while True:
        try:
            found = [await routes.read(name) for name in services]
        except RouteStoreError as exc:
            log.warning(Event.EPOCH_FLOOR_UNREAD, error=str(exc))
            if retry is None:
                return False
            await asyncio.sleep(retry)
            continue
        saw(max((r.epoch for r in found if r is not None), default=0))
        return True


async def routed_at(routes: RouteStore, service: str,
                    saw: Callable[[int], None]) -> RoutedAt | None:
    """Redis's route, to rebuild a lost decision from; StoreError while Redis is out."""
    try:
        route = await routes.read(service)
    except RouteStoreError as exc:
        raise StoreError(f"Redis: {exc}") from exc
    if route is None:
        return None
    saw(route.epoch)
    return RoutedAt(route.primary, route.version)
