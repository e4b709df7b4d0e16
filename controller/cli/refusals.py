"""A refused switchover as one sentence with its numbers, from the API's reason code and
evidence (the same object history records). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def sentence(service: str, to: str | None, reason: str, evidence: Mapping[str, Any]) -> str:
    members = evidence.get("members")
    member = members.get(to) if isinstance(members, Mapping) and to else None
    if not isinstance(member, Mapping):  # evidence of another shape: say what is known
        member = {}
    replicas, majority = evidence.get("replicas", "?"), evidence.get("majority", "?")
    votes = (f"{member.get('healthy_votes', '?')} of {replicas} replicas see it healthy, "
             f"{majority} needed")
    force = " (--force to switch anyway)"
    match reason:
        case "target_not_healthy":
            return f"{to} is {member.get('health', 'not healthy')}; {votes}"
        case "target_not_confirmed":
            return f"{to} is healthy here, but {votes}"
        case "target_unfenced":
            return (f"{to} is awaiting a fence (its last fence failed): it is not promoted "
                    f"until a fence succeeds")
        case "target_not_ready":
            not_ready = member.get("not_ready")
            why = ("; ".join(str(n) for n in not_ready) if isinstance(not_ready, list)
                   else "") or "its readiness checks fail"
            return f"{to} is not ready: {why}{force}"
        case "already_primary":
            return f"{to} is already the primary of {service}"
        case "unknown_member":
            return f"{service} has no member {to}"
        case "no_decision":
            return f"{service} has no committed primary yet"
        case "recovery_in_flight":
            return f"a failover of {service} is running; ask again when it has ended"
        case "switchover_in_progress":
            return f"another switchover of {service} is running"
        case "switchover_pending":
            pending, when = evidence.get("pending"), evidence.get("at_iso")
            return (f"switchover {pending} of {service} is already {evidence.get('phase')}"
                    f"{f' for {when}' if when else ''}; cancel it first "
                    f"(failoverctl cancel {service} {pending})")
        case "no_healthy_candidate":
            return (f"no standby of {service} is healthy, fenced and seen healthy by "
                    f"{majority} of {replicas} replicas")
        case "no_ready_candidate":
            return f"no healthy standby of {service} is ready{force}"
    return reason
