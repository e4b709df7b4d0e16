"""Real network partitions for the soak: network namespaces it creates and removes itself.

Layout (TAG unique per run; every address belongs to a namespace made here, and nothing
routes out of them):

    fo{TAG}h    the hub: a bridge with an address per server (ZooKeeper nodes .11-.13,
                Redis .20, members .31-.33 in 10.240.0.0/24) where they listen; the soak
                itself runs here
    fo{TAG}c{i} one per controller replica (10.240.0.10{i}), on the bridge through a veth
    fo{TAG}v    the void: forwarding off, no listeners

Cutting controller i off a server routes that server's address, inside the controller's
namespace, to the void (10.241.i.0/30), which drops every packet without a word:
connections hang and time out as in a real partition, while the controller's other links
work. Healing deletes the route. The kernel here has no qdisc or dummy devices to drop
with, hence the void.
"""

from __future__ import annotations

import os
import shutil
import subprocess

NET = "10.240.0"


class NamespaceLinks:
    """The soak's links over namespaces (the interface of links.ProxyLinks)."""

    description = ("network partitions: each controller in its own network namespace; a cut "
                   "routes the server's address into a void namespace")

    def __init__(self, tag: str, replicas: int) -> None:
        self.tag, self.replicas = tag, replicas
        self.hub, self.void = f"fo{tag}h", f"fo{tag}v"
        self.nodes = [f"fo{tag}c{i}" for i in range(replicas)]
        self.zk_hosts = [f"{NET}.{11 + i}" for i in range(3)]
        self.redis_host = f"{NET}.20"
        self._members: dict[str, str] = {}
        self._hosts: dict[str, str] = {}  # server name -> address, from endpoint()
        self._cut: set[tuple[int, str]] = set()

    # --- the soak's interface -----------------------------------------------------------

    def member_host(self, name: str) -> str:
        return self._members.setdefault(name, f"{NET}.{31 + len(self._members)}")

    def api_host(self, i: int) -> str:
        return f"{NET}.{101 + i}"

    def wrap(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.nodes[i]]

    def endpoint(self, i: int, name: str, host: str, port: int) -> tuple[str, int]:
        self._hosts[name] = host
        return host, port  # controllers reach servers directly; cuts are routes

    def cut(self, i: int, names: list[str]) -> None:
        for host in (self._hosts[n] for n in names):
            _ip("-n", self.nodes[i], "route", "replace", f"{host}/32", "via",
                f"10.241.{i}.2", "dev", "void")
            self._cut.add((i, host))

    def heal(self, i: int, names: list[str]) -> None:
        for host in (self._hosts[n] for n in names):
            if (i, host) in self._cut:
                _ip("-n", self.nodes[i], "route", "del", f"{host}/32")
                self._cut.discard((i, host))

    def close(self) -> None:
        for i, host in sorted(self._cut):
            _ip("-n", self.nodes[i], "route", "del", f"{host}/32")
        self._cut.clear()

    # --- setting up and tearing down (outside the hub) ----------------------------------

    def create(self, members: int = 3) -> None:
        try:
            for ns in (self.hub, self.void, *self.nodes):
                _ip("netns", "add", ns)
                _ip("-n", ns, "link", "set", "dev", "lo", "up")
            _ip("-n", self.hub, "link", "add", "name", "br", "type", "bridge")
            addresses = [f"{NET}.1", *self.zk_hosts, self.redis_host,
                         *(f"{NET}.{31 + m}" for m in range(members))]
            for address in addresses:
                _ip("-n", self.hub, "addr", "add", f"{address}/24", "dev", "br")
            _ip("-n", self.hub, "link", "set", "dev", "br", "up")
            for i, ns in enumerate(self.nodes):
                _ip("-n", self.hub, "link", "add", "name", f"c{i}", "type", "veth", "peer",
                    "name", "eth0", "netns", ns)
                _ip("-n", self.hub, "link", "set", "dev", f"c{i}", "master", "br", "up")
                _ip("-n", ns, "addr", "add", f"{self.api_host(i)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "dev", "eth0", "up")
                _ip("-n", ns, "link", "add", "name", "void", "type", "veth", "peer", "name",
                    f"w{i}", "netns", self.void)
                _ip("-n", ns, "addr", "add", f"10.241.{i}.1/30", "dev", "void")
                _ip("-n", ns, "link", "set", "dev", "void", "up")
                _ip("-n", self.void, "addr", "add", f"10.241.{i}.2/30", "dev", f"w{i}")
                _ip("-n", self.void, "link", "set", "dev", f"w{i}", "up")
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        for ns in (*self.nodes, self.void, self.hub):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def unavailable() -> str | None:
    """Why namespaces cannot be used here, or None if they can (tried, then removed)."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    probe = f"fo{os.getpid() % 100000}p"
    try:
        _ip("netns", "add", probe)
        _ip("-n", probe, "link", "add", "name", "a", "type", "veth", "peer", "name", "b")
    except RuntimeError as exc:
        return str(exc)
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
