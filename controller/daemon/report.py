"""What the API shows of this replica: readiness, and the status of every service (the
same snapshot the planner gets, with each member's probes, checks and votes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.adapters.zookeeper import Session
from controller.core.decide import ServiceView, redundancy
from controller.core.plan import Inputs, Memory, evacuation
from controller.daemon.metrics import Metrics
from controller.daemon.office import Leader
from controller.daemon.state import ServiceState
from controller.daemon.views import PeerViews
from probes.scheduler import ProbeScheduler


def readiness(session: Session, redis_ok: bool,
              redis_error: str | None) -> tuple[bool, dict[str, Any]]:
    """Ready while connected to ZooKeeper and Redis, with what is not."""
    zk_ok = session is Session.CONNECTED
    detail = {
        "zookeeper": "connected" if zk_ok else f"session {session.lower()}",
        "redis": "reachable" if redis_ok else f"unreachable: {redis_error}",
    }
    return zk_ok and redis_ok, detail


def status(*, node_id: str, leader: Leader, services: Mapping[str, ServiceState],
           inputs: Callable[[ServiceState], Inputs], probes: ProbeScheduler,
           peers: PeerViews,
           open_requests: Callable[[ServiceState], list[dict[str, Any]]]) -> dict[str, Any]:
    shown = {}
    now = time.time()
    for name, state in services.items():
        snap = inputs(state)
        view = snap.view
        members = {}
        for member in state.config.members:
            health = probes.health(name, member.name)
            voted = view.member(member.name)
            if voted is None:  # the view holds every configured member
                continue
            last = health.last
            role = probes.primary_check(name, member.name)
            members[member.name] = {
                "health": str(health.health),
                # its primary_probe's own verdict while routed primary; "standby": not run
                "primary_probe": None if role is None else (
                    str(role.health) if view.primary == member.name else "standby"),
                "latency_ms": round(last.latency * 1000, 1) if last else None,
                "ready": voted.ready,
                "not_ready": list(voted.not_ready),
                "checks": {check: result.as_dict() for check, result in
                           probes.readiness(name, member.name).items()},
                "address": member.address,
                # a former primary whose fence has not succeeded yet: never promoted
                "unfenced": voted.unfenced,
                "votes": {"failing": voted.failing, "healthy": voted.healthy,
                          "replicas": view.replicas},
                # each live replica's verdict on the member, ours included: the split view
                "views": peers.verdicts(name, member.name, str(health.health)),
            }
        pause = state.pause if state.pause and state.pause.active(now) else None
        shown[name] = {
            "primary": view.primary,
            "version": state.decided.version if state.decided else None,
            "mode": str(view.mode),
            "redundant": redundancy(view)[0],
            "recovery_in_flight": view.recovery_in_flight,
            "quorum": view.required,
            "split_view": state.memory.split_view,
            "paused": None if pause is None else {"by": pause.by, "at": pause.at,
                                                  "until": pause.until},
            "switchovers": open_requests(state),
            "evacuation": evacuation(snap, now).as_dict(),
            "members": members,
        }
    return {"node": node_id, "leader": leader.us, "leader_node": leader.node,
            "epoch": leader.epoch, "services": shown}


def set_gauges(metrics: Metrics, view: ServiceView, memory: Memory) -> None:
    """The service's gauges, after every evaluation."""
    name = view.name
    metrics.redundant.labels(name).set(int(bool(memory.redundant)))
    for member in view.members:  # members without readiness checks are ready
        metrics.member_ready.labels(name, member.name).set(int(member.ready))
    metrics.split_view.labels(name).set(int(memory.split_view))
    primary = view.member(view.primary)
    if primary is not None:
        metrics.failing_votes.labels(name).set(primary.failing)
