"""``failoverctl``: the one entry point (daemon, config check, operator reads, demo)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from config import Config, ConfigError, load_config, node_identity
from controller import __version__


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="failoverctl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"failoverctl {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="run the controller daemon")
    run.add_argument("-c", "--config", required=True, metavar="FILE")
    run.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    status = sub.add_parser("status", help="services, primaries and member health")
    _api_options(status)
    status.set_defaults(func=cmd_status)

    history = sub.add_parser("history", help="a service's recent route changes and attempts")
    history.add_argument("service")
    _api_options(history)
    history.set_defaults(func=cmd_history)

    agent = sub.add_parser("agent", help="make a proxy follow the routes in Redis")
    kinds = agent.add_subparsers(metavar="PROXY")
    haproxy = kinds.add_parser("haproxy", help="apply routes to HAProxy's Runtime API")
    haproxy.add_argument("--redis", required=True, metavar="URL")
    haproxy.add_argument("--haproxy", required=True, metavar="ADDR",
                         help="Runtime API: a unix socket path or host:port (level admin)")
    haproxy.add_argument("--backend", required=True, action="append", metavar="SERVICE=BACKEND")
    haproxy.add_argument("--key-prefix", default="failover")
    haproxy.add_argument("--listen", default="127.0.0.1:9101", help="its /healthz and /metrics")
    haproxy.add_argument("--shutdown-sessions", action="store_true",
                         help="also cut the sessions of servers put in maintenance")
    haproxy.add_argument("--resync-interval", type=float, default=2.0)
    haproxy.add_argument("--staleness-budget", type=float, default=30.0,
                         help="seconds without Redis before /healthz fails (traffic stays)")
    haproxy.set_defaults(func=cmd_agent_haproxy)

    demo = sub.add_parser("demo", help="local quick start: watch a primary die and traffic move")
    demo.set_defaults(func=cmd_demo)
    return parser


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=os.environ.get("FAILOVER_API_URL",
                                                        "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("FAILOVER_API_TOKEN"))
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument("--timeout", type=float, default=5.0)


# --- daemon -------------------------------------------------------------------------------


def _load_or_report(path: str) -> Config | None:
    """The config, or None after printing one line per problem (key path first)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load_or_report(args.file)
    if config is None:
        return 1
    members = sum(len(s.members) for s in config.services)
    print(f"{args.file}: ok ({len(config.services)} services, {members} members)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        print("not started: fix the config above", file=sys.stderr)
        return 1
    from controller import logs

    logs.configure(config.log_level, None if args.log_format == "auto"
                   else args.log_format == "json")
    return asyncio.run(_run(config))


async def _run(config: Config) -> int:
    import structlog

    from controller import runtime
    from controller.api import serve
    from controller.engine import Engine

    log = structlog.get_logger("failoverctl")
    node_id = node_identity(config)
    engine = Engine(config, node_id)
    try:
        runner = await serve(engine, config.api.listen)
    except OSError as exc:
        log.error("api_listen_failed", listen=config.api.listen, error=str(exc))
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("starting", node=node_id, version=__version__, api=config.api.listen,
             services=[s.name for s in config.services])
    runtime.tune_gc()
    await engine.start()
    settle = max(s.policy.interval for s in config.services) * 4 + 1.0
    freeze = asyncio.create_task(runtime.freeze_after(settle))
    await stop.wait()
    freeze.cancel()
    log.info("shutting_down", node=node_id)
    await engine.stop()
    await runner.cleanup()
    return 0


# --- operator reads -----------------------------------------------------------------------


def _get(args: argparse.Namespace, path: str) -> Any:
    request = urllib.request.Request(args.api.rstrip("/") + path)
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc)
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = exc.reason
        raise SystemExit(f"failoverctl: {args.api}{path}: {exc.code} {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SystemExit(f"failoverctl: cannot reach {args.api}: {reason}") from None


def cmd_status(args: argparse.Namespace) -> int:
    status = _get(args, "/v1/status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    leader = status.get("leader_node") or "(none)"
    print(f"leader {leader}  epoch {status.get('epoch')}  (asked {status.get('node')})")
    rows = [("SERVICE", "PRIMARY", "MODE", "MEMBER", "HEALTH", "LATENCY")]
    for name, service in status["services"].items():
        for member, info in service["members"].items():
            latency = info.get("latency_ms")
            mark = "*" if member == service["primary"] else " "
            rows.append((name, service["primary"] or "-", service["mode"], f"{mark}{member}",
                         info["health"], "-" if latency is None else f"{latency:.1f}ms"))
    _table(rows)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    history = _get(args, f"/v1/services/{args.service}/history")
    if args.json:
        print(json.dumps(history, indent=2))
        return 0
    rows = [("AT", "EVENT", "PRIMARY", "PREVIOUS", "EPOCH", "VERSION", "REASON")]
    for entry in history["entries"]:
        at = float(entry.get("at", 0))
        import datetime

        when = datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append((when[:-3], entry.get("event", ""), entry.get("primary", "-"),
                     entry.get("previous", "-"), entry.get("epoch", ""),
                     entry.get("version", ""), entry.get("reason") or entry.get("why", "")))
    _table(rows)
    return 0


def _table(rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip())


def cmd_agent_haproxy(args: argparse.Namespace) -> int:
    from config.models import split_host_port
    from controller import logs
    from controller.haproxy_agent import parse_mappings

    try:
        mappings = parse_mappings(args.backend)
        host, port = split_host_port(args.listen)
    except ValueError as exc:
        print(f"failoverctl agent haproxy: {exc}", file=sys.stderr)
        return 2
    logs.configure("info")
    return asyncio.run(_agent_haproxy(args, mappings, host, port))


async def _agent_haproxy(args: argparse.Namespace, mappings: Any, host: str, port: int) -> int:
    from aiohttp import web

    from controller.haproxy_agent import HaproxyAgent, HaproxyRuntime
    from controller.routeclient import RouteWatcher

    watcher = RouteWatcher(args.redis, sorted({m.service for m in mappings}), args.key_prefix)
    agent = HaproxyAgent(watcher, HaproxyRuntime(args.haproxy), mappings,
                         shutdown_sessions=args.shutdown_sessions,
                         resync_interval=args.resync_interval,
                         staleness_budget=args.staleness_budget)
    runner = web.AppRunner(agent.app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.start()
    await stop.wait()
    await agent.close()
    await runner.cleanup()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from controller.demo import run_demo

    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
