"""Maintenance windows as operators write them: ``Sun 02:00-04:00 UTC``, ``Mon-Fri
01:00-05:00 UTC``, ``daily 23:00-01:00 +01:00`` (a window may cross midnight).

Pure arithmetic on unix seconds with a fixed offset: no clock and no time-zone database, so
a window means the same on every replica. Use UTC or an explicit offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"(?P<days>daily|[a-z]{3}(?:[-,][a-z]{3})*)\s+(?P<start>\d\d:\d\d)-"
                     r"(?P<end>\d\d:\d\d)\s+(?P<zone>utc|utc[+-]\d\d:\d\d|[+-]\d\d:\d\d)")


@dataclass(frozen=True, slots=True)
class Window:
    text: str
    days: frozenset[int]  # 0 is Monday
    start: int  # minutes after local midnight
    end: int  # == start is refused; < start crosses midnight
    offset: int  # minutes east of UTC

    def contains(self, unix: float) -> bool:
        day, minute = self._local(unix)
        if self.start < self.end:
            return day % 7 in self.days and self.start <= minute < self.end
        return ((day % 7 in self.days and minute >= self.start)
                or ((day - 1) % 7 in self.days and minute < self.end))

    def next_opening(self, unix: float) -> float:
        """``unix`` itself inside the window, else the next moment it opens."""
        if self.contains(unix):
            return unix
        day, _ = self._local(unix)
        for d in range(day, day + 8):
            if d % 7 in self.days:
                opens = (d - 3) * 86400 + self.start * 60 - self.offset * 60
                if opens >= unix:
                    return float(opens)
        raise AssertionError("a window opens at least once a week")  # pragma: no cover

    def _local(self, unix: float) -> tuple[int, float]:
        """(days since Monday 1969-12-29, minutes since local midnight)."""
        local = unix + self.offset * 60 + 3 * 86400  # 1970-01-01 was a Thursday
        day = int(local // 86400)
        return day, (local - day * 86400) / 60


def parse_window(text: str) -> Window:
    match = _WINDOW.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"not a window: {text!r} (e.g. 'Sun 02:00-04:00 UTC', "
                         "'Mon-Fri 01:00-05:00 UTC', 'daily 23:00-01:00 +01:00')")
    days: set[int] = set()
    spec = match["days"]
    for part in (DAYS if spec == "daily" else spec.split(",")):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{text!r}: unknown day in {part!r}; days are {', '.join(DAYS)}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    start, end = _minutes(match["start"], text), _minutes(match["end"], text)
    if start == end:
        raise ValueError(f"{text!r}: a window must not be empty")
    zone = match["zone"].removeprefix("utc")
    offset = 0
    if zone:
        offset = (-1 if zone[0] == "-" else 1) * _minutes(zone[1:], text)
    return Window(text, frozenset(days), start, end, offset)


def _minutes(hhmm: str, text: str) -> int:
    hours, minutes = int(hhmm[:2]), int(hhmm[3:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r}: {hhmm} is not a time of day")
    return hours * 60 + minutes


def inside_any(windows: tuple[Window, ...], unix: float) -> bool:
    """No windows means any time."""
    return not windows or any(w.contains(unix) for w in windows)


def next_opening(windows: tuple[Window, ...], unix: float) -> float | None:
    return min((w.next_opening(unix) for w in windows), default=None)
