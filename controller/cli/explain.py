"""``failoverctl explain`` for people: every condition of the policy with all of its
evidence, nested data one item to a line, nothing cut. Pure: data in, lines out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.cli.answers import Explained


def render(explained: Explained) -> list[str]:
    verdict = (f"would fail over to {explained.target} now" if explained.would_fail_over
               else f"would not fail over: {explained.reason}")
    lines = [f"{explained.service}: {verdict}  (mode {explained.mode}; asked "
             f"{explained.node}, leader {explained.leader_node or '(none)'}, "
             f"epoch {explained.epoch})"]
    width = max((len(c.check) for c in explained.conditions), default=0)
    for condition in explained.conditions:
        ok = "yes" if condition.ok else "NO "
        reason = f"  {condition.reason}" if condition.reason else ""
        until = f" until {condition.until_iso}" if condition.until_iso else ""
        lines.append(f"  {ok}  {condition.check:<{width}}{reason}{until}")
        lines += [f"         {line}" for line in evidence_lines(condition.evidence)]
    lines.append(f"(all of it as JSON: failoverctl explain {explained.service} --json)")
    return lines


def evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in evidence.items():
        if key == "primary_probes" and isinstance(value, list):
            # which of the member's probes: "probe" (liveness) or "primary_probe"
            out += [f"{p.get('probe', 'probe')}: {_probe(p)}" for p in value
                    if isinstance(p, Mapping)]
        elif isinstance(value, Mapping) and value and all(
                isinstance(v, Mapping) for v in value.values()):
            out += [f"{key} {name}: {_flat(item)}" for name, item in value.items()]
        elif isinstance(value, Mapping):
            out.append(f"{key}: {_flat(value)}")
        else:
            out.append(f"{key}: {_scalar(value)}")
    return out


def _probe(probe: Mapping[str, Any]) -> str:
    latency = probe.get("latency_ms")
    took = f" {latency} ms" if latency is not None else ""
    return f"{probe.get('verdict')}{took}  {probe.get('detail', '')}".rstrip()


def _flat(mapping: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_scalar(v)}" for k, v in mapping.items())


def _scalar(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)
