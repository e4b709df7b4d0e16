"""A toy web member for the demo, the tests and the benchmarks.

It serves ``GET /`` (a read: says who answered), ``POST /`` (a write: refused with 503 once
fenced, accepted again once promoted, as a database primary would), ``/healthz`` (healthy,
slow, or 500 as if its disk went read-only, switchable at run time through ``POST
/control``; ``GET /canary-read`` answers the same), ``POST /canary-write`` (a write canary:
503 while fenced, or while ``{"writes": "error"}``), and records every call to its
``/promote`` and ``/fence`` hooks in a JSON-lines file, which outlives a kill -9. ``POST
/control`` can also make it answer 500 to given hooks (``{"fail_hooks": ["promote"]}``).
As every hook target should, it keeps the highest ``(?epoch=, ?seq=)`` pair it has accepted
(across restarts: read back from that file; a missing ``seq`` counts as 0), refuses a lower
one with 409, and applies a slow hook only if no newer one was accepted meanwhile.

    python -m controller.devtools.demo_web --name web-a --port 8001 --calls /tmp/web-a.calls
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

STATE: web.AppKey[dict[str, object]] = web.AppKey("state", dict)


async def root(request: web.Request) -> web.Response:
    return web.Response(text=f"served by {request.app[STATE]['name']}\n")


async def write(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state["fenced"]:
        return web.Response(status=503, text=f"fenced: {state['name']} takes no writes\n")
    return web.Response(text=f"written by {state['name']}\n")


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    fail_for = state["fail_for"]
    assert isinstance(fail_for, list)
    if request.headers.get("X-Failover-Node") in fail_for:
        return web.Response(status=503, text="unreachable for this replica\n")
    mode = state["mode"]
    if mode == "slow":
        delay = state["delay"]
        assert isinstance(delay, float)
        await asyncio.sleep(delay)
    if mode == "error":
        return web.Response(status=500, text="read-only file system\n")
    return web.Response(text="ok\n")


async def canary_write(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state["fenced"]:
        return web.Response(status=503, text="fenced: read-only\n")
    if state["writes"] == "error":
        return web.Response(status=503, text="write failed\n")
    return web.Response(text="ok\n")


async def hook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    call = request.match_info["call"]
    failing = state["fail_hooks"]
    assert isinstance(failing, list)
    entry: dict[str, object] = {"call": call, "at": time.time(), "name": state["name"],
                                "failed": call in failing, **dict(request.query)}
    # The fencing token checked where it matters, at the resource: a hook carrying a lower
    # (epoch, seq) than one already accepted comes from a deposed leader, or crossed a later
    # hook of the same leader in flight, and is refused (recorded, so tests can see it).
    highest = state["highest"]
    assert isinstance(highest, tuple)
    token = hook_token(request.query)
    if token is not None and token < highest:
        entry.update(failed=True, refused=f"(epoch, seq) {token} < {highest} already seen")
    elif token is not None:
        state["highest"] = token
    # One short append on a toy server: blocking the loop for it is harmless here.
    with Path(str(state["calls"])).open("a", encoding="utf-8") as calls:  # noqa: ASYNC230
        calls.write(json.dumps(entry) + "\n")
    delay = state["hook_delay"]
    assert isinstance(delay, float)
    if delay:
        await asyncio.sleep(delay)
    if entry.get("refused"):
        return web.json_response(entry, status=409)
    if token is not None and token != state["highest"]:
        # A newer hook was accepted while this one was slow: it must not undo that one.
        return web.json_response({**entry, "superseded": True}, status=409)
    if call == "promote" and state["break_on_promote"] and not entry["failed"]:
        state["mode"] = "error"
    if not entry["failed"]:  # as a real member: fenced, it refuses writes until promoted
        state["fenced"] = call == "fence"
    return web.json_response(entry, status=500 if entry["failed"] else 200)


async def control(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    if body.get("mode") not in (None, "ok", "slow", "error"):
        return web.json_response({"error": "mode must be ok, slow or error"}, status=400)
    if body.get("writes") not in (None, "ok", "error"):
        return web.json_response({"error": "writes must be ok or error"}, status=400)
    state["writes"] = body.get("writes", state["writes"])
    state["mode"] = body.get("mode", state["mode"])
    state["delay"] = float(body.get("delay", state["delay"]))
    state["fail_for"] = list(body.get("fail_for", state["fail_for"]))
    state["fail_hooks"] = list(body.get("fail_hooks", state["fail_hooks"]))
    state["hook_delay"] = float(body.get("hook_delay", state["hook_delay"]))
    state["break_on_promote"] = bool(body.get("break_on_promote", state["break_on_promote"]))
    return web.json_response({k: v for k, v in state.items() if k != "calls"})


def hook_token(query: Mapping[str, str]) -> tuple[int, int] | None:
    """The hook's (epoch, seq) fencing token, or None without a usable epoch."""
    try:
        return int(query.get("epoch", "")), int(query.get("seq", "0"))
    except ValueError:
        return None


def highest_token(calls: str) -> tuple[int, int]:
    """The highest (epoch, seq) accepted before a restart, from the calls file."""
    highest = (0, 0)
    with contextlib.suppress(OSError):
        for line in Path(calls).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                entry = json.loads(line)
                token = hook_token(entry)
                if not entry.get("refused") and token is not None:
                    highest = max(highest, token)
    return highest


def build(name: str, calls: str) -> web.Application:
    app = web.Application()
    app[STATE] = {"name": name, "mode": "ok", "delay": 0.0, "fail_for": [], "fail_hooks": [],
                  "hook_delay": 0.0, "break_on_promote": False, "calls": calls,
                  "fenced": False, "writes": "ok",
                  "highest": highest_token(calls)}
    app.router.add_get("/", root)
    app.router.add_post("/", write)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/canary-read", healthz)
    app.router.add_post("/canary-write", canary_write)
    app.router.add_post("/control", control)
    app.router.add_post("/{call:promote|fence}", hook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls", required=True, help="JSON-lines file of hook calls")
    args = parser.parse_args()
    web.run_app(build(args.name, args.calls), host=args.host, port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
