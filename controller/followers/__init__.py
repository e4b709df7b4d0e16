"""What runs beside proxies and applications: route following, the HAProxy
agent, the RouteWatcher client. Never imports the daemon."""

from controller.followers.watcher import RouteWatcher

__all__ = ["RouteWatcher"]
