"""Fence and promote hooks as the leader runs them: behind the office gate, and a promote
only to a member healthy in this replica's view (invariant 3)."""

from __future__ import annotations

from itertools import count
from typing import Any

from config.models import MemberConfig
from controller.adapters.hooks import ActionResult, ActionRunner
from controller.core.steps import Hook, Step
from controller.daemon.metrics import Metrics
from controller.daemon.office import Office
from controller.events import Event
from probes.health import Health
from probes.scheduler import ProbeScheduler


class HookRunner:
    def __init__(self, office: Office, probes: ProbeScheduler, actions: ActionRunner,
                 log: Any, metrics: Metrics) -> None:
        self._office, self._probes, self._actions, self._log = office, probes, actions, log
        self._results = metrics.hook_results
        # {seq}: with {epoch}, orders every hook this process sends. The epoch alone cannot
        # order two hooks of one leader, and those can cross in flight: a promote that timed
        # out may land after the fence that followed it (found by the simulation).
        self._seq = count(1)

    def promote_refusal(self, service: str, member: str) -> str | None:
        """Why ``member`` may not be promoted now (invariant 3: only a member healthy in
        this replica's view), or None."""
        health = self._probes.health(service, member).health
        return None if health is Health.HEALTHY else f"not promoted: {member} is {health}"

    def answers(self, service: str, member: str) -> bool:
        """Still answering its probes: if it refused a fence, it may still act as primary."""
        return self._probes.health(service, member).health is not Health.DOWN

    async def run(self, steps: list[Step], hook: Hook, service: str,
                  member: MemberConfig, previous: str, epoch: int) -> ActionResult:
        """Run ``member``'s fence or promote hook with the template variables filled in
        (``previous``: the route's primary as the caller read it).

        Every hook passes the office gate first (the epoch confirmed within the lease), and
        a promote goes only to a member healthy in this replica's view (invariant 3).
        """
        action = member.fence if hook is Hook.FENCE else member.promote
        if action is None:
            return ActionResult(True, f"no {hook} hook configured", 0.0)
        refusal = self.promote_refusal(service, member.name) if hook is Hook.PROMOTE else None
        if refusal is None:
            await self._office.confirm(epoch)
            # Again after the gate, on the turn the hook goes out: the gate may have asked
            # ZooKeeper, and a probe may have seen the member fail meanwhile (found by the
            # simulation in tests/sim).
            refusal = self.promote_refusal(service, member.name) \
                if hook is Hook.PROMOTE else None
        if refusal is not None:
            result = ActionResult(False, refusal, 0.0)
            steps.append(_step(hook, member.name, result))
            self._results.labels(service, str(hook), "refused").inc()
            return result
        seq = next(self._seq)  # taken after the gate, on the turn the hook goes out
        variables = {"service": service, "member": member.name, "address": member.address,
                     "epoch": str(epoch), "seq": str(seq), "previous": previous}
        # The member's health in the deciding view as the hook goes out: what an auditor
        # (the soak's checker) holds each promotion against.
        health = self._probes.health(service, member.name).health
        self._log.info(Event.HOOK_STARTED, hook=str(hook), service=service, member=member.name,
                       epoch=epoch, seq=seq, health=str(health))
        result = await self._actions.run(action, variables)
        steps.append(_step(hook, member.name, result))
        self._results.labels(service, str(hook), "ok" if result.ok else "failed").inc()
        return result


def _step(hook: Hook, member: str, result: ActionResult) -> Step:
    return Step(step=str(hook), member=member, ok=result.ok,
                ms=round(result.duration * 1000, 1), detail=result.detail)
