"""Child processes for the sandbox, and waiting on them: ``Process`` runs one with its
output in a log file (and reads its JSON events back), ``wait_for`` polls for a condition
and tells "not answering yet" apart from real failures. Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from controller.events import Event

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


class SandboxError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def not_answering_yet(exc: BaseException) -> bool:
    """Whether ``exc`` only says that the thing being waited for does not answer yet: a
    refused or dropped connection or a timeout (OSError, which urllib's and socket's errors
    are), an HTTP answer cut short, a half-written JSON body, Redis not (yet) serving, or a
    sandbox server not up. Anything else (AttributeError, KeyError, TypeError, an assertion)
    is a mistake in the predicate or a real failure, and waiting longer cannot fix it."""
    if isinstance(exc, OSError | http.client.HTTPException | json.JSONDecodeError
                  | SandboxError):
        return True
    # Only check redis-py's errors once it is loaded: nothing else can raise them, and the
    # sandbox stays importable (and cheap) without it.
    exceptions = sys.modules.get("redis.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.RedisError)


def wait_for(predicate: Callable[[], T], timeout: float, what: str,
             interval: float = 0.01, while_alive: Process | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy; raise naming ``what`` if not.

    An error that means "not answering yet" (see ``not_answering_yet``) counts as a falsy
    answer and is named in the timeout; any other error propagates at once. With
    ``while_alive``, raise at once, with the end of its output, if that process exits:
    what it was to bring about will not come.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if while_alive is not None and not while_alive.alive():
            raise SandboxError(f"{while_alive.name} exited while waiting for {what}:\n"
                               f"{while_alive.output()[-3000:]}")
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            if not not_answering_yet(exc):
                raise
            last_error = exc
        if time.monotonic() > deadline:
            suffix = (f" (last error: {type(last_error).__name__}: {last_error})"
                      if last_error else "")
            raise SandboxError(f"timed out after {timeout:g}s waiting for {what}{suffix}")
        time.sleep(interval)


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self._env, self._cwd = env, cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=self._env, cwd=self._cwd,
                                      start_new_session=True)
        log.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """kill -9, and reap."""
        if self.popen is not None and self.alive():
            self.popen.kill()
            self.popen.wait()

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (continuing a stopped process first), then SIGKILL after ``timeout``."""
        if self.popen is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self, name: Event | None = None) -> list[dict[str, Any]]:
        """The process's JSON log lines (optionally only one event name)."""
        out = []
        for line in self.output().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and (name is None or entry.get("event") == name):
                out.append(entry)
        return out
