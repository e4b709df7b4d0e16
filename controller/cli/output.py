"""What the operator commands print: JSON for scripts, aligned tables for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def print_json(value: Any) -> int:
    print(json.dumps(value, indent=2))
    return 0


def table(rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip())
