"""``failoverctl``: the one entry point (daemon, config check, operator reads and actions,
agents, demo). The commands live beside it: ``arguments`` (the command line), ``client`` and
``answers`` (the API and its answers), ``reads``, ``actions``, ``processes``."""

from __future__ import annotations

import os
import sys

from controller.cli.arguments import build
from controller.cli.client import ApiAnswered, CliError
from controller.cli.output import print_json


def main(argv: list[str] | None = None) -> int:
    parser = build()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        getattr(args, "help_parser", parser).print_help()
        return 2
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at exit
    except BrokenPipeError:  # `failoverctl history web | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except CliError as exc:
        if isinstance(exc, ApiAnswered) and getattr(args, "json", False) and exc.answer is not None:
            print_json(exc.answer)  # a script reads the refusal's whole answer on stdout
        print(f"failoverctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
