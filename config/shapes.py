"""The shapes of names and addresses, pure (no I/O): the config checks them, and so does
everything that reads a name or an address from a store (a route in Redis), so that text no
controller writes is refused before it reaches a log line or a proxy's command."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["FOLLOWER_PATTERN", "NAME_PATTERN", "host_problem", "split_host_port"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
# A follower's name (an HAProxy agent, a RouteWatcher): a host name, ``host:pid``, a pod's
# name; no space, no control character, nothing that reads as a separator in a log line.
FOLLOWER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,99}"

# A host as a DNS name: dot-separated labels of letters, digits, '-' and '_' (container
# runtimes name services with '_'), no label starting or ending with '-'. Nothing else, so a
# host can never carry a separator into a command line, a URL or a Runtime API call.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")
_HOST_PORT = re.compile(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})|([^:\[\]]+):([0-9]{1,5})")


def host_problem(host: str) -> str | None:
    """What is wrong with an unbracketed host: an IPv4 address or a DNS name."""
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host[:200]!r} is not an IPv4 address"
        return None
    if len(host) > 253 or not _DNS_NAME.fullmatch(host):
        return f"{host[:200]!r} is not a host: an IPv4 address, [IPv6] or a DNS name"
    return None


def split_host_port(value: str) -> tuple[str, int]:
    """Parse ``host:port`` or ``[v6]:port``; raise ValueError saying what is wrong."""
    match = _HOST_PORT.fullmatch(value)
    if not match:
        raise ValueError(f"expected host:port (or [ipv6]:port), got {value[:200]!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1-65535")
    if match.group(1):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif problem := host_problem(host):
        raise ValueError(problem)
    return host, port
