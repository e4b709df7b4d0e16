"""Role-aware probes end to end, with the probes of the configuration guide's example against
real members (demo_web: ``GET /canary-read``; ``POST /canary-write``, which answers 503 while
the member is fenced): a member fenced for a switchover can be switched back to, and a
primary whose write canary answers 503 is degraded and replaced."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from config.models import ServiceConfig
from controller.devtools.sandbox import TOKEN, Controller, Web, wait_for
from controller.events import Event
from probes.health import Health, MemberHealth, ProbeRole
from probes.scheduler import ProbeReport, ProbeScheduler
from tests.integration.cluster import Cluster, failoverctl

pytestmark = pytest.mark.integration

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "guide" / "configuration.md"
EXAMPLE_HOSTS = {"web-a": "http://10.0.0.11", "web-b": "http://10.0.0.12"}
# verify_window: at least rise * (fast_interval + timeout) for a member with a primary_probe
POLICY = {"verify_window": 1.5, "ready_timeout": 3.0}


def example_probes(webs: dict[str, Web]) -> dict[str, dict[str, Any]]:
    """Each example member's probe and primary_probe (the configuration guide's example),
    pointed at our members."""
    block = re.search(r"```yaml\n(.*?)```", CONFIGURATION.read_text(), re.DOTALL)
    assert block is not None
    members = yaml.safe_load(block.group(1))["services"][0]["members"]
    out = {}
    for member in members:
        name = member["name"]
        blocks = {key: member[key] for key in ("probe", "primary_probe")}
        text = json.dumps(blocks).replace(EXAMPLE_HOSTS[name], webs[name].url)
        out[name] = json.loads(text)
    assert out["web-a"]["primary_probe"]["url"].endswith("/canary-write")
    return out


def start(cluster: Cluster, policy: dict[str, Any] | None = None) -> Controller:
    for name in EXAMPLE_HOSTS:
        cluster.webs[name] = cluster.sandbox.web(f"{cluster.name}-{name}")
    probes = example_probes(cluster.webs)
    cluster.start(controllers=2, policy={**POLICY, **(policy or {})}, member_blocks=probes)
    return cluster.followers()[0]


def members(controller: Controller) -> dict[str, Any]:
    return dict(controller.status()["services"]["web"]["members"])


def write_status(web: Web) -> int:
    request = urllib.request.Request(web.url + "/canary-write", method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def fail_writes(web: Web, failing: bool) -> None:
    body = json.dumps({"writes": "error" if failing else "ok"}).encode()
    request = urllib.request.Request(web.url + "/control", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=2) as response:
        assert response.status == 200


def switchover(controller: Controller, *args: str) -> Any:
    return failoverctl("switchover", "web", *args, "--wait", "--api", controller.api,
                       "--token", TOKEN, timeout=60)


def test_switchover_there_and_back_with_the_example_probes(cluster: Cluster) -> None:
    """a -> b -> a. Before role-aware probes, the fenced web-a failed its write canary for
    ever and the switch back was refused (409 target_not_healthy)."""
    follower = start(cluster)
    wait_for(lambda: members(follower)["web-a"]["primary_probe"] == "healthy", 5,
             "web-a's write canary passing")
    assert members(follower)["web-b"]["primary_probe"] == "standby"
    out = switchover(follower, "--to", "web-b")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "done: web-a -> web-b" in out.stdout
    cluster.wait_primary("web-b", timeout=2)
    # web-a is fenced: its writes fail, and it is still a healthy standby
    assert write_status(cluster.web("web-a")) == 503

    def swapped() -> bool:
        seen = members(follower)
        return (seen["web-a"]["health"] == "healthy"
                and seen["web-a"]["primary_probe"] == "standby"
                and seen["web-b"]["primary_probe"] == "healthy")

    wait_for(swapped, 5, "web-a a healthy standby, web-b's write canary passing")
    verified = next(s for s in history_steps(follower) if s["step"] == "verifying")
    assert "primary_probe passed" in verified["detail"], verified
    out = switchover(follower, "--to", "web-a")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "done: web-b -> web-a" in out.stdout
    cluster.wait_primary("web-a", timeout=2)
    assert write_status(cluster.web("web-a")) == 200 and write_status(cluster.web("web-b")) == 503
    assert cluster.observer is not None
    assert [c.primary for c in cluster.observer.wait_changes(3)] == ["web-a", "web-b", "web-a"]


def history_steps(controller: Controller) -> list[dict[str, Any]]:
    entries = controller.call("GET", "/v1/services/web/history?count=50")[1]["entries"]
    done = [e for e in entries if e["event"] == "switchover_done"]
    steps = done[-1]["steps"]
    return list(json.loads(steps) if isinstance(steps, str) else steps)


def test_a_primary_whose_write_canary_answers_503_is_degraded_and_replaced(
        cluster: Cluster) -> None:
    follower = start(cluster)
    leader = cluster.leader()
    fail_writes(cluster.web("web-b"), True)  # a standby's write canary is not run
    fail_writes(cluster.web("web-a"), True)
    cluster.wait_primary("web-b", timeout=10)
    started = leader.events(Event.FAILOVER_STARTED)[-1]["evidence"]["primary_probes"]
    failed = [p for p in started if p["probe"] == "primary_probe"]
    assert [p["verdict"] for p in failed][-3:] == ["bad_answer"] * 3, started
    assert failed[-1]["detail"] == "status 503: write failed"
    assert all(p["verdict"] == "pass" for p in started if p["probe"] == "probe"), started
    # Standby again, web-a answers reads: healthy, though its writes still fail.
    wait_for(lambda: members(follower)["web-a"]["health"] == "healthy", 5,
             "web-a a healthy standby")
    # web-b's write canary, now run, fails too: web-b is seen degraded by its primary_probe.
    wait_for(lambda: (m := members(follower)["web-b"])["health"] == "degraded"
             and m["primary_probe"] == "degraded", 5, "web-b degraded by its write canary")


def test_verify_watches_the_new_primarys_write_canary_and_rolls_back(cluster: Cluster) -> None:
    """web-b reads fine (a healthy standby, so the switchover starts) but cannot write: the
    verify step sees its primary_probe fail and puts web-a back, writing again."""
    follower = start(cluster)
    fail_writes(cluster.web("web-b"), True)
    out = switchover(follower, "--to", "web-b")
    assert out.returncode == 1
    assert "failed: verification_failed (rolled back)" in out.stderr
    route = cluster.wait_primary("web-a", timeout=2)
    assert route["reason"] == "rollback"
    entries = follower.call("GET", "/v1/services/web/history?count=50")[1]["entries"]
    failed = next(e for e in entries if e["event"] == "switchover_failed")
    assert "primary_probe bad_answer status 503: write failed" in str(failed["message"]), failed
    # web-a, fenced for the switchover and promoted again by the rollback, writes again
    wait_for(lambda: members(follower)["web-a"]["primary_probe"] == "healthy", 5,
             "web-a's write canary passing again")
    assert write_status(cluster.web("web-a")) == 200


async def until(condition: Callable[[], bool], probed: asyncio.Event, what: str) -> None:
    """Until ``condition`` holds, looked at after every probe (``probed``), at most 5 s."""
    try:
        async with asyncio.timeout(5):
            while not condition():
                probed.clear()
                await probed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def verdict(scheduler: ProbeScheduler, member: str) -> Health:
    """The member's primary_probe's own health."""
    return (scheduler.primary_check("web", member) or MemberHealth()).health


async def test_the_scheduler_moves_the_primary_probe_with_the_route() -> None:
    """In one process, against a real HTTP server: only the routed primary's write canary
    is probed; a move of the route makes the old primary healthy at once (reported with no
    probe result) and starts the new one's write canary afresh."""
    writes = {"a": 0, "b": 0}
    status = {"a": 200, "b": 200}

    async def read(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def write(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        writes[name] += 1
        return web.Response(status=status[name], text="ok" if status[name] == 200 else "no")

    app = web.Application()
    app.router.add_get("/{name}/read", read)
    app.router.add_post("/{name}/write", write)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    service = ServiceConfig.model_validate({
        "name": "web", "policy": {"interval": 0.05, "fast_interval": 0.02, "timeout": 0.5,
                                  "degraded_latency": 0.25, "fall": 2, "rise": 2},
        "members": [{"name": name, "address": f"127.0.0.{i + 1}:80",
                     "probe": {"kind": "http", "url": f"{url}/{name}/read"},
                     "primary_probe": {"kind": "http", "method": "POST",
                                       "url": f"{url}/{name}/write", "body_contains": "ok"}}
                    for i, name in enumerate(("a", "b"))]})
    reports: list[ProbeReport] = []
    probed = asyncio.Event()

    def heard(report: ProbeReport) -> None:
        reports.append(report)
        probed.set()

    scheduler = ProbeScheduler([service], {}, heard)
    scheduler.route_changed("web", "a")  # told before start, as a replica may be
    await scheduler.start()
    try:
        await until(lambda: verdict(scheduler, "a") is Health.HEALTHY
                    and scheduler.health("web", "b").health is Health.HEALTHY, probed, "a verified")
        assert writes["b"] == 0  # a standby's write canary is not run
        assert scheduler.primary_check("web", "b") == MemberHealth()
        status["a"] = 503
        await until(lambda: scheduler.health("web", "a").health is Health.DEGRADED,
                    probed, "a degraded by its write canary")
        assert scheduler.health("web", "a").recent[-1].probe is ProbeRole.PRIMARY
        moved_at = len(reports)
        scheduler.route_changed("web", "b")
        assert scheduler.health("web", "a").health is Health.HEALTHY  # at once
        moved = [r for r in reports[moved_at:] if r.result is None]
        assert [(r.member, r.before.health, r.after.health) for r in moved] == [
            ("a", Health.DEGRADED, Health.HEALTHY)]
        a_writes = writes["a"]
        await until(lambda: verdict(scheduler, "b") is Health.HEALTHY,
                    probed, "b's write canary passing")
        assert writes["a"] <= a_writes + 1  # at most the probe that was out at the move
        assert all(r.after.health is Health.HEALTHY for r in reports[moved_at:]
                   if r.member == "b")
    finally:
        await scheduler.stop()
        await runner.cleanup()
