"""What `failoverctl explain` prints: every condition with all of its evidence, uncut."""

from __future__ import annotations

from controller.cli.answers import Explained
from controller.cli.explain import render

DETAIL = "Cannot connect to host 10.0.0.11:80 ssl:default [Connect call failed " + "x" * 80
EXPLAINED = {
    "service": "web", "would_fail_over": False, "reason": "quorum_not_reached",
    "target": None, "mode": "auto", "node": "c0", "leader_node": "c0", "epoch": 3,
    "conditions": [
        {"check": "primary_failing", "ok": True, "reason": None, "until_iso": None,
         "evidence": {"primary_health": "down", "primary_probes": [
             {"verdict": "no_answer", "latency_ms": 0.8, "detail": DETAIL},
             {"verdict": "no_answer", "latency_ms": None, "detail": "timed out"}]}},
        {"check": "quorum", "ok": False, "reason": "quorum_not_reached", "until_iso": None,
         "evidence": {"votes": {"failing": 1, "replicas": 3, "required": 2}}},
        {"check": "healthy_candidate", "ok": True, "reason": None, "until_iso": None,
         "evidence": {"members": {"web-b": {"health": "healthy", "unfenced": False}},
                      "candidates": ["web-b"]}},
        {"check": "cooldown", "ok": False, "reason": "cooldown",
         "until_iso": "2026-11-30T03:00:00Z", "evidence": {"cooldown_until": 1796000000.0}},
    ]}


def test_every_condition_and_all_its_evidence_are_shown_uncut() -> None:
    text = "\n".join(render(Explained.model_validate(EXPLAINED)))
    assert text.splitlines()[0].startswith("web: would not fail over: quorum_not_reached")
    assert f"probe: no_answer 0.8 ms  {DETAIL}" in text  # the primary's probes, whole
    assert "probe: no_answer  timed out" in text
    assert "votes: failing=1 replicas=3 required=2" in text
    assert "members web-b: health=healthy unfenced=False" in text
    assert "candidates: web-b" in text
    assert "NO   cooldown" in text and "until 2026-11-30T03:00:00Z" in text
    assert text.splitlines()[-1] == "(all of it as JSON: failoverctl explain web --json)"


def test_each_probe_line_names_the_probe_it_came_from() -> None:
    explained = {**EXPLAINED, "conditions": [
        {"check": "primary_failing", "ok": True, "reason": None, "until_iso": None,
         "evidence": {"primary_health": "degraded", "primary_probes": [
             {"verdict": "pass", "latency_ms": 1.0, "detail": "status 200", "probe": "probe"},
             {"verdict": "bad_answer", "latency_ms": 1.2, "detail": "status 503: fenced",
              "probe": "primary_probe"}]}}]}
    lines = render(Explained.model_validate(explained))
    assert "         probe: pass 1.0 ms  status 200" in lines
    assert "         primary_probe: bad_answer 1.2 ms  status 503: fenced" in lines


def test_a_dry_run_headline_says_what_it_would_do_not_a_reason_to_do_nothing() -> None:
    explained = {**EXPLAINED, "would_fail_over": False, "action": "dry-run",
                 "reason": "primary_failing", "target": "web-b", "mode": "dry-run"}
    headline = render(Explained.model_validate(explained))[0]
    assert headline.startswith("web: dry-run: would fail over to web-b (primary_failing), "
                               "but only records that it would  (mode dry-run;")
    assert "would not fail over" not in headline


def _with_stores(zookeeper: str, redis: str, **changes: object) -> Explained:
    stores = {"check": "stores_reachable", "ok": False, "reason": "zookeeper_unavailable",
              "until_iso": None,
              "evidence": {"zookeeper": {"state": zookeeper, "out_seconds": 12.5},
                           "redis": {"state": redis, "out_seconds": 0.0}}}
    return Explained.model_validate({**EXPLAINED, **changes,
                                     "conditions": [stores, *EXPLAINED["conditions"]]})


def test_a_store_outage_is_named_as_the_blocker() -> None:
    lines = render(_with_stores("suspended", "reachable", reason="zookeeper_unavailable",
                                policy_reason="primary_failing"))
    assert lines[0].startswith("web: cannot act: zookeeper suspended for 12.5 s (policy "
                               "alone: primary_failing)")
    assert "  NO   stores_reachable   zookeeper_unavailable" in lines
    redis_out = render(_with_stores("connected", "unreachable", would_fail_over=True,
                                    target="web-b", reason="redis_unreachable"))
    assert redis_out[0].startswith("web: would fail over to web-b now, but redis unreachable "
                                   "for 0.0 s: the route reaches proxies once Redis is back")


def test_explain_lists_every_follower() -> None:
    followers = [{"name": "haproxy-1", "version": 7, "confirmed": True, "lag_s": 0.012},
                 {"name": "haproxy-2", "version": 6, "confirmed": True, "behind": True,
                  "lag_s": 4.0}]
    text = "\n".join(render(Explained.model_validate({**EXPLAINED, "followers": followers})))
    assert "follower haproxy-1 at version 7, applied 0.012 s after the route's write" in text
    assert "follower haproxy-2 at version 6, BEHIND for 4.0 s" in text
