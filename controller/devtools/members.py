"""A toy web member (demo_web.py) as the sandbox runs it: its control endpoint, the hook
calls it recorded, and its entry in a controller config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.devtools.processes import LOOPBACK, Process, wait_for


class Web:
    def __init__(self, process: Process, name: str, port: int, calls: Path,
                 host: str = LOOPBACK) -> None:
        self.process, self.name, self.port, self.calls_path = process, name, port, calls
        self.host = host
        self.address = f"{host}:{port}"
        self.url = f"http://{host}:{port}"

    def wait_ready(self, timeout: float = 10) -> None:
        import urllib.request

        wait_for(lambda: urllib.request.urlopen(self.url + "/healthz", timeout=0.5).status
                 == 200, timeout, f"web {self.name}")

    def restart(self) -> None:
        self.process.kill()
        self.process.start()
        self.wait_ready()

    def set_mode(self, mode: str = "ok", delay: float = 0.0, fail_for: list[str] | None = None,
                 fail_hooks: list[str] | None = None, hook_delay: float = 0.0,
                 break_on_promote: bool = False) -> None:
        """Health answers ``mode`` (ok, slow by ``delay``, error); 503 for the replicas in
        ``fail_for``; 500 from the hooks in ``fail_hooks``; hooks answer after
        ``hook_delay``; ``break_on_promote``: a promotion turns health to error."""
        import urllib.request

        body = json.dumps({"mode": mode, "delay": delay, "fail_for": fail_for or [],
                           "fail_hooks": fail_hooks or [], "hook_delay": hook_delay,
                           "break_on_promote": break_on_promote}).encode()
        request = urllib.request.Request(self.url + "/control", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=2).read()

    def control(self, **fields: Any) -> None:
        """Change only the given settings (``mode``, ``delay``, ``fail_for``,
        ``fail_hooks``, ``hook_delay``, ``break_on_promote``); the others stay."""
        import urllib.request

        request = urllib.request.Request(self.url + "/control",
                                         data=json.dumps(fields).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=2).read()

    def calls(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.calls_path.exists():
            return []
        entries = [json.loads(line) for line in self.calls_path.read_text().splitlines()
                   if line.strip()]
        return [e for e in entries if kind is None or e["call"] == kind]

    def member(self, priority: int = 0, fence: bool = True, **policy: Any) -> dict[str, Any]:
        """This server as a config ``members`` entry, with http promote/fence hooks."""
        entry: dict[str, Any] = {
            "name": self.name, "address": self.address, "priority": priority,
            "probe": {"kind": "http", "url": f"{self.url}/healthz"},
            "promote": {"kind": "http", "url": f"{self.url}/promote?epoch={{epoch}}&seq={{seq}}",
                        "timeout": 2.0},
        }
        if fence:
            entry["fence"] = {"kind": "http", "timeout": 1.0,
                              "url": f"{self.url}/fence?epoch={{epoch}}&seq={{seq}}"}
        return entry
