"""The per-service planner against an in-memory service: literal times, no I/O, no mocks.

``Service`` holds what the daemon would snapshot (members' health and votes, requests, the
pause, the work it runs) and carries the planner's memory from one call to the next, the way
the engine does; ``tick`` plans at a given time and returns the effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from controller.core.decide import Action, MemberView, Mode, Reason, ServiceView
from controller.core.evacuate import EvacReason
from controller.core.lease import Lease, lease_length
from controller.core.plan import (
    Effect,
    EvacuationFacts,
    FailOver,
    FenceLate,
    Inputs,
    LiftPause,
    Memory,
    Plan,
    ReportDryRun,
    ReportEvacuationDryRun,
    ReportRedundancy,
    ReportSplitView,
    RequestEvacuation,
    RunSwitchover,
    Work,
    busy,
    mode_of,
    next_request,
    plan,
    recovering,
)
from controller.core.preflight import Refusal
from controller.core.records import Pause
from controller.core.switchover import Phase, Switchover
from probes.health import CheckState, Health

H, D, X = Health.HEALTHY, Health.DEGRADED, Health.DOWN


@dataclass
class Service:
    health: dict[str, Health] = field(default_factory=lambda: {"a": H, "b": H, "c": H})
    primary: str = "a"
    auto_failover: bool | str = True
    pause: Pause | None = None
    replicas: int = 1
    failing_votes: int | None = None  # how many replicas see the primary failing
    unfenced: set[str] = field(default_factory=set)
    running: set[Work] = field(default_factory=set)
    requests: list[Switchover] = field(default_factory=list)
    fence_retry_after: float = 0.0
    last_failed_attempt: float | None = None
    evacuation: EvacuationFacts = field(default_factory=EvacuationFacts)
    leading: bool = True
    leader_recovering: bool = False
    memory: Memory = field(default_factory=Memory)

    def inputs(self, now: float) -> Inputs:
        running, requests = frozenset(self.running), tuple(self.requests)
        members = []
        for name, priority in (("a", 100), ("b", 50), ("c", 10)):
            failing = self.failing_votes if name == self.primary else None
            healthy = (self.replicas if self.health[name] is H else 0) \
                if self.replicas > 1 else None
            members.append(MemberView(name, priority, self.health[name],
                                      unfenced=name in self.unfenced,
                                      failing_votes=failing, healthy_votes=healthy))
        view = ServiceView(
            "web", self.primary, tuple(members),
            mode=mode_of(self.auto_failover, self.pause, now), cooldown=60.0,
            retry_backoff=5.0, last_failed_attempt=self.last_failed_attempt,
            recovery_in_flight=recovering(running, requests, self.leader_recovering),
            excluded=self.memory.excluded, replicas=self.replicas)
        return Inputs(view=view, leading=self.leading, running=running, switchovers=requests,
                      pause=self.pause, leader_recovering=self.leader_recovering,
                      fenceable=frozenset({"a", "b", "c"}),
                      fence_retry_after=self.fence_retry_after, evacuation=self.evacuation)

    def tick(self, now: float) -> Plan:
        """Plan, and keep the memory, as the engine does; start the work it asks for."""
        planned = plan(self.inputs(now), self.memory, now)
        self.memory = planned.memory
        for effect in planned.effects:
            self.running |= _work(effect)
        return planned

    def effects(self, now: float) -> list[Effect]:
        return list(self.tick(now).effects)


def _work(effect: Effect) -> set[Work]:
    if isinstance(effect, FenceLate | FailOver):
        return {Work.RECOVERY}
    if isinstance(effect, RunSwitchover):
        return {Work.SWITCHOVER}
    if isinstance(effect, LiftPause):
        return {Work.LIFT_PAUSE}
    if isinstance(effect, RequestEvacuation):
        return {Work.EVACUATION}
    return set()


def request(rid: str, phase: Phase = Phase.PENDING, at: float | None = None,
            **more: object) -> Switchover:
    return replace(Switchover(id=rid, service="web", requested_by="operator:alice",
                              requested_at=1.0, at=at, phase=phase), **more)  # type: ignore[arg-type]


def kinds(effects: list[Effect]) -> list[type]:
    return [type(e) for e in effects]


# --- mode: the configured one, unless an operator's pause is in force ------------------------


def test_a_pause_wins_over_the_configured_mode_until_it_ends() -> None:
    pause = Pause(by="operator:alice", at=100.0, until=200.0)
    assert mode_of(True, pause, 150.0) is Mode.PAUSED
    assert mode_of(True, pause, 200.0) is Mode.AUTO
    assert mode_of("dry-run", pause, 250.0) is Mode.DRY_RUN
    assert mode_of(False, None, 250.0) is Mode.PAUSED
    assert mode_of(True, Pause(by="operator:alice", at=100.0, until=None), 1e9) is Mode.PAUSED


def test_a_paused_service_does_not_fail_over_and_wakes_when_the_pause_ends() -> None:
    service = Service(pause=Pause(by="operator:alice", at=100.0, until=200.0))
    service.health["a"] = X
    planned = service.tick(150.0)
    assert planned.effects == ()
    assert planned.decision is not None and planned.decision.reason is Reason.PAUSED
    assert planned.wake_at == 200.0
    # At its end: lifted from the store, and the failover goes ahead at once.
    assert kinds(service.effects(200.0)) == [FailOver, LiftPause]


def test_an_expired_pause_is_lifted_once_while_its_lift_runs() -> None:
    pause = Pause(by="operator:alice", at=100.0, until=200.0)
    service = Service(pause=pause)
    assert service.effects(201.0) == [LiftPause(pause)]
    planned = service.tick(202.0)
    assert planned.effects == () and planned.wake_at is None


# --- one recovery at a time ---------------------------------------------------------------


def test_nothing_new_starts_while_a_recovery_runs() -> None:
    service = Service(running={Work.RECOVERY}, requests=[request("0001")])
    service.health["a"] = X
    planned = service.tick(100.0)
    assert planned.effects == ()
    assert planned.decision is not None
    assert planned.decision.reason is Reason.RECOVERY_IN_FLIGHT


def test_a_member_that_may_act_as_primary_is_fenced_before_anything_else() -> None:
    service = Service(unfenced={"b"}, requests=[request("0001")])
    service.health["a"] = X
    assert service.effects(100.0) == [FenceLate("b")]
    # Its fence is the recovery in flight: no failover, no switchover meanwhile.
    assert service.effects(101.0) == []


def test_a_failed_late_fence_is_retried_after_its_back_off() -> None:
    service = Service(unfenced={"b"}, fence_retry_after=105.0)
    planned = service.tick(100.0)
    assert planned.effects == () and planned.wake_at == 105.0
    assert service.effects(105.0) == [FenceLate("b")]


def test_an_unfenced_member_that_does_not_answer_waits_and_blocks_nothing() -> None:
    service = Service(unfenced={"b"})
    service.health["b"] = X
    service.health["a"] = X
    effects = service.effects(100.0)
    assert [type(e) for e in effects] == [FailOver]
    assert isinstance(effects[0], FailOver) and effects[0].decision.target == "c"


def test_a_switchover_runs_only_when_no_recovery_does_and_one_at_a_time() -> None:
    service = Service(requests=[request("0001"), request("0002")])
    assert service.effects(100.0) == [RunSwitchover("0001")]
    assert service.effects(101.0) == []  # 0001 runs


def test_busy_says_why_a_switchover_cannot_start() -> None:
    running = request("0001", Phase.FENCING)
    assert busy(frozenset({Work.RECOVERY}), (), False) is Refusal.RECOVERY_IN_FLIGHT
    assert busy(frozenset(), (running,), False) is Refusal.SWITCHOVER_IN_PROGRESS
    assert busy(frozenset(), (running,), False, besides="0001") is None
    assert busy(frozenset(), (), True) is Refusal.RECOVERY_IN_FLIGHT
    assert busy(frozenset(), (), True, besides="0001") is None  # its own, seen by a follower
    assert busy(frozenset(), (), False) is None


# --- reports made once --------------------------------------------------------------------


def test_a_dry_run_is_recorded_once_per_target_and_reason() -> None:
    service = Service(auto_failover="dry-run")
    service.health["a"] = X
    first = service.effects(100.0)
    assert kinds(first) == [ReportDryRun]
    assert isinstance(first[0], ReportDryRun) and first[0].decision.target == "b"
    assert service.effects(101.0) == []
    service.health["b"] = D  # another target: said again
    assert kinds(service.effects(102.0)) == [ReportDryRun]
    service.health["a"] = H  # over: the next episode is said again
    assert service.effects(103.0) == []
    service.health["a"] = X
    assert kinds(service.effects(104.0)) == [ReportDryRun]


def test_a_split_view_is_reported_when_it_starts_and_when_it_ends() -> None:
    service = Service(replicas=3, failing_votes=1)
    service.health["a"] = X
    effects = service.effects(100.0)
    assert len(effects) == 1 and isinstance(effects[0], ReportSplitView)
    assert effects[0].split and effects[0].member == "a"
    assert effects[0].summary == "leader isolated from a? 1 of 3 replicas see it down, 2 needed"
    assert effects[0].evidence["votes"] == {"failing": 1, "replicas": 3, "required": 2}
    assert service.effects(101.0) == []
    assert service.memory.split_view
    service.health["a"] = H
    service.failing_votes = 0
    assert service.effects(102.0) == [ReportSplitView(False, "a", "split view cleared", {})]
    assert service.effects(103.0) == []


def test_redundancy_is_reported_on_every_replica_when_it_changes_not_at_start_when_fine(
) -> None:
    follower = Service(leading=False)
    assert follower.effects(100.0) == []
    follower.health["b"] = X
    follower.health["c"] = X
    effects = follower.effects(101.0)
    assert kinds(effects) == [ReportRedundancy]
    assert isinstance(effects[0], ReportRedundancy) and effects[0].redundant is False
    assert effects[0].evidence["ready_standbys"] == []
    assert follower.effects(102.0) == []
    follower.health["b"] = H
    assert kinds(follower.effects(103.0)) == [ReportRedundancy]


def test_a_replica_not_in_office_only_reports() -> None:
    follower = Service(leading=False, requests=[request("0001")],
                       pause=Pause(by="operator:alice", at=1.0, until=50.0))
    follower.health["a"] = X
    planned = follower.tick(100.0)
    assert planned.effects == () and planned.wake_at is None and planned.decision is None


def test_a_healthy_primary_ends_the_episode_and_its_exclusions() -> None:
    service = Service(memory=Memory(excluded=frozenset({"b"})))
    service.health["a"] = X
    effects = service.effects(100.0)
    assert isinstance(effects[0], FailOver) and effects[0].decision.target == "c"
    service.running.clear()
    service.health["a"] = H
    service.effects(200.0)
    assert service.memory.excluded == frozenset()


def test_members_that_failed_to_promote_stay_excluded_while_quorum_blocks() -> None:
    # b failed to be promoted; too few replicas then see a failing: the episode goes on,
    # so when the quorum is reached b is still not a candidate.
    service = Service(replicas=3, failing_votes=1, memory=Memory(excluded=frozenset({"b"})))
    service.health["a"] = X
    planned = service.tick(100.0)
    assert planned.decision is not None
    assert planned.decision.reason is Reason.QUORUM_NOT_REACHED
    assert service.memory.excluded == frozenset({"b"})
    service.failing_votes = 2
    effects = service.effects(101.0)
    assert kinds(effects) == [ReportSplitView, FailOver]
    assert isinstance(effects[1], FailOver) and effects[1].decision.target == "c"


def test_a_failover_starts_no_switchover_or_evacuation_in_the_same_evaluation() -> None:
    service = evacuating()
    service.requests = [request("0001")]
    service.health["a"] = X
    assert kinds(service.effects(100.0)) == [FailOver]
    service.requests = []
    service.running.clear()
    assert kinds(service.effects(101.0)) == [FailOver]


def test_the_planner_runs_on_requests_read_back_from_json() -> None:
    stored = [request("0001", Phase.SCHEDULED, at=90.0), request("0002"),
              request("0003", Phase.PROMOTING, source="a", target="b")]
    read = [Switchover.from_json(r.to_json()) for r in stored]
    assert [type(r.phase) for r in read] == [Phase, Phase, Phase]
    service = Service(requests=read)
    planned = service.tick(100.0)
    assert planned.effects == (RunSwitchover("0003"),)
    assert planned.decision is not None
    assert planned.decision.reason is Reason.RECOVERY_IN_FLIGHT  # 0003 is running


def test_a_recovery_started_keeps_the_work_already_running() -> None:
    # A pause being lifted when a late fence or a failover starts: not lifted twice.
    pause = Pause(by="operator:alice", at=1.0, until=50.0)
    fencing = Service(unfenced={"b"}, pause=pause, running={Work.LIFT_PAUSE})
    assert fencing.effects(100.0) == [FenceLate("b")]
    failing = Service(pause=pause, running={Work.LIFT_PAUSE})
    failing.health["a"] = X
    assert kinds(failing.effects(100.0)) == [FailOver]


# --- requests: which runs next, and when the service wakes for one ---------------------------


def test_the_next_request_resumes_a_running_one_then_the_oldest_pending_then_a_due_one(
) -> None:
    resumed = request("0003", Phase.PROMOTING)
    pending = request("0002")
    due = request("0001", Phase.SCHEDULED, at=90.0)
    later = request("0000", Phase.SCHEDULED, at=500.0)
    assert next_request((due, pending, resumed), 100.0) == ("0003", None)
    assert next_request((due, pending), 100.0) == ("0002", None)
    assert next_request((later, due), 100.0) == ("0001", None)
    assert next_request((later,), 100.0) == (None, 500.0)
    assert next_request((request("0004", Phase.DONE),), 100.0) == (None, None)


def test_a_scheduled_switchover_wakes_the_service_at_its_time() -> None:
    service = Service(requests=[request("0001", Phase.SCHEDULED, at=160.0)])
    planned = service.tick(100.0)
    assert planned.effects == () and planned.wake_at == 160.0
    assert service.effects(160.0) == [RunSwitchover("0001")]


def test_the_timer_is_the_earliest_future_time_any_rule_waits_for() -> None:
    service = Service(requests=[request("0001", Phase.SCHEDULED, at=300.0)],
                      pause=Pause(by="operator:alice", at=1.0, until=250.0),
                      last_failed_attempt=98.0)
    service.health["a"] = X
    planned = service.tick(100.0)
    assert planned.decision is not None and planned.decision.reason is Reason.PAUSED
    assert planned.wake_at == 250.0
    service.pause = None
    planned = service.tick(101.0)
    assert planned.decision is not None
    assert (planned.decision.action, planned.decision.reason) == (Action.WAIT,
                                                                  Reason.RETRY_BACKOFF)
    assert planned.wake_at == 103.0  # the back-off (98 + 5) before the schedule (300)


# --- evacuation, after everything else ------------------------------------------------------


def evacuating(mode: bool | str = True) -> Service:
    checks = {"raid": CheckState(ok=False, detail="degraded", since=10.0)}
    return Service(auto_failover=mode, evacuation=EvacuationFacts(
        conditions=("raid",), checks=checks, hold=30.0))


def test_an_evacuation_is_requested_once_its_condition_held() -> None:
    service = Service(auto_failover=True, evacuation=EvacuationFacts(
        conditions=("raid",), checks={"raid": CheckState(ok=False, detail="degraded",
                                                         since=90.0)}, hold=30.0))
    planned = service.tick(100.0)
    assert planned.effects == () and planned.wake_at == 120.0
    effects = service.effects(120.0)
    assert kinds(effects) == [RequestEvacuation]
    assert isinstance(effects[0], RequestEvacuation)
    assert effects[0].evacuation.target == "b"
    assert service.effects(121.0) == []  # its request is being written


def test_an_evacuation_dry_run_is_recorded_once() -> None:
    service = evacuating("dry-run")
    effects = service.effects(100.0)
    assert kinds(effects) == [ReportEvacuationDryRun]
    assert isinstance(effects[0], ReportEvacuationDryRun)
    assert effects[0].evacuation.reason is EvacReason.DRY_RUN
    assert service.effects(101.0) == []


def test_no_evacuation_while_a_request_is_pending_or_running() -> None:
    service = evacuating()
    service.requests = [request("0001", Phase.VERIFYING)]
    service.running = {Work.SWITCHOVER}
    assert service.effects(100.0) == []


# --- the lease -----------------------------------------------------------------------------


def test_the_lease_is_a_third_of_the_granted_session_timeout_and_none_when_unknown() -> None:
    assert lease_length(6.0, 10.0) == 2.0
    assert lease_length(30.0, 10.0) == 10.0 / 3  # never longer than we asked for
    assert lease_length(None, 10.0) == 0.0


def test_the_lease_counts_from_when_the_check_was_sent_for_its_epoch_only() -> None:
    lease = Lease(epoch=7, sent_at=100.0)
    assert lease.covers(7, 101.9, 2.0)
    assert not lease.covers(7, 102.0, 2.0)  # expired
    assert not lease.covers(8, 101.0, 2.0)  # another epoch
    assert not lease.covers(7, 99.0, 2.0)  # a clock that went back proves nothing
    assert not Lease(7, 100.0).covers(7, 100.0, 0.0)  # no lease: always ask


def test_busy_counts_our_own_switchover_task_before_its_first_save() -> None:
    assert busy(frozenset({Work.SWITCHOVER}), (), False) is Refusal.RECOVERY_IN_FLIGHT
    assert busy(frozenset({Work.SWITCHOVER}), (), False, besides="0001") is None


def test_an_evacuation_holds_until_exactly_the_time_it_wakes_for() -> None:
    # 0.7 + 0.1 is 0.7999999999999999 in floats, and (0.7 + 0.1) - 0.7 < 0.1: the hold must
    # be over at the very time the planner asked to be woken, or that wake-up is lost.
    service = Service(evacuation=EvacuationFacts(
        conditions=("raid",), checks={"raid": CheckState(ok=False, detail="degraded",
                                                         since=0.7)}, hold=0.1))
    planned = service.tick(0.75)
    assert planned.effects == () and planned.wake_at == 0.7 + 0.1
    assert kinds(service.effects(0.7 + 0.1)) == [RequestEvacuation]
