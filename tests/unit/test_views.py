"""Replicas' views and the votes they cast: pure, literal data."""

from __future__ import annotations

from controller.core.views import MemberVerdict, ReplicaView, Votes, config_agreement, count

RAW = {"node": "c1", "at": 100.0, "recovering": [],
       "members": {"web/web-a": {"health": "down", "latency_ms": 500.0, "since": 99.0},
                   "web/web-b": {"health": "healthy", "latency_ms": 1.2}}}
VIEW = ReplicaView.from_json(RAW, "c1")


def test_a_view_says_its_verdict_and_unknown_for_what_it_does_not_know() -> None:
    assert VIEW.verdict("web", "web-a") == "down"
    assert VIEW.verdict("web", "web-c") == "unknown"
    assert ReplicaView.from_json({"node": "c2"}, "c2").verdict("web", "web-a") == "unknown"
    garbage = ReplicaView.from_json({"members": {"web/web-a": "garbage"}}, "c3")
    assert garbage.verdict("web", "web-a") == "unknown" and garbage.node == "c3"


def test_a_view_reads_back_what_it_published_and_survives_nonsense() -> None:
    assert ReplicaView.from_json(VIEW.to_json(), "x") == VIEW
    assert VIEW.members["web/web-a"] == MemberVerdict("down", 99.0, 500.0, None)
    for nonsense in (None, [], "x", {"at": "soon", "recovering": "web", "members": []},
                     {"members": {"web/web-a": {"health": 3, "since": True}}}):
        view = ReplicaView.from_json(nonsense, "n")
        assert view.node == "n" and view.members == {} and view.recovering == ()


def test_votes_count_degraded_and_down_as_failing_and_every_replica() -> None:
    assert count(["down", "degraded", "healthy", "unknown"]) == Votes(2, 1, 4)
    assert count([]) == Votes(0, 0, 0)


def test_only_verdicts_and_recoveries_count_as_a_change() -> None:
    heartbeat = ReplicaView.from_json({**RAW, "at": 100.5, "members": {
        "web/web-a": {"health": "down", "latency_ms": 499.0, "since": 99.0},
        "web/web-b": {"health": "healthy", "latency_ms": 0.9}}}, "c1")
    assert heartbeat.what_votes() == VIEW.what_votes()
    recovered = ReplicaView.from_json(
        {**RAW, "members": {**RAW["members"], "web/web-a": {"health": "healthy"}}}, "c1")
    assert recovered.what_votes() != VIEW.what_votes()
    busy = ReplicaView.from_json({**RAW, "recovering": ["web"]}, "c1")
    assert busy.what_votes() != VIEW.what_votes()


def test_config_digests_travel_in_the_view_and_count_only_where_published() -> None:
    view = ReplicaView("n1", 1.0, configs={"web": "abc", "api": "def"})
    assert ReplicaView.from_json(view.to_json(), "n1").configs == {"web": "abc", "api": "def"}
    assert ReplicaView.from_json({"configs": {"web": 3, 4: "x"}}, "n").configs == {}
    assert ReplicaView.from_json({"configs": ["web"]}, "n").configs == {}
    changed = ReplicaView("n1", 2.0, configs={"web": "zzz", "api": "def"})
    assert view.what_votes() != changed.what_votes()  # a config change is news
    assert config_agreement("abc", []) == (1, 1)  # alone: agrees with itself
    assert config_agreement("abc", ["abc", "xyz"]) == (3, 2)
    assert config_agreement("abc", ["xyz", "xyz"]) == (3, 1)
    assert config_agreement("abc", [None, None, "xyz"]) == (2, 1)  # older releases: not counted


def test_a_view_with_recoveries_details_and_no_time_reads_back_whole() -> None:
    busy = ReplicaView("c1", 100.0, {"web/web-a": MemberVerdict("down", 99.0, 500.0, "503")},
                       ("web",))
    assert ReplicaView.from_json(busy.to_json(), "x") == busy
    assert busy.to_json()["members"]["web/web-a"]["detail"] == "503"
    untimed = ReplicaView.from_json({"node": 7, "members": {"web/web-a": {
        "health": "down", "detail": 5}}}, "c2")
    assert (untimed.node, untimed.at, untimed.members["web/web-a"].detail) == ("c2", 0.0, None)
    assert count(["down", "healthy", "healthy"]) == Votes(1, 2, 3)
