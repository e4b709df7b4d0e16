"""core/recovery.py: after ZooKeeper loses its data, no epoch repeats and the decision is
rebuilt from the most recent truth. Literal values, no I/O."""

from __future__ import annotations

from controller.core.records import Decided
from controller.core.recovery import (
    MAX_EPOCH_RAISE,
    EpochFloor,
    Member,
    RoutedAt,
    Source,
    next_epoch,
    rebuilt_decision,
)

MEMBERS = (Member("web-a", "10.0.0.1:80"), Member("web-b", "10.0.0.2:80"),
           Member("web-c", "10.0.0.3:80", fenceable=False))


def held(primary: str = "web-b", version: int = 4) -> Decided:
    return Decided(primary=primary, address="stale:1", epoch=7, version=version,
                   reason="failover", updated_at=1.0, unfenced=("web-a",),
                   last_recovery_end=0.5)


# --- the epoch ----------------------------------------------------------------------------


def test_a_counter_with_history_is_the_authority() -> None:
    plan = next_epoch(12, EpochFloor(seen=12, redis=30))  # Redis above ZooKeeper: not a floor
    assert (plan.raise_to, plan.refusal, plan.lost_from(12)) == (12, None, None)


def test_a_new_cluster_takes_epoch_one_once_redis_is_read() -> None:
    assert next_epoch(0, EpochFloor(seen=0, redis=0)) == next_epoch(0, EpochFloor(redis=0))
    assert next_epoch(0, EpochFloor(redis=0)).raise_to == 0


def test_a_counter_at_zero_waits_for_redis_unless_the_replica_remembers() -> None:
    waiting = next_epoch(0, EpochFloor(seen=0, redis=None))
    assert waiting.refusal is not None and "Redis" in waiting.refusal
    remembered = next_epoch(0, EpochFloor(seen=9, redis=None))
    assert (remembered.raise_to, remembered.refusal, remembered.lost_from(0)) == (9, None, 0)


def test_an_emptied_counter_is_raised_past_redis_and_the_replicas_memory() -> None:
    assert next_epoch(0, EpochFloor(seen=3, redis=8)).raise_to == 8
    assert next_epoch(0, EpochFloor(seen=8, redis=3)).raise_to == 8
    # Rebuilt, then a replica that remembers more: raised again, past what it saw.
    plan = next_epoch(2, EpochFloor(seen=9, redis=30))
    assert (plan.raise_to, plan.lost_from(2)) == (9, 2)


def test_an_impossible_floor_is_refused_not_obeyed() -> None:
    plan = next_epoch(0, EpochFloor(redis=MAX_EPOCH_RAISE + 1))
    assert plan.refusal is not None and plan.raise_to == 0
    assert next_epoch(0, EpochFloor(redis=MAX_EPOCH_RAISE)).raise_to == MAX_EPOCH_RAISE


# --- the decision -------------------------------------------------------------------------


def test_the_decision_a_replica_holds_comes_first_with_its_marks() -> None:
    decided, source = rebuilt_decision(MEMBERS, held(), RoutedAt("web-b", 4), 9, 100.0)
    assert source is Source.REMEMBERED
    assert (decided.primary, decided.address, decided.epoch, decided.version) == \
        ("web-b", "10.0.0.2:80", 9, 4)  # the address from the config, never kept
    assert decided.unfenced == ("web-a",) and decided.reason == "failover"
    assert decided.last_recovery_end == 0.5 and decided.updated_at == 100.0


def test_redis_wins_only_with_a_newer_version() -> None:
    decided, source = rebuilt_decision(MEMBERS, held(version=4), RoutedAt("web-a", 5), 9, 1.0)
    assert (source, decided.primary, decided.version) == (Source.REDIS, "web-a", 5)


def test_from_redis_every_other_fenceable_member_is_marked() -> None:
    decided, source = rebuilt_decision(MEMBERS, None, RoutedAt("web-b", 2), 9, 1.0)
    assert (source, decided.primary, decided.version) == (Source.REDIS, "web-b", 2)
    assert decided.unfenced == ("web-a",)  # web-c has no fence hook: not marked
    assert decided.reason == "initial"


def test_no_history_anywhere_is_a_new_cluster() -> None:
    decided, source = rebuilt_decision(MEMBERS, None, None, 1, 1.0)
    assert (source, decided.primary, decided.version, decided.unfenced) == \
        (Source.FIRST_MEMBER, "web-a", 1, ())


def test_a_primary_no_longer_configured_is_taken_from_neither_source() -> None:
    decided, source = rebuilt_decision(MEMBERS, held(primary="gone"), RoutedAt("x", 9), 3, 1.0)
    assert (source, decided.primary) == (Source.FIRST_MEMBER, "web-a")
    decided, source = rebuilt_decision(MEMBERS, held(primary="gone"), RoutedAt("web-b", 1),
                                       3, 1.0)
    assert (source, decided.primary) == (Source.REDIS, "web-b")
