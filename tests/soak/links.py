"""Cuttable links: one TCP proxy on loopback per (controller, server) pair.

A cut link behaves like a partition, not like a dead server: nothing is refused or reset;
bytes just stop arriving (what is read is dropped) and new connections hang. Healing
closes every connection that lived through the cut, so clients reconnect as they would
after a partition long enough to time them out. All proxies share one event loop in a
thread of the soak's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

from controller.devtools.sandbox import LOOPBACK, free_port


@dataclass(eq=False)
class Link:
    name: str
    target: int
    port: int = field(default_factory=free_port)
    cut: bool = False
    healed: asyncio.Event = field(default_factory=asyncio.Event)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)


class ProxyLinks:
    """The soak's links through proxies (the interface of netns.NamespaceLinks)."""

    zk_hosts = [LOOPBACK] * 3
    redis_host = LOOPBACK

    def __init__(self, why: str) -> None:
        self.description = (f"link cuts emulated by per-link TCP proxies on loopback; no "
                            f"network namespaces ({why})")
        self._links = Links()

    def member_host(self, name: str) -> str:
        return LOOPBACK

    def api_host(self, i: int) -> str:
        return LOOPBACK

    def wrap(self, i: int) -> list[str]:
        return []

    def endpoint(self, i: int, name: str, host: str, port: int) -> tuple[str, int]:
        return LOOPBACK, self._links.add(f"c{i}-{name}", port).port

    def cut(self, i: int, names: list[str]) -> None:
        for name in names:
            self._links.cut(f"c{i}-{name}")

    def heal(self, i: int, names: list[str]) -> None:
        for name in names:
            self._links.heal(f"c{i}-{name}")

    def close(self) -> None:
        self._links.close()


class Links:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.links: dict[str, Link] = {}
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, name="links",
                                        daemon=True)
        self._thread.start()

    def add(self, name: str, target: int) -> Link:
        link = self.links[name] = Link(name, target)
        asyncio.run_coroutine_threadsafe(self._serve(link), self.loop).result(5)
        return link

    def cut(self, name: str) -> None:
        asyncio.run_coroutine_threadsafe(self._cut(self.links[name]), self.loop).result(5)

    def heal(self, name: str) -> None:
        asyncio.run_coroutine_threadsafe(self._heal(self.links[name]), self.loop).result(5)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for link in self.links.values():
                await self._heal(link)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    # --- on the links' loop -------------------------------------------------------------

    async def _serve(self, link: Link) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            link.writers.add(writer)
            try:
                if link.cut:
                    await link.healed.wait()  # hangs, like a SYN into a partition
                    return
                try:
                    up_reader, up_writer = await asyncio.open_connection(LOOPBACK, link.target)
                except OSError:
                    return  # the server is down: the client sees its connection close
                link.writers.add(up_writer)
                try:
                    await asyncio.gather(self._pipe(link, reader, up_writer),
                                         self._pipe(link, up_reader, writer))
                finally:
                    link.writers.discard(up_writer)
                    up_writer.close()
            finally:
                link.writers.discard(writer)
                writer.close()

        self._servers.append(await asyncio.start_server(accept, LOOPBACK, link.port))

    @staticmethod
    async def _pipe(link: Link, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if link.cut:
                    continue  # lost in the partition
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _cut(self, link: Link) -> None:
        link.cut = True
        link.healed = asyncio.Event()

    async def _heal(self, link: Link) -> None:
        link.cut = False
        link.healed.set()
        for writer in list(link.writers):
            writer.close()
        link.writers.clear()
