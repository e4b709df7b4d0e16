"""The HTTP API every replica serves; the leader acts on what any replica records.

Mutating endpoints need ``Authorization: Bearer <token>`` (config: api.token / api.tokens;
the token's name goes into history); reads too when ``api.read_auth`` is set. Bodies are
JSON objects checked field by field (unknown fields refused) and limited in size. Every
error is JSON ``{"error", "detail"}`` with a 4xx (or 503) status; no traceback ever leaves.
The OpenAPI description (openapi.py) is served at /v1/openapi.json.
"""

from __future__ import annotations

import hmac
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from aiohttp import HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from config.loading import format_path
from config.models import NAME_PATTERN, Config, split_host_port
from controller.adapters.routes import RouteStoreError
from controller.api.errors import STATUS
from controller.api.openapi import spec
from controller.core.errors import ErrorKind, RequestError
from controller.core.switchover import Switchover
from controller.core.timespec import iso, parse_duration, pause_length, schedule_at
from controller.daemon import report
from controller.daemon.engine import Engine
from controller.events import Event

log = structlog.get_logger("api")
ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
TOKENS: web.AppKey[dict[str, bytes]] = web.AppKey("tokens", dict)
READ_AUTH: web.AppKey[bool] = web.AppKey("read_auth", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LONG_POLL_MAX = 30.0
REQUEST_ID = re.compile(r"sw-[0-9]{10}")  # ZooKeeper's sequential nodes: sw-0000000042


def error(status: int, message: str, detail: object = None,
          headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "detail": detail}, status=status,
                             headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        status = STATUS[exc.kind]
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return error(status, exc.error, exc.detail, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error(exc.status, exc.reason, None, allow)
    except Exception:
        log.exception(Event.API_ERROR, path=request.path)
        return error(500, "internal error", "see the controller's log")


async def expect(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` is honoured; any other expectation gets a JSON 417. aiohttp's
    own handler runs before the middleware and answers 500 to a value that is not UTF-8."""
    if request.version != HttpVersion11:
        return None
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        return error(417, "expectation failed", "only Expect: 100-continue is supported")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the interim answer is no part of the response
    return None


# --- auth ---------------------------------------------------------------------------------


def authorize(request: web.Request) -> str:
    """The name of the token presented, or RequestError (unauthorized). Every configured token is
    compared, in constant time, whichever matches."""
    tokens = request.app[TOKENS]
    if not tokens:
        raise RequestError(ErrorKind.UNAUTHORIZED, "unauthorized",
                           "no API token is configured on this replica "
                           "(api.token, api.token_file or api.tokens)")
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise RequestError(ErrorKind.UNAUTHORIZED, "unauthorized",
                           "send Authorization: Bearer <token>")
    # aiohttp hands over bytes that are not UTF-8 as surrogates: back to those bytes, which
    # match no token (tokens are printable ASCII), rather than an encoding error.
    given = presented.strip().encode(errors="surrogateescape")
    found = None
    for name, secret in tokens.items():
        if hmac.compare_digest(given, secret):
            found = name
    if found is None:
        raise RequestError(ErrorKind.UNAUTHORIZED, "unauthorized", "the token is not valid")
    # The unnamed api.token is keyed "operator" (config keeps that name for it): no name
    # to give, so its holder is recorded by role alone, not as "operator:operator".
    return "operator" if found == "operator" else f"operator:{found}"


def reader(handler: Handler) -> Handler:
    async def checked(request: web.Request) -> web.StreamResponse:
        if request.app[READ_AUTH]:
            authorize(request)
        return await handler(request)

    return checked


# --- bodies and queries -------------------------------------------------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """An absent field has its default; an explicit null is refused, not guessed at."""
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: null is not allowed; leave it out")
        return data


class SwitchoverBody(Body):
    to: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    # ISO 8601 with a zone, "+15m", or unix seconds
    at: Annotated[str, Field(min_length=1, max_length=64)] | float | None = None
    force: bool = False


class PauseBody(Body):
    # seconds, or a duration such as "15m"; none: until resumed
    for_: Annotated[str, Field(min_length=1, max_length=32)] | float | None = Field(
        default=None, alias="for")

    @field_validator("for_")
    @classmethod
    def _duration(cls, value: str | float | None) -> str | float | None:
        if isinstance(value, str):
            parse_duration(value)
        return value


async def body(request: web.Request, model: type[Body]) -> Any:
    try:
        raw = await request.read()  # aiohttp answers 413 past client_max_size
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip, and it is not
        cause = exc.__cause__
        detail = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
        raise RequestError(ErrorKind.INVALID, "unreadable body", detail) from None
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw, parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(ErrorKind.INVALID, "malformed JSON body", str(exc)) from None
        except RecursionError:  # a small body can nest deeper than the parser goes
            raise RequestError(ErrorKind.INVALID, "malformed JSON body",
                               "nested too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(ErrorKind.INVALID, "the body must be a JSON object", type(data).__name__)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{format_path(tuple(e['loc']))}: "
                    + ("unknown field" if e["type"] == "extra_forbidden"
                       else e["msg"].removeprefix("Value error, "))
                    for e in exc.errors(include_url=False)]
        raise RequestError(ErrorKind.INVALID, "invalid body", problems) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def number(request: web.Request, key: str, default: float, low: float, high: float,
           integer: bool = False) -> float:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise RequestError(ErrorKind.INVALID, "invalid query",
                           {key: f"expected a number, got {raw!r}"}) from None
    if not low <= value <= high:
        raise RequestError(ErrorKind.INVALID, "invalid query",
                           {key: f"must be between {low:g} and {high:g}"})
    return value


# --- reads --------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    ready, detail = request.app[ENGINE].readiness()
    return web.json_response({"ready": ready, **detail}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    payload = request.app[ENGINE].metrics.render()
    return web.Response(body=payload, headers={"Content-Type": "text/plain; version=0.0.4"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].status())


async def history(request: web.Request) -> web.Response:
    engine, name = request.app[ENGINE], request.match_info["name"]
    engine.operations.service(name)
    count = int(number(request, "count", 50, 1, 1000, integer=True))
    try:
        entries = await engine.routes.history(name, count)
    except RouteStoreError as exc:
        raise RequestError(ErrorKind.UNAVAILABLE, "history unavailable: Redis unreachable",
                           str(exc)) from exc
    return web.json_response({"service": name, "entries": entries})


async def explain(request: web.Request) -> web.Response:
    engine, now = request.app[ENGINE], time.time()
    name = request.match_info["name"]
    explained = report.with_stores(engine.operations.explain(name), engine.watch.observe(now),
                                   now)
    return web.json_response({**explained, **engine.followers.shown(name, now)})


def shown(record: Switchover, version: int) -> dict[str, Any]:
    return {**record.as_dict(), "version": version, "at_iso": iso(record.at)}


async def switchovers(request: web.Request) -> web.Response:
    engine, name = request.app[ENGINE], request.match_info["name"]
    state = engine.operations.service(name)
    listed = [shown(r, v) for _, (r, v) in sorted(state.switchovers.items(), reverse=True)]
    return web.json_response({"service": name, "switchovers": listed})


def request_id(request: web.Request) -> str:
    """The path's request id once its service is known (404 otherwise), or 404 if it is not
    of the shape ZooKeeper gives ids: "." or ".." would name another node, or none."""
    engine, name = request.app[ENGINE], request.match_info["name"]
    engine.operations.service(name)
    found = request.match_info["id"]
    if not REQUEST_ID.fullmatch(found):
        raise RequestError(ErrorKind.NOT_FOUND, "unknown switchover",
                           {"service": name, "id": found})
    return found


async def switchover_get(request: web.Request) -> web.Response:
    """One request; with ``wait``, held until its version passes ``after`` (long poll)."""
    engine, name, found = request.app[ENGINE], request.match_info["name"], request_id(request)
    after = int(number(request, "after", -1, -1, 2**31, integer=True))
    wait = number(request, "wait", 0, 0, LONG_POLL_MAX)
    record, version = await engine.operations.wait_for_change(name, found, after, wait)
    return web.json_response(shown(record, version))


# --- operator actions ---------------------------------------------------------------------


async def operator_request(request: web.Request, model: type[Body]
                           ) -> tuple[str, Engine, str, Any]:
    """(who, engine, service, parsed body) of a mutating call on a service, checked in
    that order: token (401), service (404), body (400/413)."""
    by = authorize(request)
    engine, name = request.app[ENGINE], request.match_info["name"]
    engine.operations.service(name)
    return by, engine, name, await body(request, model)


async def switchover(request: web.Request) -> web.Response:
    by, engine, name, parsed = await operator_request(request, SwitchoverBody)
    now = time.time()
    at: float | None = None
    if parsed.at is not None:
        try:
            at = schedule_at(parsed.at, now)
        except ValueError as exc:
            raise RequestError(ErrorKind.INVALID, "invalid body", [f"at: {exc}"]) from None
    record = await engine.operations.request_switchover(name, parsed.to, at, parsed.force, by)
    return web.json_response(shown(record, 0), status=202)


async def switchover_cancel(request: web.Request) -> web.Response:
    by = authorize(request)
    engine, found = request.app[ENGINE], request_id(request)
    record, version = await engine.operations.cancel(request.match_info["name"], found, by)
    return web.json_response(shown(record, version))


async def pause(request: web.Request) -> web.Response:
    by, engine, name, parsed = await operator_request(request, PauseBody)
    duration = None
    if parsed.for_ is not None:
        try:
            duration = pause_length(parsed.for_)
        except ValueError as exc:
            raise RequestError(ErrorKind.INVALID, "invalid body", [f"for: {exc}"]) from None
    held, before = await engine.operations.pause(name, duration, by)
    return web.json_response({"service": name, "paused": True, "by": held.by,
                              "until": held.until, "until_iso": iso(held.until),
                              "already_paused": before is not None,
                              "previous_until": before.until if before else None})


async def resume(request: web.Request) -> web.Response:
    # No fields; an unknown one is refused like anywhere else.
    by, engine, name, _ = await operator_request(request, Body)
    removed = await engine.operations.resume(name, by)
    return web.json_response({"service": name, "paused": False, "was_paused": removed})


# --- the application ----------------------------------------------------------------------


def build_app(engine: Engine, config: Config) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=config.api.max_body_bytes)
    app[ENGINE] = engine
    app[TOKENS] = {name: secret.encode()
                   for name, secret in config.api.named_tokens().items()}
    app[READ_AUTH] = config.api.read_auth
    def add(method: str, path: str, handler: Handler) -> None:
        app.router.add_route(method, path, handler, expect_handler=expect)

    add("GET", "/healthz", healthz)
    add("GET", "/readyz", readyz)
    add("GET", "/metrics", reader(metrics))
    add("GET", "/v1/openapi.json", openapi)
    add("GET", "/v1/status", reader(status))
    add("GET", "/v1/services/{name}/history", reader(history))
    add("GET", "/v1/services/{name}/explain", reader(explain))
    add("GET", "/v1/services/{name}/switchovers", reader(switchovers))
    add("GET", "/v1/services/{name}/switchovers/{id}", reader(switchover_get))
    add("DELETE", "/v1/services/{name}/switchovers/{id}", switchover_cancel)
    add("POST", "/v1/services/{name}/switchover", switchover)
    add("POST", "/v1/services/{name}/pause", pause)
    add("POST", "/v1/services/{name}/resume", resume)
    return app


def tls_context(config: Config) -> ssl.SSLContext | None:
    api = config.api
    if api.tls_cert_file is None or api.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(api.tls_cert_file, api.tls_key_file)
    return context


async def serve(engine: Engine, config: Config) -> web.AppRunner:
    """Start serving; OSError / ssl.SSLError (bad cert, port taken) reach the caller."""
    host, port = split_host_port(config.api.listen)
    context = tls_context(config)
    runner = web.AppRunner(build_app(engine, config), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, shutdown_timeout=1.0, ssl_context=context).start()
    return runner
