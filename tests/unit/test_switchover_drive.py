"""Driving a switchover request (core/switchover_drive.py): what is saved, recorded and
committed, in which order, on every path, with literal times and scripted answers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from controller.core import switchover_drive
from controller.core.commands import (
    Answer,
    AwaitReady,
    CheckEpoch,
    Command,
    CommitDecision,
    Committed,
    Ending,
    EpochChecked,
    Failed,
    Fault,
    HookRan,
    IllegalAnswer,
    Noted,
    Preflight,
    Publish,
    Published,
    ReadSnapshot,
    Record,
    RunHook,
    Saved,
    SaveSwitchover,
    Sleep,
    Snapshot,
    VerifyPrimary,
)
from controller.core.preflight import Refusal
from controller.core.records import Decided
from controller.core.steps import Hook
from controller.core.switchover import Checked, Phase, StepEnded, Switchover, Timing
from controller.core.switchover_drive import Drive

TIMING = Timing(ready_timeout=5.0, verify_window=2.0)
DECIDED = Decided(primary="a", address="a:80", epoch=2, version=4, reason="initial",
                  updated_at=10.0)
REQUEST = Switchover(id="r1", service="web", requested_by="operator:alice",
                     requested_at=90.0)


@dataclass
class World:
    """Answers as a healthy world would, unless a command type is failed (``fail``), a
    hook fails (``hooks``) or the commit's snapshot is missing (``snapshot``)."""

    fail: dict[type, list[Failed]] = field(default_factory=dict)
    hooks: dict[tuple[Hook, str], bool] = field(default_factory=dict)
    snapshot: tuple[Decided, int] | None = (DECIDED, 8)
    address: str | None = "b:80"
    saves: int = 3
    seen: list[Command] = field(default_factory=list)

    def answer(self, command: Command) -> Answer:
        self.seen.append(command)
        if self.fail.get(type(command)):
            return self.fail[type(command)].pop(0)
        match command:
            case Preflight():
                return Checked("a", "b", None)
            case RunHook(hook=hook, member=member):
                ok = self.hooks.get((hook, member), True)
                return HookRan(ok, f"{hook} {member}", True, None, 5.0)
            case AwaitReady() | VerifyPrimary():
                return StepEnded(True, "healthy", 7.0)
            case SaveSwitchover():
                self.saves += 1
                return Saved(self.saves)
            case CheckEpoch():
                return EpochChecked(1.0)
            case ReadSnapshot():
                return Snapshot(self.snapshot, self.address)
            case CommitDecision(switchover=(_, version)):
                self.saves = version + 1
                return Committed(9, 2.0, self.saves)
            case Publish():
                return Published("applied", 3.0)
        return Noted()


def run(world: World, record: Switchover = REQUEST, version: int = 3) -> Drive:
    now = 100.0
    d = switchover_drive.begin(record, version, 2, TIMING, 1.0, now)
    while (command := switchover_drive.command_for(d)) is not None:
        now += 1.0
        d = switchover_drive.step(d, world.answer(command), now)
    return d


def kinds(world: World) -> list[str]:
    return [type(c).__name__ for c in world.seen]


def test_a_switchover_saves_before_each_side_effect_and_commits_with_its_record() -> None:
    world = World()
    d = run(world)
    assert kinds(world) == [
        "Preflight", "SaveSwitchover",  # FENCING saved before the fence goes out
        "RunHook", "AwaitReady", "SaveSwitchover",  # PROMOTING saved before the promote
        "RunHook", "CheckEpoch", "ReadSnapshot", "CommitDecision", "Publish",
        "SaveSwitchover", "VerifyPrimary", "Record", "SaveSwitchover"]
    assert world.seen[2] == RunHook(Hook.FENCE, "a") and world.seen[5] == RunHook(
        Hook.PROMOTE, "b")
    commit = world.seen[8]
    assert isinstance(commit, CommitDecision) and commit.base_version == 8
    assert (commit.decided.primary, commit.decided.version) == ("b", 5)
    assert commit.switchover is not None and commit.switchover[1] == 5
    assert commit.switchover[0].phase is Phase.VERIFYING
    assert commit.switchover[0].steps[-1].ms is None  # timed by the save after
    publish = world.seen[9]
    assert isinstance(publish, Publish) and publish.origin == "switchover"
    assert publish.detail["request"] == "r1" and publish.detail["trigger"] == "operator:alice"
    saved = world.seen[10]
    assert isinstance(saved, SaveSwitchover) and saved.base_version == 6
    assert saved.record.steps[-1].ms == 6.0
    assert saved.record.steps[-1].detail == ("route -> b (version 5); ZooKeeper 3.0 ms, "
                                             "Redis 3.0 ms")
    record = world.seen[12]
    assert isinstance(record, Record) and record.wait and record.event == "switchover_done"
    assert d.outcome is not None and d.outcome.ending is Ending.DONE
    assert d.record.phase is Phase.DONE and d.version == 8


def test_a_scheduled_request_is_saved_due_before_anything_runs() -> None:
    world = World()
    d = switchover_drive.begin(replace(REQUEST, phase=Phase.SCHEDULED), 3, 2, TIMING, 1.0,
                               100.0)
    assert not d.in_loop
    command = switchover_drive.command_for(d)
    assert isinstance(command, SaveSwitchover) and command.record.phase is Phase.PENDING
    d = switchover_drive.step(d, world.answer(command), 101.0)
    assert d.in_loop and d.iterations == 0
    assert isinstance(switchover_drive.command_for(d), Preflight)


def test_each_phase_command_done_counts_once_for_the_logs() -> None:
    world = World()
    iterations, checked = [], []
    now, d = 100.0, switchover_drive.begin(REQUEST, 3, 2, TIMING, 1.0, 100.0)
    while (command := switchover_drive.command_for(d)) is not None:
        before, d = d, switchover_drive.step(d, world.answer(command), now)
        if d.iterations > before.iterations:
            iterations.append(str(d.record.phase))
            checked.append(d.checked)
    assert iterations == ["fencing", "waiting", "promoting", "committing", "verifying",
                          "done"]
    assert checked == [True, False, False, False, False, False]


def test_a_refused_switchover_records_its_outcome_before_saving_it() -> None:
    d = switchover_drive.begin(REQUEST, 3, 2, TIMING, 1.0, 100.0)
    d = switchover_drive.step(d, Checked("a", None, Refusal.TARGET_NOT_HEALTHY), 101.0)
    record = switchover_drive.command_for(d)
    assert isinstance(record, Record) and record.event == "switchover_refused"
    assert record.fields["reason"] == "target_not_healthy"
    d = switchover_drive.step(d, Noted(), 102.0)
    save = switchover_drive.command_for(d)
    assert isinstance(save, SaveSwitchover) and save.record.phase is Phase.REFUSED
    d = switchover_drive.step(d, Saved(4), 103.0)
    assert d.outcome is not None and d.outcome.ending is Ending.DONE


def test_a_failed_commit_is_counted_reread_and_saved_as_the_phase_failure() -> None:
    world = World(fail={CommitDecision: [Failed(Fault.CONFLICT, "changed", 2.0)]})
    d = run(world)
    i = kinds(world).index("CommitDecision")
    assert kinds(world)[i + 1:i + 4] == ["CountStoreError", "Reread", "SaveSwitchover"]
    failed = world.seen[i + 3]
    assert isinstance(failed, SaveSwitchover)
    assert failed.record.phase is Phase.ROLLBACK_FENCING
    assert failed.record.steps[-1].detail == "commit failed: changed"
    assert failed.record.steps[-1].ms == 3.0  # the gate and the commit
    assert isinstance(world.seen[i + 4], RunHook)  # the rollback goes on at once
    assert d.outcome is not None and d.record.phase is Phase.FAILED


def test_a_rollback_commit_that_fails_waits_then_is_tried_again() -> None:
    world = World(hooks={(Hook.PROMOTE, "b"): False},
                  fail={CommitDecision: [Failed(Fault.STORE_ERROR, "timeout", 1.0)]})
    world.hooks[(Hook.FENCE, "b")] = False  # unreachable? it answers: marks to record
    d = run(world)
    seen = kinds(world)
    i = seen.index("CommitDecision")
    assert seen[i + 1:i + 5] == ["CountStoreError", "Reread", "SaveSwitchover", "Sleep"]
    assert isinstance(world.seen[i + 4], Sleep) and world.seen[i + 4] == Sleep(1.0)
    assert seen[i + 5:i + 8] == ["CheckEpoch", "ReadSnapshot", "Record"]
    assert d.outcome is not None and d.outcome.ending is Ending.DONE
    assert d.record.phase is Phase.FAILED


def test_a_terminal_rollback_records_its_outcome_before_its_commit() -> None:
    world = World(hooks={(Hook.PROMOTE, "b"): False, (Hook.FENCE, "b"): False})
    run(world)
    seen = kinds(world)
    i = seen.index("CommitDecision")
    assert seen[i - 1] == "Record" and seen[i + 1] == "Publish"
    assert seen[i + 2] == "SaveSwitchover" and "Record" not in seen[i + 1:]


def test_a_commit_for_a_member_not_configured_fails_for_good() -> None:
    world = World(address=None)
    d = run(world)
    failed = [c for c in world.seen if isinstance(c, SaveSwitchover)][2]
    assert failed.record.phase is Phase.ROLLBACK_FENCING
    assert "not a configured member" in (failed.record.steps[-1].detail or "")
    assert "CommitDecision" not in kinds(world)
    assert d.outcome is not None


@pytest.mark.parametrize(("fault", "ending"), [
    (Fault.NOT_IN_OFFICE, Ending.INTERRUPTED), (Fault.FENCED, Ending.FENCED),
    (Fault.CONFLICT, Ending.CONFLICT), (Fault.STORE_ERROR, Ending.STORE_FAILED)])
@pytest.mark.parametrize("command", [SaveSwitchover, RunHook, CheckEpoch])
def test_a_refusal_ends_the_drive_at_its_phase(fault: Fault, ending: Ending,
                                               command: type) -> None:
    world = World(fail={command: [Failed(fault, "no")]})
    d = run(world)
    assert d.outcome is not None and (d.outcome.ending, d.outcome.detail) == (ending, "no")
    assert not any(isinstance(c, CommitDecision) for c in world.seen)


def test_a_commit_refused_by_a_newer_epoch_ends_fenced() -> None:
    world = World(fail={CommitDecision: [Failed(Fault.FENCED, "newer")]})
    d = run(world)
    assert d.outcome is not None and d.outcome.ending is Ending.FENCED
    assert kinds(world)[-1] == "CommitDecision"


def test_an_illegal_answer_raises_and_changes_nothing() -> None:
    d = switchover_drive.begin(REQUEST, 3, 2, TIMING, 1.0, 100.0)
    with pytest.raises(IllegalAnswer):
        switchover_drive.step(d, StepEnded(True, "", 1.0), 101.0)  # the check's answer
    with pytest.raises(IllegalAnswer):
        switchover_drive.step(d, Saved(4), 101.0)
    assert d == switchover_drive.begin(REQUEST, 3, 2, TIMING, 1.0, 100.0)
    ended = run(World())
    with pytest.raises(IllegalAnswer):
        switchover_drive.step(ended, Noted(), 200.0)
    saving = switchover_drive.step(d, Checked("a", "b", None), 101.0)
    with pytest.raises(IllegalAnswer):  # the gate's answer is no save's
        switchover_drive.step(saving, EpochChecked(1.0), 102.0)
