"""Durations and points in time as operators type them. Pure: ``now`` is an argument.

Durations: ``90``, ``90s``, ``15m``, ``2h``, ``1h30m``, ``1d``. Times: ISO 8601 with a zone
(``2026-11-24T02:00:00Z``, ``...+01:00``), or a duration from now (``+15m``, ``in 15m``).
"""

from __future__ import annotations

import datetime
import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhd]))")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError saying what is accepted."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 1h30m, 1d)"
                             ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 0 < seconds < 1e12:  # also refuses nan and inf
        raise ValueError(f"a duration must be positive and finite, got {text!r}")
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
