"""The switchover machine against an in-memory world: literal times, no I/O.

``World`` plays the members and ZooKeeper: hooks succeed unless told to fail, a commit moves
the primary. ``drive`` runs a record to its end the way the leader's shell does, recording
every persisted intermediate record, so a test can restart from each one (as a new leader
would after a crash) and check that it converges to the same end.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.core.decide import MemberView, ServiceView
from controller.core.preflight import Refusal, preflight
from controller.core.records import RouteReason
from controller.core.steps import Step
from controller.core.switchover import (
    AwaitHealthy,
    CancelRequested,
    Checked,
    CheckSafe,
    CommitRoute,
    Due,
    IllegalEvent,
    Phase,
    RunHook,
    StepEnded,
    Switchover,
    Timing,
    Verify,
    command_for,
    durable_before_next,
    step,
)
from probes.health import Health

H, D, X = Health.HEALTHY, Health.DEGRADED, Health.DOWN
TIMING = Timing(ready_timeout=5.0, verify_window=2.0)


@dataclass
class World:
    primary: str = "a"
    health: dict[str, Health] = field(default_factory=lambda: {"a": H, "b": H, "c": H})
    failing: set[tuple[str, str]] = field(default_factory=set)  # (hook or "commit", member)
    verify_ok: bool = True
    hooks: list[tuple[str, str]] = field(default_factory=list)
    unfenced: set[str] = field(default_factory=set)  # as committed in the decision

    def view(self) -> ServiceView:
        members = tuple(MemberView(n, p, self.health[n])
                        for n, p in (("a", 100), ("b", 50), ("c", 10)))
        return ServiceView("web", self.primary, members)

    def execute(self, sw: Switchover) -> Checked | StepEnded:
        command = command_for(sw, TIMING)
        if isinstance(command, CheckSafe):
            target, refusal, evidence = preflight(self.view(), sw.to)
            return Checked(self.primary, target, refusal, evidence)
        if isinstance(command, RunHook):
            self.hooks.append((command.hook, command.member))
            ok = (command.hook, command.member) not in self.failing
            return StepEnded(ok, "", 1.0, reachable=self.health[command.member] is not X)
        if isinstance(command, AwaitHealthy):
            return StepEnded(self.health[command.member] is H, "", 1.0)
        if isinstance(command, CommitRoute):
            if ("commit", command.primary) in self.failing:
                return StepEnded(False, "version conflict", 1.0)
            self.primary = command.primary
            self.unfenced = (self.unfenced | set(command.unfenced)) - {command.primary}
            return StepEnded(True, "", 1.0)
        assert isinstance(command, Verify)
        return StepEnded(self.verify_ok, "", 1.0)


def drive(sw: Switchover, world: World) -> tuple[Switchover, list[Switchover]]:
    now, seen = 100.0, [sw]
    while not sw.phase.terminal:
        sw = step(sw, world.execute(sw), now, epoch=7)
        seen.append(sw)
        now += 1.0
    return sw, seen


def request(**kw: object) -> Switchover:
    return replace(Switchover(id="sw-1", service="web", requested_by="operator:alice",
                              requested_at=99.0), **kw)  # type: ignore[arg-type]


def test_happy_path_moves_the_primary_in_order() -> None:
    world = World()
    end, seen = drive(request(to="b"), world)
    assert end.phase is Phase.DONE and world.primary == "b"
    assert [s.phase for s in seen] == [
        Phase.PENDING, Phase.FENCING, Phase.WAITING, Phase.PROMOTING, Phase.COMMITTING,
        Phase.VERIFYING, Phase.DONE]
    assert world.hooks == [("fence", "a"), ("promote", "b")]
    assert [(s.step, s.member, s.ok) for s in end.steps] == [
        ("fencing", "a", True), ("waiting", "b", True), ("promoting", "b", True),
        ("committing", "b", True), ("verifying", "b", True)]
    assert end.committed and not end.rolled_back and end.epoch == 7
    assert (end.source, end.target, end.started_at, end.finished_at) == ("a", "b", 100.0, 105.0)


def test_without_to_picks_the_best_healthy_member() -> None:
    world = World(health={"a": H, "b": D, "c": H})
    end, _ = drive(request(), world)
    assert (end.phase, end.target, world.primary) == (Phase.DONE, "c", "c")


def test_failed_verification_rolls_back_and_records_why() -> None:
    world = World(verify_ok=False)
    end, seen = drive(request(to="b"), world)
    assert (end.phase, end.reason, end.rolled_back, end.committed) == (
        Phase.FAILED, "verification_failed", True, False)
    assert world.primary == "a"
    assert world.hooks == [("fence", "a"), ("promote", "b"), ("fence", "b"), ("promote", "a")]
    assert [s.phase for s in seen][-4:] == [
        Phase.ROLLBACK_FENCING, Phase.ROLLBACK_PROMOTING, Phase.ROLLBACK_COMMITTING,
        Phase.FAILED]


@pytest.mark.parametrize("failing", [("fence", "a"), ("promote", "b"), ("commit", "b")])
def test_a_failed_step_says_why_and_the_rollback_adds_its_own(
        failing: tuple[str, str]) -> None:
    world = World(failing={failing}, verify_ok=False)
    sw = step(request(to="b"), Checked("a", "b", None), 1.0)
    now = 2.0
    while not sw.phase.terminal:
        event = world.execute(sw)
        if isinstance(event, StepEnded) and not event.ok:
            event = replace(event, detail=f"boom at {sw.phase}")
        sw = step(sw, event, now)
        now += 1.0
    assert sw.phase is Phase.FAILED and sw.detail is not None
    assert sw.detail.startswith("boom at "), sw.detail
    # A verification that fails keeps its own detail.
    verified = step(step(step(step(step(request(to="b"), Checked("a", "b", None), 1.0),
                                        StepEnded(True, "", 1.0), 2.0),
                                   StepEnded(True, "", 1.0), 3.0),
                              StepEnded(True, "", 1.0), 4.0),
                         StepEnded(True, "", 1.0), 5.0)
    assert verified.phase is Phase.VERIFYING
    failed = step(verified, StepEnded(False, "b answers 503", 1.0), 6.0)
    assert (failed.reason, failed.detail) == ("verification_failed", "b answers 503")
    # The rollback's own failure is added to what failed first.
    again = step(step(failed, StepEnded(True, "", 1.0), 7.0),
                 StepEnded(False, "a: refused", 1.0), 8.0)
    assert again.detail == "b answers 503; rollback promote failed: a: refused"
    assert again.unfenced == ("a",)


def test_each_step_is_recorded_with_when_under_which_epoch_and_what_it_said() -> None:
    sw = step(request(to="b"), Checked("a", "b", None, {"seen": 1}), 10.0, epoch=7)
    assert (sw.updated_at, sw.epoch, sw.evidence) == (10.0, 7, {"seen": 1})
    sw = step(sw, StepEnded(True, "fenced", 2.5), 11.0)  # no epoch given: kept
    assert (sw.updated_at, sw.epoch) == (11.0, 7)
    assert sw.steps == (Step("fencing", "a", True, 2.5, "fenced", 7, 11.0),)
    cancelled = step(request(), CancelRequested("operator:bob"), 12.0)
    assert (cancelled.finished_at, cancelled.detail) == (12.0, "cancelled by operator:bob")
    refused = step(request(), Checked("a", None, Refusal.NO_HEALTHY_CANDIDATE, {"x": 1}), 13.0)
    assert (refused.finished_at, refused.reason, refused.evidence) == (
        13.0, "no_healthy_candidate", {"x": 1})
    for done, event in ((sw, CancelRequested("x")), (sw, Due()), (sw, Checked("a", "b", None)),
                        (request(), StepEnded(True, "", 1.0))):
        with pytest.raises(IllegalEvent, match=f"a {done.phase} switchover|that is"):
            step(done, event, 14.0)


def test_a_commit_that_fails_rolls_back_before_the_route_moved() -> None:
    world = World(failing={("commit", "b")})
    end, seen = drive(request(to="b"), world)
    assert (end.phase, end.reason, end.committed, end.rolled_back) == (
        Phase.FAILED, "commit_failed", False, True)
    assert world.primary == "a"
    assert world.hooks == [("fence", "a"), ("promote", "b"), ("fence", "b"), ("promote", "a")]
    # The route never moved: nothing to commit back.
    assert [s.phase for s in seen][-4:] == [
        Phase.COMMITTING, Phase.ROLLBACK_FENCING, Phase.ROLLBACK_PROMOTING, Phase.FAILED]


def test_target_that_never_gets_ready_rearms_the_old_primary_without_a_commit() -> None:
    world = World()
    sw = step(request(to="b"), Checked("a", "b", None), 1.0)
    sw = step(sw, StepEnded(True, "", 1.0), 2.0)  # fenced a
    sw = step(sw, StepEnded(False, "b degraded", 5000.0), 3.0)  # never healthy
    assert (sw.phase, sw.reason) == (Phase.ROLLBACK_PROMOTING, "target_not_ready")
    end, _ = drive(sw, world)
    assert (end.phase, end.rolled_back, world.primary) == (Phase.FAILED, True, "a")
    assert world.hooks == [("promote", "a")]


def test_failed_fence_of_a_reachable_primary_stops_unless_forced() -> None:
    world = World(failing={("fence", "a")})
    end, _ = drive(request(to="b"), world)
    assert (end.phase, end.reason, world.primary) == (Phase.FAILED, "fence_failed", "a")
    assert ("promote", "b") not in world.hooks
    forced = World(failing={("fence", "a")})
    end, _ = drive(request(to="b", force=True), forced)
    assert (end.phase, forced.primary, end.unfenced) == (Phase.DONE, "b", ("a",))


def test_failed_promote_fences_the_target_and_rearms_the_old_primary() -> None:
    world = World(failing={("promote", "b")})
    end, _ = drive(request(to="b"), world)
    assert (end.phase, end.reason, world.primary) == (Phase.FAILED, "promote_failed", "a")
    assert world.hooks[-2:] == [("fence", "b"), ("promote", "a")]


def test_a_maybe_promoted_target_that_cannot_be_fenced_is_marked_in_the_decision() -> None:
    # The promote timed out (it may have taken effect), then the target became unreachable:
    # its rollback fence fails. Nothing had been committed, yet the mark must be, so the
    # target is never a candidate until a later fence succeeds.
    world = World(failing={("fence", "b")})
    sw = step(request(to="b"), Checked("a", "b", None), 1.0)
    sw = step(sw, StepEnded(True, "", 1.0), 2.0)  # fenced a
    sw = step(sw, StepEnded(True, "", 1.0), 3.0)  # b ready
    sw = step(sw, StepEnded(False, "timed out after 2s", 2000.0), 4.0)  # promote b: unknown
    assert sw.phase is Phase.ROLLBACK_FENCING
    world.health["b"] = X
    end, seen = drive(sw, world)
    assert [s.phase for s in seen][1:] == [
        Phase.ROLLBACK_PROMOTING, Phase.ROLLBACK_COMMITTING, Phase.FAILED]
    assert (end.reason, end.rolled_back, end.committed) == ("promote_failed", True, False)
    assert (world.primary, world.unfenced) == ("a", {"b"})


def promote_timed_out() -> Switchover:
    """A switchover a -> b whose promote of b got no answer: b may be primary."""
    sw = step(request(to="b"), Checked("a", "b", None), 1.0)
    sw = step(sw, StepEnded(True, "", 1.0), 2.0)  # fenced a
    sw = step(sw, StepEnded(True, "", 1.0), 3.0)  # b ready
    return step(sw, StepEnded(False, "timed out after 2s", 2000.0), 4.0)


def test_a_maybe_promoted_target_that_refuses_its_fence_is_marked_and_a_stays_fenced() -> None:
    # b answers and refuses the rollback fence: arming a again could make two primaries,
    # so a is not promoted; but b's mark must reach the decision (the route never moved),
    # so b is fenced before anything else happens to the service.
    world = World(failing={("fence", "b")})
    end, seen = drive(promote_timed_out(), world)
    assert [s.phase for s in seen][1:] == [Phase.ROLLBACK_COMMITTING, Phase.FAILED]
    assert (end.reason, end.rolled_back, end.committed) == ("promote_failed", False, False)
    assert "rollback fence failed" in (end.detail or "")
    assert (world.primary, world.unfenced) == ("a", {"b"})
    assert ("promote", "a") not in world.hooks


def test_a_maybe_promoted_target_keeps_its_mark_when_the_rollback_promote_fails_too() -> None:
    # b is unreachable (its fence fails: marked) and a cannot be promoted again either:
    # the request fails, not rolled back, and b's mark is still committed.
    world = World(failing={("fence", "b"), ("promote", "a")})
    world.health["b"] = X
    end, seen = drive(promote_timed_out(), world)
    assert [s.phase for s in seen][1:] == [
        Phase.ROLLBACK_PROMOTING, Phase.ROLLBACK_COMMITTING, Phase.FAILED]
    assert (end.rolled_back, end.committed) == (False, False)
    assert "rollback promote failed" in (end.detail or "")
    assert (world.primary, world.unfenced) == ("a", {"b"})


def test_an_old_primary_whose_rollback_promote_fails_after_the_route_moved_is_marked() -> None:
    # Found by the simulation (invariant 7): the route had moved to b, verification failed,
    # b was fenced, and a's rollback promote failed (a frozen: it takes the promote when it
    # wakes). The request ended failed with a in no decision's marks, so a member believing
    # it was primary was unknown to ZooKeeper. The route stays at b; a's mark is committed.
    world = World(verify_ok=False, failing={("promote", "a")})
    end, seen = drive(request(to="b"), world)
    assert [s.phase for s in seen][-4:] == [
        Phase.ROLLBACK_FENCING, Phase.ROLLBACK_PROMOTING, Phase.ROLLBACK_COMMITTING,
        Phase.FAILED]
    assert (world.primary, world.unfenced) == ("b", {"a"})
    assert (end.committed, end.rolled_back) == (True, False)
    assert "rollback promote failed" in (end.detail or "")
    assert (end.steps[-1].step, end.steps[-1].member) == ("rollback_committing", "b")


def test_a_rollback_commit_that_fails_is_tried_again_until_its_marks_land() -> None:
    # Its marks (here a's: its rollback promote failed) must reach the decision before the
    # request ends: nothing reads a finished record's. A failure that no retry can mend
    # (a member no longer configured) ends it.
    sw = replace(request(to="b"), phase=Phase.ROLLBACK_COMMITTING, source="a", target="b",
                 committed=True, unfenced=("a",), reason="verification_failed")
    again = step(sw, StepEnded(False, "commit failed: conflict", 3.0), 200.0, epoch=7)
    assert again.phase is Phase.ROLLBACK_COMMITTING and again.phase.running
    assert (again.steps[-1].step, again.steps[-1].ok) == ("rollback_committing", False)
    assert command_for(again, TIMING) == CommitRoute("b", RouteReason.ROLLBACK, ("a",))
    done = step(again, StepEnded(True, "", 2.0), 205.0, epoch=7)
    assert (done.phase, done.committed, done.rolled_back) == (Phase.FAILED, True, False)
    final = step(sw, StepEnded(False, "b is not a configured member", 0.0, final=True),
                 200.0, epoch=7)
    assert final.phase is Phase.FAILED
    assert "rollback commit failed" in (final.detail or "")


def test_rollback_stops_rather_than_arm_two_primaries() -> None:
    # Verification failed, and the target answers but refuses its fence: leave it.
    world = World(verify_ok=False, failing={("fence", "b")})
    end, _ = drive(request(to="b"), world)
    assert (end.phase, world.primary, end.rolled_back) == (Phase.FAILED, "b", False)
    assert "rollback fence failed" in (end.detail or "")
    assert ("promote", "a") not in world.hooks[1:]


@pytest.mark.parametrize(("to", "health", "refusal"), [
    ("a", {}, Refusal.ALREADY_PRIMARY),
    ("b", {"b": D}, Refusal.TARGET_NOT_HEALTHY),
    ("zz", {}, Refusal.UNKNOWN_MEMBER),
    (None, {"b": X, "c": D}, Refusal.NO_HEALTHY_CANDIDATE),
])
def test_unsafe_requests_are_refused_with_a_reason(to: str | None, health: dict[str, Health],
                                                   refusal: Refusal) -> None:
    world = World(health={"a": H, "b": H, "c": H, **health})
    end, _ = drive(request(to=to), world)
    assert (end.phase, end.reason, world.hooks) == (Phase.REFUSED, str(refusal), [])
    assert end.evidence["members"]["b"]["health"] == str(world.health["b"])


def test_preflight_needs_a_majority_and_respects_what_is_busy() -> None:
    members = (MemberView("a", 100, H, healthy_votes=3),
               MemberView("b", 50, H, healthy_votes=1),
               MemberView("c", 10, H, unfenced=True, healthy_votes=3))
    view = ServiceView("web", "a", members, replicas=3)
    assert preflight(view, "b")[1] is Refusal.TARGET_NOT_CONFIRMED
    assert preflight(view, "c")[1] is Refusal.TARGET_UNFENCED
    assert preflight(view, None)[1] is Refusal.NO_HEALTHY_CANDIDATE
    busy = Refusal.RECOVERY_IN_FLIGHT
    assert preflight(view, "b", busy=busy)[1] is busy


def test_scheduled_waits_for_due_and_cancel_only_before_start() -> None:
    sw = request(to="b", at=500.0, phase=Phase.SCHEDULED)
    assert command_for(sw, TIMING) is None
    cancelled = step(sw, CancelRequested("operator:bob"), 10.0)
    assert (cancelled.phase, cancelled.reason) == (Phase.CANCELLED, "cancelled")
    started = step(step(sw, Due(), 500.0), Checked("a", "b", None), 500.1)
    with pytest.raises(IllegalEvent):
        step(started, CancelRequested("operator:bob"), 501.0)


def test_illegal_events_raise_and_change_nothing() -> None:
    sw = request(to="b")
    for event in (Due(), StepEnded(True, "", 1.0)):
        with pytest.raises(IllegalEvent):
            step(sw, event, 1.0)
    done, _ = drive(sw, World())
    with pytest.raises(IllegalEvent):
        step(done, StepEnded(True, "", 1.0), 1.0)
    assert sw == request(to="b")


def test_records_survive_a_round_trip_through_json() -> None:
    end, seen = drive(request(to="b", force=True), World(verify_ok=False))
    for record in (*seen, end):
        assert Switchover.from_json(record.to_json()) == record
    with pytest.raises(ValueError, match="not a switchover record"):
        Switchover.from_json(b'{"id": 1}')


def test_a_record_keeps_its_marks_and_steps_through_json_and_may_lack_them() -> None:
    # The failed fence of a reachable target, then the rollback's commit of its mark.
    end, _ = drive(request(to="b"), World(failing={("promote", "b"), ("fence", "b")}))
    assert end.unfenced == ("b",) and len(end.steps) == 5
    assert Switchover.from_json(end.to_json()) == end
    timed = end.with_last_step(9.5, "ZooKeeper 9 ms")
    assert [s.ms for s in timed.steps] == [1.0, 1.0, 1.0, 1.0, 9.5]
    assert timed.steps[:-1] == end.steps[:-1]
    assert (timed.steps[-1].step, timed.steps[-1].detail) == ("rollback_committing",
                                                              "ZooKeeper 9 ms")
    # Written by a version that had neither field.
    bare = Switchover.from_json(b'{"id": "1", "service": "web", "requested_by": "x", '
                                b'"requested_at": 1.0, "phase": "pending"}')
    assert (bare.steps, bare.unfenced) == ((), ())


@given(st.sampled_from(["b", "c", None]),
       st.sets(st.sampled_from([("fence", "a"), ("promote", "b"), ("promote", "c"),
                                ("fence", "b"), ("fence", "c"), ("promote", "a"),
                                ("commit", "b"), ("commit", "c")])),
       st.booleans(), st.booleans())
def test_resuming_from_any_persisted_record_converges_to_the_same_end(
        to: str | None, failing: set[tuple[str, str]], verify_ok: bool, force: bool) -> None:
    """A new leader re-runs the persisted phase: from every intermediate record the
    outcome, the primary and the rollback are what an uninterrupted run gave."""
    first = World(failing=failing, verify_ok=verify_ok)
    end, seen = drive(request(to=to, force=force), first)
    assert end.phase in (Phase.DONE, Phase.FAILED)
    # At most one primary, and it is either the old one or the target.
    assert first.primary in ("a", end.target)
    assert (first.primary == end.target) == (end.phase is Phase.DONE or (
        end.phase is Phase.FAILED and end.committed))
    for record in seen:
        # Write-ahead: no hook runs and no outcome stands unless the record was saved first;
        # only waiting (no side effect) and a commit (carries the record) may skip a save.
        command = command_for(record, TIMING)
        if not durable_before_next(record):
            assert isinstance(command, AwaitHealthy | CommitRoute), record.phase
        # What ZooKeeper held when this record was persisted (the commit is atomic with it).
        world = World(primary=(record.target or "a") if record.committed else "a",
                      failing=failing, verify_ok=verify_ok)
        resumed, _ = drive(record, world)
        assert (resumed.phase, resumed.reason, resumed.rolled_back) == (
            end.phase, end.reason, end.rolled_back)
        assert world.primary == first.primary
