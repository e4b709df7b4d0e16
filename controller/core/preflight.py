"""Is it safe to start a switchover now, and to whom: the same bar as an automatic failover
(invariant 3), as a pure function of the view, for operator requests, evacuations and the
switchover machine's first step."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from controller.core.decide import ServiceView, rank
from probes.health import Health


class Refusal(StrEnum):
    NO_DECISION = "no_decision"
    UNKNOWN_MEMBER = "unknown_member"
    ALREADY_PRIMARY = "already_primary"
    TARGET_NOT_HEALTHY = "target_not_healthy"
    TARGET_UNFENCED = "target_unfenced"
    TARGET_NOT_CONFIRMED = "target_not_confirmed"  # too few replicas see it healthy
    TARGET_NOT_READY = "target_not_ready"  # its readiness checks fail (force overrides)
    NO_HEALTHY_CANDIDATE = "no_healthy_candidate"
    NO_READY_CANDIDATE = "no_ready_candidate"  # healthy ones, none ready (force overrides)
    RECOVERY_IN_FLIGHT = "recovery_in_flight"
    SWITCHOVER_IN_PROGRESS = "switchover_in_progress"
    SWITCHOVER_PENDING = "switchover_pending"  # another request waits to run already


class Preflight(NamedTuple):
    target: str | None  # the member to switch over to, when it may start
    refusal: Refusal | None  # why it may not
    evidence: dict[str, Any]  # the view it was judged on


def preflight(view: ServiceView, to: str | None, *, busy: Refusal | None = None,
              force: bool = False) -> Preflight:
    """(target, None, evidence) if a switchover may start now, else (None, refusal, evidence).

    ``busy`` is what the shell knows is running (a failover, another switchover). The
    target must be healthy in this view, not awaiting a fence, and, with several replicas,
    seen healthy by a majority of them: the same bar as an automatic failover (invariant 3).
    It must also be ready (its readiness checks pass) unless ``force``. Without ``to`` the
    best such member is chosen: ready first, then by priority.
    """
    members = {m.name: {"health": str(m.health), "healthy_votes": m.healthy,
                        "unfenced": m.unfenced, "priority": m.priority, "ready": m.ready,
                        "not_ready": list(m.not_ready)} for m in view.members}
    evidence: dict[str, Any] = {"primary": view.primary, "members": members,
                                "replicas": view.replicas, "majority": view.majority,
                                "force": force}
    if view.primary is None:
        return Preflight(None, Refusal.NO_DECISION, evidence)
    if busy is not None:
        return Preflight(None, busy, evidence)
    if to is not None:
        member = view.member(to)
        if member is None:
            return Preflight(None, Refusal.UNKNOWN_MEMBER, evidence)
        if member.name == view.primary:
            return Preflight(None, Refusal.ALREADY_PRIMARY, evidence)
        if member.health is not Health.HEALTHY:
            return Preflight(None, Refusal.TARGET_NOT_HEALTHY, evidence)
        if member.unfenced:
            return Preflight(None, Refusal.TARGET_UNFENCED, evidence)
        if member.healthy < view.majority:
            return Preflight(None, Refusal.TARGET_NOT_CONFIRMED, evidence)
        if not member.ready and not force:
            return Preflight(None, Refusal.TARGET_NOT_READY, evidence)
        return Preflight(member.name, None, evidence)
    eligible = sorted((m for m in view.members
                       if m.name != view.primary and m.health is Health.HEALTHY
                       and not m.unfenced and m.healthy >= view.majority), key=rank)
    if not eligible:
        return Preflight(None, Refusal.NO_HEALTHY_CANDIDATE, evidence)
    if not eligible[0].ready and not force:
        return Preflight(None, Refusal.NO_READY_CANDIDATE, evidence)
    return Preflight(eligible[0].name, None, evidence)
