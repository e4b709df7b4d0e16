"""Replicas' views and the votes they cast: pure, literal data."""

from __future__ import annotations

from controller.core.views import Votes, count, verdict, what_votes

VIEW = {"node": "c1", "at": 100.0, "recovering": [],
        "members": {"web/web-a": {"health": "down", "latency_ms": 500.0, "since": 99.0},
                    "web/web-b": {"health": "healthy", "latency_ms": 1.2}}}


def test_a_view_says_its_verdict_and_unknown_for_what_it_does_not_know() -> None:
    assert verdict(VIEW, "web", "web-a") == "down"
    assert verdict(VIEW, "web", "web-c") == "unknown"
    assert verdict({"node": "c2"}, "web", "web-a") == "unknown"
    assert verdict({"members": {"web/web-a": "garbage"}}, "web", "web-a") == "unknown"


def test_votes_count_degraded_and_down_as_failing_and_every_replica() -> None:
    assert count(["down", "degraded", "healthy", "unknown"]) == Votes(2, 1, 4)
    assert count([]) == Votes(0, 0, 0)


def test_only_verdicts_and_recoveries_count_as_a_change() -> None:
    heartbeat = {**VIEW, "at": 100.5, "members": {
        "web/web-a": {"health": "down", "latency_ms": 499.0, "since": 99.0},
        "web/web-b": {"health": "healthy", "latency_ms": 0.9}}}
    assert what_votes(heartbeat) == what_votes(VIEW)
    recovered = {**VIEW, "members": {**VIEW["members"], "web/web-a": {"health": "healthy"}}}
    assert what_votes(recovered) != what_votes(VIEW)
    assert what_votes({**VIEW, "recovering": ["web"]}) != what_votes(VIEW)
