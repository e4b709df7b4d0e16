"""``failoverctl explain`` for people: every condition of the policy with all of its
evidence, nested data one item to a line, nothing cut. Pure: data in, lines out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.cli.answers import Condition, Explained
from controller.cli.status import follower_lines


def verdict(explained: Explained) -> str:
    """The headline's verdict. A dry run's reason is the failure it would act on, so it
    is said as such, not as a reason for doing nothing; a store outage comes first."""
    target, reason = explained.target, explained.reason
    stores = next((c for c in explained.conditions if c.check == "stores_reachable"), None)
    out = "" if stores is None or stores.ok else _outage(stores)
    if explained.would_fail_over:
        said = f"would fail over to {target} now"
        if out:  # Redis only: the decision commits, the route waits
            said += f", but {out}: the route reaches proxies once Redis is back"
        return said
    if out:
        policy = explained.policy_reason
        return f"cannot act: {out}" + (f" (policy alone: {policy})" if policy else "")
    if explained.action == "dry-run":
        return (f"dry-run: would fail over to {target} ({reason}), but only records that "
                f"it would")
    return f"would not fail over: {reason}"


def _outage(condition: Condition) -> str:
    parts = []
    for store, seen in condition.evidence.items():
        if isinstance(seen, Mapping) and seen.get("state") not in ("connected", "reachable"):
            parts.append(f"{store} {seen.get('state')} for {seen.get('out_seconds')} s")
    return " and ".join(parts) or str(condition.reason)


def render(explained: Explained) -> list[str]:
    lines = [f"{explained.service}: {verdict(explained)}  (mode {explained.mode}; asked "
             f"{explained.node}, leader {explained.leader_node or '(none)'}, "
             f"epoch {explained.epoch})"]
    width = max((len(c.check) for c in explained.conditions), default=0)
    for condition in explained.conditions:
        ok = "yes" if condition.ok else "NO "
        reason = f"  {condition.reason}" if condition.reason else ""
        until = f" until {condition.until_iso}" if condition.until_iso else ""
        lines.append(f"  {ok}  {condition.check:<{width}}{reason}{until}")
        lines += [f"         {line}" for line in evidence_lines(condition.evidence)]
    if explained.followers:
        lines.append("  followers (what each says it applied):")
        lines += [f"         {line}" for line in follower_lines(explained.followers, None,
                                                                 every=True)]
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
