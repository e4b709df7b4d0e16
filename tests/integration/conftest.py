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


@pytest.fixture
def cluster(sandbox: Sandbox, zookeeper: ZooKeeper,
            request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(sandbox, zookeeper, f"t{next(_names)}-{request.node.name[:40]}")
    try:
        yield c
    finally:
        c.close()
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            c.dump_logs()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
