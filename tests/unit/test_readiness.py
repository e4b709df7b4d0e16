"""Readiness: the gate on promotion, redundancy, and the pre-emptive switchover decision.
Pure: literal times, no I/O."""

from __future__ import annotations

from dataclasses import replace

from config.windows import parse_window
from controller.core.decide import Action, MemberView, Mode, Reason, ServiceView, decide, redundancy
from controller.core.evacuate import EvacReason, EvacuationView, decide_evacuation
from controller.core.preflight import Refusal, preflight
from probes.health import CheckState, Health, fold_check, readiness

H, D, X = Health.HEALTHY, Health.DEGRADED, Health.DOWN
OLD_BACKUP = ("backup-fresh: exit 1: last backup 30 h old",)


def service(a: Health = X, b_ready: bool = True, c_ready: bool = True,
            b: Health = H, c: Health = H) -> ServiceView:
    return ServiceView("web", "a", (
        MemberView("a", 100, a),
        MemberView("b", 50, b, not_ready=() if b_ready else OLD_BACKUP),
        MemberView("c", 10, c, not_ready=() if c_ready else ("raid: degraded",))))


def test_a_ready_standby_is_preferred_over_a_higher_priority_one_that_is_not() -> None:
    d = decide(service(b_ready=False), 0.0)
    assert (d.action, d.target, d.fallbacks) == (Action.FAILOVER, "c", ("b",))


def test_a_not_ready_standby_is_promoted_only_when_the_primary_is_down() -> None:
    d = decide(service(a=X, b_ready=False, c=X), 0.0)
    assert (d.action, d.target) == (Action.FAILOVER, "b")
    assert d.evidence["not_ready"] == list(OLD_BACKUP) and d.evidence["last_resort"] is True
    kept = decide(service(a=D, b_ready=False, c=X), 0.0)
    assert (kept.action, kept.reason) == (Action.NONE, Reason.NO_READY_CANDIDATE)


def test_redundancy_needs_a_healthy_ready_standby() -> None:
    assert redundancy(service(a=H))[0] is True
    able, evidence = redundancy(service(a=H, b_ready=False, c=D))
    assert able is False and evidence["ready_standbys"] == []
    assert redundancy(replace(service(a=H, c=D), members=(
        MemberView("a", 100, H), MemberView("b", 50, H, unfenced=True),
        MemberView("c", 10, D))))[0] is False


def test_switchover_to_a_not_ready_member_needs_force() -> None:
    view = service(a=H, b_ready=False, c_ready=False)
    assert preflight(view, "b")[1] is Refusal.TARGET_NOT_READY
    assert preflight(view, "b", force=True)[:2] == ("b", None)
    assert preflight(view, None)[1] is Refusal.NO_READY_CANDIDATE
    assert preflight(view, None, force=True)[0] == "b"
    assert preflight(service(a=H, b_ready=False), None)[0] == "c"


def test_readiness_reasons_and_check_state() -> None:
    first = fold_check(CheckState(), False, "exit 1: [U_]", 10.0)
    again = fold_check(first, False, "exit 1: [U_]", 40.0)
    assert (again.since, again.at) == (10.0, 40.0)
    assert fold_check(again, True, "ok", 70.0).since == 70.0
    assert readiness({"raid": again, "disk": fold_check(CheckState(), True, "ok", 1.0)}) == (
        "raid: exit 1: [U_]",)
    assert readiness({"backup": CheckState()}) == ("backup: not checked yet",)


def evac(**kw: object) -> EvacuationView:
    raid = CheckState(ok=False, detail="md0 [U_]", since=1000.0, at=1000.0)
    base = EvacuationView("a", ("raid",), {"raid": raid}, hold=60.0, target="b")
    return replace(base, **kw)  # type: ignore[arg-type]


def test_evacuation_waits_for_the_hold_time_then_moves() -> None:
    assert decide_evacuation(evac(), 1030.0).reason is EvacReason.HOLDING
    assert decide_evacuation(evac(), 1030.0).wake_at == 1060.0
    e = decide_evacuation(evac(), 1060.0)
    assert (e.act, e.target, e.evidence["conditions"]) == (True, "b", ["raid"])


def test_evacuation_stops_for_pause_work_cooldown_no_standby_and_no_condition() -> None:
    assert decide_evacuation(evac(mode=Mode.PAUSED), 2000.0).reason is EvacReason.PAUSED
    assert decide_evacuation(evac(busy=True), 2000.0).reason is EvacReason.BUSY
    cooling = decide_evacuation(evac(last_evacuation_end=1990.0, cooldown=60.0), 2000.0)
    assert (cooling.reason, cooling.wake_at) == (EvacReason.COOLDOWN, 2050.0)
    assert decide_evacuation(evac(target=None), 2000.0).reason is EvacReason.NO_READY_STANDBY
    passing = {"raid": CheckState(ok=True, detail="ok", since=1.0, at=1.0)}
    assert decide_evacuation(evac(checks=passing), 2000.0).reason is EvacReason.NO_CONDITION
    assert decide_evacuation(evac(conditions=()), 2000.0).reason is EvacReason.NOT_CONFIGURED
    assert decide_evacuation(evac(mode=Mode.DRY_RUN), 2000.0).reason is EvacReason.DRY_RUN


def test_evacuation_only_inside_a_window() -> None:
    sunday = parse_window("Sun 02:00-04:00 UTC")
    monday_noon = 1795435200.0  # 2026-11-23 12:00 UTC, a Monday
    raid = CheckState(ok=False, detail="md0 [U_]", since=monday_noon - 3600, at=monday_noon)
    e = decide_evacuation(evac(windows=(sunday,), checks={"raid": raid}), monday_noon)
    assert e.reason is EvacReason.OUTSIDE_WINDOW
    assert e.wake_at == sunday.next_opening(monday_noon) > monday_noon
    inside = sunday.next_opening(monday_noon) + 60
    assert decide_evacuation(evac(windows=(sunday,), checks={"raid": raid}), inside).act
