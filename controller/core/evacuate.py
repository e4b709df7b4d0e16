"""When to move traffic off a primary before it fails: a pure decision.

A service names readiness checks in ``evacuate_on`` (RAID degraded, SMART failing, disk
nearly full). When one of them has failed on the primary for ``evacuate_after`` seconds and
a ready standby exists, the leader performs a graceful switchover (switchover.py: fenced,
verified, rolled back if the new primary fails), inside a maintenance window if the service
has any. The rules, in order:

1. Nothing is configured, or no named check fails on the primary: nothing.
2. It has failed for less than the hold time: wait until it has.
3. Paused: nothing (a paused service does nothing by itself).
4. A failover or switchover is running or waiting: nothing now.
5. The last evacuation ended less than ``cooldown`` ago: wait (one move, not a flurry).
6. No healthy, ready standby (the same bar as a switchover without --to): nothing.
7. Outside every window: wait for the next one.
8. Dry-run: say what would happen. Otherwise: evacuate to the chosen standby.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from config.windows import Window, inside_any, next_opening
from controller.core.decide import Mode
from controller.core.records import RouteReason
from controller.core.switchover import Switchover
from probes.health import CheckState


class EvacReason(StrEnum):
    NOT_CONFIGURED = "not_configured"
    NO_CONDITION = "no_condition"
    HOLDING = "holding"
    PAUSED = "paused"
    BUSY = "busy"
    COOLDOWN = "cooldown"
    NO_READY_STANDBY = "no_ready_standby"
    OUTSIDE_WINDOW = "outside_window"
    DRY_RUN = "dry_run"
    EVACUATE = "evacuate"


@dataclass(frozen=True, slots=True)
class EvacuationView:
    primary: str | None
    conditions: tuple[str, ...]  # evacuate_on
    checks: Mapping[str, CheckState]  # the primary's readiness checks
    hold: float  # evacuate_after
    windows: tuple[Window, ...] = ()
    mode: Mode = Mode.AUTO
    busy: bool = False
    last_evacuation_end: float | None = None
    cooldown: float = 60.0
    target: str | None = None  # the best healthy, ready standby, if any


@dataclass(frozen=True, slots=True)
class Evacuation:
    reason: EvacReason
    target: str | None = None
    wake_at: float | None = None  # when to look again (hold ends, cooldown, window opens)
    evidence: Mapping[str, object] = field(default_factory=dict)

    @property
    def act(self) -> bool:
        return self.reason is EvacReason.EVACUATE

    def as_dict(self) -> dict[str, object]:
        return {"reason": str(self.reason), "act": self.act, "target": self.target,
                "wake_at": self.wake_at, "evidence": dict(self.evidence)}


def decide_evacuation(view: EvacuationView, now: float) -> Evacuation:
    if not view.conditions or view.primary is None:
        return Evacuation(EvacReason.NOT_CONFIGURED)
    failing = {name: state for name in view.conditions
               if (state := view.checks.get(name)) is not None and state.ok is False
               and state.since is not None}
    evidence: dict[str, object] = {
        "primary": view.primary, "hold": view.hold,
        "failing": {n: {"detail": s.detail, "since": s.since} for n, s in failing.items()}}
    if not failing:
        return Evacuation(EvacReason.NO_CONDITION, evidence=evidence)
    # Held from since + hold on: the very time the wake-up below is set for.
    held = sorted(n for n, s in failing.items() if s.since is not None
                  and now >= s.since + view.hold)
    if not held:
        wake = min(s.since for s in failing.values() if s.since is not None) + view.hold
        return Evacuation(EvacReason.HOLDING, wake_at=wake, evidence=evidence)
    evidence["conditions"] = held
    if view.mode is Mode.PAUSED:
        return Evacuation(EvacReason.PAUSED, evidence=evidence)
    if view.busy:
        return Evacuation(EvacReason.BUSY, evidence=evidence)
    if view.last_evacuation_end is not None and \
            now < view.last_evacuation_end + view.cooldown:
        return Evacuation(EvacReason.COOLDOWN, wake_at=view.last_evacuation_end + view.cooldown,
                          evidence=evidence)
    if view.target is None:
        return Evacuation(EvacReason.NO_READY_STANDBY, evidence=evidence)
    if not inside_any(view.windows, now):
        evidence["windows"] = [w.text for w in view.windows]
        return Evacuation(EvacReason.OUTSIDE_WINDOW, view.target,
                          next_opening(view.windows, now), evidence)
    if view.mode is Mode.DRY_RUN:
        return Evacuation(EvacReason.DRY_RUN, view.target, evidence=evidence)
    return Evacuation(EvacReason.EVACUATE, view.target, evidence=evidence)


def evacuation_request(decided: Evacuation, service: str, now: float) -> Switchover:
    """The switchover request an evacuation writes (its id is ZooKeeper's to give): a move
    to the chosen standby whose route says why, and which starts the cooldown when it ends."""
    return Switchover(id="", service=service, requested_by="auto:evacuation",
                      requested_at=now, to=decided.target, kind=RouteReason.EVACUATION,
                      evidence=dict(decided.evidence))
