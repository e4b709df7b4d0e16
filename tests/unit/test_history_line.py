"""History's human line: what the deciding probes saw, counted and in their own words."""

from __future__ import annotations

from controller.cli.history import probe_summary


def test_each_verdict_is_counted_with_slow_latencies_and_the_last_failure() -> None:
    probes = [{"verdict": "slow", "latency_ms": 280.4, "detail": "status 200"},
              {"verdict": "no_answer", "latency_ms": 300.0, "detail": "no answer within 0.3s"},
              {"verdict": "slow", "latency_ms": 291.0, "detail": "status 200"}]
    assert probe_summary(probes) == (
        "2 x slow, 1 x no_answer; slow 280/291 ms; last: no answer within 0.3s")


def test_a_bad_answer_keeps_what_the_member_said() -> None:
    probes = [{"verdict": "bad_answer", "latency_ms": 1.2,
               "detail": "status 500: read-only file system"}] * 3
    assert probe_summary(probes) == "3 x bad_answer; last: status 500: read-only file system"


def test_a_failing_write_canary_is_named() -> None:
    probes = [{"verdict": "pass", "latency_ms": 1.0, "detail": "status 200", "probe": "probe"},
              *[{"verdict": "bad_answer", "latency_ms": 1.1, "detail": "status 503: fenced",
                 "probe": "primary_probe"}] * 3]
    assert probe_summary(probes) == (
        "1 x pass, 3 x bad_answer; last: primary_probe status 503: fenced")
