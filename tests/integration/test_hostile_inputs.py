"""Small things a stranger can hand the controller, each once a 500, a traceback, a crash or
a leak: an Authorization header that is not UTF-8, garbage in the history stream, a body
that is not in its Content-Encoding, a hook target echoing the secret header it was sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controller.devtools.sandbox import Controller, Sandbox, ZooKeeper
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
