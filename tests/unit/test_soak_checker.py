"""The soak's checker catches what it is there to catch (fed broken histories)."""

from __future__ import annotations

from tests.soak.checker import (
    Answer,
    Applied,
    Seen,
    answers_from_routed,
    calls_were_logged,
    converged_in_time,
    distinct_leader_epochs,
    held_answers,
    hook_epochs_never_go_down,
    never_goes_back,
    one_primary_per_version,
    promotions_were_healthy,
    requests_ended,
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


def test_a_hook_with_a_lower_epoch_after_a_higher_one_is_caught() -> None:
    calls = {"web-b": [{"call": "fence", "epoch": "1", "at": 1.0},
                       {"call": "promote", "epoch": "2", "at": 2.0},
                       {"call": "promote", "epoch": "2", "at": 2.5},
                       {"call": "promote", "epoch": "1", "at": 3.0}],
             "web-a": [{"call": "fence", "epoch": "3", "at": 1.0}]}
    violations = hook_epochs_never_go_down(calls)
    assert len(violations) == 1 and "web-b received a promote for epoch 1" in violations[0]
    assert hook_epochs_never_go_down({"web-b": calls["web-b"][:3]}) == []


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
