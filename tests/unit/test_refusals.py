"""Refused switchovers as operators read them: one sentence with the numbers."""

from __future__ import annotations

from controller.cli.refusals import sentence

EVIDENCE = {"primary": "web-a", "replicas": 3, "majority": 2, "force": False, "members": {
    "web-a": {"health": "healthy", "healthy_votes": 3},
    "web-b": {"health": "degraded", "healthy_votes": 0, "not_ready": []},
    "web-c": {"health": "healthy", "healthy_votes": 3,
              "not_ready": ["raid: degraded array", "backup-fresh: 30 h old"]}}}


def test_an_unhealthy_target_says_how_many_replicas_see_it_healthy() -> None:
    assert sentence("web", "web-b", "target_not_healthy", EVIDENCE) == (
        "web-b is degraded; 0 of 3 replicas see it healthy, 2 needed")


def test_a_target_not_ready_names_its_failing_checks_and_the_way_out() -> None:
    assert sentence("web", "web-c", "target_not_ready", EVIDENCE) == (
        "web-c is not ready: raid: degraded array; backup-fresh: 30 h old "
        "(--force to switch anyway)")


def test_a_waiting_request_is_named_with_how_to_cancel_it() -> None:
    evidence = {"pending": "sw-0000000003", "phase": "scheduled",
                "at_iso": "2026-12-06T02:00:00Z"}
    assert sentence("web", "web-b", "switchover_pending", evidence) == (
        "switchover sw-0000000003 of web is already scheduled for 2026-12-06T02:00:00Z; "
        "cancel it first (failoverctl cancel web sw-0000000003)")


def test_every_reason_reads_as_a_sentence_and_an_unknown_one_as_itself() -> None:
    reasons = ["target_not_confirmed", "target_unfenced", "already_primary", "unknown_member",
               "no_decision", "recovery_in_flight", "switchover_in_progress",
               "no_healthy_candidate", "no_ready_candidate"]
    for reason in reasons:
        said = sentence("web", "web-b", reason, EVIDENCE)
        assert said != reason and "{" not in said, (reason, said)
    assert sentence("web", None, "something_new", {}) == "something_new"
