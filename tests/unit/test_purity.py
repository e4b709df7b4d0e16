"""The functional core must stay pure: no I/O library, no asyncio, no clock.

Pure modules are found by where they live (everything under ``controller/core/``), plus the
few pure modules that serve one other package; each may import only what ALLOWED lists.
import-linter (``make test``) holds the same line between packages; this test also catches
calls that read the clock or open files.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ELSEWHERE = ["probes/health.py", "probes/roles.py", "config/windows.py", "config/shapes.py",
             "controller/followers/route.py", "controller/followers/acks.py"]
ALLOWED = {"__future__", "collections", "dataclasses", "datetime", "enum", "ipaddress",
           "itertools", "json", "math", "re", "typing", "controller.core", "probes.health",
           "config.windows", "config.shapes"}
FORBIDDEN_CALLS = {"time", "monotonic", "perf_counter", "now", "utcnow", "today", "sleep",
                   "open"}


def pure_modules() -> list[Path]:
    return sorted((ROOT / "controller/core").glob("*.py")) + [ROOT / p for p in ELSEWHERE]


def allowed(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in ALLOWED)


def test_the_core_is_found_by_path() -> None:
    names = {p.name for p in pure_modules()}
    assert {"decide.py", "switchover.py", "evacuate.py", "records.py", "timespec.py"} <= names


def test_pure_modules_import_only_pure_things_and_read_no_clock() -> None:
    for path in pure_modules():
        relative = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(), relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                modules = []
            for module in modules:
                assert allowed(module), f"{relative}:{node.lineno} imports {module}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                assert name not in FORBIDDEN_CALLS, f"{relative}:{node.lineno} calls {name}()"
