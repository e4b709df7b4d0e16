"""``failoverctl``: the one entry point (daemon, config check, operator reads and actions,
agents, demo). The commands live beside it: ``arguments`` (the command line), ``client`` and
``answers`` (the API and its answers), ``reads``, ``actions``, ``processes``."""

from __future__ import annotations

import sys

from controller.cli.arguments import build
from controller.cli.client import ApiAnswered, CliError
from controller.cli.output import print_json


def main(argv: list[str] | None = None) -> int:
    parser = build()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except CliError as exc:
        if isinstance(exc, ApiAnswered) and getattr(args, "json", False) and exc.answer is not None:
            print_json(exc.answer)  # a script reads the refusal's whole answer on stdout
        print(f"failoverctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
