"""The failover policy, fed states directly: no I/O, literal times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.core.decide import (
    Action,
    MemberView,
    Mode,
    Reason,
    ServiceView,
    checks,
    decide,
)
from probes.health import Health

H, D, X, U = Health.HEALTHY, Health.DEGRADED, Health.DOWN, Health.UNKNOWN


def view(primary: str | None = "a", **health: Health) -> ServiceView:
    priorities = {"a": 100, "b": 50, "c": 10}
    members = tuple(MemberView(n, priorities[n], h) for n, h in health.items())
    return ServiceView(name="web", primary=primary, members=members, cooldown=60,
                       retry_backoff=5)


def with_(v: ServiceView, **changes: object) -> ServiceView:
    from dataclasses import replace

    return replace(v, **changes)  # type: ignore[arg-type]


def test_healthy_primary_is_left_alone() -> None:
    d = decide(view(a=H, b=H), now=0.0)
    assert (d.action, d.reason) == (Action.NONE, Reason.PRIMARY_HEALTHY)


def test_unknown_primary_is_left_alone() -> None:
    assert decide(view(a=U, b=H), 0.0).reason is Reason.PRIMARY_UNKNOWN


def test_down_primary_fails_over_to_healthy_standby() -> None:
    d = decide(view(a=X, b=H), 0.0)
    assert (d.action, d.reason, d.target) == (Action.FAILOVER, Reason.PRIMARY_FAILING, "b")


def test_degraded_primary_fails_over() -> None:
    assert decide(view(a=D, b=H), 0.0).action is Action.FAILOVER


def test_picks_highest_priority_then_name_and_lists_fallbacks() -> None:
    d = decide(view(a=X, b=H, c=H), 0.0)
    assert (d.target, d.fallbacks) == ("b", ("c",))


def test_never_promotes_unhealthy_members() -> None:
    for standby in (D, X, U):
        d = decide(view(a=X, b=standby), 0.0)
        assert (d.action, d.reason) == (Action.NONE, Reason.NO_HEALTHY_CANDIDATE)


def test_unfenced_and_excluded_members_are_not_candidates() -> None:
    v = view(a=X, b=H, c=H)
    v = with_(v, members=(v.members[0], MemberView("b", 50, H, unfenced=True), v.members[2]))
    assert decide(v, 0.0).target == "c"
    assert decide(with_(v, excluded=frozenset({"c"})), 0.0).reason is Reason.NO_HEALTHY_CANDIDATE


def test_one_recovery_in_flight() -> None:
    d = decide(with_(view(a=X, b=H), recovery_in_flight=True), 0.0)
    assert d.reason is Reason.RECOVERY_IN_FLIGHT


def test_cooldown_counts_from_the_end_of_the_last_recovery() -> None:
    v = with_(view(a=X, b=H), last_recovery_end=100.0)
    d = decide(v, now=159.9)
    assert (d.action, d.reason, d.wake_at) == (Action.WAIT, Reason.COOLDOWN, 160.0)
    assert decide(v, now=160.0).action is Action.FAILOVER


def test_failed_attempt_backs_off() -> None:
    v = with_(view(a=X, b=H), last_failed_attempt=10.0)
    assert decide(v, 14.0).reason is Reason.RETRY_BACKOFF
    assert decide(v, 15.0).action is Action.FAILOVER


def test_paused_and_dry_run() -> None:
    assert decide(with_(view(a=X, b=H), mode=Mode.PAUSED), 0.0).reason is Reason.PAUSED
    d = decide(with_(view(a=X, b=H), mode=Mode.DRY_RUN), 0.0)
    assert (d.action, d.target) == (Action.DRY_RUN, "b")


def test_a_primary_missing_from_this_config_is_never_replaced_unfenced() -> None:
    """Its fence hook went with it: replacing it would make a second primary (a replica
    with a stale config, or a member removed while routed). Nothing happens, in any mode,
    and the evidence says what an operator does."""
    for mode in Mode:
        d = decide(with_(view(primary="gone", a=H, b=H), mode=mode), 0.0)
        assert (d.action, d.reason, d.target) == (
            Action.NONE, Reason.PRIMARY_NOT_CONFIGURED, None)
        assert "put gone back" in str(d.evidence["action"])
    [blocking] = [c for c in checks(view(primary="gone", a=H, b=H), 0.0) if not c.ok]
    assert blocking.name == "primary_configured"


def test_a_replica_whose_config_is_not_the_majoritys_does_not_act() -> None:
    failing = view(a=X, b=H)
    for known, agreeing, acts in ((3, 1, False), (3, 2, True), (2, 1, False), (1, 1, True),
                                  (4, 2, False), (4, 3, True)):
        d = decide(with_(failing, config_known=known, config_agreeing=agreeing), 0.0)
        assert (d.action is Action.FAILOVER) is acts, (known, agreeing)
        if not acts:
            assert (d.action, d.reason) == (Action.NONE, Reason.CONFIG_DIFFERS)
            assert d.evidence["config_needed"] == known // 2 + 1
    # Before the mode: a paused or dry-run service says which blocks first.
    d = decide(with_(failing, config_known=3, config_agreeing=1, mode=Mode.DRY_RUN), 0.0)
    assert d.reason is Reason.CONFIG_DIFFERS


def test_no_decision_yet() -> None:
    assert decide(view(primary=None, a=X, b=H), 0.0).reason is Reason.NO_DECISION


def test_no_automatic_failback() -> None:
    # b took over; a is healthy again and has the higher priority: nothing moves.
    assert decide(view(primary="b", a=H, b=H), 0.0).action is Action.NONE


def voted(primary_failing: int, b_healthy: int, replicas: int = 3,
          quorum: int | None = None) -> ServiceView:
    members = (MemberView("a", 100, X, failing_votes=primary_failing, healthy_votes=0),
               MemberView("b", 50, H, failing_votes=0, healthy_votes=b_healthy))
    return ServiceView("web", "a", members, replicas=replicas, quorum=quorum)


def test_the_leader_alone_seeing_a_failure_moves_nothing() -> None:
    d = decide(voted(primary_failing=1, b_healthy=3), 0.0)
    assert (d.action, d.reason) == (Action.NONE, Reason.QUORUM_NOT_REACHED)
    assert d.evidence["votes"] == {"failing": 1, "replicas": 3, "required": 2}


def test_a_majority_seeing_it_fails_over() -> None:
    d = decide(voted(primary_failing=2, b_healthy=3), 0.0)
    assert (d.action, d.target) == (Action.FAILOVER, "b")


def test_the_candidate_must_be_healthy_in_a_majority_view() -> None:
    d = decide(voted(primary_failing=3, b_healthy=1), 0.0)
    assert d.reason is Reason.CANDIDATE_NOT_CONFIRMED


def test_explicit_quorum_and_a_single_replica() -> None:
    assert decide(voted(1, 2, quorum=1), 0.0).action is Action.FAILOVER
    assert decide(voted(2, 3, quorum=3), 0.0).reason is Reason.QUORUM_NOT_REACHED
    assert decide(voted(1, 1, replicas=1), 0.0).action is Action.FAILOVER


healths = st.sampled_from(list(Health))


@given(replicas=st.integers(1, 7), failing=st.integers(0, 7), healthy=st.integers(0, 7),
       quorum=st.none() | st.integers(1, 7))
def test_quorum_invariant(replicas: int, failing: int, healthy: int,
                          quorum: int | None) -> None:
    failing, healthy = min(failing, replicas), min(healthy, replicas)
    d = decide(voted(failing, healthy, replicas, quorum), 0.0)
    if d.action is Action.FAILOVER:
        assert failing >= (quorum if quorum is not None else replicas // 2 + 1)
        assert healthy >= replicas // 2 + 1


@given(a=healths, b=healths, c=healths, mode=st.sampled_from(list(Mode)),
       in_flight=st.booleans(), last_end=st.none() | st.floats(0, 200),
       now=st.floats(0, 400), unfenced_b=st.booleans(), b_ready=st.booleans(),
       c_ready=st.booleans())
def test_invariants_hold_for_every_state(a: Health, b: Health, c: Health, mode: Mode,
                                         in_flight: bool, last_end: float | None,
                                         now: float, unfenced_b: bool, b_ready: bool,
                                         c_ready: bool) -> None:
    members = (MemberView("a", 100, a), MemberView("b", 50, b, unfenced=unfenced_b,
                                                   not_ready=() if b_ready else ("x",)),
               MemberView("c", 10, c, not_ready=() if c_ready else ("y",)))
    v = ServiceView("web", "a", members, mode, 60.0, 5.0, last_end, None, in_flight)
    d = decide(v, now)
    if d.action in (Action.FAILOVER, Action.DRY_RUN):
        target = v.member(d.target)
        assert target is not None and target.health is Health.HEALTHY  # never promote unhealthy
        assert not target.unfenced and d.target != "a"
        assert a.failing  # only a failing primary is replaced
        assert not in_flight
        assert last_end is None or now >= last_end + 60 or mode is Mode.DRY_RUN
        if not target.ready:  # the readiness gate's last resort only
            assert a is Health.DOWN
            assert not any(m.ready and m.health is Health.HEALTHY and not m.unfenced
                           for m in members[1:])
    if mode is Mode.PAUSED:
        assert d.action is Action.NONE
    if a is Health.HEALTHY:
        assert d.action is Action.NONE


def test_explain_shows_every_blocking_condition_with_its_evidence() -> None:
    v = with_(view(a=X, b=D), mode=Mode.PAUSED, last_recovery_end=100.0)
    by_name = {c.name: c for c in checks(v, now=130.0)}
    assert [n for n, c in by_name.items() if not c.ok] == [
        "healthy_candidate", "candidate_confirmed", "mode", "cooldown"]
    assert by_name["cooldown"].until == 160.0
    assert by_name["healthy_candidate"].evidence["members"]["b"]["health"] == "degraded"
    assert by_name["primary_failing"].evidence["primary_health"] == "down"
    # decide acts on the first of them
    assert decide(v, 130.0).reason is Reason.NO_HEALTHY_CANDIDATE


@given(a=healths, b=healths, mode=st.sampled_from(list(Mode)), in_flight=st.booleans(),
       last_end=st.none() | st.floats(0, 200), failed=st.none() | st.floats(0, 200),
       now=st.floats(0, 400))
def test_decide_follows_the_first_blocking_check(a: Health, b: Health, mode: Mode,
                                                 in_flight: bool, last_end: float | None,
                                                 failed: float | None, now: float) -> None:
    members = (MemberView("a", 100, a), MemberView("b", 50, b))
    v = ServiceView("web", "a", members, mode, 60.0, 5.0, last_end, failed, in_flight)
    blocking = [c for c in checks(v, now) if not c.ok]
    d = decide(v, now)
    if not blocking:
        assert d.action is Action.FAILOVER
    elif blocking[0].reason is Reason.DRY_RUN:
        assert d.action is Action.DRY_RUN
    else:
        assert d.reason is blocking[0].reason
        assert d.action in (Action.NONE, Action.WAIT)
