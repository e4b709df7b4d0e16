"""The health assessor: fall/rise, degraded versus down, slowness, doubt."""

from __future__ import annotations

from probes.health import Health, MemberHealth, ProbeResult, Thresholds, Verdict, assess, classify

T = Thresholds(fall=3, rise=2, degraded_latency=0.5)


def ok(latency: float = 0.01) -> ProbeResult:
    return ProbeResult(True, True, latency, "status 200", 0.0)


def bad() -> ProbeResult:
    return ProbeResult(True, False, 0.01, "status 500", 0.0)


def gone() -> ProbeResult:
    return ProbeResult(False, False, 0.001, "connection refused", 0.0)


def feed(*results: ProbeResult, state: MemberHealth | None = None) -> MemberHealth:
    state = state or MemberHealth()
    for result in results:
        state = assess(state, result, T)
    return state


def test_classify() -> None:
    assert classify(ok(), T) is Verdict.PASS
    assert classify(ok(0.6), T) is Verdict.SLOW
    assert classify(bad(), T) is Verdict.BAD_ANSWER
    assert classify(gone(), T) is Verdict.NO_ANSWER


def test_rise_makes_healthy_and_fall_makes_down() -> None:
    assert feed(ok()).health is Health.UNKNOWN
    healthy = feed(ok(), ok())
    assert healthy.health is Health.HEALTHY
    assert feed(gone(), gone(), state=healthy).health is Health.HEALTHY
    assert feed(gone(), gone(), gone(), state=healthy).health is Health.DOWN


def test_answers_that_fail_make_degraded_not_down() -> None:
    healthy = feed(ok(), ok())
    assert feed(bad(), bad(), bad(), state=healthy).health is Health.DEGRADED


def test_sustained_slowness_degrades_but_one_slow_probe_does_not() -> None:
    healthy = feed(ok(), ok())
    assert feed(ok(0.7), ok(), ok(0.7), state=healthy).health is Health.HEALTHY
    assert feed(ok(0.7), ok(0.7), ok(0.7), state=healthy).health is Health.DEGRADED


def test_a_pass_resets_the_failure_count() -> None:
    healthy = feed(ok(), ok())
    assert feed(gone(), gone(), ok(), gone(), gone(), state=healthy).health is Health.HEALTHY


def test_recovery_needs_rise_passes() -> None:
    down = feed(ok(), ok(), gone(), gone(), gone())
    assert feed(ok(), state=down).health is Health.DOWN
    assert feed(ok(), ok(), state=down).health is Health.HEALTHY


def test_in_doubt_drives_fast_probing() -> None:
    assert MemberHealth().in_doubt  # unknown
    healthy = feed(ok(), ok())
    assert not healthy.in_doubt
    assert feed(gone(), state=healthy).in_doubt
    down = feed(gone(), gone(), gone(), state=healthy)
    assert not down.in_doubt
    assert feed(ok(), state=down).in_doubt


def test_evidence_keeps_the_last_results() -> None:
    state = feed(ok(), ok(), gone(), gone(), gone())
    assert [e.verdict for e in state.recent] == [Verdict.NO_ANSWER] * 3
    assert state.recent[-1].detail == "connection refused"
