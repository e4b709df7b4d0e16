"""The stores a sandbox starts: a ZooKeeper server (standalone or in an ensemble), a
redis-server and a redis-sentinel, each wrapping its ``Process``."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

from controller.devtools.processes import LOOPBACK, Process, SandboxError, wait_for

ZOOKEEPER_CLASSPATH = ("/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar")


def require_zookeeper() -> None:
    if shutil.which("java") is None or not Path(ZOOKEEPER_CLASSPATH[1]).exists():
        raise SandboxError("ZooKeeper needs java and Debian's zookeeper package "
                           "(apt-get install zookeeper)")


def zookeeper_argv(conf: Path, standalone: bool = False) -> list[str]:
    main = ("org.apache.zookeeper.server.ZooKeeperServerMain" if standalone
            else "org.apache.zookeeper.server.quorum.QuorumPeerMain")
    return ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false", "-cp", ":".join(ZOOKEEPER_CLASSPATH),
            main, str(conf)]


def redis_command(port: int, *args: str, password: str | None = None,
                  host: str = LOOPBACK) -> Any:
    import redis

    client = redis.Redis(host=host, port=port, password=password, socket_timeout=1,
                         decode_responses=True)
    try:
        return client.execute_command(*args)  # type: ignore[no-untyped-call]
    finally:
        client.close()


class ZooKeeper:
    def __init__(self, process: Process, port: int, host: str = LOOPBACK) -> None:
        self.process, self.port, self.host = process, port, host
        self.hosts = f"{host}:{port}"

    def wait_ready(self, timeout: float = 30) -> None:
        def ruok() -> bool:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"ruok")
                return sock.recv(4) == b"imok"

        wait_for(ruok, timeout, f"ZooKeeper on {self.port}", interval=0.05)

    def mode(self) -> str | None:
        """"leader", "follower" or "standalone" once serving; None otherwise."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"srvr")
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
        except OSError:
            return None
        for line in answer.decode(errors="replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def restart(self) -> None:
        self.process.kill()
        self.process.start()


class Redis:
    def __init__(self, process: Process, port: int, password: str | None,
                 host: str = LOOPBACK) -> None:
        self.process, self.port, self.password, self.host = process, port, password, host
        self.url = f"redis://{host}:{port}/0"

    def command(self, *args: str) -> Any:
        return redis_command(self.port, *args, password=self.password, host=self.host)

    def wait_ready(self, timeout: float = 10) -> None:
        wait_for(lambda: self.command("PING"), timeout, f"Redis on {self.port}")

    def restart(self) -> None:
        self.process.kill()
        self.process.start()
        self.wait_ready()


class Sentinel:
    def __init__(self, process: Process, port: int) -> None:
        self.process, self.port = process, port
        self.address = f"{LOOPBACK}:{port}"
