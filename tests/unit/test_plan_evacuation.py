"""The evacuation policy through the planner, and the request it writes driven to its end:
literal times, no I/O, no mocks (``Service`` is the planner's in-memory service)."""

from __future__ import annotations

from dataclasses import replace

from controller.core.evacuate import EvacReason, evacuation_request
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
