"""Operators in control, end to end: the real CLI against a follower (never the leader),
with real ZooKeeper, Redis, web members and controller processes.

Each test checks what the operator sees (exit code, one-line errors), what the cluster did
(route, hook calls on the members) and what it kept (history, ZooKeeper's request record).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.sandbox import TOKEN, TOKEN_NAME, Agent, Controller, wait_for
from tests.integration.cluster import Cluster, failoverctl

pytestmark = pytest.mark.integration

OPERATOR = f"operator:{TOKEN_NAME}"
POLICY = {"verify_window": 1.0, "ready_timeout": 3.0}


def cli(controller: Controller, *args: str, timeout: float = 60) -> Any:
    return failoverctl(*args, "--api", controller.api, "--token", TOKEN, timeout=timeout)


def history(controller: Controller, event: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = controller.call(
        "GET", "/v1/services/web/history?count=200")[1]["entries"]
    return [e for e in entries if event is None or e["event"] == event]


def request_of(controller: Controller, request_id: str) -> dict[str, Any]:
    status, body = controller.call("GET", f"/v1/services/web/switchovers/{request_id}")
    assert status == 200, body
    return dict(body)


def metric(server: Controller | Agent, name: str, **labels: str) -> float | None:
    """The value of one sample on a controller's or an agent's /metrics."""
    with urllib.request.urlopen(server.api + "/metrics", timeout=2) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def service(controller: Controller) -> dict[str, Any]:
    return dict(controller.status()["services"]["web"])


def test_switchover_both_ways_through_a_follower(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy=POLICY)
    follower = cluster.followers()[0]
    out = cli(follower, "switchover", "web", "--to", "web-b", "--wait")
    assert out.returncode == 0, out.stderr
    assert "done: web-a -> web-b" in out.stdout
    for step in ("fencing", "waiting", "promoting", "committing", "verifying"):
        assert step in out.stdout
    # The commit's line waits for its duration (the transaction saves it untimed).
    committing = next(line for line in out.stdout.splitlines() if "committing" in line)
    assert "ZooKeeper" in committing and " 0.0 ms" not in committing, committing
    route = cluster.wait_primary("web-b", timeout=2)
    assert route["reason"] == "switchover"
    assert len(cluster.web("web-a").calls("fence")) == 1
    assert len(cluster.promotions("web-b")) == 1
    # Back again, without --to: the best healthy member is web-a.
    out = cli(follower, "switchover", "web", "--wait")
    assert out.returncode == 0, out.stderr
    cluster.wait_primary("web-a", timeout=2)
    assert cluster.observer is not None
    assert [c.primary for c in cluster.observer.wait_changes(3)] == ["web-a", "web-b", "web-a"]
    cluster.observer.assert_monotonic()
    # History says who asked, each step with its duration, and the evidence at the start.
    done = history(follower, "switchover_done")
    assert len(done) == 2 and all(d["by"] == OPERATOR for d in done)
    steps = done[-1]["steps"]
    assert [s["step"] for s in steps] == ["fencing", "waiting", "promoting", "committing",
                                          "verifying"]
    assert all(isinstance(s["ms"], float) for s in steps)
    assert done[-1]["evidence"]["members"]["web-b"]["health"] == "healthy"
    assert (done[-1]["source"], done[-1]["target"], done[-1]["primary"]) == (
        "web-a", "web-b", "web-b")
    changed = history(follower, "route_changed")[0]
    assert changed["detail"]["trigger"] == OPERATOR
    listing = cli(follower, "history", "web")
    assert "switchover_done" in listing.stdout and OPERATOR in listing.stdout
    rows = listing.stdout.splitlines()[1:]
    assert rows and all(not row.startswith("-") for row in rows)  # every entry has a time
    requested = next(row for row in rows if "switchover_requested" in row)
    assert f"request {done[0]['request']}" in requested and done[0]["request"].startswith("sw-")
    # The leader, which ran them, counted them.
    assert metric(cluster.leader(), "failover_switchovers_total",
                  outcome="done", service="web") == 2


def test_refusals_401_404_409_change_nothing(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy=POLICY)
    follower = cluster.followers()[0]
    cluster.web("web-b").set_mode("error")
    wait_for(lambda: service(follower)["members"]["web-b"]["health"] == "degraded", 10,
             "the follower sees web-b degraded")
    out = cli(follower, "switchover", "web", "--to", "web-b")
    assert out.returncode == 1
    assert "refused (target_not_healthy): web-b is " in out.stderr
    assert "replicas see it healthy" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    refused = history(follower, "switchover_refused")
    assert refused[0]["reason"] == "target_not_healthy" and refused[0]["by"] == OPERATOR
    assert refused[0]["evidence"]["members"]["web-b"]["health"] == "degraded"
    assert (refused[0]["target"], refused[0]["primary"]) == ("web-b", "web-a")
    # unknown service, unknown member, no token, a wrong token
    assert follower.call("POST", "/v1/services/nope/switchover", {})[0] == 404
    status, answer = follower.call("POST", "/v1/services/web/switchover", {"to": "web-z"})
    assert (status, answer["error"]) == (404, "unknown member")
    assert follower.call("POST", "/v1/services/web/pause", {}, token=None)[0] == 401
    assert follower.call("POST", "/v1/services/web/pause", {}, token="guess")[0] == 401
    out = failoverctl("pause", "web", "--api", follower.api)
    assert out.returncode == 1 and "401 unauthorized" in out.stderr
    assert "pass --token or set FAILOVER_API_TOKEN" in out.stderr
    out = failoverctl("pause", "web", "--api", follower.api, "--token", "guess")
    assert out.returncode == 1 and "check --token or FAILOVER_API_TOKEN" in out.stderr
    # With --json the refusal is the API's answer, whole, on stdout.
    out = cli(follower, "switchover", "web", "--to", "web-b", "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["detail"]["evidence"]["replicas"] == 2
    assert service(follower)["mode"] == "auto"
    assert cluster.route()["primary"] == "web-a" and cluster.promotions("web-b") == []


def test_failed_verification_rolls_back(cluster: Cluster) -> None:
    """The storage upgrade that failed: web-b breaks as it is promoted; the switchover
    notices within its verify window and puts web-a back."""
    cluster.start(controllers=2, policy=POLICY)
    follower = cluster.followers()[0]
    cluster.web("web-b").set_mode(break_on_promote=True)
    out = cli(follower, "switchover", "web", "--to", "web-b", "--wait")
    assert out.returncode == 1
    assert "failed: verification_failed (rolled back)" in out.stderr
    route = cluster.wait_primary("web-a", timeout=2)
    assert route["reason"] == "rollback"
    assert len(cluster.promotions("web-a")) == 1  # armed again
    assert len(cluster.web("web-b").calls("fence")) == 1
    failed = history(follower, "switchover_failed")[0]
    assert (failed["reason"], failed["rolled_back"]) == ("verification_failed", True)
    assert "degraded" in failed["message"]
    assert cluster.observer is not None
    assert [c.primary for c in cluster.observer.wait_changes(3)] == ["web-a", "web-b", "web-a"]
    cluster.observer.assert_monotonic()


def test_switchover_survives_its_leader_being_killed_mid_way(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy=POLICY)
    leader = cluster.leader()
    follower = cluster.followers()[0]
    old_epoch = leader.status()["epoch"]
    # Hooks answer after 0.8 s (under the 1 s fence / 2 s promote timeouts): time to kill
    # the leader while it waits for web-b's promotion.
    cluster.web("web-b").set_mode(hook_delay=0.8)
    status, accepted = follower.call("POST", "/v1/services/web/switchover", {"to": "web-b"})
    assert status == 202, accepted
    request_id = accepted["id"]
    wait_for(lambda: request_of(follower, request_id)["phase"] == "promoting", 10,
             "the switchover to reach promoting")
    status, busy = follower.call("POST", "/v1/services/web/switchover", {"to": "web-b"})
    assert (status, busy["detail"]["reason"]) == (409, "switchover_in_progress")
    # The promote call is out and web-b is still answering it: now the leader dies.
    wait_for(lambda: cluster.promotions("web-b"), 5, "the leader's promote call")
    leader.process.kill()
    final = wait_for(lambda: (r := request_of(follower, request_id))["phase"] in
                     ("done", "failed") and r, 30, "the switchover to end")
    # The new leader resumed it from the persisted phase and finished it.
    assert final["phase"] == "done", final
    assert final["epoch"] > old_epoch
    route = cluster.wait_primary("web-b", timeout=2)
    assert int(route["epoch"]) == final["epoch"]
    promotes = cluster.promotions("web-b")
    assert [p["epoch"] for p in promotes] == [str(old_epoch), str(final["epoch"])]
    assert cluster.observer is not None
    cluster.observer.assert_monotonic()


def test_pause_holds_across_a_leader_change_and_resume_acts(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy=POLICY)
    follower = cluster.followers()[0]
    out = cli(follower, "pause", "web")
    assert out.returncode == 0, out.stderr
    for c in cluster.controllers:
        wait_for(lambda c=c: service(c)["mode"] == "paused", 5, "every replica paused")
    cluster.leader().process.signal(signal.SIGTERM)
    new = wait_for(lambda: follower.status()["leader"] and follower, 10, "a new leader")
    cluster.web("web-a").process.kill()
    wait_for(lambda: service(new)["members"]["web-a"]["health"] == "down", 10, "web-a down")
    explained = cli(new, "explain", "web", "--json")
    explanation = json.loads(explained.stdout)
    assert explanation["reason"] == "paused" and explanation["target"] == "web-b"
    assert explanation["blocked_by"] == ["mode"]
    assert service(new)["paused"]["by"] == OPERATOR
    assert cluster.route()["primary"] == "web-a" and cluster.promotions("web-b") == []
    out = cli(new, "resume", "web")
    assert out.returncode == 0 and "resumed" in out.stdout
    cluster.wait_primary("web-b", timeout=5)
    events = [e["event"] for e in history(new)]  # newest first
    assert events.index("route_changed") < events.index("resumed") < events.index("paused")


def test_pause_for_a_duration_lifts_itself(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy=POLICY)
    follower = cluster.followers()[0]
    out = cli(follower, "pause", "web", "--for", "4s")
    assert out.returncode == 0 and "paused until" in out.stdout
    assert service(follower)["mode"] == "paused"
    # Again while paused: the end moves, and history keeps its one entry.
    status, again = follower.call("POST", "/v1/services/web/pause", {"for": "5s"})
    assert (status, again["already_paused"]) == (200, True), again
    assert again["until"] > again["previous_until"]
    assert len(history(follower, "paused")) == 1
    # Paused stops automatic failover only: a planned switchover still runs.
    out = cli(follower, "switchover", "web", "--to", "web-b", "--wait")
    assert out.returncode == 0, out.stderr
    assert service(follower)["mode"] == "paused"
    wait_for(lambda: service(follower)["mode"] == "auto", 8, "the pause to expire")
    lifted = wait_for(lambda: history(follower, "resumed"), 5, "the expiry in history")
    assert lifted[0]["by"] == "expiry" and lifted[0]["paused_by"] == OPERATOR
    # Nothing to resume now: said, and not a success.
    out = cli(follower, "resume", "web")
    assert out.returncode == 1 and "was not paused" in out.stderr
    cluster.web("web-b").process.kill()
    cluster.wait_primary("web-a", timeout=5)


def test_scheduled_switchover_fires_at_its_time_after_a_leader_change(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy=POLICY)
    follower = cluster.followers()[0]
    # One scheduled, then cancelled: it must never run.
    other = json.loads(cli(follower, "switchover", "web", "--to", "web-b", "--at", "+3s",
                           "--json").stdout)
    out = cli(follower, "cancel", "web", other["id"], "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == 1  # created at 0, cancelled: 1
    [cancelled] = history(follower, "switchover_cancelled")
    assert (cancelled["request"], cancelled["target"], cancelled["by"]) == (
        other["id"], "web-b", OPERATOR)
    [requested] = history(follower, "switchover_requested")
    assert requested["force"] is False and requested["scheduled_for"].endswith("Z")
    out = cli(follower, "switchover", "web", "--to", "web-b", "--at", "+4s", "--json")
    assert out.returncode == 0, out.stderr
    scheduled = json.loads(out.stdout)
    assert scheduled["phase"] == "scheduled"
    # A second while that one waits: refused, naming it.
    status, refused = follower.call("POST", "/v1/services/web/switchover",
                                    {"to": "web-b", "at": "+5s"})
    assert (status, refused["detail"]["reason"]) == (409, "switchover_pending"), refused
    assert refused["detail"]["evidence"]["pending"] == scheduled["id"]
    listed = follower.status()["services"]["web"]["switchovers"]
    assert [r["id"] for r in listed] == [scheduled["id"]]
    assert "scheduled" in cli(follower, "status").stdout
    cluster.leader().process.signal(signal.SIGTERM)
    wait_for(lambda: follower.status()["leader"], 10, "the follower leads")
    cluster.wait_primary("web-b", timeout=10)
    final = wait_for(lambda: (r := request_of(follower, scheduled["id"]))["phase"] == "done"
                     and r, 10, "the scheduled switchover done")
    assert final["started_at"] >= scheduled["at"]
    assert request_of(follower, other["id"])["phase"] == "cancelled"
    assert len(cluster.promotions("web-b")) == 1
    assert cli(follower, "cancel", "web", scheduled["id"]).returncode == 1  # done: 409


def test_dry_run_records_what_it_would_do_and_never_acts(cluster: Cluster) -> None:
    cluster.start(controllers=2, policy={**POLICY, "auto_failover": "dry-run"})
    follower = cluster.followers()[0]
    assert service(follower)["mode"] == "dry-run"
    cluster.web("web-a").process.kill()
    entry = wait_for(lambda: history(follower, "dry_run"), 10, "a dry-run record")[0]
    decision = entry["decision"]
    assert (decision["action"], decision["target"], entry["by"]) == ("dry-run", "web-b", "auto")
    assert decision["evidence"]["primary_health"] == "down"
    explanation = json.loads(cli(follower, "explain", "web", "--json").stdout)
    assert (explanation["action"], explanation["blocked_by"]) == ("dry-run", ["mode"])
    assert "would fail over to web-b" in cli(follower, "history", "web").stdout
    headline = cli(follower, "explain", "web").stdout.splitlines()[0]
    assert headline.startswith("web: dry-run: would fail over to web-b"), headline
    assert cluster.route()["primary"] == "web-a"
    assert cluster.promotions("web-b") == [] and cluster.web("web-a").calls("fence") == []


def test_explain_names_the_cooldown_and_its_end(cluster: Cluster) -> None:
    cluster.start(controllers=1, members=("web-a", "web-b", "web-c"),
                  policy={**POLICY, "cooldown": 30})
    leader = cluster.leader()
    before = time.time()
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    cluster.web("web-b").process.kill()
    wait_for(lambda: service(leader)["members"]["web-b"]["health"] == "down", 10, "b down")
    out = cli(leader, "explain", "web")
    assert out.returncode == 0
    assert "would not fail over: cooldown" in out.stdout
    assert "probe: no_answer" in out.stdout  # the primary's own probes, not dropped
    explanation = json.loads(cli(leader, "explain", "web", "--json").stdout)
    cooldown = next(c for c in explanation["conditions"] if c["check"] == "cooldown")
    # 30 s from the failover's end, which lies between `before` and now (one clock): exact.
    assert cooldown["ok"] is False
    assert before + 30 <= cooldown["until"] <= time.time() + 30, (before, cooldown)
    assert explanation["target"] == "web-c" and explanation["blocked_by"] == ["cooldown"]
    # The automatic failover's history line answers "why did it fail over?" on its own.
    line = next(li for li in cli(leader, "history", "web").stdout.splitlines()
                if "route_changed" in li and "web-a -> web-b" in li)
    assert "failover: web-a down (3 x no_answer" in line and "auto" in line


def test_the_unnamed_token_is_recorded_by_its_role_alone(cluster: Cluster) -> None:
    unnamed = "unnamed-secret-token"
    cluster.start(controllers=1, api_block={"token": unnamed})
    controller = cluster.controllers[0]
    pause = "/v1/services/web/pause"
    code, body = controller.call("POST", pause, {"for": "1m"}, token=unnamed)
    assert (code, body["by"]) == (200, "operator"), body  # not "operator:operator"
    code, body = controller.call("POST", pause, {"for": "2m"})
    assert (code, body["by"]) == (200, OPERATOR), body
    assert history(controller, "paused")[-1]["by"] == "operator"  # the oldest
