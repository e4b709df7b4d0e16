"""The functional core must stay pure: no I/O library, no asyncio, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = ["controller/decide.py", "probes/health.py", "controller/records.py",
                "controller/switchover.py", "controller/timespec.py", "controller/evacuate.py",
                "controller/follower.py", "config/windows.py"]
FORBIDDEN_IMPORTS = {"asyncio", "aiohttp", "kazoo", "redis", "subprocess", "socket", "time",
                     "os", "threading", "structlog"}
FORBIDDEN_CALLS = {"time", "monotonic", "perf_counter", "now", "sleep", "open"}


def test_pure_modules_import_no_io_and_read_no_clock() -> None:
    for relative in PURE_MODULES:
        tree = ast.parse((ROOT / relative).read_text(), relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & FORBIDDEN_IMPORTS, f"{relative} imports {names}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                assert name not in FORBIDDEN_CALLS, f"{relative}:{node.lineno} calls {name}()"
