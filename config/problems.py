"""Problems as operators read them: one line each, the key path first, in user words.

Pydantic's own messages name types and union branches (``literal['majority']``,
``instance of ServiceConfig``); here every error type becomes a sentence about what was
expected, and a problem at a key set by an environment override is prefixed by the
variable's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from config.relations import RELATION, Loc, format_path

# Names Kubernetes gives a Service's docker-link variables end like this; only used to hint
# at the cause when one happens to have the override shape (a Service named failover-api--x).
_SERVICE_LINK = re.compile(r"_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)"
                           r"(_(ADDR|PORT|PROTO))?)?)$")
# Which override set a key path: its problems are reported under the variable's name.
Origins = dict[Loc, str]


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one located message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Report:
    """Problems in the order found; a key path reported before validation is "claimed", so
    validation's own complaint about the same value is not added to it."""

    origins: Origins = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    claimed: list[Loc] = field(default_factory=list)

    def at(self, loc: Loc, message: str, claim: bool = True) -> None:
        self.lines.append(f"{located(loc, origin(loc, self.origins))}: {message}")
        if claim:
            self.claimed.append(loc)

    def line(self, text: str) -> None:
        self.lines.append(text)

    def is_claimed(self, loc: Loc) -> bool:
        return any(loc[: len(c)] == c for c in self.claimed)

    def error(self) -> ConfigError:
        """One line per problem, by key path (list indexes in numeric order)."""
        lines = dict.fromkeys(" ".join(p.split()) for p in self.lines)
        return ConfigError(sorted(lines, key=lambda line: [
            (int(part), "") if re.fullmatch("[0-9]+", part) else (-1, part)
            for part in re.split("([0-9]+)", line.partition(": ")[0])]))


def origin(loc: Loc, origins: Origins, below: bool = False) -> str | None:
    """The override that set ``loc`` or a block above it; with ``below``, also one that set a
    key under it (an unknown section such as ``FAILOVER_APII__LISTEN`` is reported at
    ``apii``)."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    if below:
        return next((name for path, name in sorted(origins.items(), key=lambda o: o[1])
                     if path[: len(loc)] == loc), None)
    return None


def located(loc: Loc, origin: str | None) -> str:
    """The key path, after the name of the override it came from, if it did."""
    return f"{origin}: {format_path(loc)}" if origin else format_path(loc)


def describe(exc: ValidationError, data: Any, report: Report) -> set[Loc]:
    """Report each of pydantic's errors; return the key paths of the values refused."""
    refused: set[Loc] = set()
    for error in exc.errors(include_url=False, include_input=False):
        if error["type"] == RELATION:
            continue  # the loader runs the same rules on the raw input, with full paths
        loc = _strip_union_tags(tuple(error["loc"]), data)
        refused.add(loc)
        if report.is_claimed(loc) or (error["type"].startswith("union_tag")
                                      and report.is_claimed((*loc, "kind"))):
            continue
        unknown = error["type"] == "extra_forbidden"
        where = located(loc, origin(loc, report.origins, below=unknown))
        message = _said(error["type"], error["msg"], error.get("ctx") or {})
        if unknown and (name := origin(loc, report.origins, below=True)) \
                and _SERVICE_LINK.search(name):
            message += (" (a Kubernetes service link? Services named failover-<section>--*"
                        " need enableServiceLinks: false)")
        report.line(f"{where}: {message}")
    return refused


def _said(kind: str, msg: str, ctx: dict[str, Any]) -> str:
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"kind is missing; expected one of {ctx.get('expected_tags')}"
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    fixed = {
        "missing": "required key is missing",
        "extra_forbidden": "unknown key",
        "model_type": "expected a block of keys (key: value)",
        "model_attributes_type": "expected a block of keys (key: value)",
        "dict_type": "expected a mapping (key: value)",
        "list_type": "expected a list",
        "string_type": "expected text (quote it if it looks like a number or true/false)",
        "string_too_short": f"must be at least {ctx.get('min_length')} characters",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "too_short": f"expected at least {ctx.get('min_length')} items",
        "too_long": f"expected at most {ctx.get('max_length')} items",
        "literal_error": f"expected {ctx.get('expected')}",
        "int_type": "expected a whole number",
        "float_type": "expected a number",
        "bool_type": "expected true or false",
    }
    return fixed.get(kind, msg.removeprefix("Value error, "))


def _strip_union_tags(loc: Loc, data: Any) -> Loc:
    """Pydantic puts a union's branch (a discriminator such as 'http', or a type name) into
    the path; users never wrote it."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(part, str) and (
                not isinstance(node, dict | list)
                or (isinstance(node, dict) and part not in node and node.get("kind") == part)):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)
