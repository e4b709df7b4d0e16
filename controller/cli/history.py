"""History's human lines, as pure functions of the entries the API returns. An entry's
fields differ by event, and a field may hold a string (JSON inside for ``detail`` and
``decision``) or the JSON value itself: every field is read as whatever it holds."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

from controller.cli.status import Row, when

HEADER: Row = ("AT (UTC)", "EVENT", "PRIMARY", "EPOCH", "VERSION", "BY", "WHY")


def history_rows(entries: Sequence[Mapping[str, Any]]) -> list[Row]:
    return [HEADER, *(
        (when(e.get("at")), _text(e.get("event")), _primary_column(e), _text(e.get("epoch")),
         _text(e.get("version")), _by(e), _why(e)) for e in entries)]


def probe_summary(probes: Sequence[Any]) -> str:
    """What the deciding probes saw, newest first: each run of one verdict counted, slow
    probes' latencies, and the last failure's own words ("2 x no_answer after 3 x pass;
    last: no answer within 0.3s"). In order, so that the passes before a failure do not
    read as part of it ("down (3 x pass, 3 x no_answer)")."""
    probes = [p for p in probes if isinstance(p, Mapping)]
    runs = [(verdict, len(list(group))) for verdict, group in
            groupby(str(p.get("verdict", "?")) for p in probes)]
    parts = [" after ".join(f"{n} x {verdict}" for verdict, n in reversed(runs))]
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


# Entries about moving the primary even when they name no target ("the best member").
MOVES = frozenset({"switchover_requested", "switchover_refused", "switchover_cancelled",
                   "evacuation_requested", "dry_run", "failover_failed"})


def _primary_column(entry: Mapping[str, Any]) -> str:
    """The route's primary on every line: "a -> b" for a move made, asked for, refused,
    failed or only considered (dry run), else the primary the entry left in place."""
    if entry.get("event") == "route_changed":
        return f"{_text(entry.get('previous')) or '-'} -> {_text(entry.get('primary'))}"
    target = (_text(entry.get("target")) or _text(entry.get("to"))  # "to": older entries
              or _text(_object(entry.get("decision")).get("target")))
    if target or entry.get("source") or _text(entry.get("event")) in MOVES:
        source = _text(entry.get("source")) or _text(entry.get("primary")) or "-"
        return f"{source} -> {target or '(best)'}"
    return _text(entry.get("primary")) or "-"


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
    if event == "leadership_changed":
        return _leadership(entry)
    parts = [reason or _text(entry.get("why"))]  # "why": older failover_failed entries
    member = _text(entry.get("member"))
    if event == "fenced_late":
        failed = entry.get("failed_attempts")
        parts.append(f"fenced {member} late" + (f" after {_text(failed)} failed attempts"
                                                if failed else ""))
    elif event == "fence_late_failed":
        parts.append(f"could not fence {member} late (attempt "
                     f"{_text(entry.get('attempts'))}; retried)")
    if entry.get("rolled_back") in ("true", True):
        parts.append("rolled back")
    for field, label in (("request", "request "), ("scheduled_for", "for "),
                         ("until", "until ")):
        if entry.get(field):
            parts.append(label + _text(entry[field]))
    # "message" since history has typed fields; older entries kept the text in "detail".
    message = _text(entry.get("message") or entry.get("detail"))
    if message:
        parts.append(message if len(message) <= 160 else message[:159] + "…")
    return "; ".join(p for p in parts if p)


def _leadership(entry: Mapping[str, Any]) -> str:
    node, before = _text(entry.get("node")) or "?", _text(entry.get("previous_leader"))
    epoch = _text(entry.get("epoch"))
    if not before:
        return f"{node} took office in epoch {epoch} (no earlier leader seen)"
    return (f"{node} took office in epoch {epoch} after {before} "
            f"(epoch {_text(entry.get('previous_epoch'))})")
