"""The automatic failover and the late fence as pure machines (core/failover.py,
core/latefence.py), every path, with literal times and scripted answers: no I/O, no mocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from controller.core import failover, latefence
from controller.core.commands import (
    Answer,
    CheckEpoch,
    CheckPromotable,
    Command,
    CommitDecision,
    Committed,
    Ending,
    EpochChecked,
    Exclude,
    Failed,
    Fault,
    HookRan,
    IllegalAnswer,
    Noted,
    NoteUnfenced,
    Promotable,
    Publish,
    Published,
    RunHook,
    WriteAhead,
)
from controller.core.decide import Action, Decision, Reason
from controller.core.failover import Candidate, Failover
from controller.core.records import Decided
from controller.core.steps import Hook, Step

F, P = Hook.FENCE, Hook.PROMOTE
DECIDED = Decided(primary="a", address="a:80", epoch=3, version=7, reason="initial",
                  updated_at=100.0)
DECISION = Decision(Action.FAILOVER, Reason.PRIMARY_FAILING, target="b", fallbacks=("c",))
CANDIDATES = (Candidate("b", "b:80"), Candidate("c", "c:80"))


@dataclass
class Script:
    """Answers every command as a healthy world would, unless told otherwise: ``hooks``
    maps (hook, member) to (ok, answers); ``refused`` members are not promotable;
    ``faults`` fails a command by its type."""

    hooks: dict[tuple[Hook, str], tuple[bool, bool]] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    faults: dict[type, Failed] = field(default_factory=dict)
    version: int = 20  # the znode version of the decision
    seen: list[Command] = field(default_factory=list)

    def answer(self, command: Command) -> Answer:
        self.seen.append(command)
        if type(command) in self.faults:
            return self.faults[type(command)]
        match command:
            case CheckEpoch():
                return EpochChecked(1.5)
            case RunHook(hook=hook, member=member):
                ok, answers = self.hooks.get((hook, member), (True, True))
                detail = f"{hook} {member} {'ok' if ok else 'failed'}"
                return HookRan(ok, detail, answers,
                               Step(step=str(hook), member=member, ok=ok, ms=2.0))
            case CheckPromotable(member=member):
                return Promotable(f"not promoted: {member} is down"
                                  if member in self.refused else None)
            case WriteAhead() | CommitDecision():
                self.version += 1
                return Committed(self.version, 3.0)
            case Publish():
                return Published("applied", 4.0)
        return Noted()


def run(script: Script, machine: Failover | None = None, now: float = 500.0) -> Failover:
    fo = machine or failover.begin(DECISION, (DECIDED, 20), 3, "a", CANDIDATES)
    while (command := failover.command_for(fo)) is not None:
        fo = failover.step(fo, script.answer(command), now)
    return fo


def names(fo: Failover) -> list[str]:
    return [s.step + (f":{s.member}" if s.member else "") for s in fo.steps]


def test_the_whole_sequence_in_order_commits_against_the_version_it_wrote() -> None:
    script = Script()
    fo = run(script, now=500.0)
    assert script.seen[:5] == [
        CheckEpoch(3), RunHook(F, "a", "a"), CheckPromotable("b"),
        WriteAhead(DECIDED.with_marks({"b"}), 20), RunHook(P, "b", "a")]
    commit = script.seen[5]
    assert isinstance(commit, CommitDecision) and commit.base_version == 21
    assert (commit.decided.primary, commit.decided.address, commit.decided.version,
            commit.decided.epoch, commit.decided.unfenced) == ("b", "b:80", 8, 3, ())
    assert commit.decided.updated_at == commit.decided.last_recovery_end == 500.0
    assert isinstance(script.seen[6], Publish) and len(script.seen) == 7
    assert fo.outcome is not None and fo.outcome.ending is Ending.DONE
    assert (fo.outcome.primary, fo.outcome.version, fo.outcome.published) == ("b", 8, "applied")
    assert names(fo) == ["verify_epoch", "fence:a", "write_ahead", "promote:b", "commit",
                         "publish"]
    assert [s.ms for s in fo.steps] == [1.5, 2.0, 3.0, 2.0, 3.0, 4.0]


def test_the_publish_carries_the_decision_and_the_steps_before_it() -> None:
    script = Script()
    run(script)
    publish = script.seen[-1]
    assert isinstance(publish, Publish) and publish.origin == "failover"
    assert publish.detail["trigger"] == "auto"
    assert publish.detail["decision"] == DECISION.as_dict()
    assert [s["step"] for s in publish.detail["steps"]] == [
        "verify_epoch", "fence", "write_ahead", "promote", "commit"]


def test_an_old_primary_that_is_not_configured_is_not_fenced() -> None:
    script = Script()
    fo = run(script, failover.begin(DECISION, (DECIDED, 20), 3, None, CANDIDATES))
    assert script.seen[1] == CheckPromotable("b")
    assert fo.outcome is not None and fo.outcome.ending is Ending.DONE


def test_a_failed_fence_of_an_unreachable_primary_marks_it_and_goes_on() -> None:
    script = Script(hooks={(F, "a"): (False, False)})
    fo = run(script)
    assert script.seen[2] == NoteUnfenced("a", "fence a failed")
    assert script.seen[4] == WriteAhead(DECIDED.with_marks({"a", "b"}), 20)
    commit = script.seen[6]
    assert isinstance(commit, CommitDecision) and commit.decided.unfenced == ("a",)
    assert fo.outcome is not None and fo.outcome.ending is Ending.DONE


def test_a_failed_fence_of_a_primary_that_answers_aborts_before_any_write() -> None:
    script = Script(hooks={(F, "a"): (False, True)})
    fo = run(script)
    assert fo.outcome is not None
    assert (fo.outcome.ending, fo.outcome.code, fo.outcome.detail) == (
        Ending.ABORTED, "fence_failed", "fence a failed")
    assert not any(isinstance(c, RunHook) and c.hook is P for c in script.seen)
    assert not any(isinstance(c, WriteAhead | CommitDecision) for c in script.seen)
    assert names(fo) == ["verify_epoch", "fence:a"]


def test_a_refused_candidate_is_skipped_without_a_write_ahead() -> None:
    script = Script(refused={"b"})
    fo = run(script)
    assert CheckPromotable("c") in script.seen
    assert [c.decided.unfenced for c in script.seen if isinstance(c, WriteAhead)] == [("c",)]
    assert fo.steps[2] == Step(step="skip", member="b", detail="not promoted: b is down")
    assert fo.outcome is not None and fo.outcome.primary == "c"


def test_a_candidate_without_a_promote_hook_is_chosen_as_it_is() -> None:
    script = Script()
    fo = run(script, failover.begin(DECISION, (DECIDED, 20), 3, "a",
                                    (Candidate("b", "b:80", promotes=False),)))
    assert not any(isinstance(c, WriteAhead) or (isinstance(c, RunHook) and c.hook is P)
                   for c in script.seen)
    commit = script.seen[3]
    assert isinstance(commit, CommitDecision) and commit.base_version == 20
    assert fo.outcome is not None and fo.outcome.primary == "b"


def test_a_failed_promote_excludes_fences_and_falls_back_to_the_next() -> None:
    script = Script(hooks={(P, "b"): (False, True)})
    fo = run(script)
    assert script.seen[5:9] == [Exclude("b"), RunHook(F, "b", "a"), CheckPromotable("c"),
                                WriteAhead(DECIDED.with_marks({"c"}), 21)]
    commit = script.seen[-2]
    assert isinstance(commit, CommitDecision) and commit.decided.primary == "c"
    assert commit.base_version == 22 and commit.decided.unfenced == ()
    assert fo.outcome is not None and fo.outcome.ending is Ending.DONE


def test_a_failed_promote_whose_fence_fails_unreachable_stays_marked() -> None:
    script = Script(hooks={(P, "b"): (False, True), (F, "b"): (False, False)})
    fo = run(script)
    assert WriteAhead(DECIDED.with_marks({"b", "c"}), 21) in script.seen
    commit = script.seen[-2]
    assert isinstance(commit, CommitDecision) and commit.decided.unfenced == ("b",)
    assert fo.outcome is not None and fo.outcome.primary == "c"


def test_a_failed_promote_whose_fence_fails_while_it_answers_aborts() -> None:
    script = Script(hooks={(P, "b"): (False, True), (F, "b"): (False, True)})
    fo = run(script)
    assert fo.outcome is not None
    assert (fo.outcome.ending, fo.outcome.code) == (Ending.ABORTED, "promote_failed")
    assert fo.outcome.detail == ("b: promote failed and it refused to be fenced, so it may "
                                 "act as primary: fence b failed")
    assert CheckPromotable("c") not in script.seen


def test_no_candidate_left_aborts() -> None:
    script = Script(refused={"b"}, hooks={(P, "c"): (False, True)})
    fo = run(script)
    assert fo.outcome is not None
    assert (fo.outcome.ending, fo.outcome.code, fo.outcome.detail) == (
        Ending.ABORTED, "promote_failed", "no candidate could be promoted")
    assert names(fo)[-3:] == ["write_ahead", "promote:c", "fence:c"]
    none = run(Script(), failover.begin(DECISION, (DECIDED, 20), 3, "a", ()))
    assert none.outcome is not None and none.outcome.code == "promote_failed"


@pytest.mark.parametrize(("fault", "ending"), [
    (Fault.NOT_IN_OFFICE, Ending.INTERRUPTED), (Fault.FENCED, Ending.FENCED),
    (Fault.CONFLICT, Ending.CONFLICT), (Fault.STORE_ERROR, Ending.STORE_FAILED)])
@pytest.mark.parametrize("command", [CheckEpoch, RunHook, WriteAhead, CommitDecision])
def test_a_refused_command_ends_it_with_that_fault(fault: Fault, ending: Ending,
                                                   command: type) -> None:
    script = Script(faults={command: Failed(fault, "no", 9.0 if command is not RunHook
                                             else None)})
    fo = run(script)
    assert fo.outcome is not None and (fo.outcome.ending, fo.outcome.detail) == (ending, "no")
    assert not any(isinstance(c, Publish) for c in script.seen)
    last = {CheckEpoch: "verify_epoch", WriteAhead: "write_ahead", CommitDecision: "commit"}
    if command in last:  # the write is timed as its step, failed or not
        assert fo.steps[-1] == Step(step=last[command], ms=9.0)


def test_a_write_stopped_by_the_gate_is_no_step() -> None:
    script = Script(faults={CommitDecision: Failed(Fault.NOT_IN_OFFICE, "left", None)})
    fo = run(script)
    assert names(fo)[-1] == "promote:b"


def test_an_illegal_answer_raises_and_changes_nothing() -> None:
    fo = failover.begin(DECISION, (DECIDED, 20), 3, "a", CANDIDATES)
    with pytest.raises(IllegalAnswer):
        failover.step(fo, Committed(1, 1.0), 500.0)
    assert fo == failover.begin(DECISION, (DECIDED, 20), 3, "a", CANDIDATES)
    checked = failover.step(fo, EpochChecked(1.0), 500.0)
    with pytest.raises(IllegalAnswer):  # a check of the view cannot fail
        failover.step(failover.step(checked, HookRan(True, "", True), 500.0),
                      Failed(Fault.STORE_ERROR, "x"), 500.0)
    ended = run(Script())
    assert failover.command_for(ended) is None
    with pytest.raises(IllegalAnswer):
        failover.step(ended, Noted(), 501.0)


# --- the late fence ---------------------------------------------------------------------------

MARKED = DECIDED.with_marks({"b"})


def late(answers: Callable[[Command], Answer]) -> tuple[latefence.LateFence, list[Command]]:
    lf, seen = latefence.begin("b", (MARKED, 30)), []
    while (command := latefence.command_for(lf)) is not None:
        seen.append(command)
        lf = latefence.step(lf, answers(command), 600.0)
    return lf, seen


def test_a_late_fence_clears_the_mark_against_the_version_it_read() -> None:
    lf, seen = late(lambda c: HookRan(True, "fenced", True) if isinstance(c, RunHook)
                    else Committed(31, 1.0))
    assert seen == [RunHook(F, "b", "a"), CommitDecision(DECIDED, 30)]
    assert lf.outcome is not None and (lf.outcome.ending, lf.outcome.detail) == (
        Ending.DONE, "fenced")


def test_a_failed_late_fence_commits_nothing() -> None:
    lf, seen = late(lambda c: HookRan(False, "refused", True))
    assert len(seen) == 1
    assert lf.outcome is not None and (lf.outcome.ending, lf.outcome.code, lf.outcome.detail) \
        == (Ending.ABORTED, "fence_failed", "refused")


@pytest.mark.parametrize(("fault", "ending"), [
    (Fault.NOT_IN_OFFICE, Ending.INTERRUPTED), (Fault.FENCED, Ending.FENCED),
    (Fault.CONFLICT, Ending.CONFLICT), (Fault.STORE_ERROR, Ending.STORE_FAILED)])
def test_a_late_fence_whose_commit_is_refused_ends_with_that_fault(fault: Fault,
                                                                  ending: Ending) -> None:
    lf, _ = late(lambda c: HookRan(True, "", True) if isinstance(c, RunHook)
                 else Failed(fault, "no", 1.0))
    assert lf.outcome is not None and lf.outcome.ending is ending
    gate, seen = late(lambda c: Failed(fault, "gate", None))
    assert len(seen) == 1 and gate.outcome is not None and gate.outcome.ending is ending


def test_a_late_fence_refuses_an_illegal_answer() -> None:
    lf = latefence.begin("b", (MARKED, 30))
    with pytest.raises(IllegalAnswer):
        latefence.step(lf, Committed(1, 1.0), 600.0)
    done, _ = late(lambda c: HookRan(False, "", True))
    with pytest.raises(IllegalAnswer):
        latefence.step(done, HookRan(True, "", True), 600.0)
