"""Notifications, off every path that acts: a history entry (and every route change) is
offered here; a bounded queue takes it without waiting, and one worker sends it to each
target that wants it, each try bounded by the target's timeout, failed tries again after a
back-off. A full queue drops the notification and counts it: a failover never waits for a
chat server. Every entry offered is also one JSON log line (``history_entry``), so the audit
trail outlives Redis's capped history stream.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from config.models import Config
from config.notify import DEFAULT_EVENTS, NotifyConfig
from controller.adapters.notify import NotifySender
from controller.core.notify import Notification, backoff, wanted
from controller.daemon.metrics import Metrics
from controller.events import Event

QUEUE = 1000  # notifications waiting to be sent, at most


class Notifier:
    def __init__(self, config: Config, node: str, metrics: Metrics, log: Any,
                 user_agent: str) -> None:
        self._targets: tuple[NotifyConfig, ...] = tuple(config.notify)
        self._cluster, self._node = config.cluster, node
        self._metrics, self._log = metrics, log
        self._sender = NotifySender(user_agent)
        self._queue: asyncio.Queue[tuple[NotifyConfig, Notification]] = asyncio.Queue(QUEUE)
        for target in self._targets:
            for result in ("sent", "failed", "dropped"):
                self._metrics.notifications.labels(target.name, result)

    def offer(self, service: str, event: str, epoch: int | None, **fields: Any) -> None:
        """A history entry: logged now, queued for every target that wants it."""
        self._log.info(Event.HISTORY_ENTRY, service=service, history_event=event,
                       epoch=epoch, **fields)
        note = Notification(event, service, self._cluster, self._node, epoch, time.time(),
                            fields)
        for target in self._targets:
            if not wanted(target.events, DEFAULT_EVENTS, event):
                continue
            try:
                self._queue.put_nowait((target, note))
            except asyncio.QueueFull:
                self._metrics.notifications.labels(target.name, "dropped").inc()
                self._log.warning(Event.NOTIFICATION_DROPPED, target=target.name,
                                  service=service, history_event=event, queued=QUEUE)

    async def run(self) -> None:
        """The worker: one notification at a time, in order."""
        while True:
            target, note = await self._queue.get()
            for attempt in range(1, target.attempts + 1):
                sent, detail = await self._sender.send(target, note)
                if sent:
                    self._metrics.notifications.labels(target.name, "sent").inc()
                    break
                self._log.warning(Event.NOTIFICATION_FAILED, target=target.name,
                                  service=note.service, history_event=note.event,
                                  attempt=attempt, attempts=target.attempts, detail=detail)
                if attempt < target.attempts:
                    await asyncio.sleep(backoff(attempt))
            else:
                self._metrics.notifications.labels(target.name, "failed").inc()

    async def close(self) -> None:
        await self._sender.close()
