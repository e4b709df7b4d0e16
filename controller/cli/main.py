"""``failoverctl``: the one entry point (daemon, config check, operator reads, demo)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from config import Config, ConfigError, ignored_env_names, load_config, node_identity
from controller import __version__
from controller.cli.explain import render
from controller.cli.history import probe_summary
from controller.cli.refusals import sentence
from controller.cli.status import status_rows
from controller.cli.status import when as _when
from controller.core.switchover import Phase
from controller.core.timespec import iso, parse_time


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

    history = sub.add_parser("history", help="a service's recent changes and attempts")
    history.add_argument("service")
    history.add_argument("--count", type=int, default=50)
    _api_options(history)
    history.set_defaults(func=cmd_history)

    explain = sub.add_parser("explain", help="would the leader fail over now, and why not")
    explain.add_argument("service")
    _api_options(explain)
    explain.set_defaults(func=cmd_explain)

    switchover = sub.add_parser("switchover", help="move the primary on purpose, safely")
    switchover.add_argument("service")
    switchover.add_argument("--to", metavar="MEMBER", help="default: the best healthy member")
    switchover.add_argument("--at", metavar="TIME",
                            help="schedule it: ISO 8601 with a zone, or +15m")
    switchover.add_argument("--wait", action="store_true",
                            help="follow the steps; exit non-zero unless it is done")
    switchover.add_argument("--force", action="store_true",
                            help="go on even if fencing the old primary fails")
    _api_options(switchover)
    switchover.set_defaults(func=cmd_switchover)

    cancel = sub.add_parser("cancel", help="cancel a switchover that has not started")
    cancel.add_argument("service")
    cancel.add_argument("id", help="the request id (sw-...), as switchover or status show")
    _api_options(cancel)
    cancel.set_defaults(func=cmd_cancel)

    pause = sub.add_parser("pause", help="stop automatic failover (maintenance)")
    pause.add_argument("service")
    pause.add_argument("--for", dest="duration", metavar="DURATION",
                       help="resume by itself after this long (90s, 15m, 2h)")
    _api_options(pause)
    pause.set_defaults(func=cmd_pause)

    resume = sub.add_parser("resume", help="automatic failover again")
    resume.add_argument("service")
    _api_options(resume)
    resume.set_defaults(func=cmd_resume)

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
    parser.add_argument("--cacert", default=os.environ.get("FAILOVER_API_CACERT"),
                        metavar="FILE", help="CA bundle to verify an https:// API with")
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
    # On stderr: stdout stays the one result line scripts read.
    ignored = ignored_env_names(os.environ)
    if ignored:
        print(f"note: not config overrides, ignored: {', '.join(ignored)}", file=sys.stderr)
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
        log.error("api_listen_failed", listen=config.api.listen, error=str(exc))
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("starting", node=node_id, version=__version__, api=config.api.listen,
             services=[s.name for s in config.services])
    ignored = ignored_env_names(os.environ)
    if ignored:  # e.g. Kubernetes service links: say so once, a mistyped override shows here
        log.info("env_not_overrides", ignored=ignored)
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


# --- operator commands --------------------------------------------------------------------


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None,
          timeout: float | None = None) -> Any:
    """One API call; any failure exits with one line naming what went wrong."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.api.rstrip("/") + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    context = None
    if args.cacert:
        try:
            context = ssl.create_default_context(cafile=args.cacert)
        except (OSError, ssl.SSLError) as exc:
            raise SystemExit(f"failoverctl: --cacert {args.cacert}: {exc}") from None
    try:
        with urllib.request.urlopen(request, timeout=timeout or args.timeout,
                                    context=context) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        answer: Any = None
        try:
            answer = json.load(exc)
            message = f"{answer.get('error')}: {_one_line(answer.get('detail'))}"
        except (ValueError, AttributeError):
            message = str(exc.reason)
        if exc.code == 401:
            message += (" (the token was refused: check --token or FAILOVER_API_TOKEN)"
                        if args.token else " (pass --token or set FAILOVER_API_TOKEN)")
        raise ApiAnswered(f"failoverctl: {method} {path}: {exc.code} {message}", exc.code,
                          answer) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SystemExit(f"failoverctl: cannot reach {args.api}: {reason} "
                         f"(set --api or FAILOVER_API_URL)") from None


class ApiAnswered(SystemExit):
    """The API answered with an error: exits with one line, and keeps the answer for a
    command that can say more."""

    def __init__(self, line: str, status: int, answer: Any) -> None:
        super().__init__(line)
        self.status, self.answer = status, answer


def _one_line(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(str(d) for d in detail)
    if isinstance(detail, dict):
        return json.dumps(detail, default=str)[:400]
    return str(detail)


def _print_json(value: Any) -> int:
    print(json.dumps(value, indent=2))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _call(args, "GET", "/v1/status")
    if args.json:
        return _print_json(status)
    leader = status.get("leader_node") or "(none)"
    print(f"leader {leader}  epoch {status.get('epoch')}  (asked {status.get('node')})")
    rows, notes = status_rows(status)
    _table(rows)
    for note in notes:
        print(note)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    history = _call(args, "GET", f"/v1/services/{args.service}/history?count={args.count}")
    if args.json:
        return _print_json(history)
    rows = [("AT (UTC)", "EVENT", "PRIMARY", "EPOCH", "VERSION", "BY", "WHY")]
    for entry in history["entries"]:
        rows.append((_when(entry.get("at")), entry.get("event", ""),
                     _primary_column(entry), entry.get("epoch", ""),
                     entry.get("version", ""), _by(entry), _why(entry)))
    _table(rows)
    return 0


def _detail(entry: dict[str, str]) -> dict[str, Any]:
    try:
        detail = json.loads(entry.get("detail") or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def _primary_column(entry: dict[str, str]) -> str:
    if entry.get("event") == "route_changed":
        return f"{entry.get('previous') or '-'} -> {entry.get('primary')}"
    if entry.get("source") or entry.get("target"):
        return f"{entry.get('source') or '-'} -> {entry.get('target') or '-'}"
    return entry.get("to") or "-"


def _by(entry: dict[str, str]) -> str:
    return entry.get("by") or str(_detail(entry).get("trigger") or "") or "-"


def _why(entry: dict[str, str]) -> str:
    """One line a person can read at 03:12: the reason, and the evidence behind it."""
    event, detail = entry.get("event", ""), _detail(entry)
    if event == "route_changed":
        decision = detail.get("decision") or {}
        evidence = decision.get("evidence") or {}
        if evidence.get("primary_probes"):
            why = (f"{entry.get('reason')}: {evidence.get('primary')} "
                   f"{evidence.get('primary_health')} "
                   f"({probe_summary(evidence['primary_probes'])})")
            if evidence.get("not_ready"):  # the readiness gate's last resort
                why += (f"; promoted {entry.get('primary')} although not ready: "
                        + "; ".join(evidence["not_ready"]))
            return why
        if detail.get("request"):
            return f"{entry.get('reason')} (request {detail['request']})"
        return f"{entry.get('reason')} ({detail.get('origin', '')})"
    parts = [entry.get("reason") or entry.get("why") or ""]
    if entry.get("rolled_back") == "true":
        parts.append("rolled back")
    if entry.get("request"):
        parts.append(f"request {entry['request']}")
    if entry.get("scheduled_for"):
        parts.append(f"for {entry['scheduled_for']}")
    if entry.get("until"):
        parts.append(f"until {entry['until']}")
    if entry.get("detail") and event != "dry_run":
        parts.append(entry["detail"][:160])
    if event == "dry_run":
        decision = json.loads(entry.get("decision") or "{}")
        parts = [f"would fail over to {decision.get('target')}: {decision.get('reason')}"]
    return "; ".join(p for p in parts if p)


def cmd_explain(args: argparse.Namespace) -> int:
    explained = _call(args, "GET", f"/v1/services/{args.service}/explain")
    if args.json:
        return _print_json(explained)
    print("\n".join(render(explained)))
    return 0


def cmd_switchover(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"force": args.force}
    if args.to:
        body["to"] = args.to
    if args.at:
        try:
            body["at"] = iso(parse_time(args.at, time.time()))
        except ValueError as exc:
            raise SystemExit(f"failoverctl: --at: {exc}") from None
    try:
        record = _call(args, "POST", f"/v1/services/{args.service}/switchover", body)
    except ApiAnswered as refused:
        detail = refused.answer.get("detail") if isinstance(refused.answer, dict) else None
        if refused.status != 409 or not isinstance(detail, dict) or "reason" not in detail:
            raise
        if args.json:
            _print_json(refused.answer)
            return 1
        reason = str(detail["reason"])
        raise SystemExit(f"failoverctl: switchover of {args.service} refused ({reason}): "
                         f"{sentence(args.service, args.to, reason, detail.get('evidence') or {})}"
                         ) from None
    if args.json and not args.wait:
        return _print_json(record)
    when = f" for {record['at_iso']}" if record.get("at_iso") else ""
    print(f"switchover {record['id']} of {args.service} accepted{when} "
          f"({record['phase']}; to {record.get('to') or 'the best healthy member'})")
    if not args.wait:
        return 0
    return _follow(args, record)


def _follow(args: argparse.Namespace, record: dict[str, Any]) -> int:
    """Print each step as the leader persists it (long polls on any replica)."""
    path = f"/v1/services/{args.service}/switchovers/{record['id']}"
    version, printed, misses = -1, 0, 0
    while True:
        try:
            record = _call(args, "GET", f"{path}?after={version}&wait=10",
                           timeout=args.timeout + 10)
            misses = 0
        except SystemExit as exc:
            misses += 1
            if misses > 20 or "cannot reach" not in str(exc):
                raise SystemExit(f"{exc} (the request goes on in the cluster: see "
                                 f"failoverctl history {args.service})") from None
            time.sleep(0.5)
            continue
        version = record["version"]
        steps, finished = record["steps"], Phase(record["phase"]).terminal
        ready = len(steps)
        if not finished and steps and steps[-1].get("ms") is None:
            # The commit's step is saved untimed in its transaction and timed by the next
            # save: hold it back until then rather than print no duration.
            ready -= 1
        for entry in steps[printed:ready]:
            ok = "ok" if entry.get("ok") else "FAILED"
            ms = entry.get("ms")
            took = f"{ms:>8.1f} ms" if isinstance(ms, int | float) else f"{'-':>8}   "
            print(f"  {entry.get('step'):<20} {entry.get('member') or '-':<12} {ok:<6} "
                  f"{took}  {entry.get('detail') or ''}"[:200])
        printed = max(printed, ready)
        if finished:
            break
    if args.json:
        _print_json(record)
    if record["phase"] == "done":
        print(f"switchover {record['id']} done: {record['source']} -> {record['target']}")
        return 0
    rolled = " (rolled back)" if record.get("rolled_back") else ""
    print(f"switchover {record['id']} {record['phase']}: {record.get('reason')}{rolled}: "
          f"{record.get('detail') or ''}".rstrip(": "), file=sys.stderr)
    return 1


def cmd_cancel(args: argparse.Namespace) -> int:
    record = _call(args, "DELETE", f"/v1/services/{args.service}/switchovers/{args.id}")
    if args.json:
        return _print_json(record)
    print(f"switchover {record['id']} cancelled")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    body = {"for": args.duration} if args.duration else {}
    answer = _call(args, "POST", f"/v1/services/{args.service}/pause", body)
    if args.json:
        return _print_json(answer)
    until = f" until {answer['until_iso']}" if answer.get("until_iso") else " until resumed"
    if answer.get("already_paused"):
        print(f"{args.service}: already paused; the pause now lasts{until}")
    else:
        print(f"{args.service}: automatic failover paused{until}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    answer = _call(args, "POST", f"/v1/services/{args.service}/resume", {})
    if args.json:
        return _print_json(answer)
    if not answer["was_paused"]:  # nothing done: say so, and let scripts see it
        print(f"{args.service}: was not paused; nothing to resume", file=sys.stderr)
        return 1
    print(f"{args.service}: automatic failover resumed")
    return 0


def _table(rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip())


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
                           log=structlog.get_logger("routeclient"))
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
