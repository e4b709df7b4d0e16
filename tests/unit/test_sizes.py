"""Small modules whose names say what they hold: no module over 400 lines, no class over
300. A file that grows past that is doing two things; split it by what each part holds."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("controller", "probes", "config")
MAX_MODULE, MAX_CLASS = 400, 300


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sources()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE}
    assert long == {}


def test_no_class_is_over_300_lines() -> None:
    long = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert long == {}
