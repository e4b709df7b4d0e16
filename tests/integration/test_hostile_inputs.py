"""Small things a stranger can hand the controller, each once a 500, a traceback, a crash or
a leak: an Authorization header that is not UTF-8, garbage in the history stream, a body
that is not in its Content-Encoding, a hook target echoing the secret header it was sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from kazoo.client import KazooClient

from config.models import HttpActionConfig
from controller.adapters.hooks import ActionRunner
from controller.devtools.sandbox import LOOPBACK, Controller, Sandbox, ZooKeeper, wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_api_fuzz import authorized, send

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hostile(sandbox: Sandbox, zookeeper: ZooKeeper) -> Iterator[Cluster]:
    cluster = Cluster(sandbox, zookeeper, "hostile")
    cluster.start(controllers=1)
    try:
        yield cluster
    finally:
        cluster.close()


def strict_json(answer: bytes) -> Any:
    """JSON as the RFC has it: no NaN or Infinity."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(answer, parse_constant=refuse)


def test_an_authorization_header_that_is_not_utf8_is_a_401(hostile: Cluster) -> None:
    target = hostile.controllers[0]
    for value in (b"Bearer \xff", b"Bearer \xc3", b"Bearer a\xffb"):
        status, answer = send(target, "POST", b"/v1/services/web/pause",
                              [(b"Authorization", value)], b"{}")
        assert (status, strict_json(answer)["error"]) == (401, "unauthorized"), value


def test_garbage_in_the_history_stream_is_answered_as_valid_json(hostile: Cluster) -> None:
    target = hostile.controllers[0]
    key = "failover:history:web"
    hostile.redis.command("XADD", key, "*", "event", "forged", "detail", "[" * 100_000)
    hostile.redis.command("XADD", key, "*", "event", "forged", "epoch", "NaN",
                          "version", "Infinity", "detail", '{"x": NaN}', "at", "-Infinity")
    # Not UTF-8: a field name and a value.
    port = hostile.redis.port
    import redis

    with redis.Redis(host="127.0.0.1", port=port) as raw:
        raw.xadd(key, {b"event": b"forged\xff", b"\xfe": b"\xff\xfe"})
    status, answer = send(target, "GET", b"/v1/services/web/history?count=10", [])
    assert status == 200, answer[:300]
    entries = strict_json(answer)["entries"]
    assert len([e for e in entries if str(e["event"]).startswith("forged")]) == 3


def test_a_body_not_in_its_content_encoding_leaves_no_traceback_in_the_log(
        hostile: Cluster) -> None:
    target: Controller = hostile.controllers[0]
    status, _ = send(target, "POST", b"/v1/services/web/pause",
                     authorized([(b"Content-Encoding", b"gzip")]), b'{"for": "1s"}')
    assert status == 400
    plain = [line for line in target.process.output().splitlines()
             if not line.startswith("{")]  # every line of ours is a JSON object
    assert not any(line.startswith("Traceback") for line in plain), plain[:40]


def test_a_switchover_znode_nested_too_deeply_does_not_stop_a_new_leader(
        cluster: Cluster) -> None:
    """A stranger's request node that nests deeper than the JSON parser goes is refused as
    unreadable: the next leader still takes office, republishes and fails over."""
    cluster.start(controllers=2)
    old = cluster.leader()
    zk = KazooClient(hosts=cluster.zk.hosts)
    zk.start()
    try:
        zk.create(f"/failover/{cluster.name}/services/web/switchovers/sw-0000009999",
                  b"[" * 200_000, makepath=True)
    finally:
        zk.stop()
        zk.close()
    old.process.stop()  # SIGTERM: it resigns at once
    new = cluster.leader(timeout=10)
    assert new is not old
    epoch = new.status()["epoch"]
    wait_for(lambda: int(cluster.route()["epoch"]) == epoch, 5, "the takeover republished")
    cluster.web("web-a").process.kill()
    assert int(cluster.wait_primary("web-b")["epoch"]) == epoch
    assert not new.events(Event.TASK_CRASHED) and not new.events(Event.TAKEOVER_FAILED)



async def test_a_hook_target_echoing_the_secret_headers_does_not_put_them_in_the_detail(
        ) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"seen": dict(request.headers)}, status=403)

    app = web.Application()
    app.router.add_post("/promote", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, 0).start()
    port = runner.addresses[0][1]
    action = HttpActionConfig(kind="http", url=f"http://{LOOPBACK}:{port}/promote",
                              headers={"X-Api-Key": "hdr-s3cret-value",
                                       "Authorization": "Bearer tok-s3cret",
                                       "X-Member": "{member}"})
    hooks = ActionRunner("failoverctl/test")
    try:
        result = await hooks.run(action, {"member": "web-a"})
    finally:
        await hooks.close()
        await runner.cleanup()
    assert not result.ok and "status 403" in result.detail
    assert "hdr-s3cret-value" not in result.detail and "tok-s3cret" not in result.detail
    assert "web-a" in result.detail  # a templated value is no secret
