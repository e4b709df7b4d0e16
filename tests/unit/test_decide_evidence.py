"""What `explain` and the history show of the policy: every check with its evidence, and the
redundancy report, pinned whole for a few states (operators and scripts read these keys)."""

from __future__ import annotations

from dataclasses import replace

from controller.core.decide import MemberView, Mode, ServiceView, checks, decide, redundancy
from controller.core.preflight import Refusal, preflight
from probes.health import Health

H, D, X = Health.HEALTHY, Health.DEGRADED, Health.DOWN


def test_every_check_of_a_blocked_failover_says_why_with_its_evidence() -> None:
    view = ServiceView(
        "web", "a", (MemberView("a", 100, D, evidence=({"probe": "http"},), failing_votes=2),
                     MemberView("b", 50, H, not_ready=("raid",), healthy_votes=3),
                     MemberView("c", 10, H, unfenced=True),
                     MemberView("d", 5, H, healthy_votes=1)),
        mode=Mode.DRY_RUN, cooldown=60.0, retry_backoff=5.0, last_recovery_end=100.0,
        last_failed_attempt=110.0, recovery_in_flight=True, excluded=frozenset({"d"}),
        replicas=3, quorum=3)
    assert [c.as_dict() for c in checks(view, 112.0)] == [
        {"check": "decision_committed", "ok": True, "reason": None, "until": None,
         "evidence": {"primary": "a"}},
        {"check": "no_recovery_in_flight", "ok": False, "reason": "recovery_in_flight",
         "until": None, "evidence": {}},
        {"check": "primary_failing", "ok": True, "reason": None, "until": None,
         "evidence": {"primary_health": "degraded", "primary_probes": [{"probe": "http"}]}},
        {"check": "quorum", "ok": False, "reason": "quorum_not_reached", "until": None,
         "evidence": {"votes": {"failing": 2, "replicas": 3, "required": 3}}},
        {"check": "healthy_candidate", "ok": True, "reason": None, "until": None,
         "evidence": {"members": {
             "b": {"health": "healthy", "unfenced": False, "priority": 50, "excluded": False,
                   "healthy_votes": 3},
             "c": {"health": "healthy", "unfenced": True, "priority": 10, "excluded": False,
                   "healthy_votes": 1},
             "d": {"health": "healthy", "unfenced": False, "priority": 5, "excluded": True,
                   "healthy_votes": 1}},
             "candidates": ["b"]}},
        {"check": "candidate_confirmed", "ok": True, "reason": None, "until": None,
         "evidence": {"confirmed": ["b"], "majority": 2}},
        {"check": "ready_candidate", "ok": False, "reason": "no_ready_candidate",
         "until": None, "evidence": {"candidate": "b", "ready": False, "not_ready": ["raid"],
                                     "last_resort": False}},
        {"check": "config_agreed", "ok": True, "reason": None, "until": None,
         "evidence": {"config_agreeing": 1, "config_known": 1, "config_needed": 1}},
        {"check": "mode", "ok": False, "reason": "dry_run", "until": None,
         "evidence": {"mode": "dry-run"}},
        {"check": "cooldown", "ok": False, "reason": "cooldown", "until": 160.0,
         "evidence": {"cooldown_until": 160.0}},
        {"check": "retry_backoff", "ok": False, "reason": "retry_backoff", "until": 115.0,
         "evidence": {"retry_after": 115.0}},
    ]


def test_checks_without_a_primary_or_a_candidate_and_after_the_timers() -> None:
    gone = ServiceView("web", "z", (MemberView("a", 100, X),))
    by_name = {c.name: c.as_dict() for c in checks(gone, 500.0)}
    assert by_name["decision_committed"]["ok"] is True
    # Its fence hook went with it from the config: nothing may replace it (issue 24).
    assert by_name["primary_configured"] == {
        "check": "primary_configured", "ok": False, "reason": "primary_not_configured",
        "until": None, "evidence": {
            "primary_configured": False,
            "action": "put z back in this service's members on every replica (its fence "
                      "hook is needed), switch over, then remove it"}}
    assert "primary_failing" not in by_name
    assert "quorum" not in by_name
    assert by_name["healthy_candidate"]["reason"] == "no_healthy_candidate"
    assert by_name["candidate_confirmed"]["reason"] == "candidate_not_confirmed"
    assert by_name["ready_candidate"] == {"check": "ready_candidate", "ok": True,
                                          "reason": None, "until": None,
                                          "evidence": {"candidate": None, "ready": None}}
    assert by_name["mode"]["ok"] is True and by_name["mode"]["evidence"] == {"mode": "auto"}
    over = ServiceView("web", "a", (MemberView("a", 100, X),), last_recovery_end=0.0,
                       last_failed_attempt=0.0)
    timers = [c for c in checks(over, 60.0) if c.name in ("cooldown", "retry_backoff")]
    assert [(c.name, c.ok, c.reason, c.until, dict(c.evidence)) for c in timers] == [
        ("cooldown", True, None, None, {}), ("retry_backoff", True, None, None, {})]
    nothing = ServiceView("web", None, (MemberView("a", 100, H),))
    first = checks(nothing, 0.0)[0]
    assert (first.name, first.ok, str(first.reason)) == ("decision_committed", False,
                                                         "no_decision")
    assert checks(nothing, 0.0)[2].evidence == {}  # no primary named: nothing to say
    passing = checks(ServiceView("web", "a", (MemberView("a", 100, X),
                                              MemberView("b", 50, H))), 0.0)
    assert [(c.name, c.reason) for c in passing if c.ok] == [
        (c.name, None) for c in passing]  # nothing blocks, and no check says why


def test_redundancy_names_every_standby_and_the_ready_ones() -> None:
    view = ServiceView("web", "a", (MemberView("a", 100, H),
                                    MemberView("b", 50, H, not_ready=("smart",)),
                                    MemberView("c", 10, H), MemberView("d", 5, D, unfenced=True)))
    assert redundancy(view) == (True, {
        "ready_standbys": ["c"],
        "standbys": {
            "b": {"health": "healthy", "ready": False, "not_ready": ["smart"], "unfenced": False},
            "c": {"health": "healthy", "ready": True, "not_ready": [], "unfenced": False},
            "d": {"health": "degraded", "ready": True, "not_ready": [], "unfenced": True}}})


def test_a_decision_that_does_not_act_still_names_its_target_fallbacks_and_evidence() -> None:
    members = (MemberView("a", 100, X), MemberView("b", 50, H), MemberView("c", 10, H))
    base = ServiceView("web", "a", members)
    for mode, action, reason in ((Mode.DRY_RUN, "dry-run", "primary_failing"),
                                 (Mode.PAUSED, "none", "paused")):
        d = decide(replace(base, mode=mode), 0.0)
        assert (str(d.action), str(d.reason), d.target, d.fallbacks) == (
            action, reason, "b", ("c",))
        assert d.evidence["primary"] == "a" and d.evidence["mode"] == str(mode)
    waiting = decide(replace(base, last_recovery_end=0.0), 10.0)
    assert (str(waiting.action), waiting.target, waiting.fallbacks, waiting.wake_at) == (
        "wait", "b", ("c",), 60.0)
    assert waiting.evidence["cooldown_until"] == 60.0


def test_every_preflight_answer_carries_the_view_it_was_judged_on() -> None:
    view = ServiceView("web", "a", (MemberView("a", 100, H),
                                    MemberView("b", 50, H, not_ready=("raid",),
                                               healthy_votes=2),
                                    MemberView("c", 10, D, unfenced=True)), replicas=3)
    evidence = {
        "primary": "a", "replicas": 3, "majority": 2, "force": False,
        "members": {
            "a": {"health": "healthy", "healthy_votes": 1, "unfenced": False,
                  "priority": 100, "ready": True, "not_ready": []},
            "b": {"health": "healthy", "healthy_votes": 2, "unfenced": False,
                  "priority": 50, "ready": False, "not_ready": ["raid"]},
            "c": {"health": "degraded", "healthy_votes": 0, "unfenced": True,
                  "priority": 10, "ready": True, "not_ready": []}}}
    answers = [
        (preflight(replace(view, primary=None), "b"), None, Refusal.NO_DECISION),
        (preflight(view, "b", busy=Refusal.RECOVERY_IN_FLIGHT), None,
         Refusal.RECOVERY_IN_FLIGHT),
        (preflight(view, "zz"), None, Refusal.UNKNOWN_MEMBER),
        (preflight(view, "a"), None, Refusal.ALREADY_PRIMARY),
        (preflight(view, "c"), None, Refusal.TARGET_NOT_HEALTHY),
        (preflight(view, "b"), None, Refusal.TARGET_NOT_READY),
        (preflight(view, None), None, Refusal.NO_READY_CANDIDATE),
    ]
    for (target, refusal, seen), want_target, want_refusal in answers:
        assert (target, refusal) == (want_target, want_refusal)
        assert seen == (evidence if seen["primary"] else {**evidence, "primary": None})
    fenced = replace(view, members=(view.members[0], replace(view.members[2], health=H)))
    assert preflight(fenced, "c")[1] is Refusal.TARGET_UNFENCED
    assert preflight(fenced, "c")[2]["members"]["c"]["unfenced"] is True
    lonely = replace(view, members=(view.members[0], MemberView("d", 5, H)))
    assert preflight(lonely, "d")[:2] == (None, Refusal.TARGET_NOT_CONFIRMED)
    assert preflight(lonely, "d")[2]["members"]["d"]["healthy_votes"] == 1
    assert preflight(lonely, None)[:2] == (None, Refusal.NO_HEALTHY_CANDIDATE)
    forced = preflight(view, None, force=True)
    assert forced == ("b", None, {**evidence, "force": True})
    assert preflight(view, "b", force=True)[:2] == ("b", None)
