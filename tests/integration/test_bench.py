"""The switchover bench runs (one switchover, one replica) and reports every path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_the_switchover_bench_reports_the_cost_on_every_path() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "switchover.py"), "--runs", "1", "--warm-up",
         "0", "--rollbacks", "0", "--replicas", "1", "--verify-window", "0.2"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0] == ("$ python bench/switchover.py --runs 1 --warm-up 0 --rollbacks 0 "
                        "--replicas 1 --verify-window 0.2")
    for path in ("haproxy+agent", "haproxy+retry", "traefik", "app"):
        row = next(line for line in lines if line.startswith(path + " ")).split()
        # failed writes, failed reads (min / median / max each), then the gap: a figure
        assert [row[i] for i in (2, 4, 7, 9)] == ["/"] * 4 and float(row[11]) >= 0
    assert "switchover sw-" in out.stdout and "done:" in out.stdout
