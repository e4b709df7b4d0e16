"""Publishing's decisions (core/republish.py), as the daemon and the simulation take them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from controller.core.records import Decided
from controller.core.republish import Next, after_publish, out_of_sync

DECIDED = Decided(primary="b", address="b:80", epoch=3, version=7, reason="failover",
                  updated_at=10.0)


@dataclass(frozen=True)
class Route:
    primary: str
    epoch: int
    version: int


@pytest.mark.parametrize(("route", "epoch", "expected"), [
    (None, 3, True),
    (Route("b", 3, 7), 3, False),
    (Route("b", 3, 7), 4, True),  # written under an older epoch: raise its fence
    (Route("b", 5, 7), 4, False),
    (Route("b", 3, 6), 3, True),
    (Route("b", 3, 8), 3, True),
    (Route("a", 3, 7), 3, True),
])
def test_a_route_is_out_of_sync_unless_it_holds_the_decision_under_our_epoch(
        route: Route | None, epoch: int, expected: bool) -> None:
    assert out_of_sync(route, DECIDED, epoch) is expected


@pytest.mark.parametrize(("outcome", "create", "expected"), [
    ("applied", False, Next.NOTHING), ("unchanged", False, Next.NOTHING),
    ("fence_raised", False, Next.NOTHING), ("stale_version", False, Next.NOTHING),
    ("conflict", False, Next.NOTHING), ("stale_epoch", False, Next.JUDGE),
    ("stale_epoch", True, Next.JUDGE), ("corrupt", False, Next.JUDGE),
    ("missing", False, Next.REPAIR),
    ("missing", True, Next.NOTHING),
])
def test_what_a_publish_answer_asks_for(outcome: str, create: bool, expected: Next) -> None:
    assert after_publish(outcome, create) is expected
