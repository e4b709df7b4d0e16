"""Following the route, as a proxy agent or an application does. Pure: no I/O, no clock.

A follower hears of routes twice over: PUBLISH messages (fast) and re-reads of the route hash
(periodic, and after every reconnect, so a missed message never leaves it stale). It applies
a route only if it is newer than the one it has, by (epoch, version), so a replayed or stale
message can never move traffic back. When Redis is unreachable it keeps the last route it
applied and reports how long it has not heard from Redis: it never changes traffic because
Redis blinked.

``verify_haproxy`` says how a backend's state, as ``show servers state`` reports it, differs
from "the routed member's server alone takes traffic", and which of those faults a command
can put right; ``repair_commands`` gives those commands, and ``plan_haproxy`` is the two
together: a route turned into HAProxy Runtime API commands for one backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag, StrEnum
from typing import Any

from config.shapes import NAME_PATTERN, split_host_port
from controller.core.stored_route import MOST, whole


class BadRoute(ValueError):
    """A route from Redis that is not one a controller writes: refused, never obeyed."""


_REASON = re.compile(r"[a-z0-9_-]{0,40}")


def _whole(field: str, value: Any) -> int:
    """As the hash holds it (text of ASCII digits: no sign, point, exponent, nan or inf) or
    as JSON (an integer, not a float or a boolean)."""
    if isinstance(value, str):
        value = whole(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MOST:
        raise BadRoute(f"{field} {_shown(value)} is not a whole number from 0 to 2**53")
    return value


def _shown(value: Any) -> str:
    return repr(value)[:80]  # repr: a newline or control character in it stays visible


@dataclass(frozen=True, slots=True)
class Route:
    """A route as a controller writes it; constructing one checks every field, so nothing
    built from a Route (a Runtime API line, a log line) carries text that was not checked."""

    primary: str
    address: str
    epoch: int
    version: int
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.primary, str) or not re.fullmatch(NAME_PATTERN, self.primary):
            raise BadRoute(f"primary {_shown(self.primary)} is not a member name")
        if not isinstance(self.address, str):
            raise BadRoute(f"address {_shown(self.address)} is not host:port")
        try:
            split_host_port(self.address)
        except ValueError as exc:
            raise BadRoute(f"address: {exc}") from None
        for field in ("epoch", "version"):
            _whole(field, getattr(self, field))
        if not isinstance(self.reason, str) or not _REASON.fullmatch(self.reason):
            raise BadRoute(f"reason {_shown(self.reason)} is not a reason")

    @property
    def order(self) -> tuple[int, int]:
        return (self.epoch, self.version)

    @property
    def host_port(self) -> tuple[str, int]:
        """The address split: an IPv6 host without its brackets."""
        return split_host_port(self.address)

    @classmethod
    def check(cls, fields: Mapping[str, Any]) -> Route:
        """From the route hash (text) or a PUBLISH payload (JSON); raise BadRoute saying
        what is wrong. Epoch and version must be plain whole numbers: ``+3``, ``1e5``,
        ``3.0``, ``nan`` or ``inf`` are refused, not read as numbers."""
        missing = [f for f in ("primary", "address", "epoch", "version") if f not in fields]
        if missing:
            raise BadRoute(f"no {', '.join(missing)}")
        return cls(fields["primary"], fields["address"], _whole("epoch", fields["epoch"]),
                   _whole("version", fields["version"]), fields.get("reason", ""))

    @classmethod
    def check_message(cls, payload: str | bytes) -> Route:
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            raise BadRoute("not JSON") from None
        if not isinstance(data, dict):
            raise BadRoute("not a JSON object")
        return cls.check(data)

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> Route | None:
        """``check``, or None if it is not a route."""
        try:
            return cls.check(fields)
        except BadRoute:
            return None

    @classmethod
    def from_message(cls, payload: str | bytes) -> Route | None:
        try:
            return cls.check_message(payload)
        except BadRoute:
            return None


@dataclass(frozen=True, slots=True)
class Following:
    """What a follower knows of one service's route."""

    applied: Route | None = None
    heard_at: float | None = None  # monotonic time Redis last answered
    # Since when the route hash has held this route, older than the one applied: a repair
    # of a route no leader wrote (an epoch too high to be real, obeyed before the leader
    # put it right). Never applied: only said (a follower cannot tell a repair from a
    # stale write), so that an operator restarts the follower.
    older: Route | None = None
    older_since: float | None = None

    def offer(self, route: Route | None) -> tuple[Following, bool]:
        """Returns the new state and whether ``route`` is to be applied (it is newer)."""
        if route is None or (self.applied is not None and route.order <= self.applied.order):
            return self, False
        return replace(self, applied=route, older=None, older_since=None), True

    def stored(self, route: Route | None, now: float) -> tuple[Following, bool]:
        """``offer`` for the route read from the hash itself, which also notes a hash that
        holds an older route than the one applied."""
        state, newer = self.offer(route)
        if newer or route is None or state.applied is None or route.order >= \
                state.applied.order:
            return replace(state, older=None, older_since=None), newer
        if route == state.older:
            return state, False
        return replace(state, older=route, older_since=now), False

    def behind(self, now: float) -> float | None:
        """Seconds the route hash has held a route older than the one applied."""
        return None if self.older_since is None else max(0.0, now - self.older_since)

    def heard(self, now: float) -> Following:
        return replace(self, heard_at=now)

    def staleness(self, now: float) -> float | None:
        """Seconds since Redis last answered; None if it never has."""
        return None if self.heard_at is None else max(0.0, now - self.heard_at)


class OpState(IntEnum):
    """``srv_op_state`` of ``show servers state``: what HAProxy's checks say."""

    STOPPED = 0  # down
    STARTING = 1  # up, warming up (slowstart)
    RUNNING = 2  # up
    STOPPING = 3  # up but soft-stopping: takes no new traffic


class Admin(IntFlag):
    """``srv_admin_state`` of ``show servers state``: a bit field (HAProxy's management
    guide, and SRV_ADMF_* in its source)."""

    FMAINT = 0x01  # forced: `set server ... state maint`, or `disabled` in the config
    IMAINT = 0x02  # inherited from a tracked server
    CMAINT = 0x04  # `disabled` in the config; outlives `state ready` (see MAINT)
    FDRAIN = 0x08  # forced: `set server ... state drain`
    IDRAIN = 0x10  # inherited from a tracked server
    RMAINT = 0x20  # its address did not resolve
    HMAINT = 0x40  # its FQDN was set at run time; not a maintenance despite the name


# The bits that stop traffic, as HAProxy itself tests them (SRV_ADMF_MAINT, SRV_ADMF_DRAIN).
# CMAINT is not one: `disabled` sets FMAINT | CMAINT, `state ready` clears FMAINT only, and
# the server then takes traffic with CMAINT still shown (admin state 4).
MAINT = Admin.FMAINT | Admin.IMAINT | Admin.RMAINT
DRAIN = Admin.FDRAIN | Admin.IDRAIN
FORCED = Admin.FMAINT | Admin.FDRAIN  # what `set server ... state ready` clears
UP = frozenset({OpState.STARTING, OpState.RUNNING})


@dataclass(frozen=True, slots=True)
class ServerState:
    """One server of an HAProxy backend, as ``show servers state`` reports it."""

    name: str
    address: str  # host:port
    op: OpState
    admin: Admin

    @property
    def serving(self) -> bool:
        """Takes new traffic: in no maintenance, not draining, and up."""
        return not self.admin & (MAINT | DRAIN) and self.op in UP

    def describe(self) -> str:
        """``op=RUNNING admin=0x04(CMAINT)``: HAProxy's numbers, and their names."""
        flags = "|".join(f.name or "" for f in Admin if f in self.admin)
        return f"op={self.op.name} admin={int(self.admin):#04x}" + (f"({flags})" if flags else "")


class Wrong(StrEnum):
    NO_SERVER = "no_server_for_routed_member"
    ROUTED_NOT_SERVING = "routed_not_serving"
    ROUTED_ADDRESS = "routed_server_has_another_address"
    OTHER_SERVING = "unrouted_serving"
    OTHER_NOT_IN_MAINT = "unrouted_not_in_maintenance"  # not serving now, but would when up


@dataclass(frozen=True, slots=True)
class Fault:
    """One way a backend differs from "the routed member's server alone serves"."""

    server: str
    wrong: Wrong
    state: str  # what HAProxy said of that server
    # repair_commands has a command for it. That may not be all it takes: `state ready`
    # clears a forced maintenance but leaves one inherited from a tracked server.
    repairable: bool

    def __str__(self) -> str:
        return f"{self.server}: {self.wrong} ({self.state})"


def _target(servers: list[ServerState], route: Route,
            members: frozenset[str]) -> ServerState | None:
    """The server that is to carry ``route``: the one named like the primary, or, if no
    server is named like any member, the first one (it takes the primary's address)."""
    named = {s.name: s for s in servers}
    if route.primary in named:
        return named[route.primary]
    if servers and not members & named.keys():
        return servers[0]
    return None  # servers named like members, but not like the primary: nothing safe to do


def _same_address(a: str, b: str) -> bool:
    host_a, _, port_a = a.rpartition(":")
    host_b, _, port_b = b.rpartition(":")
    return (host_a.strip("[]"), port_a) == (host_b.strip("[]"), port_b)


def verify_haproxy(servers: list[ServerState], route: Route,
                   members: frozenset[str]) -> list[Fault]:
    """Every way ``servers`` differ from the intent: the target serves, and every other
    server is in forced maintenance (so that it stays out when it comes back up)."""
    target = _target(servers, route, members)
    if target is None:
        return [Fault(route.primary, Wrong.NO_SERVER, "absent", repairable=False)]
    faults = []
    if target.name != route.primary and not _same_address(target.address, route.address):
        faults.append(Fault(target.name, Wrong.ROUTED_ADDRESS, target.address, True))
    if not target.serving:
        # Only forced maintenance or drain is ours to clear; inherited or DNS maintenance
        # is not, nor a server HAProxy's checks find down.
        faults.append(Fault(target.name, Wrong.ROUTED_NOT_SERVING, target.describe(),
                            repairable=bool(target.admin & FORCED)))
    for server in servers:
        if server.name == target.name or Admin.FMAINT in server.admin:
            continue
        wrong = Wrong.OTHER_SERVING if server.serving else Wrong.OTHER_NOT_IN_MAINT
        faults.append(Fault(server.name, wrong, server.describe(), repairable=True))
    return faults


def plan_haproxy(backend: str, servers: list[ServerState], route: Route,
                 members: frozenset[str], shutdown_old: bool = False) -> list[str]:
    """Runtime API commands that make ``backend`` send traffic to ``route``'s primary only.

    If the backend has a server named like the primary, that one is made ready and every
    other server goes to maintenance (optionally with its sessions shut). If it has no server
    named like any member, its first server is given the primary's address. Returns only
    the commands that change something, so applying twice is harmless.
    """
    return repair_commands(backend, route, verify_haproxy(servers, route, members),
                           shutdown_old)


# What a word of a Runtime API command may hold. HAProxy ends a command at ';' and a line
# at a newline, and reads backslashes and quotes as escapes: none of them, no space and no
# control character, so each word stays one word.
_WORD = re.compile(r"[A-Za-z0-9_.:/\[\]-]+")


def runtime_command(*words: str) -> str:
    """A Runtime API command from ``words``; ValueError if one could end it or add one."""
    for word in words:
        if not _WORD.fullmatch(word):
            raise ValueError(f"refused in a Runtime API command: {_shown(word)}")
    return " ".join(words)


def repair_commands(backend: str, route: Route, faults: list[Fault],
                    shutdown_old: bool = False) -> list[str]:
    """The commands for the repairable ``faults`` (verify_haproxy's, for ``route``)."""
    commands: list[str] = []
    for fault in faults:
        if not fault.repairable:
            continue
        server = f"{backend}/{fault.server}"
        if fault.wrong is Wrong.ROUTED_ADDRESS:
            host, port = route.host_port
            commands.append(runtime_command("set", "server", server, "addr", host,
                                            "port", str(port)))
        elif fault.wrong is Wrong.ROUTED_NOT_SERVING:
            commands.append(runtime_command("set", "server", server, "state", "ready"))
        else:
            commands.append(runtime_command("set", "server", server, "state", "maint"))
            if shutdown_old:
                commands.append(runtime_command("shutdown", "sessions", "server", server))
    return commands


def parse_servers_state(text: str) -> list[ServerState]:
    """Parse ``show servers state <backend>`` (format version 1); raise ValueError on a
    line it cannot read, rather than leave a server out."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines or lines[0].strip() != "1":
        return []
    servers = []
    for line in lines[1:]:
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port
        fields = line.split()
        try:
            name, addr, port = fields[3], fields[4], fields[18]
            servers.append(ServerState(name, f"{addr}:{port}", OpState(int(fields[5])),
                                       Admin(int(fields[6]))))
        except (IndexError, ValueError) as exc:
            raise ValueError(f"unreadable server state line {line!r}: {exc}") from None
    return servers
