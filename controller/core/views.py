"""Replicas' views of the members, and the votes they cast. Pure: no I/O, no clock.

Every replica publishes a view: its verdict on each member (``members``, keyed
``service/member``) and the services whose recovery it is running (``recovering``). The
leader counts the fresh ones (the shell ages them) with its own verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAILING = ("degraded", "down")


@dataclass(frozen=True, slots=True)
class Votes:
    """How the live replicas, this one included, see one member."""

    failing: int
    healthy: int
    replicas: int


@dataclass(frozen=True, slots=True)
class MemberVerdict:
    health: str  # healthy, degraded, down or unknown
    since: float | None = None  # unix seconds, when it last changed
    latency_ms: float | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """One replica's view, as it publishes it to the others."""

    node: str
    at: float  # unix seconds it was taken
    members: Mapping[str, MemberVerdict] = field(default_factory=dict)  # "service/member"
    recovering: tuple[str, ...] = ()  # services whose failover it runs (the leader)
    configs: Mapping[str, str] = field(default_factory=dict)  # service -> its config's digest

    def verdict(self, service: str, member: str) -> str:
        """Its verdict on one member; "unknown" when it does not say."""
        entry = self.members.get(f"{service}/{member}")
        return entry.health if entry is not None else "unknown"

    def what_votes(self) -> tuple[object, ...]:
        """The part that can change a decision: verdicts and recoveries (not latencies or
        timestamps, which change on every heartbeat)."""
        return (tuple(sorted((key, entry.health) for key, entry in self.members.items())),
                self.recovering, tuple(sorted(self.configs.items())))

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "at": self.at, "recovering": list(self.recovering),
                "configs": dict(self.configs),
                "members": {key: {"health": e.health, "since": e.since,
                                  "latency_ms": e.latency_ms, "detail": e.detail}
                            for key, e in self.members.items()}}

    @classmethod
    def from_json(cls, data: object, node: str) -> ReplicaView:
        """What another replica published, read defensively: what is not understood is
        left out (an entry without a health is no verdict), never raised."""
        raw = data if isinstance(data, Mapping) else {}
        members = {}
        entries = raw.get("members")
        for key, entry in (entries.items() if isinstance(entries, Mapping) else ()):
            health = entry.get("health") if isinstance(entry, Mapping) else None
            if isinstance(key, str) and isinstance(health, str):
                members[key] = MemberVerdict(health, _number(entry.get("since")),
                                             _number(entry.get("latency_ms")),
                                             _text(entry.get("detail")))
        recovering = raw.get("recovering")
        configs = raw.get("configs")
        at = _number(raw.get("at"))
        return cls(node=_text(raw.get("node")) or node, at=at if at is not None else 0.0,
                   members=members,
                   recovering=tuple(s for s in recovering if isinstance(s, str))
                   if isinstance(recovering, list | tuple) else (),
                   configs={k: v for k, v in configs.items()
                            if isinstance(k, str) and isinstance(v, str)}
                   if isinstance(configs, Mapping) else {})


def config_agreement(own: str, others: Iterable[str | None]) -> tuple[int, int]:
    """(replicas that publish a digest, those whose digest is ``own``), this one included;
    a replica that publishes none (an older release) counts neither way."""
    known = [d for d in others if d is not None]
    return len(known) + 1, sum(d == own for d in known) + 1


def count(verdicts: Iterable[str]) -> Votes:
    seen = list(verdicts)
    return Votes(failing=sum(v in FAILING for v in seen), healthy=seen.count("healthy"),
                 replicas=len(seen))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
