"""History's human lines, as pure functions of the entries the API returns. An entry's
fields differ by event, and a field may hold a string (JSON inside for ``detail`` and
``decision``) or the JSON value itself: every field is read as whatever it holds."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from controller.cli.status import Row, when

HEADER: Row = ("AT (UTC)", "EVENT", "PRIMARY", "EPOCH", "VERSION", "BY", "WHY")


def history_rows(entries: Sequence[Mapping[str, Any]]) -> list[Row]:
    return [HEADER, *(
        (when(e.get("at")), _text(e.get("event")), _primary_column(e), _text(e.get("epoch")),
         _text(e.get("version")), _by(e), _why(e)) for e in entries)]


def probe_summary(probes: Sequence[Any]) -> str:
    """What the deciding probes saw: each verdict counted, slow probes' latencies, and the
    last failure's own words ("2 x slow, 1 x no_answer; slow 280/291 ms; last: no answer
    within 0.3s")."""
    probes = [p for p in probes if isinstance(p, Mapping)]
    counts = Counter(str(p.get("verdict", "?")) for p in probes)
    parts = [", ".join(f"{n} x {verdict}" for verdict, n in counts.items())]
    slow = [p.get("latency_ms") for p in probes if p.get("verdict") == "slow"]
    shown = [f"{ms:.0f}" for ms in slow if isinstance(ms, int | float)]
    if shown:
        parts.append("slow " + "/".join(shown) + " ms")
    failed = [p for p in probes if p.get("verdict") in ("bad_answer", "no_answer")]
    if failed:  # a write canary's failure is named as such: the member still answers reads
        source = "primary_probe " if failed[-1].get("probe") == "primary_probe" else ""
        parts.append(f"last: {source}{failed[-1].get('detail', '')}")
    return "; ".join(p for p in parts if p)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _object(value: Any) -> dict[str, Any]:
    """A field holding a JSON object, or that object as text; {} for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _primary_column(entry: Mapping[str, Any]) -> str:
    if entry.get("event") == "route_changed":
        return f"{_text(entry.get('previous')) or '-'} -> {_text(entry.get('primary'))}"
    if entry.get("source") or entry.get("target"):
        return f"{_text(entry.get('source')) or '-'} -> {_text(entry.get('target')) or '-'}"
    return _text(entry.get("to")) or "-"


def _by(entry: Mapping[str, Any]) -> str:
    return (_text(entry.get("by")) or _text(_object(entry.get("detail")).get("trigger"))
            or "-")


def _why(entry: Mapping[str, Any]) -> str:
    """One line a person can read at 03:12: the reason, and the evidence behind it."""
    event, detail, reason = entry.get("event"), _object(entry.get("detail")), _text(
        entry.get("reason"))
    if event == "route_changed":
        evidence = _object(_object(detail.get("decision")).get("evidence"))
        probes = evidence.get("primary_probes")
        if probes and isinstance(probes, list):
            why = (f"{reason}: {_text(evidence.get('primary'))} "
                   f"{_text(evidence.get('primary_health'))} ({probe_summary(probes)})")
            not_ready = evidence.get("not_ready")
            if not_ready and isinstance(not_ready, list):  # the readiness gate's last resort
                why += (f"; promoted {_text(entry.get('primary'))} although not ready: "
                        + "; ".join(_text(n) for n in not_ready))
            return why
        if detail.get("request"):
            return f"{reason} (request {_text(detail['request'])})"
        return f"{reason} ({_text(detail.get('origin'))})"
    if event == "dry_run":
        decision = _object(entry.get("decision"))
        return (f"would fail over to {_text(decision.get('target'))}: "
                f"{_text(decision.get('reason'))}")
    parts = [reason or _text(entry.get("why"))]
    if entry.get("rolled_back") in ("true", True):
        parts.append("rolled back")
    for field, label in (("request", "request "), ("scheduled_for", "for "),
                         ("until", "until ")):
        if entry.get(field):
            parts.append(label + _text(entry[field]))
    if entry.get("detail"):
        parts.append(_text(entry["detail"])[:160])
    return "; ".join(p for p in parts if p)
