"""The commands that only read: ``status``, ``history``, ``explain``."""

from __future__ import annotations

import argparse

from controller.cli.answers import Explained, History, Status, parse
from controller.cli.client import Api, call, service_path
from controller.cli.explain import render
from controller.cli.history import history_rows
from controller.cli.output import print_json, table
from controller.cli.status import headline, status_rows


def cmd_status(args: argparse.Namespace) -> int:
    answer = call(Api.of(args), "GET", "/v1/status")
    if args.json:
        return print_json(answer)
    status = parse(Status, answer, "GET /v1/status")
    print("\n".join(headline(status)))
    rows, notes = status_rows(status)
    table(rows)
    for note in notes:
        print(note)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    path = service_path(args.service, "history")
    answer = call(Api.of(args), "GET", path, query={"count": args.count})
    if args.json:
        return print_json(answer)
    table(history_rows(parse(History, answer, f"GET {path}").entries))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    path = service_path(args.service, "explain")
    answer = call(Api.of(args), "GET", path)
    if args.json:
        return print_json(answer)
    print("\n".join(render(parse(Explained, answer, f"GET {path}"))))
    return 0
