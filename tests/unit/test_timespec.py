"""Durations and times as operators type them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.core.timespec import DurationError, iso, parse_duration, parse_time

NOW = 1_800_000_000.0
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400),
    ("0.5s", 0.5), ("1d2h3m4s", 93784), (" 2H ", 7200), ("90m", 5400),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    "", "   ", "\n", "10x", "1h 30m", "-5", "0", "0s", "m", "5m3", "nan", "inf", "1e3",
    "9" * 400 + "d", "1d1d", "30s1h", "1m1h", "1s1s", "1_000", "1_000s",
    "\u0661\u0662s", "\uff11\uff12", "+5m", ".5s", "5.s", "0x10",
])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(DurationError, match="duration"):
        parse_duration(text)


@given(st.text())
def test_any_text_is_a_duration_or_refused_with_its_own_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        assert "duration" in str(exc)
    else:
        assert 0 < seconds < 1e12


@given(st.text(alphabet="0123456789.dhms _-+eE\u0663\uff11 \t"))
def test_texts_near_durations_are_a_duration_or_refused_with_its_own_error(text: str) -> None:
    try:
        assert 0 < parse_duration(text) < 1e12
    except DurationError:
        pass


@given(st.dictionaries(st.sampled_from(sorted(UNITS)), st.integers(0, 10_000), min_size=1))
def test_every_composed_duration_reads_back_as_its_seconds(parts: dict[str, int]) -> None:
    text = "".join(f"{parts[unit]}{unit}" for unit in UNITS if unit in parts)  # d, h, m, s
    seconds = sum(n * UNITS[unit] for unit, n in parts.items())
    if seconds == 0:
        with pytest.raises(DurationError, match="above 0"):
            parse_duration(text)
    else:
        assert parse_duration(text) == seconds
        assert parse_duration(text.upper()) == seconds
        assert parse_duration(str(seconds)) == seconds  # and as plain seconds


def test_times() -> None:
    assert parse_time("+15m", NOW) == NOW + 900
    assert parse_time("in 2h", NOW) == NOW + 7200
    assert parse_time("In 2h", NOW) == NOW + 7200
    assert parse_time("2027-01-15T08:00:00Z", NOW) == parse_time("2027-01-15T09:00:00+01:00",
                                                                  NOW)
    assert iso(parse_time("2027-01-15T08:00:00Z", NOW)) == "2027-01-15T08:00:00Z"
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2027-01-15T08:00:00", NOW)
    with pytest.raises(ValueError, match=r"not a time: 'tomorrow' \(ISO 8601 with a zone, "
                       r"e\.g\. 2026-11-24T02:00:00Z, or \+15m\)"):
        parse_time("tomorrow", NOW)
    with pytest.raises(DurationError):
        parse_duration("1000000000000")  # 1e12 s: the first refused as too long
    with pytest.raises(DurationError):
        parse_time("+1d1d", NOW)
