"""The values table of the chart's README, generated from the comments in values.yaml.

A key's description is the ``# -- ...`` comment block right above it (helm-docs' convention,
so either tool reads the same file); its default is the value in values.yaml. The table goes
between two markers in the chart's README, and the prose around it stays as written.

    python -m controller.devtools.chart_readme [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "failover-controller"
START, END = "<!-- values:start -->", "<!-- values:end -->"
LONGEST = 120  # characters of a default shown in the table
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):")


@dataclass(frozen=True)
class Row:
    key: str  # dotted path
    type: str
    default: str
    description: str


def _type_of(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "string", list: "list",
             dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _lookup(values: dict[str, Any], path: list[str]) -> Any:
    node: Any = values
    for part in path:
        node = node[part]
    return node


def rows(values_yaml: str) -> list[Row]:
    """Every key that has a ``# --`` comment, in file order."""
    values = yaml.safe_load(values_yaml)
    out: list[Row] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    comment: list[str] | None = None
    for line in values_yaml.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and comment is not None:
            comment.append(stripped[1:].strip())
            continue
        match = _KEY.match(line)
        if not match:
            if not stripped:
                comment = None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [match["key"]]
        stack.append((indent, match["key"]))
        if comment is not None:
            value = _lookup(values, path)
            out.append(Row(".".join(path), _type_of(value),
                           json.dumps(value, separators=(", ", ": ")), " ".join(comment)))
            comment = None
    return out


def table(found: list[Row]) -> str:
    def cell(text: str, code: bool = False) -> str:
        text = text.replace("|", "\\|")
        return text if code else text.replace("<", "&lt;").replace(">", "&gt;")

    def default(text: str) -> str:  # a long one (the placeholder config) is better read there
        return f"`{cell(text, code=True)}`" if len(text) <= LONGEST else "see values.yaml"

    lines = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    lines += [f"| `{r.key}` | {r.type} | {default(r.default)} | {cell(r.description)} |"
              for r in found]
    return "\n".join(lines)


def render(readme: str, values_yaml: str) -> str:
    """``readme`` with the table between the markers replaced by a fresh one."""
    head, found, rest = readme.partition(START)
    if not found or END not in rest:
        raise ValueError(f"README: the markers {START} and {END} are missing")
    tail = rest.split(END, 1)[1]
    return f"{head}{START}\n{table(rows(values_yaml))}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the README is not up to date, write nothing")
    args = parser.parse_args(argv)
    path = CHART / "README.md"
    current = path.read_text()
    fresh = render(current, (CHART / "values.yaml").read_text())
    if args.check:
        if fresh != current:
            print(f"{path.name}: out of date; run python -m controller.devtools.chart_readme",
                  file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
