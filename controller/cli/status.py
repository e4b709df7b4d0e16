"""``failoverctl status`` for people: one row per member, then the notes that need a human:
pauses (loudly when the primary is down meanwhile), redundancy, fences awaited, readiness,
evacuations and waiting switchovers. Pure: data in, rows and lines out."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

Row = tuple[str, ...]


def when(unix: Any) -> str:
    if not isinstance(unix, int | float | str) or unix in ("", None):
        return "-"
    try:
        at = datetime.datetime.fromtimestamp(float(unix), datetime.UTC)
    except ValueError:
        return str(unix)
    return at.strftime("%Y-%m-%d %H:%M:%S")


def status_rows(status: Mapping[str, Any]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = [("SERVICE", "PRIMARY", "MODE", "MEMBER", "HEALTH", "READY", "LATENCY")]
    notes: list[str] = []
    for name, service in status["services"].items():
        primary, members = service["primary"], service["members"]
        primary_health = (members.get(primary) or {}).get("health")
        if service.get("paused"):
            paused = service["paused"]
            until = when(paused["until"]) + " UTC" if paused.get("until") else "resumed"
            notes.append(f"{name}: paused by {paused['by']} until {until}")
            if primary_health in ("down", "degraded"):
                notes.append(f"{name}: PAUSED WITH THE PRIMARY {primary} {primary_health.upper()}:"
                             f" nothing fails over until it is resumed "
                             f"(failoverctl resume {name})")
        if service.get("redundant", True):
            notes.append(f"{name}: redundant: a healthy, ready standby could take over")
        else:
            notes.append(f"{name}: NOT REDUNDANT: no healthy, ready standby could take over")
        evacuation = service.get("evacuation") or {}
        if evacuation.get("reason") not in (None, "not_configured", "no_condition"):
            wake = f" (next look {when(evacuation['wake_at'])} UTC)" \
                if evacuation.get("wake_at") else ""
            notes.append(f"{name}: evacuation of the primary: {evacuation['reason']}{wake}")
        for member, info in members.items():
            health = info["health"]
            latency = info.get("latency_ms")
            # A down member's last latency is that of its failure: no latency to show.
            shown = "-" if latency is None or health == "down" else f"{latency:.1f}ms"
            if info.get("unfenced"):
                health += ", awaiting fence"
                notes.append(f"{name}: {member} awaits a fence (it may still act as primary):"
                             f" never promoted until a fence succeeds")
            mark = "*" if member == primary else " "
            rows.append((name, primary or "-", service["mode"], f"{mark}{member}", health,
                         "yes" if info.get("ready", True) else "NO", shown))
            for reason in info.get("not_ready", []):
                notes.append(f"{name}: {member} not ready: {reason}")
        for request in service.get("switchovers", []):
            at = f" at {when(request['at'])} UTC" if request.get("at") else ""
            notes.append(f"{name}: switchover {request['id']} to "
                         f"{request.get('target') or request.get('to') or '(best)'}{at}, "
                         f"{request['phase']}, by {request['requested_by']}")
    return rows, notes
