"""Sending a notification: a webhook (POST, a JSON body) or a command (argv, no shell, the
hooks' minimal environment). Each try is bounded by the target's timeout; the answer is
one redacted line (a webhook's URL may hold a token: it is never shown whole)."""

from __future__ import annotations

import asyncio
import os

import aiohttp

from config.notify import ExecNotifyConfig, NotifyConfig, WebhookNotifyConfig
from config.redaction import redact_url
from config.templates import render
from controller.core.notify import Notification
from probes.process import minimal_environment, run_argv


class NotifySender:
    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, target: NotifyConfig, note: Notification) -> tuple[bool, str]:
        """(sent, what happened); never raises for the target's own failures."""
        try:
            async with asyncio.timeout(target.timeout):
                if isinstance(target, WebhookNotifyConfig):
                    return await self._post(target, note)
                return await _run(target, note)
        except TimeoutError:
            return False, f"no answer within {target.timeout:g}s"

    async def _post(self, target: WebhookNotifyConfig, note: Notification
                    ) -> tuple[bool, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=None))
        shown = redact_url(target.url)
        try:
            async with self._session.post(target.url, json=note.body(),
                                          headers=target.headers) as response:
                return 200 <= response.status < 300, f"POST {shown}: status {response.status}"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return False, f"POST {shown}: {type(exc).__name__}"


async def _run(target: ExecNotifyConfig, note: Notification) -> tuple[bool, str]:
    argv = [render(arg, note.variables()) for arg in target.argv]
    try:
        # Its output may quote a secret from its env: only the exit status is kept.
        status, _ = await run_argv(argv, minimal_environment(os.environ, target.env))
    except (OSError, ValueError) as exc:
        return False, f"{argv[0]}: cannot run: {getattr(exc, 'strerror', None) or exc}"
    return status == 0, f"{argv[0]} exited {status}"
