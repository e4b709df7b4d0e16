"""How a member's liveness probe and primary_probe make its health (probes/roles.py)."""

from __future__ import annotations

import copy
from pathlib import Path

from config import load_config
from probes.health import (
    Health,
    MemberHealth,
    ProbeResult,
    ProbeRole,
    Thresholds,
    assess,
)
from probes.roles import combine, verified
from tests.unit.test_config import GOOD, problems, write

T = Thresholds(fall=3, rise=2, degraded_latency=0.5)
LIVE, PRIMARY = ProbeRole.LIVENESS, ProbeRole.PRIMARY


def feed(role: ProbeRole, *results: tuple[float, bool | None]) -> MemberHealth:
    """(at, True: pass / False: 503 / None: no answer) results of one probe."""
    state = MemberHealth()
    for at, ok in results:
        detail = {True: "status 200", False: "status 503: fenced", None: "refused"}[ok]
        state = assess(state, ProbeResult(ok is not None, bool(ok), 0.002, detail, at), T, role)
    return state


HEALTHY = feed(LIVE, (1.0, True), (2.0, True))
DOWN = feed(LIVE, (1.0, None), (2.0, None), (3.0, None))
WRITES_FAIL = feed(PRIMARY, (1.5, False), (2.5, False), (3.5, False))
WRITES_GONE = feed(PRIMARY, (1.5, None), (2.5, None), (3.5, None))
WRITES_OK = feed(PRIMARY, (1.5, True), (2.5, True))


def test_a_standby_is_its_liveness_probe() -> None:
    combined = combine(MemberHealth(), HEALTHY, None, 2.0)
    assert combined.health is Health.HEALTHY
    assert combined.recent == HEALTHY.recent and combined.since == 2.0


def test_a_primary_whose_write_canary_fails_is_degraded_with_both_probes_as_evidence() -> None:
    combined = combine(combine(MemberHealth(), HEALTHY, None, 2.0), HEALTHY, WRITES_FAIL, 3.5)
    assert combined.health is Health.DEGRADED and combined.since == 3.5
    assert [(e.probe, e.at) for e in combined.recent] == [
        (LIVE, 1.0), (PRIMARY, 1.5), (LIVE, 2.0), (PRIMARY, 2.5), (PRIMARY, 3.5)]
    assert combined.recent[-1].as_dict() == {"verdict": "bad_answer", "latency_ms": 2.0,
                                             "detail": "status 503: fenced",
                                             "probe": "primary_probe"}
    assert combined.last is not None and combined.last.at == 3.5  # the newest of both


def test_a_write_canary_without_an_answer_degrades_a_primary_that_still_answers_reads() -> None:
    assert combine(MemberHealth(), HEALTHY, WRITES_GONE, 4.0).health is Health.DEGRADED
    assert combine(MemberHealth(), DOWN, WRITES_GONE, 4.0).health is Health.DOWN
    assert combine(MemberHealth(), DOWN, WRITES_OK, 4.0).health is Health.DOWN
    # liveness not known yet: the write canary's own verdict
    assert combine(MemberHealth(), MemberHealth(), WRITES_GONE, 4.0).health is Health.DOWN
    assert combine(MemberHealth(), MemberHealth(), WRITES_FAIL, 4.0).health is Health.DEGRADED


def test_a_primary_probe_without_a_verdict_changes_nothing() -> None:
    """Just routed: two failures (fall 3) or one pass (rise 2) leave the liveness verdict,
    so the move of the route does not by itself make the new primary worse."""
    before = combine(MemberHealth(), HEALTHY, None, 2.0)
    for fresh in (MemberHealth(), feed(PRIMARY, (3.0, False), (3.1, False)),
                  feed(PRIMARY, (3.0, True))):
        combined = combine(before, HEALTHY, fresh, 3.2)
        assert combined.health is Health.HEALTHY and combined.since == 2.0
    # the first failure counts for the lease refresh on a primary's first failed probe
    assert combine(before, HEALTHY, feed(PRIMARY, (3.0, False)), 3.0).failures == 1


def test_when_the_route_moves_the_old_primary_is_healthy_again_at_once() -> None:
    """a -> b: a's write canary (503 while fenced) stops counting at the move, so a is a
    healthy standby a switchover can go back to; b starts with no primary_probe verdict."""
    old = combine(combine(MemberHealth(), HEALTHY, None, 2.0), HEALTHY, WRITES_FAIL, 3.5)
    moved = combine(old, HEALTHY, None, 10.0)
    assert moved.health is Health.HEALTHY and moved.since == 10.0
    assert all(e.probe is LIVE for e in moved.recent)
    new = combine(combine(MemberHealth(), HEALTHY, None, 2.0), HEALTHY, MemberHealth(), 10.0)
    assert new.health is Health.HEALTHY and new.since == 2.0


def test_verify_wants_a_passing_primary_probe() -> None:
    assert verified(None)  # no primary_probe configured
    assert not verified(MemberHealth())  # no verdict yet
    assert not verified(feed(PRIMARY, (1.0, True)))
    assert verified(WRITES_OK)
    assert not verified(WRITES_FAIL)


def _with_primary_probe(policy: dict[str, object] | None = None) -> dict[str, object]:
    data = copy.deepcopy(GOOD)
    service = data["services"][0]  # type: ignore[index]
    service["members"][1]["primary_probe"] = {  # type: ignore[index]
        "kind": "http", "method": "POST", "url": "http://127.0.0.1:8002/canary-write"}
    if policy is not None:
        service["policy"] = policy  # type: ignore[index]
    return data


def test_primary_probe_is_optional_and_takes_every_probe_kind(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, _with_primary_probe()), env={})
    a, b = config.services[0].members
    assert a.primary_probe is None
    assert b.primary_probe is not None and b.primary_probe.kind == "http"


def test_primary_probe_errors_are_located(tmp_path: Path) -> None:
    data = _with_primary_probe()
    data["services"][0]["members"][1]["primary_probe"] = {"kind": "smtp"}  # type: ignore[index]
    found = problems(tmp_path, data)
    assert len(found) == 1 and found[0].startswith("services[0].members[1].primary_probe")


def test_verify_window_must_leave_room_for_a_new_primarys_primary_probe(tmp_path: Path) -> None:
    policy = {"fall": 1, "rise": 5, "interval": 0.5, "fast_interval": 0.1, "timeout": 1.0,
              "verify_window": 1.0}
    found = problems(tmp_path, _with_primary_probe(policy))
    assert found == ["services[0].members[1].primary_probe: needs policy.verify_window (1) at "
                     "least rise * (fast_interval + timeout) (5.5), for a new primary's "
                     "primary_probe to pass in it"]
    # without a primary_probe the same policy is fine
    data = copy.deepcopy(GOOD)
    data["services"][0]["policy"] = policy  # type: ignore[index]
    load_config(write(tmp_path, data), env={})
