"""failoverctl's own surfaces: check-config, run refusing bad config, status/history."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from controller.devtools.sandbox import free_port
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
        "services[0].members: List should have at least 2 items after validation, not 0",
        "services[0].extra: unknown key",
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
    assert [(e["event"], e["primary"], e["previous"], e["reason"], e["version"])
            for e in entries[:1]] == [
        ("route_changed", "web-b", "web-a", "failover", route["version"])], entries
    assert [(e["event"], e["primary"], e["version"]) for e in entries[1:]] == [
        ("route_changed", "web-a", before["version"])], entries
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
