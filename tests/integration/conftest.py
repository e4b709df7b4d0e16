"""Real servers for the integration tests: one ZooKeeper for the session (each test gets its
own cluster namespace in it), and a fresh Redis and web members per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from controller.devtools.sandbox import Sandbox, ZooKeeper
from tests.integration.cluster import Cluster

_names = itertools.count()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture(scope="session")
def zookeeper(sandbox: Sandbox) -> ZooKeeper:
    return sandbox.zookeeper()


def _cluster(sandbox: Sandbox, zookeeper: ZooKeeper,
             request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(sandbox, zookeeper, f"t{next(_names)}-{request.node.name[:40]}")
    try:
        yield c
    finally:
        c.close()
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            c.dump_logs()


@pytest.fixture
def cluster(sandbox: Sandbox, zookeeper: ZooKeeper,
            request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield from _cluster(sandbox, zookeeper, request)


@pytest.fixture
def own_zookeeper(sandbox: Sandbox) -> Iterator[ZooKeeper]:
    """A ZooKeeper of the test's own, for a test that freezes or stops it (the shared one
    must stay up for the others); stopped after the test (continued first if frozen)."""
    zk = sandbox.zookeeper()
    yield zk
    zk.process.stop()


@pytest.fixture
def isolated_cluster(sandbox: Sandbox, own_zookeeper: ZooKeeper,
                     request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A cluster on ``own_zookeeper``."""
    yield from _cluster(sandbox, own_zookeeper, request)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
