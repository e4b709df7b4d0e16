"""Following the route, as a proxy agent or an application does. Pure: no I/O, no clock.

A follower hears of routes twice over: PUBLISH messages (fast) and re-reads of the route hash
(periodic, and after every reconnect, so a missed message never leaves it stale). It applies
a route only if it is newer than the one it has, by (epoch, version), so a replayed or stale
message can never move traffic back. When Redis is unreachable it keeps the last route it
applied and reports how long it has not heard from Redis: it never changes traffic because
Redis blinked.

``plan_haproxy`` turns a route into HAProxy Runtime API commands for one backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Route:
    primary: str
    address: str
    epoch: int
    version: int
    reason: str = ""

    @property
    def order(self) -> tuple[int, int]:
        return (self.epoch, self.version)

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> Route | None:
        """From the route hash or a PUBLISH payload; None if it is not a route."""
        try:
            return cls(str(fields["primary"]), str(fields["address"]), int(fields["epoch"]),
                       int(fields["version"]), str(fields.get("reason", "")))
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def from_message(cls, payload: str | bytes) -> Route | None:
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        return cls.parse(data) if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class Following:
    """What a follower knows of one service's route."""

    applied: Route | None = None
    heard_at: float | None = None  # monotonic time Redis last answered

    def offer(self, route: Route | None) -> tuple[Following, bool]:
        """Returns the new state and whether ``route`` is to be applied (it is newer)."""
        if route is None or (self.applied is not None and route.order <= self.applied.order):
            return self, False
        return replace(self, applied=route), True

    def heard(self, now: float) -> Following:
        return replace(self, heard_at=now)

    def staleness(self, now: float) -> float | None:
        """Seconds since Redis last answered; None if it never has."""
        return None if self.heard_at is None else max(0.0, now - self.heard_at)


@dataclass(frozen=True, slots=True)
class ServerState:
    """One server of an HAProxy backend, as ``show servers state`` reports it."""

    name: str
    address: str  # host:port
    ready: bool  # not in maintenance


def plan_haproxy(backend: str, servers: list[ServerState], route: Route,
                 members: frozenset[str], shutdown_old: bool = False) -> list[str]:
    """Runtime API commands that make ``backend`` send traffic to ``route``'s primary only.

    If the backend has a server named like the primary, that one is made ready and every
    other server goes to maintenance (optionally with its sessions shut). If it has no server
    named like any member, its first server is given the primary's address. Returns only
    the commands that change something, so applying twice is harmless.
    """
    if not servers:
        return []
    named = {s.name: s for s in servers}
    commands: list[str] = []
    if route.primary in named:
        target = named[route.primary]
    elif not members & named.keys():
        target = servers[0]
        if target.address != route.address:
            host, _, port = route.address.rpartition(":")
            commands.append(f"set server {backend}/{target.name} addr {host.strip('[]')} "
                            f"port {port}")
    else:
        return []  # servers named like members, but not like the primary: nothing safe to do
    if not target.ready:
        commands.append(f"set server {backend}/{target.name} state ready")
    for server in servers:
        if server.name != target.name and server.ready:
            commands.append(f"set server {backend}/{server.name} state maint")
            if shutdown_old:
                commands.append(f"shutdown sessions server {backend}/{server.name}")
    return commands


def parse_servers_state(text: str) -> list[ServerState]:
    """Parse ``show servers state <backend>`` (format version 1)."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    if not lines or lines[0].strip() != "1":
        return []
    servers = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 19:
            continue
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port
        name, addr, admin = fields[3], fields[4], int(fields[6])
        port = fields[18]
        servers.append(ServerState(name, f"{addr}:{port}", ready=admin == 0))
    return servers
