"""structlog setup: JSON lines when not on a terminal (production, CI), readable otherwise.

Every event has a fixed name (``failover_started``, ``member_health_changed``...) and carries
service, member and epoch as fields, so ``grep failover_`` or ``jq 'select(.service=="web")'``
finds what an operator needs.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from controller.events import Event

HANDLER = "failover-json"  # ours, replaced when configured again


def configure(level: str = "info", json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    render: list[structlog.typing.Processor]
    if json:  # tracebacks as one string field; the console renderer prints them itself
        render = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        render = [structlog.dev.ConsoleRenderer(exception_formatter=exception_formatter())]
    structlog.configure(
        processors=shared + render,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # kazoo and aiohttp log through the standard library: their warnings go through the
    # same renderer, one JSON line each, as event "library_log" with the logger's name and
    # its message (a JSON reader then never meets a line it cannot parse).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, library_event],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render]))
    handler.set_name(HANDLER)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != HANDLER] + [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(not_a_malformed_request)


def library_event(logger: Any, method: str, event: structlog.typing.EventDict
                  ) -> structlog.typing.EventDict:
    """A standard library record as a controller event: its text becomes ``message``."""
    record = event.get("_record")
    event["message"] = event.pop("event", "")
    event["event"] = str(Event.LIBRARY_LOG)
    if isinstance(record, logging.LogRecord):
        event["logger"] = record.name
    return event


def not_a_malformed_request(record: logging.LogRecord) -> bool:
    """aiohttp logs each malformed request at ERROR, with a traceback quoting the offending
    bytes, a bearer token among them: the client has its 400, the log gets nothing (and
    cannot be flooded with tracebacks by anyone who can reach the port). A body that is not
    in its Content-Encoding is one too: the handler answered 400, and aiohttp, draining the
    rest of the body after it, meets the same error again."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, HttpProcessingError | RequestPayloadError)


def exception_formatter() -> structlog.typing.ExceptionRenderer:
    """Tracebacks on the console, never with the frames' locals: structlog's default (Rich,
    or better-exceptions) prints them, and they hold tokens and passwords."""
    if importlib.util.find_spec("rich") is None:
        return structlog.dev.plain_traceback
    return structlog.dev.RichTracebackFormatter(show_locals=False)
