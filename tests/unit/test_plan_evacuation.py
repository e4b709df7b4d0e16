"""The evacuation policy through the planner, and the request it writes driven to its end:
literal times, no I/O, no mocks (``Service`` is the planner's in-memory service)."""

from __future__ import annotations

from dataclasses import replace

from config.windows import parse_window
from controller.core.decide import Mode
from controller.core.evacuate import (
    EvacReason,
    EvacuationView,
    decide_evacuation,
    evacuation_request,
)
from controller.core.plan import (
    ReportEvacuationDryRun,
    RequestEvacuation,
    RunSwitchover,
    Work,
    evacuation,
)
from controller.core.records import RouteReason
from controller.core.switchover import (
    Checked,
    CommitRoute,
    Phase,
    StepEnded,
    Switchover,
    Timing,
    command_for,
    step,
)
from probes.health import CheckState
from tests.unit.test_plan import evacuating, kinds, request

TIMING = Timing(ready_timeout=5.0, verify_window=2.0)


def test_only_an_evacuation_that_ended_starts_the_cooldown_counted_from_the_last() -> None:
    service = evacuating()  # held from 40 on; the service's cooldown is 60
    service.requests = [
        request("0001", Phase.DONE, kind=RouteReason.EVACUATION, finished_at=50.0),
        request("0002", Phase.FAILED, kind=RouteReason.EVACUATION, finished_at=100.0),
        request("0003", Phase.DONE, finished_at=150.0),  # an operator's: no cooldown
    ]
    planned = service.tick(120.0)
    assert planned.effects == () and planned.wake_at == 160.0
    assert kinds(service.effects(160.0)) == [RequestEvacuation]


def test_an_evacuation_dry_run_is_said_again_after_its_condition_cleared() -> None:
    service = evacuating("dry-run")
    assert kinds(service.effects(100.0)) == [ReportEvacuationDryRun]
    service.evacuation = replace(service.evacuation, checks={})
    assert service.effects(101.0) == []
    service.evacuation = evacuating("dry-run").evacuation
    assert kinds(service.effects(102.0)) == [ReportEvacuationDryRun]


def test_no_second_evacuation_while_the_first_request_is_being_written() -> None:
    service = evacuating()
    service.running = {Work.EVACUATION}
    planned = service.tick(100.0)
    assert planned.effects == () and planned.wake_at is None
    assert evacuation(service.inputs(100.0), 100.0).reason is EvacReason.BUSY


def test_status_says_busy_while_a_request_waits_or_the_leader_recovers() -> None:
    # What `status` shows on any replica: the planner itself runs the pending request first.
    pending = evacuating()
    pending.requests = [request("0001")]
    assert evacuation(pending.inputs(100.0), 100.0).reason is EvacReason.BUSY
    follower = evacuating()
    follower.leading, follower.leader_recovering = False, True
    assert evacuation(follower.inputs(100.0), 100.0).reason is EvacReason.BUSY
    assert evacuation(evacuating().inputs(100.0), 100.0).reason is EvacReason.EVACUATE


def test_the_request_an_evacuation_writes_runs_as_an_evacuation_and_starts_the_cooldown(
) -> None:
    service = evacuating()
    effects = service.effects(100.0)
    assert isinstance(effects[0], RequestEvacuation)
    written = evacuation_request(effects[0].evacuation, "web", 100.0)
    # As the daemon writes it to ZooKeeper (which names it), and reads it back.
    record = Switchover.from_json(replace(written, id="0001").to_json())
    assert (record.service, record.to, record.requested_by, record.requested_at,
            record.phase) == ("web", "b", "auto:evacuation", 100.0, Phase.PENDING)
    assert record.evidence["conditions"] == ["raid"]
    service.running.discard(Work.EVACUATION)
    service.requests = [record]
    assert service.effects(101.0) == [RunSwitchover("0001")]

    record = step(record, Checked("a", "b", None), 102.0)
    for now in (103.0, 104.0, 105.0):  # fenced a, b ready, b promoted
        record = step(record, StepEnded(True, "", 1.0), now)
    assert command_for(record, TIMING) == CommitRoute("b", RouteReason.EVACUATION, ())
    record = step(record, StepEnded(True, "", 1.0), 106.0)
    record = step(record, StepEnded(True, "", 1.0), 108.0)  # verified
    assert (record.phase, record.finished_at) == (Phase.DONE, 108.0)

    # Its end starts the cooldown, even if the new primary fails the same check.
    service.running.clear()
    service.requests = [record]
    service.primary = "b"
    planned = service.tick(110.0)
    assert planned.effects == () and planned.wake_at == 168.0


def test_every_evacuation_answer_carries_its_evidence() -> None:
    raid = CheckState(ok=False, detail="md0 [U_]", since=1000.0, at=1000.0)
    base = EvacuationView("a", ("raid",), {"raid": raid, "disk": raid}, hold=60.0, target="b")
    seen = {"primary": "a", "hold": 60.0,
            "failing": {"raid": {"detail": "md0 [U_]", "since": 1000.0}}}
    held = {**seen, "conditions": ["raid"]}
    sunday = parse_window("Sun 02:00-04:00 UTC")
    monday_noon = 1795435200.0  # 2026-11-23 12:00 UTC, a Monday
    answers = {
        EvacReason.NO_CONDITION: (replace(base, checks={}), 2000.0, {
            "primary": "a", "hold": 60.0, "failing": {}}),
        EvacReason.HOLDING: (base, 1030.0, seen),
        EvacReason.PAUSED: (replace(base, mode=Mode.PAUSED), 2000.0, held),
        EvacReason.BUSY: (replace(base, busy=True), 2000.0, held),
        EvacReason.COOLDOWN: (replace(base, last_evacuation_end=1990.0), 2000.0, held),
        EvacReason.NO_READY_STANDBY: (replace(base, target=None), 2000.0, held),
        EvacReason.OUTSIDE_WINDOW: (replace(base, windows=(sunday,)), monday_noon,
                                    {**held, "windows": ["Sun 02:00-04:00 UTC"]}),
        EvacReason.DRY_RUN: (replace(base, mode=Mode.DRY_RUN), 2000.0, held),
        EvacReason.EVACUATE: (base, 2000.0, held),
    }
    for reason, (view, now, evidence) in answers.items():
        decided = decide_evacuation(view, now)
        assert (decided.reason, dict(decided.evidence)) == (reason, evidence), reason
    outside = decide_evacuation(replace(base, windows=(sunday,)), monday_noon)
    assert outside.target == "b"  # who would go, once the window opens
