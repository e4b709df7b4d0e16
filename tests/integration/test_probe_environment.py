"""Exec probes and readiness checks run as hooks do: a minimal environment plus their
``env:``, never the daemon's (which holds the API token and the store passwords); and what
a probe reports is redacted as a hook's detail is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from config.models import ExecProbeConfig, HttpProbeConfig
from config.probing import ExecCheckConfig
from controller.devtools.sandbox import LOOPBACK
from probes.kinds import ProbeContext, make_probe

pytestmark = pytest.mark.integration
SHOW = ["/bin/sh", "-c", 'echo "token=$FAILOVER_API__TOKEN extra=$PROBE_EXTRA"']


@pytest.fixture
async def context() -> AsyncIterator[ProbeContext]:
    async with aiohttp.ClientSession() as session:
        yield ProbeContext(session=session, headers={})


@pytest.mark.parametrize("config", [
    ExecProbeConfig(kind="exec", argv=SHOW, env={"PROBE_EXTRA": "given"}),
    ExecCheckConfig(kind="exec", name="shows", argv=SHOW, env={"PROBE_EXTRA": "given"}),
])
async def test_an_exec_probe_or_check_gets_no_secret_of_the_daemon(
        config: ExecProbeConfig, context: ProbeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAILOVER_API__TOKEN", "s3cr3t-api-token")
    outcome = await make_probe(config, context).check()
    assert outcome.ok
    assert outcome.detail == "token= extra=given"


async def test_an_http_probe_detail_is_redacted(context: ProbeContext) -> None:
    async def quote(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"no: {request.url}")

    app = web.Application()
    app.router.add_get("/healthz", quote)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = HttpProbeConfig(kind="http",
                                 url=f"http://{LOOPBACK}:{port}/healthz?key=k3y-secret")
        outcome = await make_probe(config, context).check()
    finally:
        await runner.cleanup()
    assert not outcome.ok
    assert "k3y-secret" not in outcome.detail
    assert "key=***" in outcome.detail
