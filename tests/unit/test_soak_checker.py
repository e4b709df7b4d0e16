"""The soak's checker catches what it is there to catch (fed broken histories)."""

from __future__ import annotations

import math

from controller.core.records import Decided, RouteReason
from controller.core.steps import Step
from controller.core.switchover import Phase, Switchover
from tests.soak.checker import (
    Accounted,
    Answer,
    Applied,
    Seen,
    Taken,
    answers_from_routed,
    calls_were_logged,
    converged_in_time,
    decision_accounts,
    distinct_leader_epochs,
    held_answers,
    hook_epochs_never_go_down,
    never_goes_back,
    one_primary_per_version,
    promotes_accounted_for,
    promotions_were_healthy,
    requests_ended,
    switchover_accounts,
    taken_hooks,
    unwatched,
)


def test_two_primaries_for_one_version_is_caught() -> None:
    seen = [Seen("redis-poll", 1.0, "a", 1, 1), Seen("zookeeper", 2.0, "b", 2, 2),
            Seen("pubsub", 3.0, "c", 3, 2)]
    assert one_primary_per_version(seen[:2]) == []
    assert len(one_primary_per_version(seen)) == 1


def test_a_reader_seeing_the_route_go_back_is_caught() -> None:
    good = [Seen("pubsub", 1.0, "a", 1, 1), Seen("pubsub", 2.0, "a", 2, 1),
            Seen("pubsub", 3.0, "b", 2, 2)]
    assert never_goes_back(good) == []
    assert len(never_goes_back([*good, Seen("pubsub", 4.0, "a", 1, 3)])) == 1


def test_two_leaders_with_one_epoch_are_caught() -> None:
    assert distinct_leader_epochs([(1.0, {"c0": 3, "c1": 4})]) == []
    assert len(distinct_leader_epochs([(1.0, {"c0": 4, "c1": 4})])) == 1


def test_promotions_must_match_a_healthy_hook_log() -> None:
    hooks = [{"hook": "promote", "member": "web-b", "epoch": 3, "health": "healthy"},
             {"hook": "promote", "member": "web-c", "epoch": 3, "health": "down"}]
    assert promotions_were_healthy([{"member": "web-b", "epoch": "3", "at": 1}], hooks) == []
    bad = promotions_were_healthy([{"member": "web-c", "epoch": "3", "at": 1},
                                   {"member": "web-a", "epoch": "9", "at": 2}], hooks)
    assert len(bad) == 2 and "down" in bad[0] and "no controller logged" in bad[1]


def test_requests_must_end_with_a_reason() -> None:
    assert requests_ended({"sw-1": {"phase": "done"},
                           "sw-2": {"phase": "refused", "reason": "target_not_healthy"}}) == []
    bad = requests_ended({"sw-3": None, "sw-4": {"phase": "verifying"},
                          "sw-5": {"phase": "failed", "reason": None}})
    assert len(bad) == 3


def test_slow_or_missing_convergence_is_caught() -> None:
    assert converged_in_time([(1, 2.0), (2, 9.9)], 10) == []
    assert len(converged_in_time([(3, 10.5), (4, None)], 10)) == 2


def test_a_fence_nobody_logged_is_caught() -> None:
    hooks = [{"hook": "fence", "member": "web-a", "epoch": 2}]
    assert calls_were_logged([{"member": "web-a", "epoch": "2", "at": 1}], hooks, "fence") == []
    assert len(calls_were_logged([{"member": "web-a", "epoch": "1", "at": 1}], hooks,
                                 "fence")) == 1


def test_a_hook_with_a_lower_epoch_taken_after_a_higher_one_is_caught() -> None:
    calls = {"web-b": [{"call": "fence", "epoch": "1", "at": 1.0},
                       {"call": "promote", "epoch": "2", "at": 2.0},
                       {"call": "promote", "epoch": "2", "at": 2.5},
                       {"call": "promote", "epoch": "1", "at": 3.0}],
             "web-a": [{"call": "fence", "epoch": "3", "at": 1.0}]}
    violations, notes = hook_epochs_never_go_down(calls)
    assert len(violations) == 1 and notes == []
    assert "web-b received a promote for epoch 1" in violations[0]
    assert violations[0].endswith("and took it")
    assert hook_epochs_never_go_down({"web-b": calls["web-b"][:3]}) == ([], [])


def test_a_lower_epoch_that_arrives_late_must_be_refused() -> None:
    # A request its sender gave up on, delivered once a cut healed: the member refuses it.
    late = {"call": "fence", "epoch": "87", "at": 9.1, "failed": True,
            "refused": "(epoch, seq) (87, 4) < (88, 1) already seen"}
    calls = {"web-a": [{"call": "fence", "epoch": "88", "at": 8.2}, late]}
    violations, notes = hook_epochs_never_go_down(calls)
    assert violations == [] and len(notes) == 1 and notes[0].endswith(": refused")
    # Failed (the hook answered 500) but not refused: the member did not check the token.
    unchecked = {k: v for k, v in late.items() if k != "refused"}
    violations, _ = hook_epochs_never_go_down({"web-a": [calls["web-a"][0], unchecked]})
    assert len(violations) == 1 and violations[0].endswith("and did not refuse it")
    # A refused or failed call never raises the bar the next ones are held to.
    after = [{"call": "fence", "epoch": "9", "at": 1.0, "failed": True, "refused": "x"},
             {"call": "promote", "epoch": "5", "at": 2.0}]
    assert hook_epochs_never_go_down({"web-b": after}) == ([], [])


# The agent's /healthz every 0.1 s: version 1 (web-a) applied, then version 2 (web-b) from 1.0.
APPLIED = [Applied(t / 10, "web-a" if t < 10 else "web-b", 1 if t < 10 else 2)
           for t in range(30)]


def test_an_answer_from_a_member_not_routed_is_caught() -> None:
    answers = [Answer(0.21, 0.22, "web-a"), Answer(2.51, 2.53, "web-b")]
    held = held_answers(answers, APPLIED, changes=[])
    assert [a for a, _ in held] == answers
    assert answers_from_routed(held) == []
    wrong = held_answers([Answer(2.61, 2.62, "web-a")], APPLIED, changes=[])
    assert answers_from_routed(wrong) == [
        "web-a answered a request sent at 2.610 (answered 2.620) while the agent had "
        "applied version 2 routed to web-b"]


def test_answers_around_a_route_change_are_not_held_to_either_route() -> None:
    across = Answer(0.95, 1.05, "web-a")  # the samples either side differ
    before_any = Answer(-1.0, -0.9, "web-c")  # no sample before it was sent
    after_all = Answer(2.95, 3.05, "web-c")  # no sample after it was answered
    failed = Answer(0.5, 0.6, None)
    assert held_answers([across, before_any, after_all, failed], APPLIED, changes=[]) == []
    # A change seen in Redis within the margin: the agent may be applying it already.
    near = Answer(2.0, 2.05, "web-a")
    assert held_answers([near], APPLIED, changes=[2.5]) == []
    assert len(held_answers([near], APPLIED, changes=[3.1])) == 1
    silent = [Applied(0.0, "web-a", 1), Applied(0.1, None, None), Applied(0.2, "web-a", 1)]
    assert held_answers([Answer(0.05, 0.15, "web-b")], silent, changes=[]) == []


# --- no two members hold an unanswered promote ---------------------------------------------


def decision(at: float, primary: str, version: int, *unfenced: str) -> Accounted:
    return decision_accounts(at, Decided(primary, f"{primary}:80", 1, version,
                                         RouteReason.FAILOVER, at, unfenced=unfenced))


def switchover(at: float, phase: Phase, steps: tuple[Step, ...] = ()) -> Accounted:
    return switchover_accounts(at, "sw-1", Switchover(
        "sw-1", "web", "operator:alice", 0.0, phase=phase, source="web-a", target="web-b",
        steps=steps))


def promote(at: float, epoch: int = 2) -> Taken:
    return Taken(at, "promote", epoch)


def fence(at: float, epoch: int = 2) -> Taken:
    return Taken(at, "fence", epoch)


# web-a primary; web-a fails at 10 and is fenced; web-b's write-ahead mark, its promote
# (logged before the watch reports the mark: the watch is late), then the commit.
FAILOVER = [decision(0.0, "web-a", 1), decision(10.2, "web-a", 1, "web-b"),
            decision(10.4, "web-b", 2)]


def test_a_failover_written_ahead_holds_every_promote_to_zookeeper() -> None:
    taken = {"web-a": [promote(1.0, 1), fence(10.0)], "web-b": [promote(10.15)]}
    assert promotes_accounted_for(taken, FAILOVER, [], until=20.0) == []


def test_a_promote_zookeeper_never_marked_is_caught() -> None:
    taken = {"web-b": [promote(10.15)], "web-c": [promote(15.0, 3)]}
    assert promotes_accounted_for(taken, FAILOVER, [], until=20.0) == [
        "web-c held a promote (epoch 3, accepted at 15.000) from 15.000 to 20.000 that "
        "ZooKeeper did not account for: decision version 2 routes web-b, unfenced []"]
    # Without the write-ahead mark, the promote waits for the commit longer than a watch
    # takes to hear of a write.
    late = [FAILOVER[0], decision(12.0, "web-b", 2)]
    assert len(promotes_accounted_for({"web-b": [promote(10.15)]}, late, [], 20.0)) == 1


def test_a_dead_primary_whose_fence_failed_stays_accounted_for_while_marked() -> None:
    # web-a dies holding its promote; its fence fails (not in its log), so the failover
    # keeps it marked unfenced beside web-b's write-ahead mark, and after the commit.
    seen = [decision(0.0, "web-a", 1), decision(10.2, "web-a", 1, "web-b"),
            decision(10.4, "web-b", 2, "web-a")]
    taken = {"web-a": [promote(1.0, 1)], "web-b": [promote(10.3)]}
    assert promotes_accounted_for(taken, seen, [], until=30.0) == []
    # A later decision that drops the mark while web-a still holds its promote.
    dropped = [*seen, decision(20.0, "web-c", 3)]
    assert [v.split(" that ")[0] for v in promotes_accounted_for(taken, dropped, [], 30.0)] \
        == ["web-a held a promote (epoch 1, accepted at 1.000) from 20.000 to 30.000",
            "web-b held a promote (epoch 2, accepted at 10.300) from 20.000 to 30.000"]


def test_a_fence_logged_before_its_mark_is_seen_cleared_ends_the_promote() -> None:
    # web-a marked unfenced, fenced late at 20.0; the cleared decision is seen at 20.05.
    seen = [decision(0.0, "web-b", 2, "web-a"), decision(20.05, "web-b", 2)]
    taken = {"web-a": [promote(1.0, 1), fence(20.0, 2)], "web-b": [promote(0.5)]}
    assert promotes_accounted_for(taken, seen, [], until=30.0) == []
    # The member logs a fence before answering it, and the mark is cleared only after that
    # answer: a fence logged after the clearing was seen means ZooKeeper forgot a member
    # that still held a promote, so no window excuses it.
    taken["web-a"] = [promote(1.0, 1), fence(20.3, 2)]
    assert [v.split(" that ")[0] for v in promotes_accounted_for(taken, seen, [], 30.0)] == [
        "web-a held a promote (epoch 1, accepted at 1.000) from 20.050 to 20.300"]


def test_a_switchover_accounts_for_its_source_and_target_while_it_runs() -> None:
    seen = [decision(0.0, "web-a", 1), switchover(2.9, Phase.PENDING),
            switchover(3.0, Phase.FENCING), switchover(3.5, Phase.DONE),
            decision(3.6, "web-b", 2)]  # two watches: the commit is heard after the end
    taken = {"web-a": [promote(1.0, 1), fence(3.1)], "web-b": [promote(3.3)]}
    assert promotes_accounted_for(taken, seen, [], until=10.0) == []
    never_committed = [*seen[:4], decision(5.0, "web-a", 1)]
    assert len(promotes_accounted_for(taken, never_committed, [], until=10.0)) == 1


def test_a_switchover_accounts_for_its_ends_only_while_it_runs() -> None:
    failed = Step(Phase.ROLLBACK_COMMITTING, ok=False)
    assert switchover(1.0, Phase.ROLLBACK_COMMITTING, (failed,)).members == {"web-a", "web-b"}
    assert switchover(1.0, Phase.FAILED).members == frozenset()
    assert switchover(1.0, Phase.PENDING).members == frozenset()
    assert switchover(1.0, Phase.ROLLBACK_PROMOTING).members == {"web-a", "web-b"}
    assert switchover_accounts(1.0, "sw-1", None).members == frozenset()


def test_nothing_is_held_against_zookeeper_while_the_watch_was_deaf() -> None:
    seen = [decision(0.0, "web-a", 1), decision(6.3, "web-b", 2)]
    taken = {"web-b": [promote(5.0)]}
    deaf = unwatched([(0.0, "CONNECTED"), (4.0, "SUSPENDED"), (6.0, "CONNECTED"),
                      (8.0, "LOST")])
    assert deaf == [(4.0, 6.0), (8.0, math.inf)]
    assert promotes_accounted_for(taken, seen, deaf, until=10.0) == []
    assert len(promotes_accounted_for(taken, seen, [], until=10.0)) == 1
    # Before the decision's first observation nothing is known, so nothing is checked.
    assert promotes_accounted_for({"web-c": [promote(-5.0, 1), fence(-1.0)]}, seen, [],
                                  until=10.0) == []
    assert promotes_accounted_for(taken, [], [], until=10.0) == []


def test_only_accepted_hooks_are_taken() -> None:
    calls = [{"call": "promote", "at": 1.0, "epoch": "2", "failed": False, "seq": 1},
             {"call": "fence", "at": 2.0, "epoch": "1", "failed": True, "refused": "epoch"},
             {"call": "fence", "at": 3.0, "epoch": "2", "failed": True}]
    assert taken_hooks(calls) == [Taken(1.0, "promote", 2)]
