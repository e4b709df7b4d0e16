"""The decision's next versions: one place for the successor and its unfenced marks."""

from __future__ import annotations

import pytest

from controller.core.records import Decided, Pause, RecordError, RouteReason
from controller.core.switchover import Switchover

BASE = Decided(primary="a", address="a:80", epoch=3, version=7, reason="initial",
               updated_at=1.0, unfenced=("c",), last_recovery_end=0.5)


def test_a_move_is_the_next_version_under_the_new_epoch_with_the_marks_given() -> None:
    new = BASE.routed_to(primary="b", address="b:80", epoch=4, reason=RouteReason.FAILOVER,
                         now=9.0, unfenced={"a", "b", "c"}, recovery_end=9.0)
    assert (new.primary, new.address, new.epoch, new.version, new.reason) == (
        "b", "b:80", 4, 8, "failover")
    assert new.unfenced == ("a", "c")  # never the new primary itself
    assert (new.updated_at, new.last_recovery_end) == (9.0, 9.0)
    kept = BASE.routed_to(primary="b", address="b:80", epoch=4,
                          reason=RouteReason.SWITCHOVER, now=9.0)
    assert (kept.unfenced, kept.last_recovery_end) == ((), 0.5)


def test_the_same_primary_keeps_its_version_and_changes_only_its_marks() -> None:
    same = BASE.routed_to(primary="a", address="a:80", epoch=4,
                          reason=RouteReason.ROLLBACK, now=9.0, unfenced={"a", "b", "c"})
    assert same == BASE.with_marks({"b", "c"})
    assert (same.version, same.epoch, same.unfenced) == (7, 3, ("b", "c"))


def test_a_mark_is_cleared_alone() -> None:
    assert BASE.with_marks({"b", "c"}).cleared("c").unfenced == ("b",)
    assert BASE.cleared("zz") == BASE


@pytest.mark.parametrize("until", [b"1e400", b"Infinity", b"NaN", b'"soon"', b"true"])
def test_a_stored_pause_that_could_never_end_is_not_a_pause(until: bytes) -> None:
    raw = b'{"by": "x", "at": 1.0, "until": ' + until + b"}"
    with pytest.raises(RecordError):
        Pause.from_json(raw)
    assert Pause.from_json(b'{"by": "x", "at": 1.0, "until": 2.5}').until == 2.5


def test_records_nested_deeper_than_the_parser_goes_are_refused_not_raised() -> None:
    nested = b"[" * 200_000
    with pytest.raises(RecordError):
        Decided.from_json(nested)
    with pytest.raises(RecordError):
        Pause.from_json(nested)
    with pytest.raises(ValueError, match="not a switchover record"):
        Switchover.from_json(nested)
