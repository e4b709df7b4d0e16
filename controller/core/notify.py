"""What a notification says, and to whom it goes: pure. The daemon sends it
(daemon/notify.py), never on a failover's path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Seconds before the next try of a notification that failed: 1, 2, 4, ... capped.
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 30.0


@dataclass(frozen=True, slots=True)
class Notification:
    event: str  # a history event: route_changed, failover_failed, leadership_changed, ...
    service: str
    cluster: str
    node: str  # the replica that sends it
    epoch: int | None
    at: float  # unix seconds
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line a person reads first (a chat message, a page's title)."""
        f = self.fields
        head = f"[{self.cluster}] {self.service}: {self.event.replace('_', ' ')}"
        if self.event == "route_changed":
            return (f"{head}: {f.get('primary')} is primary now (version {f.get('version')}, "
                    f"{f.get('reason') or f.get('origin') or 'moved'})")
        parts = [str(f[key]) for key in ("target", "member", "reason", "message")
                 if f.get(key) not in (None, "")]
        return head + (": " + "; ".join(parts) if parts else "")

    def body(self) -> dict[str, Any]:
        """The webhook's JSON: ``text`` for chat webhooks (Slack, Mattermost and the like
        show it), the rest for receivers that route on fields."""
        return {"text": self.summary, "event": self.event, "service": self.service,
                "cluster": self.cluster, "node": self.node, "epoch": self.epoch,
                "at": self.at, "fields": dict(self.fields)}

    def variables(self) -> dict[str, str]:
        """What a notification command's argv may name (config/templates.py)."""
        return {"event": self.event, "service": self.service, "summary": self.summary,
                "epoch": "" if self.epoch is None else str(self.epoch), "node": self.node,
                "cluster": self.cluster}


def wanted(events: Sequence[str], default: Sequence[str], event: str) -> bool:
    """Does a target that asked for ``events`` (none: ``default``) want ``event``?"""
    return event in (events or default)


def backoff(attempt: int) -> float:
    """The wait after failed try number ``attempt`` (1-based)."""
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** (attempt - 1))
