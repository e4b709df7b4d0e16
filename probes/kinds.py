"""Probe kinds. Each kind is one class registered under its config ``kind``.

A probe answers one question once: did the target answer, and as expected? It does not time
itself or enforce the deadline; the scheduler does both for every kind alike.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from yarl import URL

from config.models import ExecProbeConfig, HttpProbeConfig, ProbeConfig, TcpProbeConfig
from config.redaction import header_secrets, redact_urls, scrub, url_secrets
from config.templates import render
from probes.process import minimal_environment, run_argv


@dataclass(frozen=True, slots=True)
class Outcome:
    answered: bool
    ok: bool
    detail: str


class Probe(Protocol):
    async def check(self) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What the shell shares with every probe: one HTTP session and the identifying headers."""

    session: aiohttp.ClientSession
    headers: dict[str, str]
    variables: Mapping[str, str] = field(default_factory=dict)  # {service} {member} {address}


MAX_BODY = 64 * 1024  # a health endpoint's answer; more is not read
ProbeFactory = Callable[[Any, ProbeContext], Probe]
PROBE_KINDS: dict[str, ProbeFactory] = {}


def register(kind: str) -> Callable[[ProbeFactory], ProbeFactory]:
    def add(factory: ProbeFactory) -> ProbeFactory:
        PROBE_KINDS[kind] = factory
        return factory

    return add


def make_probe(config: ProbeConfig, context: ProbeContext) -> Probe:
    secrets = (url_secrets(config.url) | header_secrets(config.headers)
               if isinstance(config, HttpProbeConfig) else frozenset())
    return Redacted(PROBE_KINDS[config.kind](config, context), secrets)


@dataclass(frozen=True, slots=True)
class Redacted:
    """A probe whose detail is redacted as a hook's is, before it goes anywhere (views in
    ZooKeeper, history, logs, status): a URL's user info and query values, and the
    secrets of the probe's own URL and headers that an answer may quote."""

    probe: Probe
    secrets: frozenset[str]

    async def check(self) -> Outcome:
        outcome = await self.probe.check()
        detail = scrub(redact_urls(outcome.detail), self.secrets)
        return outcome if detail == outcome.detail else Outcome(outcome.answered, outcome.ok,
                                                                detail)


@register("http")
class HttpProbe:
    """An HTTP request; checks the status and, optionally, a substring of the body.

    Point it at an endpoint that exercises what matters (a POST to a canary that writes),
    not only at a page that says the process is up.
    """

    def __init__(self, config: HttpProbeConfig, context: ProbeContext) -> None:
        self._config = config
        self._session = context.session
        self._headers = {**context.headers, **config.headers}
        self._url = URL(config.url)  # parsed once, not on every probe

    async def check(self) -> Outcome:
        config = self._config
        try:
            async with self._session.request(
                config.method, self._url, headers=self._headers, data=config.body,
                allow_redirects=False,
            ) as response:
                # Read the (small) body even when not checking it: an unread response
                # closes its connection instead of returning it to the keep-alive pool.
                body = await response.content.read(MAX_BODY)
                if response.status not in config.expect_status:
                    # What the member said ("read-only file system") is what an operator
                    # reading history needs next to the status.
                    said = _excerpt(body)
                    return Outcome(True, False, f"status {response.status}"
                                   + (f": {said}" if said else ""))
                if config.body_contains is not None:
                    if config.body_contains not in body.decode(errors="replace"):
                        return Outcome(True, False, f"body lacks {config.body_contains!r}")
                return Outcome(True, True, f"status {response.status}")
        except aiohttp.ClientResponseError as exc:
            return Outcome(True, False, f"bad response: {exc.message}")
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(False, False, _describe(exc))


@register("tcp")
class TcpProbe:
    """A TCP connect: the port accepts connections."""

    def __init__(self, config: TcpProbeConfig, context: ProbeContext) -> None:
        self._host, self._port = config.host, config.port

    async def check(self) -> Outcome:
        try:
            _, writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            return Outcome(False, False, _describe(exc))
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass  # the connect succeeded; a reset while closing changes nothing
        return Outcome(True, True, "connected")


@register("exec")
class ExecProbe:
    """A command (no shell), as for readiness checks: exit status 0 passes; the output is
    the detail ("raid: md0 degraded [U_]"). The scheduler's timeout kills it."""

    def __init__(self, config: ExecProbeConfig, context: ProbeContext) -> None:
        self._argv = [render(arg, context.variables) for arg in config.argv]
        # As a hook's: not the daemon's environment, which holds its secrets.
        self._env = minimal_environment(os.environ, config.env)

    async def check(self) -> Outcome:
        try:
            status, output = await run_argv(self._argv, self._env)
        except OSError as exc:
            return Outcome(False, False, f"{self._argv[0]}: cannot run: {exc.strerror or exc}")
        if status != 0:
            return Outcome(True, False, f"exit {status}: {output}".rstrip(": "))
        return Outcome(True, True, output or "exit 0")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def _excerpt(body: bytes, limit: int = 80) -> str:
    """The first line of an answer's body, printable and short."""
    line = body.decode(errors="replace").strip().splitlines()[0] if body.strip() else ""
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    return line if len(line) <= limit else line[:limit - 3] + "..."
