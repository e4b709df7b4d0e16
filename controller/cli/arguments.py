"""failoverctl's command line: every command, its arguments and what each accepts. A bad
argument (or environment variable standing in for one) ends in one line naming it."""

from __future__ import annotations

import argparse
import functools
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, NoReturn

from config.shapes import FOLLOWER_PATTERN
from controller import __version__
from controller.cli import actions, processes, reads
from controller.core.timespec import iso, parse_duration, parse_time

DEFAULT_API = "http://127.0.0.1:8080"
Command = Callable[[argparse.Namespace], int]
MAX_TIMEOUT = 3600.0  # seconds; sockets refuse absurd timeouts, and no answer takes an hour


# Options whose value may look like a negative number ("--at -5m"): argparse would take the
# value for an option and answer only "expected one argument".
SIGNED_VALUES = frozenset({"--at", "--for", "--timeout", "--count"})
_SIGNED = re.compile(r"-[0-9.]")


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (usage stays behind ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        return super().parse_known_args(None if args is None else joined(list(args)),
                                        namespace)


def joined(argv: list[str]) -> list[str]:
    """``--at -5m`` as ``--at=-5m``, so the value reaches its check and its message."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in SIGNED_VALUES and _SIGNED.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def build() -> Parser:
    parser = Parser(prog="failoverctl", description="The failover controller: the daemon, "
                    "its config check, operator commands, proxy agents and a local demo.")
    parser.add_argument("--version", action="version", version=f"failoverctl {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="run the controller daemon")
    run.add_argument("-c", "--config", required=True, metavar="FILE")
    run.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    run.set_defaults(func=processes.cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=processes.cmd_check_config)

    command = functools.partial(_operator_command, sub)
    command("status", "services, primaries and member health", reads.cmd_status,
            service=False)
    command("history", "a service's recent changes and attempts", reads.cmd_history
            ).add_argument("--count", type=_count, default=50,
                           help="how many entries, newest first (1 to 1000; default 50)")
    command("explain", "would the leader fail over now, and why not", reads.cmd_explain)

    switchover = command("switchover", "move the primary on purpose, safely",
                         actions.cmd_switchover)
    switchover.add_argument("--to", metavar="MEMBER", type=_name,
                            help="default: the best healthy member")
    switchover.add_argument("--at", metavar="TIME", type=_time,
                            help="schedule it: ISO 8601 with a zone, or +15m")
    switchover.add_argument("--wait", action="store_true",
                            help="follow the steps; exit non-zero unless it is done")
    switchover.add_argument("--force", action="store_true",
                            help="go on even if fencing the old primary fails")
    command("cancel", "cancel a switchover that has not started", actions.cmd_cancel
            ).add_argument("id", metavar="ID", type=_name,
                           help="the request id (sw-...), as switchover or status show")
    command("pause", "stop automatic failover (maintenance)", actions.cmd_pause
            ).add_argument("--for", dest="duration", metavar="DURATION", type=_duration,
                           help="resume by itself after this long (90s, 15m, 2h, 1h30m); "
                                "default: until resumed")
    command("resume", "automatic failover again", actions.cmd_resume)

    agent = sub.add_parser("agent", help="make a proxy follow the routes in Redis")
    agent.set_defaults(help_parser=agent)  # `failoverctl agent` alone: the proxies it knows
    kinds = agent.add_subparsers(metavar="PROXY")
    haproxy = kinds.add_parser("haproxy", help="apply routes to HAProxy's Runtime API")
    haproxy.add_argument("--redis", required=True, metavar="URL")
    haproxy.add_argument("--haproxy", required=True, metavar="ADDR",
                         help="Runtime API: a unix socket path or host:port (level admin)")
    haproxy.add_argument("--backend", required=True, action="append", metavar="SERVICE=BACKEND")
    haproxy.add_argument("--key-prefix", default="failover")
    haproxy.add_argument("--listen", default="127.0.0.1:9101",
                         help="its /healthz and /metrics (default 127.0.0.1:9101)")
    haproxy.add_argument("--shutdown-sessions", action="store_true",
                         help="also cut the sessions of servers put in maintenance")
    haproxy.add_argument("--resync-interval", type=_seconds, default=2.0, metavar="SECONDS",
                         help="seconds between full checks of HAProxy's state (default 2)")
    haproxy.add_argument("--staleness-budget", type=_seconds, default=30.0, metavar="SECONDS",
                         help="seconds without Redis before /healthz fails (traffic stays; "
                              "default 30)")
    haproxy.add_argument("--name", type=_follower, default=None,
                         help="the name it acknowledges routes under, in "
                              "{prefix}:applied:{service} (default host:pid)")
    haproxy.add_argument("--heartbeat", type=_seconds, default=2.0, metavar="SECONDS",
                         help="seconds between its acknowledgements when nothing changes "
                              "(default 2; the controller calls it stale after 10)")
    haproxy.set_defaults(func=processes.cmd_agent_haproxy)

    demo = sub.add_parser("demo", help="local quick start: watch a primary die and traffic move")
    demo.set_defaults(func=processes.cmd_demo)
    return parser


def _operator_command(sub: Any, name: str, summary: str, func: Command, *,
                      service: bool = True) -> argparse.ArgumentParser:
    """A command that talks to the API: its SERVICE, then the API options as their own
    group in --help, whatever the command adds."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary)
    if service:
        parser.add_argument("service", metavar="SERVICE", type=_name,
                            help="the service's name, as in the config")
    env = os.environ
    api = parser.add_argument_group("the API (any replica's)")
    api.add_argument("--api", type=_api_url, metavar="URL",
                     default=env.get("FAILOVER_API_URL") or DEFAULT_API,
                     help="http:// or https:// (default: $FAILOVER_API_URL, else "
                          f"{DEFAULT_API})")
    api.add_argument("--token", type=_token, metavar="TOKEN",
                     default=env.get("FAILOVER_API_TOKEN"),
                     help="bearer token: needed to change anything, and to read where the "
                          "API asks for it (default: $FAILOVER_API_TOKEN)")
    api.add_argument("--cacert", metavar="FILE", default=env.get("FAILOVER_API_CACERT"),
                     help="CA bundle to verify an https:// API with (default: "
                          "$FAILOVER_API_CACERT, else the system's)")
    api.add_argument("--timeout", type=_seconds, default=5.0, metavar="SECONDS",
                     help="how long to wait for each answer, above 0 (default 5)")
    api.add_argument("--json", action="store_true",
                     help="print the API's JSON answer (progress, if any, on stderr)")
    parser.set_defaults(func=func)
    return parser


# --- what each argument accepts (argparse prefixes the message with the argument) ---------


def _api_url(text: str) -> str:
    try:
        url = urllib.parse.urlsplit(text.strip())
        url.port  # noqa: B018 -- raises ValueError on a port that is not one
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc} (--api or FAILOVER_API_URL)"
                                         ) from None
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http:// or https:// URL such as {DEFAULT_API} "
            f"(--api or FAILOVER_API_URL)")
    return url.geturl()


def _token(text: str) -> str | None:
    if not text:
        return None  # FAILOVER_API_TOKEN="" is no token
    if not text.isprintable() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError("the token holds spaces, line breaks or control "
                                         "characters (--token or FAILOVER_API_TOKEN)")
    return text


def _follower(text: str) -> str:
    if not re.fullmatch(FOLLOWER_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a follower name (up to 100 "
                                         "letters, digits and '_.:@/-', first a letter or "
                                         "digit)")
    return text


def _seconds(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 and "
                                         f"at most {MAX_TIMEOUT:g} (e.g. 5, 0.5 or 2m)")
    return seconds


def _duration(text: str) -> float:
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"{text!r}: a duration is above 0 (e.g. 15m)")
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _time(text: str) -> str:
    """ISO 8601 UTC, as the API takes it; a relative time is from now."""
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is in the past: a switchover runs now (leave --at out) or later "
            f"(+15m, or ISO 8601 with a zone)")
    try:
        return str(iso(parse_time(text, time.time())))
    except (ValueError, OverflowError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not text.strip().isascii() or not text.strip().isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 1000")
    return int(text)


def _name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name")
    if not text.isprintable():
        raise argparse.ArgumentTypeError(f"{text!r} holds control characters")
    return text
