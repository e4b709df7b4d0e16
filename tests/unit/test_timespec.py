"""Durations and times as operators type them."""

from __future__ import annotations

import pytest

from controller.core.timespec import iso, parse_duration, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400),
    ("0.5s", 0.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "1h 30m", "-5", "0", "m", "5m3", "nan", "inf",
                                  "9" * 400 + "d"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_times() -> None:
    assert parse_time("+15m", NOW) == NOW + 900
    assert parse_time("in 2h", NOW) == NOW + 7200
    assert parse_time("2027-01-15T08:00:00Z", NOW) == parse_time("2027-01-15T09:00:00+01:00",
                                                                  NOW)
    assert iso(parse_time("2027-01-15T08:00:00Z", NOW)) == "2027-01-15T08:00:00Z"
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2027-01-15T08:00:00", NOW)
    with pytest.raises(ValueError, match="not a time"):
        parse_time("tomorrow", NOW)
