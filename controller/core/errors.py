"""The domain's errors. Each adapter turns its library's errors into these at its edge, and
the HTTP API maps ``RequestError`` to a status in one table (api/errors.py).

A definite answer (``Fenced``, ``Conflict``) is kept apart from an unknown outcome
(``StoreError``): a handler never depends on the order of its except clauses to tell
"ZooKeeper said no" from "ZooKeeper did not answer, the write may have landed".
"""

from __future__ import annotations

from enum import StrEnum


class StoreError(Exception):
    """The store could not be asked or did not answer in time: the outcome is unknown."""


class Fenced(Exception):
    """Definite: the epoch moved on, another leader has been elected since ours."""


class Conflict(Exception):
    """Definite: the record changed since it was read (a compare-and-set lost)."""


class NotInOffice(Exception):
    """This replica is not the leader in office right now (session suspended, leadership
    lost, or stepping down): a leader's write or hook must not go out. Nothing was sent."""


class ErrorKind(StrEnum):
    INVALID = "invalid"  # the request itself is malformed
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    REFUSED = "refused"  # understood, and unsafe or impossible now
    CHANGED = "changed"  # what it acts on changed meanwhile
    OUTCOME_UNKNOWN = "outcome_unknown"  # the store did not confirm: it may have happened
    UNAVAILABLE = "unavailable"  # a store needed to answer cannot be reached


class RequestError(Exception):
    """An operator's request that cannot be done as asked: what kind, one line, details."""

    def __init__(self, kind: ErrorKind, error: str, detail: object = None) -> None:
        super().__init__(error)
        self.kind, self.error, self.detail = kind, error, detail
