"""History entries as Redis stores them and as the API answers them.

A stream entry holds only strings, so each field name has one kind, fixed here: the writer
refuses a field it does not know or a value of the wrong kind, and the reader turns each
field back into its JSON type (numbers as numbers, booleans as booleans, ``detail``,
``decision``, ``steps`` and ``evidence`` as the JSON they hold). Entries written before the
kinds were fixed (every value a string, ``""`` for none) read the same way; a value that
does not parse as its kind is answered as the string it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Kind(Enum):
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    JSON = "json"  # any JSON value, stored as its JSON text


# One meaning per name. The route's members: ``primary`` is the route's primary once the
# entry was written (unchanged unless the entry changed it), ``previous`` the one before a
# route change, ``source``/``target`` a move's ends (``target``: the member a request, a
# refusal, a failure or a dry run aimed at), ``member`` a member the entry is about that is
# neither (a late fence).
FIELDS: Mapping[str, Kind] = {
    "event": Kind.TEXT,
    "at": Kind.NUMBER,            # unix seconds
    "epoch": Kind.NUMBER,         # the newest leadership epoch the writer knew
    "node": Kind.TEXT,            # the replica that wrote the entry
    "by": Kind.TEXT,              # who asked: auto, auto:evacuation, operator:<name>, expiry
    "primary": Kind.TEXT,
    "previous": Kind.TEXT,
    "address": Kind.TEXT,
    "version": Kind.NUMBER,       # the route's version (route_changed)
    "reason": Kind.TEXT,          # a short code: failover, target_not_healthy, fence_failed...
    "message": Kind.TEXT,         # one human line: what went wrong, what a hook answered
    "source": Kind.TEXT,
    "target": Kind.TEXT,
    "member": Kind.TEXT,
    "request": Kind.TEXT,         # a switchover request's id
    "kind": Kind.TEXT,            # a request's kind: switchover, evacuation
    "scheduled_for": Kind.TEXT,   # ISO 8601
    "until": Kind.TEXT,           # ISO 8601
    "paused_by": Kind.TEXT,
    "force": Kind.BOOL,
    "rolled_back": Kind.BOOL,
    "previous_leader": Kind.TEXT,  # the node that led before, if this replica saw it
    "previous_epoch": Kind.NUMBER,
    "attempts": Kind.NUMBER,       # failed attempts so far (fence_late_failed)
    "failed_attempts": Kind.NUMBER,  # failed attempts before it worked (fenced_late)
    "detail": Kind.JSON,           # an object: a route change's origin, trigger, decision, steps
    "decision": Kind.JSON,
    "steps": Kind.JSON,
    "evidence": Kind.JSON,
}
# Only read: names older entries used (``why`` is now ``reason``, ``to`` is ``target``).
LEGACY: Mapping[str, Kind] = {"why": Kind.TEXT, "to": Kind.TEXT}


def encode(fields: Mapping[str, Any]) -> dict[str, str]:
    """The entry as stream fields; a None value is left out. ValueError names a field that
    is unknown or holds the wrong kind of value (a bug in the caller, never data)."""
    entry: dict[str, str] = {}
    for name, value in fields.items():
        if value is None:
            continue
        kind = FIELDS.get(name)
        if kind is None:
            raise ValueError(f"history field {name!r} is not one of history's fields")
        if not _fits(kind, value):
            raise ValueError(f"history field {name!r} holds {type(value).__name__}, "
                             f"not {kind.value}")
        entry[name] = value if kind is Kind.TEXT else json.dumps(value, default=str)
    return entry


def decode(raw: Mapping[str, str]) -> dict[str, Any]:
    """Each field as its JSON type; ``""`` (how older entries said "none") as None."""
    return {name: _decode(FIELDS.get(name) or LEGACY.get(name) or Kind.TEXT, text)
            for name, text in raw.items()}


def _fits(kind: Kind, value: Any) -> bool:
    if kind is Kind.TEXT:
        return isinstance(value, str)
    if kind is Kind.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is Kind.BOOL:
        return isinstance(value, bool)
    return True


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(kind: Kind, text: str) -> Any:
    if text == "":
        return None
    if kind is Kind.TEXT:
        return text
    try:
        # A stranger's entry is answered as the text it is: no NaN or Infinity (not JSON,
        # though Python's parser takes them), no nesting deeper than the parser goes.
        value = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return text
    if kind is Kind.NUMBER and not _fits(kind, value):
        return text
    if kind is Kind.BOOL and not isinstance(value, bool):
        return text
    return value


@dataclass(frozen=True, slots=True)
class FailedAttempts:
    """A late fence that keeps failing, retried every ``policy.retry_backoff``: history
    hears of its first failure, then of at most one per ``every`` seconds (with the count so
    far), not of every retry."""

    count: int = 0
    reported_at: float | None = None

    def failed(self, now: float, every: float) -> tuple[FailedAttempts, bool]:
        """One more failure at ``now``: the new tally, and whether to record it."""
        report = self.reported_at is None or now - self.reported_at >= every
        return FailedAttempts(self.count + 1, now if report else self.reported_at), report
