"""History's human line, as pure functions of the entries the API returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


def probe_summary(probes: Sequence[Mapping[str, Any]]) -> str:
    """What the deciding probes saw: each verdict counted, slow probes' latencies, and the
    last failure's own words ("2 x slow, 1 x no_answer; slow 280/291 ms; last: no answer
    within 0.3s")."""
    counts = Counter(str(p.get("verdict", "?")) for p in probes)
    parts = [", ".join(f"{n} x {verdict}" for verdict, n in counts.items())]
    slow = [p.get("latency_ms") for p in probes if p.get("verdict") == "slow"]
    if slow:
        parts.append("slow " + "/".join(f"{ms:.0f}" for ms in slow if ms is not None) + " ms")
    failed = [p for p in probes if p.get("verdict") in ("bad_answer", "no_answer")]
    if failed:
        parts.append(f"last: {failed[-1].get('detail', '')}")
    return "; ".join(p for p in parts if p)
