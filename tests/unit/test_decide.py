"""The failover policy, fed states directly: no I/O, literal times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.decide import Action, MemberView, Mode, Reason, ServiceView, decide
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


def test_primary_removed_from_config_is_replaced() -> None:
    d = decide(view(primary="gone", a=H, b=H), 0.0)
    assert (d.action, d.reason, d.target) == (
        Action.FAILOVER, Reason.PRIMARY_NOT_CONFIGURED, "a")


def test_no_decision_yet() -> None:
    assert decide(view(primary=None, a=X, b=H), 0.0).reason is Reason.NO_DECISION


def test_no_automatic_failback() -> None:
    # b took over; a is healthy again and has the higher priority: nothing moves.
    assert decide(view(primary="b", a=H, b=H), 0.0).action is Action.NONE


healths = st.sampled_from(list(Health))


@given(a=healths, b=healths, c=healths, mode=st.sampled_from(list(Mode)),
       in_flight=st.booleans(), last_end=st.none() | st.floats(0, 200),
       now=st.floats(0, 400), unfenced_b=st.booleans())
def test_invariants_hold_for_every_state(a: Health, b: Health, c: Health, mode: Mode,
                                         in_flight: bool, last_end: float | None,
                                         now: float, unfenced_b: bool) -> None:
    members = (MemberView("a", 100, a), MemberView("b", 50, b, unfenced=unfenced_b),
               MemberView("c", 10, c))
    v = ServiceView("web", "a", members, mode, 60.0, 5.0, last_end, None, in_flight)
    d = decide(v, now)
    if d.action in (Action.FAILOVER, Action.DRY_RUN):
        target = v.member(d.target)
        assert target is not None and target.health is Health.HEALTHY  # never promote unhealthy
        assert not target.unfenced and d.target != "a"
        assert a.failing  # only a failing primary is replaced
        assert not in_flight
        assert last_end is None or now >= last_end + 60 or mode is Mode.DRY_RUN
    if mode is Mode.PAUSED:
        assert d.action is Action.NONE
    if a is Health.HEALTHY:
        assert d.action is Action.NONE
