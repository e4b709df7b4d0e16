"""Every log line is named by a member of controller.events.Event, and every member names a
line some code writes: one list that the code, the tests, the demo, the soak and an
operator's grep share."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from controller.events import Event

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def log_calls() -> list[tuple[str, ast.expr]]:
    """(where, first argument) of every logger call in the shipped packages."""
    calls = []
    for package in ("controller", "probes", "config"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                if (isinstance(func, ast.Attribute) and func.attr in LEVELS) or (
                        isinstance(func, ast.Name) and func.id == "level"):
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.args[0]))
    return calls


def test_no_log_line_is_named_by_a_literal() -> None:
    literal = [where for where, name in log_calls()
               if isinstance(name, ast.Constant | ast.JoinedStr)]
    assert literal == [], f"name these with controller.events.Event: {literal}"


def test_every_event_is_written_somewhere() -> None:
    code = "\n".join(p.read_text() for package in ("controller", "probes")
                     for p in (ROOT / package).rglob("*.py") if p.name != "events.py")
    used = set(re.findall(r"Event\.([A-Z_]+)", code))
    # switchover_{done,failed,refused,cancelled}: from the request's outcome.
    outcomes = {"SWITCHOVER_DONE", "SWITCHOVER_FAILED", "SWITCHOVER_REFUSED",
                "SWITCHOVER_CANCELLED"}
    assert {e.name for e in Event} - used - outcomes == set()


def test_the_events_the_docs_name_exist() -> None:
    guide = (ROOT / "docs" / "guide" / "operating.md").read_text()
    start = guide.index("Logs are JSON")
    named = set(re.findall(r"`([a-z_]+)`", guide[start:guide.index("each with", start)]))
    assert named - {e.value for e in Event} == set()
