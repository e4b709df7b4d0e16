"""A controller replica (``failoverctl run``) as the sandbox runs it: its HTTP API and
its events, and the config a sandbox replica gets."""

from __future__ import annotations

import json
from typing import Any

from controller.devtools.processes import LOOPBACK, Process, free_port
from controller.devtools.stores import ZooKeeper
from controller.events import Event

TOKEN_NAME, TOKEN = "alice", "alice-secret-token"  # the API token of sandbox controllers


class Controller:
    def __init__(self, process: Process, name: str, listen: str,
                 cafile: str | None = None) -> None:
        self.process, self.name = process, name
        self.cafile = cafile
        self.api = f"{'https' if cafile else 'http'}://{listen}"

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.call("GET", "/v1/status", timeout=1)[1]
        return data

    def call(self, method: str, path: str, body: Any = None, token: str | None = TOKEN,
             timeout: float = 5, raw: bytes | None = None) -> tuple[int, Any]:
        """(HTTP status, decoded JSON body) of one API request; errors are answers too."""
        import ssl
        import urllib.error
        import urllib.request

        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                             else None)
        request = urllib.request.Request(self.api + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def events(self, name: Event | None = None) -> list[dict[str, Any]]:
        """The controller's JSON log lines (optionally only one event name)."""
        return self.process.events(name)


def controller_config(zk: ZooKeeper | str, redis_url: str, cluster: str,
                      services: list[dict[str, Any]], node_id: str, session_timeout: float = 2.0,
                      reconcile_interval: float = 0.5, api_host: str = LOOPBACK) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "node_id": node_id,
        "log_level": "info",
        "zookeeper": {"hosts": zk if isinstance(zk, str) else zk.hosts,
                      "session_timeout": session_timeout,
                      "request_timeout": 2.0},
        "redis": {"url": redis_url, "key_prefix": "failover", "socket_timeout": 0.5,
                  "reconcile_interval": reconcile_interval},
        "api": {"listen": f"{api_host}:{free_port()}",
                "tokens": [{"name": TOKEN_NAME, "token": TOKEN}]},
        "services": services,
    }
