"""The per-service planner: ``plan(inputs, memory, now) -> Plan``.

The daemon calls it on every event (a probe result, a vote, a request, a pause, a timer, a
task that ended) with a snapshot of what it knows, and carries out the effects it returns,
in order. It owns the rules that tie the policies together:

1. Every replica reports a change of redundancy (once per change, not at start when all is
   well); only the leader does anything else.
2. A member marked unfenced that answers again, and has a fence hook, is fenced before
   anything else happens to the service, after its back-off; that is the recovery in flight.
3. The failover policy (decide.py). A dry run is recorded once per target and reason; a split
   view (the leader sees the primary failing, too few replicas agree) is reported once when
   it starts and once when it ends; a healthy primary ends the episode, so members that
   failed to be promoted in it may be promoted again.
4. An expired pause is lifted. While no recovery runs: the next switchover request runs (one
   already running first, then the oldest pending, then the earliest scheduled that is due);
   then the evacuation policy (evacuate.py), its dry run also recorded once.
5. One timer per service: ``wake_at`` is the earliest future time any rule waits for.

``memory`` is what the planner remembers between calls (what it last reported); the daemon
keeps it and passes it back. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from config.windows import Window
from controller.core.decide import Action, Decision, Mode, Reason, ServiceView, decide, redundancy
from controller.core.evacuate import EvacReason, Evacuation, EvacuationView, decide_evacuation
from controller.core.preflight import Refusal, preflight
from controller.core.records import Pause, RouteReason
from controller.core.switchover import Phase, Switchover
from probes.health import CheckState, Health


class Work(StrEnum):
    """What the daemon runs for a service as leader, at most one of each at a time."""

    RECOVERY = "recovery"  # a failover, or the late fence of a member marked unfenced
    SWITCHOVER = "switchover"  # an operator's request, or an evacuation's
    LIFT_PAUSE = "lift_pause"  # removing an expired pause from ZooKeeper
    EVACUATION = "evacuation"  # writing an evacuation request


@dataclass(frozen=True, slots=True)
class Memory:
    """What the planner last reported, so each report is made once."""

    redundant: bool | None = None  # None: nothing reported yet
    split_view: bool = False
    last_dry_run: tuple[str | None, str] | None = None  # (target, reason)
    last_evacuation_dry_run: str | None = None  # its target
    # Members whose promote failed in this episode (the daemon adds; a healthy primary clears).
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EvacuationFacts:
    """The service's evacuation configuration and its primary's readiness checks."""

    conditions: tuple[str, ...] = ()  # evacuate_on
    checks: Mapping[str, CheckState] = field(default_factory=dict)
    hold: float = 0.0  # evacuate_after
    windows: tuple[Window, ...] = ()


@dataclass(frozen=True, slots=True)
class Inputs:
    """A snapshot of one service, as the daemon sees it now."""

    view: ServiceView  # mode and recovery_in_flight as ``mode_of`` / ``recovering`` say
    leading: bool = False  # in office and connected: may start leader work
    running: frozenset[Work] = frozenset()  # work this replica started that has not ended
    switchovers: tuple[Switchover, ...] = ()  # every stored request, oldest id first
    pause: Pause | None = None
    leader_recovering: bool = False  # on a follower: the leader's view says it recovers
    fenceable: frozenset[str] = frozenset()  # members that have a fence hook
    fence_retry_after: float = 0.0  # no late fence before this (after one failed)
    evacuation: EvacuationFacts = field(default_factory=EvacuationFacts)


# --- effects: what the daemon carries out, in order ------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportRedundancy:
    redundant: bool
    evidence: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class FenceLate:
    member: str


@dataclass(frozen=True, slots=True)
class FailOver:
    decision: Decision


@dataclass(frozen=True, slots=True)
class ReportDryRun:
    decision: Decision


@dataclass(frozen=True, slots=True)
class ReportSplitView:
    split: bool
    member: str | None  # the primary
    summary: str  # one line an operator reads
    evidence: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class LiftPause:
    pause: Pause


@dataclass(frozen=True, slots=True)
class RunSwitchover:
    request_id: str


@dataclass(frozen=True, slots=True)
class ReportEvacuationDryRun:
    evacuation: Evacuation


@dataclass(frozen=True, slots=True)
class RequestEvacuation:
    evacuation: Evacuation


Effect = (ReportRedundancy | FenceLate | FailOver | ReportDryRun | ReportSplitView | LiftPause
          | RunSwitchover | ReportEvacuationDryRun | RequestEvacuation)


@dataclass(frozen=True, slots=True)
class Plan:
    effects: tuple[Effect, ...]
    memory: Memory
    wake_at: float | None  # call again then (the one timer of the service); None: no need
    decision: Decision | None = None  # the failover policy's answer, while leading


# --- rules the daemon's other parts share -------------------------------------------------


def mode_of(auto_failover: bool | str, pause: Pause | None, now: float) -> Mode:
    """An operator's pause wins over the configured mode until it ends."""
    if pause is not None and pause.active(now):
        return Mode.PAUSED
    if auto_failover == "dry-run":
        return Mode.DRY_RUN
    return Mode.AUTO if auto_failover else Mode.PAUSED


def recovering(running: frozenset[Work], switchovers: tuple[Switchover, ...],
               leader_recovering: bool) -> bool:
    """A failover or switchover runs: ours, or (on a follower) the leader's, as its
    published view and the stored requests say."""
    return (Work.RECOVERY in running or Work.SWITCHOVER in running or leader_recovering
            or any(r.phase.running for r in switchovers))


def busy(running: frozenset[Work], switchovers: tuple[Switchover, ...],
         leader_recovering: bool, besides: str | None = None) -> Refusal | None:
    """Why a switchover cannot start now, if something else runs; ``besides``: the request
    asking (it does not block itself)."""
    if Work.RECOVERY in running:
        return Refusal.RECOVERY_IN_FLIGHT
    if any(r.phase.running for r in switchovers if r.id != besides):
        return Refusal.SWITCHOVER_IN_PROGRESS
    if besides is None and (leader_recovering or Work.SWITCHOVER in running):
        # The leader's (as its published view says), or our own switchover task before its
        # first save shows a running phase.
        return Refusal.RECOVERY_IN_FLIGHT
    return None


def late_fence_target(view: ServiceView, fenceable: frozenset[str]) -> str | None:
    """A member marked unfenced (a former primary, or one that may have been promoted) that
    answers again and can be fenced: fenced before anything else happens to the service."""
    return next((m.name for m in sorted(view.members, key=lambda m: m.name)
                 if m.unfenced and m.name in fenceable and m.name != view.primary
                 and m.health in (Health.HEALTHY, Health.DEGRADED)), None)


def next_request(switchovers: tuple[Switchover, ...], now: float
                 ) -> tuple[str | None, float | None]:
    """(the request to run now, else when the earliest scheduled one is due)."""
    for record in switchovers:
        if record.phase.running:  # interrupted: resume it first
            return record.id, None
    for record in switchovers:
        if record.phase is Phase.PENDING:
            return record.id, None
    scheduled = sorted((r.at or 0.0, r.id) for r in switchovers if r.phase is Phase.SCHEDULED)
    if not scheduled:
        return None, None
    at, request_id = scheduled[0]
    return (request_id, None) if at <= now else (None, at)


def evacuation(inputs: Inputs, now: float) -> Evacuation:
    """What the evacuation policy says now."""
    view, facts = inputs.view, inputs.evacuation
    target, refusal, _ = preflight(view, None)
    finished = [r.finished_at for r in inputs.switchovers
                if r.kind == RouteReason.EVACUATION and r.finished_at is not None]
    is_busy = (view.recovery_in_flight or Work.EVACUATION in inputs.running
               or any(r.phase is Phase.PENDING for r in inputs.switchovers))
    return decide_evacuation(EvacuationView(
        primary=view.primary, conditions=facts.conditions, checks=facts.checks,
        hold=facts.hold, windows=facts.windows, mode=view.mode, busy=is_busy,
        last_evacuation_end=max(finished, default=None), cooldown=view.cooldown,
        target=target if refusal is None else None), now)


# --- the planner ----------------------------------------------------------------------------


def plan(inputs: Inputs, memory: Memory, now: float) -> Plan:
    effects: list[Effect] = []
    wakes: list[float | None] = []
    view = inputs.view

    redundant, evidence = redundancy(view)
    if redundant != memory.redundant:
        if not (memory.redundant is None and redundant):
            effects.append(ReportRedundancy(redundant, evidence))
        memory = replace(memory, redundant=redundant)
    if not inputs.leading:
        return Plan(tuple(effects), memory, None)

    running = inputs.running
    if Work.RECOVERY not in running:
        member = late_fence_target(view, inputs.fenceable)
        if member is not None and now >= inputs.fence_retry_after:
            effects.append(FenceLate(member))
            running |= {Work.RECOVERY}
            view = replace(view, recovery_in_flight=True)
        elif member is not None:
            wakes.append(inputs.fence_retry_after)

    decision = decide(view, now)
    memory = _split_view(view, decision, memory, effects)
    if decision.action is Action.FAILOVER:
        effects.append(FailOver(decision))
        running |= {Work.RECOVERY}
    elif decision.action is Action.WAIT:
        wakes.append(decision.wake_at)
    elif decision.action is Action.DRY_RUN:
        key = (decision.target, str(decision.reason))
        if key != memory.last_dry_run:
            effects.append(ReportDryRun(decision))
            memory = replace(memory, last_dry_run=key)
    else:
        memory = replace(memory, last_dry_run=None)
        if decision.reason is Reason.PRIMARY_HEALTHY and memory.excluded:
            memory = replace(memory, excluded=frozenset())

    pause = inputs.pause
    if pause is not None and pause.until is not None and Work.LIFT_PAUSE not in running:
        if pause.until <= now:
            effects.append(LiftPause(pause))
        else:
            wakes.append(pause.until)

    if Work.RECOVERY not in running and Work.SWITCHOVER not in running:
        request_id, due_at = next_request(inputs.switchovers, now)
        if request_id is not None:
            effects.append(RunSwitchover(request_id))
        else:
            wakes.append(due_at)
            # No recovery started above (else it would be running), so the inputs stand.
            memory = _evacuate(inputs, memory, now, effects, wakes)

    wake_at = min((t for t in wakes if t is not None and t > now), default=None)
    return Plan(tuple(effects), memory, wake_at, decision)


def _split_view(view: ServiceView, decision: Decision, memory: Memory,
                effects: list[Effect]) -> Memory:
    primary = view.member(view.primary)
    split = (decision.reason is Reason.QUORUM_NOT_REACHED and primary is not None
             and primary.health.failing)
    if split == memory.split_view:
        return memory
    if split and primary is not None:
        summary = (f"leader isolated from {primary.name}? {primary.failing} of "
                   f"{view.replicas} replicas see it {primary.health}, {view.required} needed")
        effects.append(ReportSplitView(True, primary.name, summary, decision.evidence))
    else:
        effects.append(ReportSplitView(False, view.primary, "split view cleared", {}))
    return replace(memory, split_view=split)


def _evacuate(inputs: Inputs, memory: Memory, now: float, effects: list[Effect],
              wakes: list[float | None]) -> Memory:
    decided = evacuation(inputs, now)
    wakes.append(decided.wake_at)
    if decided.reason is EvacReason.DRY_RUN:
        if memory.last_evacuation_dry_run != decided.target:
            effects.append(ReportEvacuationDryRun(decided))
            memory = replace(memory, last_evacuation_dry_run=decided.target)
        return memory
    if decided.act:  # not while its request is being written: that is ``busy``
        effects.append(RequestEvacuation(decided))
    return replace(memory, last_evacuation_dry_run=None)
