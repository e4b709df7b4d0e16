"""Secrets never leave the controller through its hooks: not the ones in a hook's URL (in
steps, history, explain, status, the switchover requests, the CLI's output or the log), and
not the controller's own (in an exec hook's environment)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from controller.devtools.sandbox import TOKEN, Sandbox, wait_for
from tests.integration.cluster import Cluster, failoverctl

pytestmark = pytest.mark.integration

PASSWORD, KEY = "pa55w0rd", "k3y-in-query"


def test_hook_url_credentials_and_query_values_never_reach_any_output(cluster: Cluster
                                                                       ) -> None:
    def hook(call: str) -> dict[str, dict[str, str]]:
        return {call: {"url": f"http://admin:{PASSWORD}@{{address}}/{call}?key={KEY}"
                              "&epoch={epoch}&seq={seq}"}}

    cluster.start(controllers=1, members=("web-a", "web-b", "web-c"),
                  member_blocks={"web-a": hook("fence"), "web-b": hook("promote"),
                                 "web-c": hook("promote")})
    # web-b refuses its promotion with an answer that quotes the request (as JSON, so
    # not as a URL); web-a is failing but reachable, so it is fenced first.
    cluster.web("web-b").set_mode(fail_hooks=["promote"])
    cluster.web("web-a").set_mode("error")
    cluster.wait_primary("web-c")
    assert cluster.promotions("web-b")[0]["key"] == KEY  # the members did get the secrets
    leader = cluster.leader()
    done = leader.events("failover_done")[-1]
    details = {(s["step"], s["member"]): s["detail"] for s in done["steps"] if "member" in s}
    assert details[("fence", "web-a")].startswith("POST http://***@127.0.0.1:")
    # The fencing token is shown (the controller fills it in: evidence, not a secret).
    assert re.search(r"/fence\?key=\*\*\*&epoch=[0-9]+&seq=[0-9]+: status 200",
                     details[("fence", "web-a")]), details
    assert '"key": "***"' in details[("promote", "web-b")]  # the quoted answer, scrubbed

    api = ["--api", leader.api, "--token", TOKEN]
    shown = {
        "history": json.dumps(leader.call("GET", "/v1/services/web/history")[1]),
        "explain": json.dumps(leader.call("GET", "/v1/services/web/explain")[1]),
        "status": json.dumps(leader.status()),
        "switchovers": json.dumps(leader.call("GET", "/v1/services/web/switchovers")[1]),
        "cli history": failoverctl("history", "web", *api).stdout,
        "cli history --json": failoverctl("history", "web", "--json", *api).stdout,
        "cli explain": failoverctl("explain", "web", *api).stdout,
        "log": leader.process.output(),
    }
    assert "fence?key=***" in shown["history"] and "fence?key=***" in shown["log"]
    for where, text in shown.items():
        assert PASSWORD not in text and KEY not in text, where


def test_an_exec_hook_of_a_running_controller_gets_none_of_its_secrets(
        isolated_cluster: Cluster, sandbox: Sandbox, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller gets its API token, Redis password and ZooKeeper credentials from the
    environment, as under Kubernetes or systemd; its fence hook sees none of them."""
    secrets = {"FAILOVER_API__TOKEN": "api-secret-from-env",
               "FAILOVER_REDIS__PASSWORD": "redis-secret-from-env",
               "FAILOVER_ZOOKEEPER__PASSWORD": "zk-secret-from-env"}
    for name, value in {**secrets, "FAILOVER_ZOOKEEPER__USERNAME": "failover"}.items():
        monkeypatch.setenv(name, value)  # the controller's environment is the test's
    cluster = isolated_cluster
    cluster.redis.process.stop()
    cluster.redis = sandbox.redis(password=secrets["FAILOVER_REDIS__PASSWORD"])
    dump = tmp_path / "environ"
    script = ("import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes("
              "pathlib.Path('/proc/self/environ').read_bytes())")
    cluster.start(controllers=1, fence=False, member_blocks={"web-a": {"fence": {
        "kind": "exec", "argv": [sys.executable, "-c", script, str(dump), "{epoch}", "{seq}"]}}})
    cluster.web("web-a").set_mode("error")  # failing but reachable: fenced, then replaced
    cluster.wait_primary("web-b")
    wait_for(dump.exists, 5, "the fence hook to have run")
    environ = dict(e.split("=", 1) for e in dump.read_text().split("\0") if e)
    assert set(environ) <= {"PATH", "HOME", "LANG", "LC_ALL"}, sorted(environ)
    assert not [v for v in secrets.values() if any(v in e for e in environ.values())]
