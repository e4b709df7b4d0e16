"""Domain errors as HTTP answers: the one table."""

from __future__ import annotations

from controller.core.errors import ErrorKind

STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.REFUSED: 409,
    ErrorKind.CHANGED: 409,
    ErrorKind.OUTCOME_UNKNOWN: 503,
    ErrorKind.UNAVAILABLE: 503,
}
