"""Running a command for a probe, a readiness check or a hook: argv directly (never a
shell), no stdin, output captured, in a process group of its own so that a timeout or a
shutdown kills it and everything it started. The caller bounds the time (asyncio.timeout);
cancellation is what kills."""

from __future__ import annotations

import asyncio
import os
import signal


async def run_argv(argv: list[str]) -> tuple[int, str]:
    """(exit status, output on one line, last 300 characters); OSError if it cannot start."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )
    try:
        output, _ = await process.communicate()
    except asyncio.CancelledError:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await process.wait()
        raise
    text = " ".join(output.decode(errors="replace").split())[-300:]
    assert process.returncode is not None
    return process.returncode, text
