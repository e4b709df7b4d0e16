"""failoverctl's own surfaces: check-config, run refusing bad config, status/history, and
what the operator commands do with bad arguments and odd answers."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.sandbox import TOKEN, free_port, wait_for
from tests.integration.cluster import Cluster, failoverctl
from tests.unit.test_config import GOOD

pytestmark = pytest.mark.integration


def test_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD))
    result = failoverctl("check-config", str(good))
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  - name: web\n    members: []\n    extra: 1\n")
    result = failoverctl("check-config", str(bad))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "services[0].extra: unknown key",
        "services[0].members: expected at least 2 items",
    ]


def test_run_refuses_bad_or_missing_config_without_traceback(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path / "bad.yaml"):
        if path.name == "bad.yaml":
            path.write_text("cluster: [unclosed\n")
        result = failoverctl("run", "-c", str(path))
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "not started" in result.stderr


def test_status_and_history_commands(cluster: Cluster) -> None:
    cluster.start(controllers=1)
    before = cluster.route()
    cluster.web("web-a").process.kill()
    route = cluster.wait_primary("web-b")
    api = cluster.controllers[0].api
    status = failoverctl("status", "--api", api, "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert (shown["leader"], shown["epoch"]) == (True, int(route["epoch"]))
    web = shown["services"]["web"]
    assert (web["primary"], web["version"]) == ("web-b", int(route["version"]))
    assert {name: m["health"] for name, m in web["members"].items()} == {
        "web-a": "down", "web-b": "healthy"}
    history = failoverctl("history", "web", "--api", api, "--json")
    assert history.returncode == 0, history.stderr
    entries = json.loads(history.stdout)["entries"]  # newest first
    changes = [e for e in entries if e["event"] == "route_changed"]
    assert [(e["event"], e["primary"], e["previous"], e["reason"], e["version"])
            for e in changes[:1]] == [
        ("route_changed", "web-b", "web-a", "failover", int(route["version"]))], entries
    assert [(e["event"], e["primary"], e["previous"], e["version"]) for e in changes[1:]] == [
        ("route_changed", "web-a", None, int(before["version"]))], entries
    # The table's columns come from the same entries.
    table = failoverctl("history", "web", "--api", api)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[2:6] == [
        "route_changed", "web-a", "->", "web-b"], table.stdout
    missing = failoverctl("history", "nope", "--api", api)
    assert missing.returncode != 0 and "unknown service" in missing.stderr


def test_metrics_parse_and_count_the_failover(cluster: Cluster) -> None:
    cluster.start(controllers=1)
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    leader = cluster.leader()
    with urllib.request.urlopen(leader.api + "/metrics", timeout=2) as response:
        text = response.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("failover_failovers_total",
                    (("outcome", "done"), ("service", "web")))] == 1
    assert samples[("failover_is_leader", ())] == 1
    assert samples[("failover_member_health", (("member", "web-a"), ("service", "web")))] == 0
    assert samples[("failover_repoint_seconds_count", (("service", "web"),))] == 1


def test_an_unreachable_api_says_how_to_point_at_one() -> None:
    out = failoverctl("status", "--api", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "cannot reach" in out.stderr and "set --api or FAILOVER_API_URL" in out.stderr


def test_switchover_wait_json_prints_only_json_and_pause_refuses_an_empty_duration(
        cluster: Cluster) -> None:
    cluster.start(controllers=1, policy={"verify_window": 0.5})
    api = cluster.controllers[0].api
    out = failoverctl("switchover", "web", "--to", "web-b", "--wait", "--json", "--api", api,
                      "--token", TOKEN)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)  # stdout is the final record and nothing else
    assert (record["phase"], record["source"], record["target"]) == ("done", "web-a", "web-b")
    for step in ("accepted", "fencing", "promoting", "committing", "verifying", "done"):
        assert step in out.stderr  # progress stays visible, on stderr
    cluster.wait_primary("web-b", timeout=2)
    out = failoverctl("switchover", "web", "--to", "web-b", "--json", "--api", api, "--token",
                      TOKEN)
    assert out.returncode == 1 and json.loads(out.stdout)["detail"]["reason"] == "already_primary"
    assert out.stderr == ("failoverctl: switchover of web refused (already_primary): web-b is "
                          "already the primary of web\n")
    out = failoverctl("cancel", "web", record["id"], "--api", api, "--token", TOKEN)
    assert (out.returncode, out.stderr) == (1, f"failoverctl: switchover {record['id']} of web "
                                               f"not cancelled: cannot cancel a switchover "
                                               f"that is done\n")
    for duration in ("", " ", "0", "1d1d", "30s1h", "-5m"):
        out = failoverctl("pause", "web", "--for", duration, "--api", api, "--token", TOKEN)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1 and "argument --for" in out.stderr, out.stderr
    assert cluster.controllers[0].status()["services"]["web"]["mode"] == "auto"  # not paused


def test_names_are_quoted_into_paths(cluster: Cluster) -> None:
    cluster.start(controllers=1)
    api = cluster.controllers[0].api
    for command in ("explain", "history", "pause", "resume"):
        out = failoverctl(command, "web?x=1", "--api", api, "--token", TOKEN)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        # The API was asked about the service named "web?x=1", not about "web".
        assert "404 unknown service (service=web?x=1, services=web)" in out.stderr, (
            command, out.stderr)
    out = failoverctl("explain", "web?x=1", "--json", "--api", api)
    assert out.returncode == 1 and json.loads(out.stdout)["detail"]["service"] == "web?x=1"
    out = failoverctl("cancel", "web", "sw-0000000009?x=1", "--api", api, "--token", TOKEN)
    assert out.returncode == 1 and "404" in out.stderr and "sw-0000000009?x=1" in out.stderr, (
        out.stderr)
    assert cluster.controllers[0].status()["services"]["web"]["mode"] == "auto"


class _Odd(http.server.BaseHTTPRequestHandler):
    """An HTTP server that is not the controller's API, or another version of it."""

    answers: dict[str, bytes] = {
        "/v1/status": b'{"node": "x"}',
        "/v1/services/web/explain": b'{"service": "web", "mode": "auto", '
                                    b'"would_fail_over": false, "conditions": [{"check": 1}]}',
        "/v1/services/web/history": b'{"entries": "none"}',
        "/v1/services/web/pause": b"[]",
        "/v1/services/web/resume": b"<html>hello</html>",
        "/v1/services/web/switchover": b'{"id": "sw-1", "phase": "sideways", "version": 0}',
        "/v1/services/big/history": json.dumps({"entries": [
            {"event": "paused", "at": 1796000000 + i, "by": "operator:alice"}
            for i in range(5000)]}).encode(),
    }

    def do_GET(self) -> None:
        body = self.answers.get(self.path.split("?")[0], b"{}")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def odd_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("command", "said"), [
    (("status",), "GET /v1/status: unexpected answer (services: field required)"),
    (("explain", "web"), "unexpected answer (conditions.0.check: input should be a valid str"),
    (("history", "web"), "unexpected answer (entries: input should be a valid tuple)"),
    (("pause", "web"), "unexpected answer (the answer: input should be a valid dictionary"),
    (("resume", "web"), "the answer is not JSON"),
    (("switchover", "web"), "unexpected answer (phase: input should be"),
])
def test_an_unexpected_answer_is_one_line_not_a_traceback(
        odd_api: str, command: tuple[str, ...], said: str) -> None:
    out = failoverctl(*command, "--api", odd_api, "--token", TOKEN)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and said in out.stderr, out.stderr


def test_a_reader_that_stops_early_gets_no_traceback(odd_api: str) -> None:
    """`failoverctl history web | head -1`: the pipe closes before the table is written."""
    cli = subprocess.Popen([sys.executable, "-m", "controller.cli", "history", "big", "--api",
                            odd_api], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert cli.stdout is not None and cli.stderr is not None
    cli.stdout.close()  # the table (about 300 kB) is more than a pipe holds
    assert cli.wait(timeout=60) == 1
    assert cli.stderr.read() == b""


def scraped(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=2) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_say_who_is_primary_and_every_counter_starts_at_0(cluster: Cluster) -> None:
    cluster.start(controllers=2)
    leader, follower = cluster.leader(), cluster.followers()[0]
    web = ("service", "web")
    for c in (leader, follower):
        s = scraped(c.api)
        for outcome in ("done", "failed"):  # at 0, so increase() sees the first one
            assert s[("failover_failovers_total", (("outcome", outcome), web))] == 0
        for outcome in ("done", "failed", "refused", "cancelled"):
            assert s[("failover_switchovers_total", (("outcome", outcome), web))] == 0
        assert s[("failover_probe_results_total",
                  (("member", "web-b"), web, ("verdict", "no_answer")))] == 0
        for hook in ("fence", "promote"):
            for result in ("ok", "failed", "refused"):
                assert s[("failover_hook_results_total",
                          (("hook", hook), ("result", result), web))] == 0
        assert s[("failover_primary", (("member", "web-a"), web))] == 1
        assert s[("failover_primary", (("member", "web-b"), web))] == 0
        assert s[("failover_route_version", (web, ("store", "zookeeper")))] == 1
    # Both replicas run one config: one digest, the one status shows.
    digests = {labels for c in (leader, follower) for (name, labels) in scraped(c.api)
               if name == "failover_config_info"}
    assert len(digests) == 1
    digest = dict(next(iter(digests)))["digest"]
    assert len(digest) == 12 and leader.status()["config_digest"] == digest
    def versions(c: Any) -> tuple[float | None, float | None]:
        s = scraped(c.api)
        return (s.get(("failover_route_version", (web, ("store", "zookeeper")))),
                s.get(("failover_route_version", (web, ("store", "redis")))))
    wait_for(lambda: versions(leader) == (1, 1), 10, "the leader to read Redis's version")
    changes = scraped(follower.api)[("failover_leadership_changes_total", ())]
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    wait_for(lambda: versions(leader) == (2, 2), 10, "both versions at 2")
    for c in (leader, follower):
        wait_for(lambda c=c: scraped(c.api)[("failover_primary", (("member", "web-b"), web))]
                 == 1, 10, f"{c.name} to name web-b")
        assert scraped(c.api)[("failover_primary", (("member", "web-a"), web))] == 0
    after = scraped(leader.api)
    assert after[("failover_failovers_total", (("outcome", "done"), web))] == 1
    assert after[("failover_hook_results_total", (("hook", "promote"), ("result", "ok"),
                                                  web))] == 1
    assert after[("failover_hook_results_total", (("hook", "fence"), ("result", "failed"),
                                                  web))] >= 1  # web-a is dead
    leader.process.stop()
    wait_for(lambda: scraped(follower.api)[("failover_leadership_changes_total", ())]
             == changes + 1, 20, "the follower to count the new leadership")
