"""Running a command for a probe, a readiness check or a hook: argv directly (never a
shell), no stdin, output captured, in a process group of its own so that a timeout or a
shutdown kills it and everything it started. The caller bounds the time (asyncio.timeout);
cancellation is what kills.

When the command exits, whatever it left running in its group is killed too: a background
child would otherwise outlive every timeout (and, holding the output pipe, keep the read
waiting until the timeout turns a success into a failure). Only the tail of the output is
kept, however much the command prints."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping

# The daemon's variables a command gets: where programs are, where their own configuration
# lives (ssh's known_hosts, kubectl's config), and the locale to read and print text in. None
# of them is a secret; whatever else a command needs, its config's ``env`` adds.
PASSED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KEPT_BYTES = 4096  # of the output's tail, before it is cut to KEPT_CHARACTERS
KEPT_CHARACTERS = 300
READ_CHUNK = 65536
LEFT_OPEN_GRACE = 0.5  # seconds to drain a pipe that something outside the group holds


def minimal_environment(daemon: Mapping[str, str], added: Mapping[str, str]
                        ) -> dict[str, str]:
    """A command's whole environment (an exec hook's, probe's or check's): PASSED_ENVIRONMENT
    from the daemon's (PATH always), then what its config adds."""
    passed = {name: daemon[name] for name in PASSED_ENVIRONMENT if name in daemon}
    return {"PATH": DEFAULT_PATH, **passed, **added}


async def run_argv(argv: list[str], env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """(exit status, output on one line, last 300 characters); OSError if it cannot start,
    ValueError if an argument or variable holds a NUL byte. ``env``: the whole environment
    of the command (None: the daemon's own)."""
    # A pipe of our own, not asyncio's: a Process with a pipe attached does not say it
    # exited until that pipe closes, which a background child can put off for ever.
    read_end, write_end = os.pipe()
    output = os.fdopen(read_end, "rb", buffering=0)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=write_end, stderr=write_end,
            start_new_session=True, env=dict(env) if env is not None else None,
        )
    except BaseException:
        output.close()
        raise
    finally:
        os.close(write_end)
    stream = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), output)
    tail = bytearray()
    reading = asyncio.ensure_future(_keep_tail(stream, tail))
    try:
        status = await process.wait()
        _kill_group(process.pid)  # what it left behind; the group outlives its leader
        # The pipe closes once every process holding it is gone; one that left the group
        # (setsid) may hold it for good, so the wait for the rest of the output is short.
        await asyncio.wait([reading], timeout=LEFT_OPEN_GRACE)
    except asyncio.CancelledError:
        _kill_group(process.pid)
        await process.wait()
        raise
    finally:
        reading.cancel()
        await asyncio.wait([reading])
        transport.close()
    text = " ".join(tail.decode(errors="replace").split())[-KEPT_CHARACTERS:]
    return status, text


async def _keep_tail(stream: asyncio.StreamReader, tail: bytearray) -> None:
    """Read ``stream`` to its end, keeping only its last KEPT_BYTES in ``tail``."""
    while chunk := await stream.read(READ_CHUNK):
        tail += chunk
        del tail[:-KEPT_BYTES]


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is empty: nothing was left behind
        pass
