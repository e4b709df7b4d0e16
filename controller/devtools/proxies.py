"""The proxies a sandbox starts in front of the members: HAProxy (and the
``failoverctl agent haproxy`` beside it) and Traefik."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from controller.devtools.processes import LOOPBACK, Process, wait_for
from controller.events import Event
from controller.followers.route import parse_servers_state


class Haproxy:
    def __init__(self, process: Process, port: int, socket_path: Path) -> None:
        self.process, self.port, self.socket = process, port, socket_path
        self.url = f"http://{LOOPBACK}:{port}"

    def wait_ready(self, timeout: float = 10) -> None:
        wait_for(lambda: self.socket.exists() and self.command("show info"), timeout,
                 f"HAProxy on {self.port}")

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(self.socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def serving(self, backend: str) -> set[str]:
        """The servers of ``backend`` HAProxy sends new traffic to, from its own state."""
        return {s.name for s in parse_servers_state(self.command(f"show servers state {backend}"))
                if s.serving}

    def restart(self) -> None:
        self.process.kill()
        self.socket.unlink(missing_ok=True)
        self.process.start()
        self.wait_ready()


class Agent:
    """``failoverctl agent haproxy``, and its HTTP listener."""

    def __init__(self, process: Process, listen: str) -> None:
        self.process = process
        self.api = f"http://{listen}"

    def healthz(self, timeout: float = 1) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of /healthz: a 503 says what is wrong too."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.api + "/healthz", timeout=timeout) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def events(self, name: Event | None = None) -> list[dict[str, Any]]:
        """The agent's JSON log lines (optionally only one event name)."""
        return self.process.events(name)


class Traefik:
    def __init__(self, process: Process, port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://{LOOPBACK}:{port}"
