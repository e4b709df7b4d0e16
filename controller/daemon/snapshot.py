"""A frozen snapshot of one service for the core: what the probes, the other replicas'
views and the stored requests say now (core/plan.Inputs)."""

from __future__ import annotations

from controller.core.decide import MemberView, ServiceView
from controller.core.plan import EvacuationFacts, Inputs, mode_of, recovering
from controller.daemon.state import ServiceState
from controller.daemon.views import PeerViews
from probes.health import readiness
from probes.scheduler import ProbeScheduler


def snapshot(state: ServiceState, probes: ProbeScheduler, peers: PeerViews, leading: bool,
             now: float) -> Inputs:
    config, decided = state.config, state.decided
    running, requests = state.running, state.requests()
    leader_recovering = peers.recovering(config.name)
    members = []
    replicas = 1
    for member in config.members:
        health = probes.health(config.name, member.name)
        votes = peers.votes(config.name, member.name, str(health.health))
        replicas = votes.replicas
        members.append(MemberView(
            name=member.name, priority=member.priority, health=health.health,
            unfenced=decided is not None and member.name in decided.unfenced,
            evidence=tuple(e.as_dict() for e in health.recent),
            failing_votes=votes.failing, healthy_votes=votes.healthy,
            not_ready=readiness(probes.readiness(config.name, member.name))))
    policy = config.policy
    view = ServiceView(
        name=config.name, primary=decided.primary if decided else None,
        members=tuple(members), mode=mode_of(policy.auto_failover, state.pause, now),
        cooldown=policy.cooldown, retry_backoff=policy.retry_backoff,
        last_recovery_end=decided.last_recovery_end if decided else None,
        last_failed_attempt=state.last_failed_attempt,
        recovery_in_flight=recovering(running, requests, leader_recovering),
        excluded=state.memory.excluded, replicas=replicas,
        quorum=None if policy.quorum == "majority" else policy.quorum)
    primary = view.primary if view.primary and config.member(view.primary) else None
    return Inputs(
        view=view, leading=leading, running=running, switchovers=requests,
        pause=state.pause, leader_recovering=leader_recovering,
        fenceable=frozenset(m.name for m in config.members if m.fence is not None),
        fence_retry_after=state.fence_retry_after,
        evacuation=EvacuationFacts(
            conditions=tuple(config.evacuate_on), hold=config.evacuate_after,
            checks=probes.readiness(config.name, primary) if primary else {},
            windows=state.windows))
