"""A steady client load for the benches, and what it saw around a switchover.

Each ``Client`` is one thread on one path (a proxy, or the primary's address read from the
route as an application would) that alternates a write (``POST /``) and a read (``GET /``)
on a kept-alive connection, one request every ``interval``, and logs every answer with
wall-clock times, so that they compare with the members' own records of their hooks.
``cost`` (pure) reads one switchover's share of that log.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.followers.watcher import RouteWatcher


@dataclass(frozen=True, slots=True)
class Answer:
    write: bool  # POST / (else GET /)
    started: float  # unix seconds
    ended: float
    ok: bool  # a 200
    member: str | None  # who answered a 200 ("written by web-b" -> "web-b")


@dataclass(frozen=True, slots=True)
class Cost:
    """What one switchover cost a path's clients."""

    failed_writes: int
    failed_reads: int
    gap_ms: float | None  # the old primary fenced -> first answer from the new one
    last_failure_ms: float | None  # the old primary fenced -> the last failed answer
    slowest_write_ms: float  # the longest a write waited for its answer


def cost(answers: Sequence[Answer], start: float, end: float, fenced_at: float,
         target: str) -> Cost:
    """The switchover's cost among ``answers`` sent in [start, end): the failures; the time
    from ``fenced_at`` to the first answer by ``target`` after it, and to the last failed
    answer (None: there was none); the slowest write."""
    window = [a for a in answers if start <= a.started < end]
    firsts = [a.ended for a in window if a.ok and a.member == target and a.ended >= fenced_at]
    failed = [a for a in window if not a.ok]
    return Cost(sum(1 for a in failed if a.write), sum(1 for a in failed if not a.write),
                (min(firsts) - fenced_at) * 1000 if firsts else None,
                (max(a.ended for a in failed) - fenced_at) * 1000 if failed else None,
                max(((a.ended - a.started) * 1000 for a in window if a.write), default=0.0))


def spread(values: Sequence[float]) -> str:
    """min / median / max, as one figure each."""
    if not values:
        return "-"
    return f"{min(values):g} / {statistics.median(values):g} / {max(values):g}"


class Client(threading.Thread):
    """Writes and reads, alternately, to wherever ``address()`` says ("host:port")."""

    def __init__(self, name: str, address: Callable[[], str | None],
                 interval: float = 0.004) -> None:
        super().__init__(daemon=True, name=f"load-{name}")
        self.path, self._address, self._interval = name, address, interval
        self.answers: list[Answer] = []
        self.stopping = threading.Event()
        self._connection: tuple[str, http.client.HTTPConnection] | None = None

    def run(self) -> None:
        write = True
        while not self.stopping.is_set():
            address = self._address()
            if address is not None:
                self.answers.append(self._request(address, write))
                write = not write
            self.stopping.wait(self._interval)
        self._close()

    def _request(self, address: str, write: bool) -> Answer:
        started = time.time()
        try:
            connection = self._connect(address)
            connection.request("POST" if write else "GET", "/", body=b"x" if write else None)
            response = connection.getresponse()
            body = response.read().decode(errors="replace").strip()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            self._close()  # a fresh connection next time
            ok, body = False, ""
        if response_closes(body):
            self._close()
        member = body.rsplit(" ", 1)[-1] if ok else None
        return Answer(write, started, time.time(), ok, member)

    def _connect(self, address: str) -> http.client.HTTPConnection:
        if self._connection is None or self._connection[0] != address:
            self._close()
            host, _, port = address.rpartition(":")
            self._connection = (address, http.client.HTTPConnection(host, int(port), timeout=2))
        return self._connection[1]

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection[1].close()
            self._connection = None


def response_closes(body: str) -> bool:
    """An answer that is not the member's own (a proxy's error page) may close the
    connection; start a fresh one rather than find out on the next request."""
    return not body.startswith(("written by", "served by"))


class Follower(threading.Thread):
    """A ``RouteWatcher`` on its own event loop: the route as an application follows it."""

    def __init__(self, redis_url: str, service: str) -> None:
        super().__init__(daemon=True, name="load-route-watcher")
        self._url, self._service = redis_url, service
        self._loop = asyncio.new_event_loop()
        self._watcher: RouteWatcher | None = None
        self._ready = threading.Event()

    def run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._watcher = RouteWatcher(self._url, [self._service])
        await self._watcher.start()

    def address(self) -> str | None:
        return self._watcher.address(self._service) if self._watcher is not None else None

    def wait_started(self, timeout: float = 10) -> None:
        if not self._ready.wait(timeout):
            raise SystemExit(f"the route watcher did not start within {timeout:g}s")

    def stop(self) -> None:
        if self._watcher is not None:
            asyncio.run_coroutine_threadsafe(self._watcher.close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.join(5)
