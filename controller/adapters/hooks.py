"""Hooks that change the world: fence and promote, as ``http`` requests or ``exec`` commands.

Every action has a hard timeout and reports (ok, detail, duration) rather than raising.
``exec`` runs its argv directly, never through a shell, so a member name can never become a
command; template variables are substituted per argument. It gets a minimal environment, not
the daemon's (which holds the API token and the store passwords), and is killed with all it
started once it exits.

What the world answers is kept bounded (a few KiB of output or body), and every detail is
redacted before it goes anywhere (steps, history, logs, the read endpoints): the user info
and query values of a URL are often credentials.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from config.models import ActionConfig, ExecActionConfig, HttpActionConfig
from config.redaction import (
    header_secrets,
    redact_urls,
    scrub,
    templated_parameters,
    url_secrets,
)
from config.templates import render
from probes.process import minimal_environment as hook_environment
from probes.process import run_argv

KEPT_BODY_BYTES = 1024  # of an HTTP hook's answer; the rest is never read
KEPT_BODY_CHARACTERS = 200


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    detail: str
    duration: float  # seconds

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.duration * 1000, 1)}


class ActionRunner:
    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def run(self, action: ActionConfig, variables: Mapping[str, str]) -> ActionResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(action.timeout):
                if isinstance(action, HttpActionConfig):
                    ok, detail = await self._http(action, variables)
                else:
                    ok, detail = await _exec(action, variables)
        except TimeoutError:
            ok, detail = False, f"timed out after {action.timeout:g}s"
        if isinstance(action, HttpActionConfig):  # the answer may quote them in any form
            detail = scrub(redact_urls(detail, templated_parameters(action.url)),
                           url_secrets(action.url) | header_secrets(action.headers))
        else:
            detail = redact_urls(detail)
        return ActionResult(ok, detail, time.monotonic() - started)

    async def _http(self, action: HttpActionConfig,
                    variables: Mapping[str, str]) -> tuple[bool, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=None),
            )
        url = render(action.url, variables)
        headers = {k: render(v, variables) for k, v in action.headers.items()}
        body = render(action.body, variables) if action.body is not None else None
        try:
            async with self._session.request(action.method, url, headers=headers,
                                             data=body) as response:
                head = await _read_at_most(response.content, KEPT_BODY_BYTES)
                text = _decode(head, response.charset)[:KEPT_BODY_CHARACTERS]
                detail = f"{action.method} {url}: status {response.status} {text}".strip()
                return 200 <= response.status < 300, detail
        except (aiohttp.ClientError, OSError) as exc:
            return False, f"{action.method} {url}: {type(exc).__name__}: {exc}"
        except ValueError as exc:  # a header or body that cannot be sent ("\n", a surrogate)
            return False, f"{action.method} {url}: cannot send: {exc}"


async def _exec(action: ExecActionConfig, variables: Mapping[str, str]) -> tuple[bool, str]:
    argv = [render(arg, variables) for arg in action.argv]
    try:
        status, output = await run_argv(argv, hook_environment(os.environ, action.env))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument
        return False, f"{argv[0]}: cannot run: {getattr(exc, 'strerror', None) or exc}"
    return status == 0, f"{argv[0]} exited {status} {output}".strip()


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    data = bytearray()
    while len(data) < limit and (chunk := await stream.read(limit - len(data))):
        data += chunk
    return bytes(data)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", errors="replace")
