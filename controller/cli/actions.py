"""The commands that change something: ``switchover`` (and following it), ``cancel``,
``pause``, ``resume``. With ``--json`` stdout holds only JSON; progress goes to stderr."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from controller.cli.answers import (
    PauseAnswer,
    Refused,
    ResumeAnswer,
    Switchover,
    parse,
)
from controller.cli.client import (
    Api,
    ApiAnswered,
    CliError,
    Unreachable,
    call,
    one_line,
    service_path,
)
from controller.cli.output import print_json
from controller.cli.refusals import sentence

LONG_POLL = 10  # seconds a replica holds a follow request (the API allows up to 30)
UNREACHABLE_TRIES = 20  # a replica restarting mid-switchover is ridden out, briefly


def cmd_switchover(args: argparse.Namespace) -> int:
    api, path = Api.of(args), service_path(args.service, "switchover")
    body: dict[str, Any] = {"force": args.force}
    if args.to is not None:
        body["to"] = args.to
    if args.at is not None:
        body["at"] = args.at  # already ISO 8601 UTC: the argument parser read it
    try:
        answer = call(api, "POST", path, body)
    except ApiAnswered as refused:
        detail = refused.conflict("reason")
        if detail is None:
            raise
        why = parse(Refused, detail, f"POST {path}")
        # The same answer (whole on stdout with --json), said as one sentence.
        raise refused.said(f"switchover of {args.service} refused ({why.reason}): "
                           f"{sentence(args.service, args.to, why.reason, why.evidence)}"
                           ) from None
    if args.json and not args.wait:
        return print_json(answer)
    record = parse(Switchover, answer, f"POST {path}")
    progress = sys.stderr if args.json else sys.stdout
    when = f" for {record.at_iso}" if record.at_iso else ""
    print(f"switchover {record.id} of {args.service} accepted{when} "
          f"({record.phase}; to {record.to or 'the best healthy member'})", file=progress)
    if not args.wait:
        return 0
    return _follow(api, args, record, progress)


def _follow(api: Api, args: argparse.Namespace, record: Switchover, progress: TextIO) -> int:
    """Print each step as the leader persists it (long polls on any replica)."""
    path = service_path(args.service, "switchovers", record.id)
    answer: Any = None
    printed, misses = 0, 0
    while True:
        try:
            answer = call(api, "GET", path, query={"after": record.version, "wait": LONG_POLL},
                          timeout=api.timeout + LONG_POLL)
            misses = 0
        except CliError as exc:
            misses += 1
            if misses > UNREACHABLE_TRIES or not isinstance(exc, Unreachable):
                raise CliError(f"{exc} (the request goes on in the cluster: see "
                               f"failoverctl history {args.service})") from None
            time.sleep(0.5)
            continue
        record = parse(Switchover, answer, f"GET {path}")
        finished, steps = record.phase.terminal, record.steps
        ready = len(steps)
        if not finished and steps and steps[-1].ms is None:
            # The commit's step is saved untimed in its transaction and timed by the next
            # save: hold it back until then rather than print no duration.
            ready -= 1
        for step in steps[printed:ready]:
            took = f"{step.ms:>8.1f} ms" if step.ms is not None else f"{'-':>8}   "
            print(f"  {step.step:<20} {step.member or '-':<12} "
                  f"{'ok' if step.ok else 'FAILED':<6} {took}  {step.detail or ''}"[:200],
                  file=progress)
        printed = max(printed, ready)
        if finished:
            break
    if args.json:
        print_json(answer)
    if record.phase == "done":
        print(f"switchover {record.id} done: {record.source} -> {record.target}",
              file=progress)
        return 0
    rolled = " (rolled back)" if record.rolled_back else ""
    print(f"switchover {record.id} {record.phase}: {record.reason}{rolled}: "
          f"{record.detail or ''}".rstrip(": "), file=sys.stderr)
    return 1


def cmd_cancel(args: argparse.Namespace) -> int:
    path = service_path(args.service, "switchovers", args.id)
    try:
        answer = call(Api.of(args), "DELETE", path)
    except ApiAnswered as refused:
        detail = refused.conflict("why")
        if detail is None:
            raise
        raise refused.said(f"switchover {args.id} of {args.service} not cancelled: "
                           f"{one_line(detail['why'])}") from None
    if args.json:
        return print_json(answer)
    print(f"switchover {parse(Switchover, answer, f'DELETE {path}').id} cancelled")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    path = service_path(args.service, "pause")
    # --for is seconds here (the argument parser read it); no --for: until resumed.
    body = {} if args.duration is None else {"for": args.duration}
    answer = call(Api.of(args), "POST", path, body)
    if args.json:
        return print_json(answer)
    paused = parse(PauseAnswer, answer, f"POST {path}")
    until = f" until {paused.until_iso}" if paused.until_iso else " until resumed"
    if paused.already_paused:
        print(f"{args.service}: already paused; the pause now lasts{until}")
    else:
        print(f"{args.service}: automatic failover paused{until}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    path = service_path(args.service, "resume")
    answer = call(Api.of(args), "POST", path, {})
    if args.json:
        return print_json(answer)
    if not parse(ResumeAnswer, answer, f"POST {path}").was_paused:
        # nothing done: say so, and let scripts see it
        print(f"{args.service}: was not paused; nothing to resume", file=sys.stderr)
        return 1
    print(f"{args.service}: automatic failover resumed")
    return 0
