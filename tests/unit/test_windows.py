"""Maintenance windows: literal unix times, no clock."""

from __future__ import annotations

import datetime

import pytest

from config.windows import inside_any, next_opening, parse_window


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def test_weekly_window_in_utc() -> None:
    w = parse_window("Sun 02:00-04:00 UTC")
    assert w.contains(at("2026-11-29T02:00:00+00:00"))  # a Sunday
    assert w.contains(at("2026-11-29T03:59:59+00:00"))
    assert not w.contains(at("2026-11-29T04:00:00+00:00"))
    assert not w.contains(at("2026-11-30T02:30:00+00:00"))  # Monday
    assert w.next_opening(at("2026-11-23T12:00:00+00:00")) == at("2026-11-29T02:00:00+00:00")


def test_ranges_offsets_and_midnight() -> None:
    w = parse_window("Mon-Fri 23:00-01:00 +01:00")
    assert w.contains(at("2026-11-27T23:30:00+01:00"))  # Friday night
    assert w.contains(at("2026-11-28T00:30:00+01:00"))  # ...into Saturday
    assert not w.contains(at("2026-11-28T23:30:00+01:00"))  # Saturday night
    assert w.contains(at("2026-11-23T22:30:00+00:00"))  # 23:30 at +01:00 on a Monday
    daily = parse_window("daily 03:00-03:30 UTC")
    assert all(daily.contains(at(f"2026-11-{d}T03:10:00+00:00")) for d in range(23, 30))
    assert parse_window("sat,sun 00:00-23:59 utc").days == frozenset({5, 6})
    assert parse_window("Fri-Mon 00:00-01:00 UTC").days == frozenset({4, 5, 6, 0})


def test_several_windows_and_none() -> None:
    windows = (parse_window("Sun 02:00-04:00 UTC"), parse_window("Wed 02:00-03:00 UTC"))
    now = at("2026-11-23T12:00:00+00:00")  # Monday
    assert not inside_any(windows, now)
    assert next_opening(windows, now) == at("2026-11-25T02:00:00+00:00")
    assert inside_any((), now) and next_opening((), now) is None


@pytest.mark.parametrize("text", ["Sun 2-4 UTC", "Sun 02:00-04:00", "Xyz 02:00-04:00 UTC",
                                  "Sun 25:00-26:00 UTC", "Sun 02:00-02:00 UTC"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"window|day|time of day|empty"):
        parse_window(text)
