"""What this replica sees: a frozen snapshot of one service for the core (what the probes,
the other replicas' views and the stored requests say now: core/plan.Inputs), and its own
view as it publishes it to the other replicas."""

from __future__ import annotations

import time
from collections.abc import Mapping

from controller.core.decide import MemberView, ServiceView
from controller.core.plan import EvacuationFacts, Inputs, Work, mode_of, recovering
from controller.core.views import MemberVerdict, ReplicaView, config_agreement
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
    known, agreeing = config_agreement(state.digest, peers.configs(config.name))
    view = ServiceView(
        name=config.name, primary=decided.primary if decided else None,
        members=tuple(members), mode=mode_of(policy.auto_failover, state.pause, now),
        cooldown=policy.cooldown, retry_backoff=policy.retry_backoff,
        last_recovery_end=decided.last_recovery_end if decided else None,
        last_failed_attempt=state.last_failed_attempt,
        recovery_in_flight=recovering(running, requests, leader_recovering),
        excluded=state.memory.excluded, replicas=replicas,
        quorum=None if policy.quorum == "majority" else policy.quorum,
        config_known=known, config_agreeing=agreeing)
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


def own_view(node_id: str, probes: ProbeScheduler, services: Mapping[str, ServiceState],
             leading: bool) -> ReplicaView:
    """This replica's verdict on every member, for the others' quorum."""
    members = {}
    wall_minus_mono = time.time() - time.monotonic()  # health.since is monotonic
    for service, member in probes.probers:
        state = probes.health(service, member)  # liveness and, on the primary, its role
        last = state.last
        members[f"{service}/{member}"] = MemberVerdict(
            health=str(state.health),
            since=round(state.since + wall_minus_mono, 3) if state.since else None,
            latency_ms=round(last.latency * 1000, 1) if last else None,
            detail=last.detail if last else None)
    # Automatic failovers only: switchovers are visible to every replica in ZooKeeper.
    recovering_now = tuple(name for name, state in services.items()
                           if leading and Work.RECOVERY in state.tasks)
    return ReplicaView(node=node_id, at=time.time(), members=members,
                       recovering=recovering_now,
                       configs={name: state.digest for name, state in services.items()})
