"""Traefik follows the route with no agent: it reads the key the fenced script writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from config.models import RedisConfig, ServiceConfig
from controller.adapters.routes import RouteStore
from controller.core.records import Decided
from controller.devtools.sandbox import Sandbox, ZooKeeper, wait_for
from tests.integration.cluster import Cluster
from tests.integration.test_haproxy import Load

pytestmark = pytest.mark.integration
URL_KEY = "traefik/http/services/web/loadBalancer/servers/0/url"


@pytest.fixture
def traefik_cluster(sandbox: Sandbox, zookeeper: ZooKeeper) -> Iterator[tuple[Cluster, Load]]:
    # What Traefik needs of its Redis: keyspace notifications, and persistence so that the
    # user's router keys survive a restart (both on the command line, as in production).
    cluster = Cluster(sandbox, zookeeper, "traefik",
                      redis_args=("--notify-keyspace-events", "KEA", "--appendonly", "yes"))
    try:
        cluster.start(controllers=1, service_block={"traefik": {"service": "web"}})
        for key, value in {"traefik/http/routers/web/rule": "PathPrefix(`/`)",
                           "traefik/http/routers/web/service": "web",
                           "traefik/http/routers/web/entryPoints/0": "web"}.items():
            cluster.redis.command("SET", key, value)
        proxy = sandbox.traefik(cluster.redis)
        load = Load(proxy.url + "/")
        try:
            yield cluster, load
        finally:
            load.stop()
            proxy.process.stop()
    finally:
        cluster.close()


def answers_from(cluster: Cluster, load: Load, member: str, since: float, count: int) -> bool:
    answers = load.since(since)
    return len(answers) >= count and set(answers[-count:]) == {
        f"served by {cluster.webs[member].name}"}


def test_traefik_follows_failover_and_ignores_stale_writes_and_redis_restarts(
        traefik_cluster: tuple[Cluster, Load]) -> None:
    cluster, load = traefik_cluster
    assert cluster.redis.command("GET", URL_KEY) == f"http://{cluster.web('web-a').address}"
    wait_for(lambda: answers_from(cluster, load, "web-a", 0, 20), 15, "Traefik routes to web-a")
    cluster.web("web-a").process.kill()
    cluster.wait_primary("web-b")
    wait_for(lambda: answers_from(cluster, load, "web-b", 0, 20), 10, "Traefik follows")
    switched = time.monotonic()
    wait_for(lambda: len(load.since(switched)) >= 50, 10, "50 answers after the switch")
    assert set(load.since(switched)) == {f"served by {cluster.webs['web-b'].name}"}

    # A stale writer is refused by Redis itself: the Traefik key does not move.
    async def stale() -> str:
        store = RouteStore(RedisConfig(url=cluster.redis.url))
        try:
            service = ServiceConfig.model_validate(cluster.services[0])
            old = Decided("web-a", cluster.web("web-a").address, epoch=0, version=99,
                          reason="failover", updated_at=0.0)
            return (await store.publish(service, old, writer_epoch=0)).outcome
        finally:
            await store.close()

    assert asyncio.run(stale()) == "stale_epoch"
    assert cluster.redis.command("GET", URL_KEY) == f"http://{cluster.web('web-b').address}"

    # A Redis restart (with its data kept) changes nothing Traefik serves.
    steady = time.monotonic()
    cluster.redis.restart()
    wait_for(lambda: len(load.since(steady)) >= 100, 15, "100 answers across the restart")
    bodies = set(load.since(steady))
    assert bodies == {f"served by {cluster.webs['web-b'].name}"}, bodies
