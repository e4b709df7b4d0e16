"""Durations and points in time as operators type them. Pure: ``now`` is an argument.

Durations: ``90``, ``90s``, ``15m``, ``2h``, ``1h30m``, ``1d``, ``0.5s``: ASCII digits, each
unit at most once and from the largest down (``d``, ``h``, ``m``, ``s``), nothing between
them. Times: ISO 8601 with a zone (``2026-11-24T02:00:00Z``, ``...+01:00``), or a duration
from now (``+15m``, ``in 15m``).
"""

from __future__ import annotations

import datetime
import re

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# Python's float() would also take "1_000", "1e3", "nan", " inf" and non-ASCII digits;
# only these forms are durations.
_PLAIN = re.compile(_NUMBER)
_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
_COMPOSED = re.compile("".join(f"(?:({_NUMBER}){unit})?" for unit, _ in _UNITS))
_MAX_SECONDS = 1e12
_ACCEPTED = "examples: 90, 90s, 15m, 1h30m, 1d; units d, h, m, s once each, largest first"


class DurationError(ValueError):
    """A text that is not a duration; the message says what is accepted."""


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (above 0 and finite); DurationError otherwise."""
    value = text.strip().lower()
    if not value:
        raise DurationError(f"an empty duration ({_ACCEPTED})")
    if not value.isascii():
        raise DurationError(f"not a duration: {text!r} (ASCII digits only; {_ACCEPTED})")
    if _PLAIN.fullmatch(value):
        seconds = float(value)
    else:
        composed = _COMPOSED.fullmatch(value)
        if composed is None or not any(composed.groups()):
            raise DurationError(f"not a duration: {text!r} ({_ACCEPTED})")
        seconds = sum(float(number) * scale for number, (_, scale)
                      in zip(composed.groups(), _UNITS, strict=True) if number)
    if not 0 < seconds < _MAX_SECONDS:  # a long digit string is inf as a float
        raise DurationError(f"a duration must be above 0 and finite, got {text!r}")
    return seconds


def parse_time(text: str, now: float) -> float:
    """Unix seconds for ``text``; a naive ISO time is refused rather than guessed."""
    value = text.strip()
    relative = re.fullmatch(r"(?:\+|in\s+)(.+)", value, re.IGNORECASE)
    if relative:
        return now + parse_duration(relative.group(1))
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (ISO 8601 with a zone, e.g. "
                         "2026-11-24T02:00:00Z, or +15m)") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset like +01:00")
    return moment.timestamp()


def iso(unix: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC, to the second."""
    if unix is None:
        return None
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).isoformat(timespec="seconds"
                                                                         ).replace("+00:00", "Z")


# The bounds of an operator's times: further ahead than these is more likely a typo than a
# plan. A moment in the past (clock skew, a slow request) means now.
MAX_SCHEDULE_AHEAD = 90 * 86400.0
MAX_PAUSE = 30 * 86400.0
PAST_SLACK = 5.0


def schedule_at(raw: str | float, now: float) -> float:
    """When a switchover asked for at ``raw`` (a time, a duration from now, or unix
    seconds) runs; ValueError unless it is between now and 90 days ahead."""
    try:
        at = parse_time(raw, now) if isinstance(raw, str) else float(raw)
    except OverflowError as exc:
        raise ValueError(f"{raw!r} is out of range") from exc
    if not now - PAST_SLACK <= at <= now + MAX_SCHEDULE_AHEAD:  # False for NaN too
        raise ValueError(f"{raw!r} is not between now and 90 days ahead")
    return at


def pause_length(raw: str | float) -> float:
    """Seconds a pause asked for ``raw`` lasts; ValueError unless above 0 and at most 30
    days."""
    duration = parse_duration(raw) if isinstance(raw, str) else float(raw)
    if not 0 < duration <= MAX_PAUSE:  # False for NaN too
        raise ValueError("must be above 0 and at most 30 days")
    return duration
