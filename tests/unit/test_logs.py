"""Logs never print a traceback's locals, nor a malformed request's bytes: both may hold
tokens and passwords."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog
from aiohttp.http_exceptions import BadHttpMessage

from controller.daemon import logs

SECRET = "s3cret-token-in-a-local"


@pytest.fixture
def console() -> Iterator[None]:
    handlers = list(logging.getLogger().handlers)
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = handlers
    logging.getLogger("aiohttp.server").removeFilter(logs.not_a_malformed_request)


def _fail_holding(token: str) -> None:
    presented = token  # a local of the failing frame, as in the API's authorize()
    raise RuntimeError(f"boom after {len(presented)} characters")


def _logged_exception(capsys: pytest.CaptureFixture[str]) -> str:
    logs.configure("info", json=False)
    try:
        _fail_holding(SECRET)
    except RuntimeError:
        structlog.get_logger("test").exception("api_error")
    return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)  # no colours


@pytest.mark.usefixtures("console")
def test_console_tracebacks_with_rich_show_no_locals(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert importlib.util.find_spec("rich") is not None  # the case the test is about
    out = _logged_exception(capsys)
    assert "boom after 23 characters" in out and "_fail_holding" in out
    assert SECRET not in out


@pytest.mark.usefixtures("console")
def test_console_tracebacks_without_rich_show_no_locals(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert logs.exception_formatter() is structlog.dev.plain_traceback
    out = _logged_exception(capsys)
    assert "boom after 23 characters" in out and SECRET not in out


@pytest.mark.usefixtures("console")
def test_malformed_requests_are_not_logged_but_server_errors_are(
        caplog: pytest.LogCaptureFixture) -> None:
    logs.configure("info", json=True)
    server = logging.getLogger("aiohttp.server")
    for exc in (BadHttpMessage(f"Invalid header value char: Bearer {SECRET}\x00"),
                RuntimeError("handler crashed")):
        try:
            raise exc
        except Exception:
            server.exception("Error handling request from 127.0.0.1")
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [exc]
    assert SECRET not in caplog.text


@pytest.mark.usefixtures("console")
def test_kazoo_and_aiohttp_lines_are_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", json=True)
    logging.getLogger("kazoo.client").warning("Connection dropped: %s", "ping not received")
    logging.getLogger("aiohttp.access").info("below warning: not shown")
    try:
        raise RuntimeError("handler crashed")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    structlog.get_logger("engine").warning("store_unavailable", store="zookeeper")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e.get("logger"), e.get("message"), e["level"]) for e in lines] == [
        ("library_log", "kazoo.client", "Connection dropped: ping not received", "warning"),
        ("library_log", "aiohttp.server", "Error handling request", "error"),
        ("store_unavailable", None, None, "warning")]
    assert "RuntimeError: handler crashed" in lines[1]["exception"]
    assert all("timestamp" in e for e in lines)
