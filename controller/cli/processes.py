"""The commands that run a process or check its config: ``run`` (the daemon),
``check-config``, ``agent haproxy`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from config import Config, ConfigError, ignored_env_names, load_config, node_identity
from config.cautions import cautions
from controller import __version__
from controller.events import Event


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
    # On stderr: stdout stays the one result line scripts read.
    ignored = ignored_env_names(os.environ)
    if ignored:
        print(f"note: not config overrides, ignored: {', '.join(ignored)}", file=sys.stderr)
    for caution in cautions(config):
        print(f"WARNING: {caution}", file=sys.stderr)
    members = sum(len(s.members) for s in config.services)
    print(f"{args.file}: ok ({len(config.services)} services, {members} members)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        print("not started: fix the config above", file=sys.stderr)
        return 1
    from controller.daemon import logs

    logs.configure(config.log_level, None if args.log_format == "auto"
                   else args.log_format == "json")
    return asyncio.run(_run(config))


async def _run(config: Config) -> int:
    import structlog

    from controller.api.server import serve
    from controller.daemon import runtime
    from controller.daemon.engine import Engine

    log = structlog.get_logger("failoverctl")
    node_id = node_identity(config)
    engine = Engine(config, node_id)
    try:
        runner = await serve(engine, config)
    except OSError as exc:  # ssl.SSLError too: a bad certificate or key
        log.error(Event.API_LISTEN_FAILED, listen=config.api.listen, error=str(exc))
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(Event.STARTING, node=node_id, version=__version__, api=config.api.listen,
             services=[s.name for s in config.services])
    ignored = ignored_env_names(os.environ)
    if ignored:  # e.g. Kubernetes service links: say so once, a mistyped override shows here
        log.info(Event.ENV_NOT_OVERRIDES, ignored=ignored)
    for caution in cautions(config):
        log.warning(Event.CONFIG_CAUTION, caution=caution)
    runtime.tune_gc()
    await engine.start()
    settle = max(s.policy.interval for s in config.services) * 4 + 1.0
    freeze = asyncio.create_task(runtime.freeze_after(settle))
    await stop.wait()
    freeze.cancel()
    log.info(Event.SHUTTING_DOWN, node=node_id)
    await engine.stop()
    await runner.cleanup()
    return 0


def cmd_agent_haproxy(args: argparse.Namespace) -> int:
    from config.models import split_host_port
    from controller.daemon import logs
    from controller.followers.haproxy_agent import parse_mappings

    try:
        mappings = parse_mappings(args.backend)
        host, port = split_host_port(args.listen)
    except ValueError as exc:
        print(f"failoverctl agent haproxy: {exc}", file=sys.stderr)
        return 2
    logs.configure("info")
    return asyncio.run(_agent_haproxy(args, mappings, host, port))


async def _agent_haproxy(args: argparse.Namespace, mappings: Any, host: str, port: int) -> int:
    import structlog
    from aiohttp import web

    from controller.followers.haproxy_agent import HaproxyAgent, HaproxyRuntime
    from controller.followers.watcher import RouteWatcher

    # The agent is our own process: its watcher logs JSON events like the rest of it.
    watcher = RouteWatcher(args.redis, sorted({m.service for m in mappings}), args.key_prefix,
                           log=structlog.get_logger("routeclient"), name=args.name,
                           acknowledge=False, heartbeat=args.heartbeat)  # the agent acks
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
    from controller.devtools.demo import run_demo

    return run_demo()
