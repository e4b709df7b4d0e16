"""Notifications: a failover reaches a webhook and a command; a target that does not answer
is tried again, counted as failed, and never holds the failover up."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from controller.devtools.processes import free_port
from controller.devtools.sandbox import wait_for
from controller.events import Event
from tests.integration.cluster import Cluster
from tests.integration.test_operators import metric

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                outer.headers.append(self.headers.get("Authorization", ""))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_failover_is_told_to_a_webhook_and_a_command_and_a_dead_target_waits_for_nothing(
        cluster: Cluster, tmp_path: Path) -> None:
    receiver = Receiver()
    log = tmp_path / "pages.log"
    script = tmp_path / "page"
    script.write_text(f'#!/bin/sh\nprintf "%s|%s|%s\\n" "$1" "$2" "$3" >> {log}\n')
    script.chmod(0o755)
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every try fails
    try:
        cluster.start(controllers=1, top_block={"notify": [
            {"name": "chat", "kind": "webhook", "url": receiver.url,
             "headers": {"Authorization": "Bearer chat-secret"}},
            {"name": "pager", "kind": "exec", "argv": [str(script), "{event}", "{service}",
                                                       "{summary}"]},
            {"name": "down", "kind": "webhook", "url": dead, "attempts": 2,
             "events": ["route_changed"]},
        ]})
        [c0] = cluster.controllers
        cluster.web("web-a").process.kill()
        cluster.wait_primary("web-b")
        moved = wait_for(lambda: [b for b in receiver.bodies if b["event"] == "route_changed"
                                  and b["fields"].get("primary") == "web-b"], 10,
                         "the webhook told of the failover")
        assert moved[0]["service"] == "web" and "web-b is primary now" in moved[0]["text"]
        assert receiver.headers[0] == "Bearer chat-secret"
        wait_for(lambda: log.exists() and "route_changed|web|" in log.read_text(), 10,
                 "the command told of the failover")
        # The dead target: tried twice, then counted; the failover did not wait for it.
        wait_for(lambda: (metric(c0, "failover_notifications_total", target="down",
                                 result="failed") or 0) >= 1, 15,
                 "the dead target counted as failed")
        assert (metric(c0, "failover_notifications_total", target="chat", result="sent")
                or 0) >= 1
        failed = c0.events(Event.NOTIFICATION_FAILED)
        assert failed and all("down" == e["target"] for e in failed)
        # Every history entry is also a log line.
        assert any(e.get("history_event") == "route_changed"
                   for e in c0.events(Event.HISTORY_ENTRY))
        assert "chat-secret" not in c0.process.output()
    finally:
        receiver.close()
