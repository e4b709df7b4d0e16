"""Views in ZooKeeper written by a stranger do not vote: only a view in an ephemeral node
whose session is a contending replica's, under that replica's own name, counts."""

from __future__ import annotations

import json
import threading
import time

import pytest
from kazoo.client import KazooClient

from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration


def test_fake_views_saying_the_primary_is_healthy_do_not_block_its_failover(
        cluster: Cluster) -> None:
    cluster.start(controllers=1)
    leader = cluster.leader()
    node = leader.status()["node"]
    views = f"/failover/{cluster.name}/views"
    stranger = KazooClient(hosts=cluster.zk.hosts)
    stranger.start()
    stop = threading.Event()

    def view(name: str) -> bytes:
        return json.dumps({"node": name, "at": time.time(), "recovering": [],
                           "members": {"web/web-a": {"health": "healthy"},
                                       "web/web-b": {"health": "healthy"}}}).encode()

    def refresh() -> None:  # as often as a replica's heartbeat, so none ages out
        while not stop.is_set():
            for child, name in (("fake-1", "fake-1"), ("fake-2", "fake-2"),
                                ("fake-3", "fake-3"), ("evil", node)):
                stranger.set(f"{views}/{child}", view(name))
            stranger.set(f"{views}/fake-eph", view("fake-eph"))
            stop.wait(0.2)

    for child in ("fake-1", "fake-2", "fake-3", "evil"):
        stranger.create(f"{views}/{child}", b"{}")  # persistent: no replica's session
    stranger.create(f"{views}/fake-eph", b"{}", ephemeral=True)  # a session, not a replica's
    thread = threading.Thread(target=refresh, daemon=True)
    thread.start()
    try:
        fakes = {"fake-1", "fake-2", "fake-3", "evil", "fake-eph"}
        wait_for(lambda: {e["replica"] for e in leader.events(Event.REPLICA_VIEW_REFUSED)}
                 == fakes, 5, "every fake view refused")
        cluster.web("web-a").process.kill()
        cluster.wait_primary("web-b", timeout=15)
        votes = leader.status()["services"]["web"]["members"]["web-b"]["votes"]
        assert votes["replicas"] == 1
    finally:
        stop.set()
        thread.join(2)
        stranger.stop()
        stranger.close()
