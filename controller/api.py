"""The HTTP API every replica serves (read-only so far; the operator endpoints come next).

Errors are JSON ``{"error", "detail"}`` with a 4xx status; no traceback ever leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from config.models import split_host_port
from controller.engine import Engine
from controller.routing import RouteStoreError

log = structlog.get_logger("api")
ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, detail: object = None) -> web.Response:
    return web.json_response({"error": message, "detail": detail}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason, None)
    except Exception:
        log.exception("api_error", path=request.path)
        return error(500, "internal error", "see the controller's log")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    ready, detail = request.app[ENGINE].readiness()
    return web.json_response({"ready": ready, **detail}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[ENGINE].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].status())


async def history(request: web.Request) -> web.Response:
    engine, name = request.app[ENGINE], request.match_info["name"]
    if name not in engine.services:
        return error(404, "unknown service", {"service": name})
    try:
        entries = await engine.routes.history(name)
    except RouteStoreError as exc:
        return error(503, "history unavailable: Redis unreachable", str(exc))
    return web.json_response({"service": name, "entries": entries})


def build_app(engine: Engine) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024)
    app[ENGINE] = engine
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/status", status)
    app.router.add_get("/v1/services/{name}/history", history)
    return app


async def serve(engine: Engine, listen: str) -> web.AppRunner:
    host, port = split_host_port(listen)
    runner = web.AppRunner(build_app(engine), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, shutdown_timeout=1.0).start()
    return runner
