"""`failoverctl demo` run as a user runs it: through a pipe it tells the story and stops by
itself; in a terminal it keeps the cluster up for the command it suggests, until Ctrl-C.
Either way nothing it started is left behind."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.cluster import failoverctl

pytestmark = pytest.mark.integration
DEMO = [sys.executable, "-m", "controller.cli", "demo"]


def sandbox_dir(output: str) -> Path:
    found = re.search(r"Starting a sandbox in (\S+)", output)
    assert found, output
    return Path(found.group(1))


def test_the_demo_through_a_pipe_tells_the_story_and_stops_by_itself() -> None:
    done = subprocess.run(DEMO, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "routed: Redis names web-b" in out
    assert "Promote calls received by web-b: 1" in out
    assert "Not a terminal" in out
    assert not sandbox_dir(out).exists()  # every server stopped, the directory removed


def test_the_demo_in_a_terminal_stays_up_for_its_suggested_command_until_ctrl_c() -> None:
    primary, replica = pty.openpty()
    demo = subprocess.Popen(DEMO, stdin=replica, stdout=replica, stderr=replica,
                            close_fds=True)
    os.close(replica)
    seen = b""
    try:
        deadline = time.monotonic() + 180
        while b"until Ctrl-C" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            assert demo.poll() is None, seen.decode(errors="replace")
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                seen += os.read(primary, 65536)
        text = seen.decode(errors="replace")
        exported = re.search(r"export (FAILOVER_API_URL=\S+ FAILOVER_API_TOKEN=\S+)", text)
        assert exported, text
        env = dict(pair.split("=", 1) for pair in exported.group(1).split())
        # What the demo suggests, typed as a user would, while it runs: the changes too.
        status = failoverctl("status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["services"]["web"]["primary"] == "web-b"
        switchover = failoverctl("switchover", "web", env=env)
        assert "401" not in switchover.stderr and "refused" in switchover.stderr, (
            switchover.stdout + switchover.stderr)
        pause = failoverctl("pause", "web", "--for", "5m", env=env)
        assert pause.returncode == 0, pause.stderr
        configs = re.search(r"The replicas' configs \(token name 'alice'\): (\S+),", text)
        assert configs and Path(configs.group(1)).is_file(), text
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=30) == 130
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        os.close(primary)
    assert not sandbox_dir(text).exists()
