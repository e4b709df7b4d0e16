"""``failoverctl status`` for people: one row per member, then the notes that need a human:
pauses (loudly when the primary is down meanwhile), redundancy, fences awaited, readiness,
evacuations and waiting switchovers. Pure: data in, rows and lines out."""

from __future__ import annotations

import datetime
from typing import Any

from controller.cli.answers import Follower, Status

Row = tuple[str, ...]


def when(unix: Any) -> str:
    if isinstance(unix, bool) or not isinstance(unix, int | float | str) or unix == "":
        return "-"
    try:
        at = datetime.datetime.fromtimestamp(float(unix), datetime.UTC)
    except (ValueError, OverflowError, OSError):
        return str(unix)
    return at.strftime("%Y-%m-%d %H:%M:%S")


def headline(status: Status) -> list[str]:
    """Who leads, whom we asked (every health below is that replica's own view), and each
    store the asked replica has lost, with how long and what it means."""
    asked = status.node or "?"
    lines = [f"leader {status.leader_node or '(none)'}  epoch {status.epoch}  (asked {asked};"
             f" health and votes below are {asked}'s view)"]
    if status.leader and status.session not in (None, "connected"):
        lines.append(f"{asked} holds the leadership but its ZooKeeper session is "
                     f"{str(status.session).upper()}: it cannot act until it reconnects")
    for name, link in status.stores.items():
        if link.ok:
            continue
        since = f" since {when(link.out_since)} UTC" if link.out_since is not None else ""
        what = (f"session {link.state}" if name == "zookeeper"
                else link.error or link.state)
        effect = ("no decision can be committed from this replica" if name == "zookeeper"
                  else "decisions are kept in ZooKeeper; routes are published once it is back")
        lines.append(f"{name.upper()} OUT for {link.out_seconds:.1f} s{since} "
                     f"at {asked} ({what}): {effect}")
    if status.leader and status.can_act is False:
        lines.append(f"{asked} cannot act now: {', '.join(status.why_not)}")
    return lines


def status_rows(status: Status) -> tuple[list[Row], list[str]]:
    rows: list[Row] = [("SERVICE", "PRIMARY", "MODE", "MEMBER", "HEALTH", "READY", "LATENCY")]
    notes: list[str] = []
    for name, service in status.services.items():
        primary, members = service.primary, service.members
        primary_health = members[primary].health if primary in members else None
        if service.paused:
            paused = service.paused
            until = when(paused.until) + " UTC" if paused.until else "resumed"
            notes.append(f"{name}: paused by {paused.by} until {until}")
            if primary_health in ("down", "degraded"):
                notes.append(f"{name}: PAUSED WITH THE PRIMARY {primary} "
                             f"{str(primary_health).upper()}: nothing fails over until it "
                             f"is resumed (failoverctl resume {name})")
        if service.split_view and primary in members:
            views = members[primary].views
            seen = ", ".join(f"{node} {verdict}" for node, verdict in sorted(views.items()))
            notes.append(f"{name}: SPLIT VIEW: the primary {primary} is failing for "
                         f"{status.node or 'the asked replica'} but too few replicas agree "
                         f"({service.quorum} needed; {seen}): nothing fails over")
        if service.redundant:
            notes.append(f"{name}: redundant: a healthy, ready standby could take over")
        else:
            notes.append(f"{name}: NOT REDUNDANT: no healthy, ready standby could take over")
        evacuation = service.evacuation
        if evacuation and evacuation.reason not in (None, "not_configured", "no_condition"):
            wake = f" (next look {when(evacuation.wake_at)} UTC)" if evacuation.wake_at else ""
            notes.append(f"{name}: evacuation of the primary: {evacuation.reason}{wake}")
        for member, info in members.items():
            health = info.health
            # A down member's last latency is that of its failure: no latency to show.
            shown = ("-" if info.latency_ms is None or health == "down"
                     else f"{info.latency_ms:.1f}ms")
            if info.primary_probe in ("degraded", "down"):  # the write path, not liveness
                health += " (primary_probe)"
            if info.unfenced:
                health += ", awaiting fence"
                notes.append(f"{name}: {member} awaits a fence (it may still act as primary):"
                             f" never promoted until a fence succeeds")
            mark = "*" if member == primary else " "
            rows.append((name, primary or "-", service.mode, f"{mark}{member}", health,
                         "yes" if info.ready else "NO", shown))
            notes += [f"{name}: {member} not ready: {reason}" for reason in info.not_ready]
        notes += [f"{name}: {line}" for line in follower_lines(service.followers,
                                                               service.version)]
        if service.followers_refused:
            notes.append(f"{name}: {service.followers_refused} field(s) of the applied hash "
                         "are not what a follower writes: ignored")
        for request in service.switchovers:
            at = f" at {when(request.at)} UTC" if request.at else ""
            notes.append(f"{name}: switchover {request.id} to "
                         f"{request.target or request.to or '(best)'}{at}, "
                         f"{request.phase}, by {request.requested_by}")
    return rows, notes


def follower_lines(followers: tuple[Follower, ...], version: int | None,
                   every: bool = False) -> list[str]:
    """One line per follower that is behind, stale or unconfirmed (``every``: all of them):
    what it says it applied is what traffic may still follow."""
    lines = []
    for f in followers:
        if f.missing:
            lines.append(f"follower {f.name} NEVER HEARD FROM (configured: it must apply "
                         "every route)")
            continue
        if not every and f.confirmed and not (f.behind or f.stale):
            continue
        said = [f"at version {f.version}" + (f" of {version}" if version is not None else "")]
        if f.behind:
            said.append(f"BEHIND for {f.lag_s:.1f} s" if f.lag_s is not None else "BEHIND")
        elif f.lag_s is not None:
            said.append(f"applied {f.lag_s:.3f} s after the route's write")
        if not f.confirmed:
            said.append("NOT CONFIRMED by its proxy")
        if f.stale:
            said.append(f"STALE: last heard {f.heartbeat_age_s or 0:.0f} s ago")
        lines.append(f"follower {f.name} " + ", ".join(said))
    return lines
