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
