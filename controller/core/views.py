"""Replicas' views of the members, and the votes they cast. Pure: no I/O, no clock.

Every replica publishes a view: its verdict on each member (``members``, keyed
``service/member``) and the services whose recovery it is running (``recovering``). The
leader counts the fresh ones (the shell ages them) with its own verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FAILING = ("degraded", "down")


@dataclass(frozen=True, slots=True)
class Votes:
    """How the live replicas, this one included, see one member."""

    failing: int
    healthy: int
    replicas: int


def verdict(view: Mapping[str, Any], service: str, member: str) -> str:
    """One replica's verdict on one member; "unknown" when its view does not say."""
    members = view.get("members")
    entry = members.get(f"{service}/{member}") if isinstance(members, Mapping) else None
    health = entry.get("health") if isinstance(entry, Mapping) else None
    return health if isinstance(health, str) else "unknown"


def count(verdicts: Iterable[str]) -> Votes:
    seen = list(verdicts)
    return Votes(failing=sum(v in FAILING for v in seen), healthy=seen.count("healthy"),
                 replicas=len(seen))


def what_votes(view: Mapping[str, Any]) -> tuple[object, ...]:
    """The part of a view that can change a decision: verdicts and recoveries (not its
    latencies or timestamps, which change on every heartbeat)."""
    members = view.get("members")
    verdicts = tuple(sorted(
        (str(key), entry.get("health")) for key, entry in members.items()
        if isinstance(entry, Mapping))) if isinstance(members, Mapping) else ()
    recovering = view.get("recovering")
    return verdicts, tuple(recovering) if isinstance(recovering, list | tuple) else ()
