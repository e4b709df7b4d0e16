"""Hooks: exec runs argv without a shell, fills templates per argument, honours its timeout,
gets a minimal environment and leaves nothing running; what hooks answer is kept bounded and
their URLs' credentials never reach a detail."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from config.models import ExecActionConfig, HttpActionConfig
from controller.adapters.hooks import ActionRunner
from controller.devtools.sandbox import wait_for

VARIABLES = {"service": "web", "member": "web-a; rm -rf /", "address": "127.0.0.1:1",
             "epoch": "7", "previous": "web-b"}


def run(action: ExecActionConfig | HttpActionConfig) -> tuple[bool, str, float]:
    async def go() -> tuple[bool, str, float]:
        runner = ActionRunner("failoverctl/test")
        try:
            result = await runner.run(action, VARIABLES)
            return result.ok, result.detail, result.duration
        finally:
            await runner.close()

    return asyncio.run(go())


def test_exec_fills_templates_per_argument_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "argv"
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(repr(sys.argv[2:]))"
    action = ExecActionConfig(kind="exec", argv=[sys.executable, "-c", script, str(out),
                                                 "{member}", "epoch={epoch}"])
    ok, _, _ = run(action)
    assert ok
    assert out.read_text() == repr(["web-a; rm -rf /", "epoch=7"])


def test_exec_non_zero_exit_fails_with_its_output() -> None:
    action = ExecActionConfig(kind="exec", argv=[sys.executable, "-c",
                                                 "print('refused'); raise SystemExit(3)"])
    ok, detail, _ = run(action)
    assert not ok and "exited 3" in detail and "refused" in detail


def test_exec_timeout_kills_the_command_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The hook starts a child of its own, then hangs: both must be gone after the timeout.
    script = ("import os, subprocess, sys, time; "
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pids)!r}, 'w').write('%d %d' % (os.getpid(), child.pid)); "
              "time.sleep(60)")
    action = ExecActionConfig(kind="exec", argv=[sys.executable, "-c", script], timeout=1.0)
    started = time.monotonic()
    ok, detail, _ = run(action)
    assert not ok and "timed out" in detail
    # Killed at its 1 s timeout; waiting for it (or for the child holding its output)
    # would take 60 s: 30 s is far from both.
    assert time.monotonic() - started < 30.0
    for pid in pids.read_text().split():
        wait_for(lambda pid=pid: not _alive(int(pid)), 2, f"process {pid} to be gone")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has been killed; only its parent's reaping is left


def test_missing_program_and_unreachable_url_fail_cleanly() -> None:
    ok, detail, _ = run(ExecActionConfig(kind="exec", argv=["/nonexistent/fence"]))
    assert not ok and "cannot run" in detail
    ok, detail, _ = run(HttpActionConfig(kind="http", url="http://127.0.0.1:1/promote",
                                         timeout=1.0))
    assert not ok and "127.0.0.1:1" in detail


SECRETS = {"FAILOVER_API__TOKEN": "api-t0ken-secret", "FAILOVER_REDIS__PASSWORD": "r3dis-secret",
           "FAILOVER_ZOOKEEPER__PASSWORD": "zk-secret", "REDISCLI_AUTH": "r3dis-secret"}


def test_exec_environment_holds_no_secret_of_the_daemon(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", "/var/lib/failover")
    out = tmp_path / "environ"
    # /proc/self/environ: the environment exactly as exec'd, before Python adds to it.
    script = ("import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes("
              "pathlib.Path('/proc/self/environ').read_bytes())")
    action = ExecActionConfig(kind="exec", argv=[sys.executable, "-c", script, str(out)],
                              env={"FENCE_TOKEN": "for-the-fence", "LANG": "C.UTF-8"})
    ok, detail, _ = run(action)
    assert ok, detail
    environ = dict(entry.split("=", 1) for entry in out.read_text().split("\0") if entry)
    assert environ["FENCE_TOKEN"] == "for-the-fence" and environ["LANG"] == "C.UTF-8"
    assert environ["PATH"] == os.environ["PATH"] and environ["HOME"] == "/var/lib/failover"
    assert set(environ) <= {"PATH", "HOME", "LANG", "LC_ALL", "FENCE_TOKEN"}
    assert not set(SECRETS.values()) & set(environ.values())


def test_exec_output_kept_in_memory_is_bounded() -> None:
    # 50 MB of output: the detail keeps its tail, and the daemon never holds it all.
    script = "import sys\nfor _ in range(50): sys.stdout.write('x' * 999_999 + 'y')"
    action = ExecActionConfig(kind="exec", argv=[sys.executable, "-c", script], timeout=60)
    tracemalloc.start()
    try:
        ok, detail, _ = run(action)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"{peak} bytes allocated at the peak"
    kept = len(detail)
    assert kept < 400, kept
    assert ok and detail.endswith("x" * 50 + "y"), detail


def test_exec_that_exits_leaves_nothing_running(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # Two background children: one holds the hook's output pipe, one does not. The hook's
    # own exit ends the run at once (not the timeout), ok, and both children with it.
    script = ("import os, subprocess, sys; sleep = [sys.executable, '-c', "
              "'import time; time.sleep(60)']; "
              "a = subprocess.Popen(sleep); "
              "b = subprocess.Popen(sleep, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
              f"open({str(pids)!r}, 'w').write('%d %d' % (a.pid, b.pid)); print('started')")
    action = ExecActionConfig(kind="exec", argv=[sys.executable, "-c", script], timeout=20)
    started = time.monotonic()
    ok, detail, _ = run(action)
    assert ok and detail.endswith("exited 0 started"), detail
    # It exits at once; waiting for the children would take the 20 s timeout (or their
    # 60 s): 10 s is half of the nearer.
    assert time.monotonic() - started < 10
    for pid in pids.read_text().split():
        wait_for(lambda pid=pid: not _alive(int(pid)), 2, f"process {pid} to be gone")


def test_exec_argument_with_a_nul_byte_fails_cleanly() -> None:
    ok, detail, _ = run(ExecActionConfig(kind="exec", argv=["/bin/true", "a\0b"]))
    assert not ok and "cannot run" in detail


def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
            action: Callable[[int], HttpActionConfig]) -> tuple[bool, str, float]:
    """Run the HTTP hook ``action(port)`` against a real server answering with ``handler``."""
    async def go() -> tuple[bool, str, float]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        actions = ActionRunner("failoverctl/test")
        try:
            result = await actions.run(action(port), VARIABLES)
            return result.ok, result.detail, result.duration
        finally:
            await actions.close()
            await runner.cleanup()

    return asyncio.run(go())


async def endless(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    while True:  # until the client goes away
        await response.write(b"promoted " * 7000)


def test_http_hook_reads_a_bounded_part_of_the_answer() -> None:
    ok, detail, duration = serving(endless, lambda port: HttpActionConfig(
        kind="http", url=f"http://127.0.0.1:{port}/promote", timeout=10))
    assert ok and detail.endswith("status 200 " + ("promoted " * 30)[:200].strip()), detail
    assert duration < 5  # milliseconds to read its part; reading on would take the 10 s timeout


async def refuse(request: web.Request) -> web.Response:
    return web.Response(status=403, text=f"refused {request.path_qs} from {request.url}")


def test_http_hook_detail_never_shows_the_urls_credentials_or_query_values() -> None:
    ok, detail, _ = serving(refuse, lambda port: HttpActionConfig(
        kind="http", url=f"http://admin:pa55@127.0.0.1:{port}/promote?key=k3y&epoch={{epoch}}"))
    assert not ok and "status 403" in detail
    assert detail.startswith("POST http://***@127.0.0.1:")
    # the fencing token is shown (template-filled), the key is not
    assert "/promote?key=***&epoch=7: status 403 refused /promote?key=***&epoch=7" in detail
    assert "pa55" not in detail and "k3y" not in detail and "admin" not in detail
    ok, detail, _ = run(HttpActionConfig(kind="http", url="http://admin:pa55@127.0.0.1:1/p?k=k3y",
                                         timeout=2))
    assert not ok and "127.0.0.1:1" in detail and "pa55" not in detail and "k3y" not in detail


def test_http_hook_that_cannot_be_sent_fails_cleanly() -> None:
    for action in (
            lambda port: HttpActionConfig(kind="http", url=f"http://127.0.0.1:{port}/promote",
                                          headers={"X-Token": "t0ken\nX-Injected: 1"}),
            lambda port: HttpActionConfig(kind="http", url=f"http://127.0.0.1:{port}/promote",
                                          body="\udcff")):
        ok, detail, _ = serving(refuse, action)
        assert not ok and ": cannot send: " in detail and "t0ken" not in detail, detail
