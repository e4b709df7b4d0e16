"""History's human line: what the deciding probes saw, counted and in their own words."""

from __future__ import annotations

from controller.cli.history import history_rows, probe_summary


def test_each_verdict_is_counted_with_slow_latencies_and_the_last_failure() -> None:
    probes = [{"verdict": "slow", "latency_ms": 280.4, "detail": "status 200"},
              {"verdict": "no_answer", "latency_ms": 300.0, "detail": "no answer within 0.3s"},
              {"verdict": "slow", "latency_ms": 291.0, "detail": "status 200"}]
    assert probe_summary(probes) == (
        "1 x slow after 1 x no_answer after 1 x slow; slow 280/291 ms; "
        "last: no answer within 0.3s")


def test_a_bad_answer_keeps_what_the_member_said() -> None:
    probes = [{"verdict": "bad_answer", "latency_ms": 1.2,
               "detail": "status 500: read-only file system"}] * 3
    assert probe_summary(probes) == "3 x bad_answer; last: status 500: read-only file system"


def test_a_failing_write_canary_is_named() -> None:
    probes = [{"verdict": "pass", "latency_ms": 1.0, "detail": "status 200", "probe": "probe"},
              *[{"verdict": "bad_answer", "latency_ms": 1.1, "detail": "status 503: fenced",
                 "probe": "primary_probe"}] * 3]
    assert probe_summary(probes) == (
        "3 x bad_answer after 1 x pass; last: primary_probe status 503: fenced")


def test_passes_before_a_failure_do_not_read_as_part_of_it() -> None:
    probes = [*[{"verdict": "pass", "latency_ms": 1.0, "detail": "status 200"}] * 3,
              *[{"verdict": "no_answer", "latency_ms": 500.0, "detail": "timed out"}] * 3]
    line = history_rows([{"event": "route_changed", "previous": "web-a", "primary": "web-b",
                          "reason": "failover", "detail": {"decision": {"evidence": {
                              "primary": "web-a", "primary_health": "down",
                              "primary_probes": probes}}}}])[1][6]
    assert line == "failover: web-a down (3 x no_answer after 3 x pass; last: timed out)"


def _row(entry: dict[str, object]) -> tuple[str, ...]:
    return history_rows([entry])[1]


def test_the_primary_column_is_the_routes_primary_on_every_line() -> None:
    # A move (made, asked for, refused, failed or only considered) reads "from -> to"...
    assert _row({"event": "route_changed", "previous": "web-a", "primary": "web-b"})[2] == \
        "web-a -> web-b"
    assert _row({"event": "switchover_done", "primary": "web-b", "source": "web-a",
                 "target": "web-b"})[2] == "web-a -> web-b"
    assert _row({"event": "switchover_requested", "primary": "web-a"})[2] == \
        "web-a -> (best)"
    assert _row({"event": "switchover_cancelled", "primary": "web-a", "target": "web-b",
                 "request": "sw-1"})[2] == "web-a -> web-b"
    assert _row({"event": "failover_failed", "primary": "web-a",
                 "decision": {"target": "web-b"}})[2] == "web-a -> web-b"
    assert _row({"event": "switchover_refused", "to": "web-b"})[2] == "- -> web-b"  # older
    # ...anything else, the primary it left in place; a fenced member is in WHY.
    fenced = _row({"event": "fenced_late", "primary": "web-b", "member": "web-a",
                   "failed_attempts": 3, "message": "status 200"})
    assert fenced[2] == "web-b"
    assert fenced[6] == "fenced web-a late after 3 failed attempts; status 200"
    assert _row({"event": "paused", "primary": "web-a", "until": "2026-11-30T06:00:00Z"})[2] \
        == "web-a"


def test_a_failed_late_fence_says_it_is_retried() -> None:
    row = _row({"event": "fence_late_failed", "primary": "web-b", "member": "web-a",
                "attempts": 1, "message": "fence: status 500"})
    assert row[6] == "could not fence web-a late (attempt 1; retried); fence: status 500"


def test_a_leadership_change_names_both_leaders_and_epochs() -> None:
    row = _row({"event": "leadership_changed", "node": "c2", "epoch": 5,
                "previous_leader": "c1", "previous_epoch": 4, "primary": "web-a"})
    assert (row[3], row[6]) == ("5", "c2 took office in epoch 5 after c1 (epoch 4)")
    first = _row({"event": "leadership_changed", "node": "c1", "epoch": 1})
    assert first[6] == "c1 took office in epoch 1 (no earlier leader seen)"


def test_a_long_message_is_cut_with_a_mark() -> None:
    why = _row({"event": "switchover_failed", "reason": "verification_failed",
                "message": "x" * 300})[6]
    assert why.endswith("…") and len(why) == len("verification_failed; ") + 160
