"""The soak's invariant checker: pure functions over what the soak recorded.

Each returns a list of violations (strings that say what broke, where and when); an empty
list means the invariant held. The invariants are the README's ("Invariants"):
1. one primary: a decision version never names two members (Redis samples, the pub/sub
   feed, ZooKeeper's decisions and the history stream all agree), and replicas that claim
   leadership at the same moment never share an epoch;
2. what a reader sees never goes back: (epoch, version) in each reader's sequence;
3. no promotion of a member that the deciding view held unhealthy: every promote call a
   member received matches a ``hook_started`` of that member and epoch, logged as healthy;
4. every operator request ends done, refused, failed or cancelled, with a reason unless done;
5. after the faults of a round heal, the system converges within the bound (ZooKeeper's
   decision and Redis's route agree again);
6. the epochs of the hooks each member takes never go down, and a lower one that arrives late
   is refused (invariant 7 of the README).
7. once the HAProxy agent has applied a route, every answer comes from that route's primary
   (invariant 8 of the README).
8. no two members hold an unanswered promote (invariant 7 of the README): a member whose
   last accepted hook is a promote is one ZooKeeper accounts for, as the deterministic
   simulation checks it: the decision's primary, a member marked unfenced in the decision,
   or the source or target of a switchover still running.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from controller.core.records import Decided
from controller.core.switchover import Switchover

TERMINAL = {"done", "failed", "refused", "cancelled"}


@dataclass(frozen=True, slots=True)
class Seen:
    """One observation of the route: by whom (``source``), when, and what."""

    source: str  # "redis-poll", "pubsub", "zookeeper", "history"
    at: float
    primary: str
    epoch: int
    version: int


def one_primary_per_version(seen: Iterable[Seen]) -> list[str]:
    first: dict[int, Seen] = {}
    out = []
    for s in seen:
        other = first.setdefault(s.version, s)
        if other.primary != s.primary:
            out.append(f"two primaries for version {s.version}: {other.primary} "
                       f"({other.source} at {other.at:.3f}) and {s.primary} "
                       f"({s.source} at {s.at:.3f})")
    return out


def never_goes_back(seen: Sequence[Seen]) -> list[str]:
    """For one reader's sequence, in the order it saw them."""
    out = []
    for before, after in pairwise(seen):
        if (after.epoch, after.version) < (before.epoch, before.version):
            out.append(f"{after.source} went back from epoch {before.epoch} version "
                       f"{before.version} to epoch {after.epoch} version {after.version} "
                       f"at {after.at:.3f}")
    return out


def distinct_leader_epochs(claims: Iterable[tuple[float, Mapping[str, int]]]) -> list[str]:
    """``claims``: (when, {replica: epoch}) of the replicas that said they lead then."""
    out = []
    for at, leaders in claims:
        epochs = list(leaders.values())
        if len(set(epochs)) != len(epochs):
            out.append(f"replicas {sorted(leaders)} claimed leadership with one epoch "
                       f"at {at:.3f}: {dict(leaders)}")
    return out


def promotions_were_healthy(calls: Iterable[Mapping[str, Any]],
                            hooks: Iterable[Mapping[str, Any]]) -> list[str]:
    """``calls``: promote calls members received ({member, epoch, at}); ``hooks``: the
    controllers' hook_started log events."""
    started: dict[tuple[str, str], list[str]] = {}
    for hook in hooks:
        if hook.get("hook") == "promote":
            started.setdefault((str(hook["member"]), str(hook["epoch"])), []).append(
                str(hook.get("health")))
    out = []
    for call in calls:
        key = (str(call["member"]), str(call["epoch"]))
        healths = started.get(key)
        if not healths:
            out.append(f"{key[0]} received a promote for epoch {key[1]} at "
                       f"{float(call['at']):.3f} that no controller logged")
        elif "healthy" not in healths:
            out.append(f"{key[0]} promoted at epoch {key[1]} while the deciding view held it "
                       f"{healths[0]}")
    return out


def calls_were_logged(calls: Iterable[Mapping[str, Any]], hooks: Iterable[Mapping[str, Any]],
                      hook: str) -> list[str]:
    """Every ``hook`` call a member received was sent by a controller that logged it: no
    action comes from nowhere (a stale or rogue writer would not log under a live epoch)."""
    sent = {(str(h["member"]), str(h["epoch"])) for h in hooks if h.get("hook") == hook}
    return [f"{call['member']} received a {hook} for epoch {call['epoch']} at "
            f"{float(call['at']):.3f} that no controller logged"
            for call in calls if (str(call["member"]), str(call["epoch"])) not in sent]


def hook_epochs_never_go_down(calls: Mapping[str, Sequence[Mapping[str, Any]]]
                              ) -> tuple[list[str], list[str]]:
    """``calls``: member -> every hook call it received (refused ones too), in the order it
    received them. Returns (violations, notes).

    A member never takes a hook with a lower epoch after one with a higher epoch: that is
    the violation. A lower one may still *arrive* late, and must be refused: a request whose
    sender gave up on it (it timed out while the member was cut off, and the kernel went on
    retransmitting it until the cut healed), or one sent by a leader frozen between its gate
    and its send. Those are notes, and a lower one that was not refused is a violation."""
    out, notes = [], []
    for member, received in sorted(calls.items()):
        highest: Mapping[str, Any] | None = None
        for call in received:
            lower = highest is not None and int(call["epoch"]) < int(highest["epoch"])
            if lower and highest is not None:
                what = (f"{member} received a {call['call']} for epoch {call['epoch']} at "
                        f"{float(call['at']):.3f} after a {highest['call']} for epoch "
                        f"{highest['epoch']} at {float(highest['at']):.3f}")
                if call.get("refused"):
                    notes.append(what + ": refused")
                else:
                    out.append(what + (" and took it" if not call.get("failed") else
                                       " and did not refuse it"))
            elif not call.get("failed") and (
                    highest is None or int(call["epoch"]) > int(highest["epoch"])):
                highest = call
    return out, notes


def requests_ended(accepted: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """``accepted``: request id -> its final record (None if it could not be read)."""
    out = []
    for request_id, record in sorted(accepted.items()):
        if record is None:
            out.append(f"request {request_id} was lost: no record")
        elif record.get("phase") not in TERMINAL:
            out.append(f"request {request_id} never ended: {record.get('phase')}")
        elif record["phase"] != "done" and not record.get("reason"):
            out.append(f"request {request_id} ended {record['phase']} without a reason")
    return out


def converged_in_time(rounds: Iterable[tuple[int, float | None]], bound: float) -> list[str]:
    """``rounds``: (round number, seconds to converge after healing, None if never)."""
    return [f"round {n} did not converge within {bound:g}s" if took is None else
            f"round {n} took {took:.1f}s to converge (bound {bound:g}s)"
            for n, took in rounds if took is None or took > bound]


@dataclass(frozen=True, slots=True)
class Answer:
    """One request through HAProxy: when it was sent, when it ended, who answered."""

    sent: float
    answered: float
    member: str | None  # None: it failed, or the answer named no member


@dataclass(frozen=True, slots=True)
class Applied:
    """The route the HAProxy agent said (its /healthz) it had applied, at ``at``."""

    at: float
    primary: str | None  # None: no route yet, or the agent did not answer
    version: int | None


def held_answers(answers: Iterable[Answer], applied: Sequence[Applied],
                 changes: Iterable[float], margin: float = 1.0) -> list[tuple[Answer, Applied]]:
    """The answers the agent's applied route must account for, each with that route.

    ``applied`` is in time order; ``changes`` are the times a route change was observed
    (Redis polls, pub/sub). An answer counts when every sample from the last one before its
    request was sent to the first one after it was answered names one applied version, and
    no change was observed within ``margin`` of it: the agent starts sending commands for a
    newer route a little before its /healthz names it, and the observers hear of a change a
    little after the agent may have."""
    times = [a.at for a in applied]
    moved = sorted(changes)
    out = []
    for answer in answers:
        if answer.member is None:
            continue
        first, last = bisect_right(times, answer.sent) - 1, bisect_left(times, answer.answered)
        if first < 0 or last >= len(applied):
            continue
        around = applied[first:last + 1]
        if around[0].version is None or any(a.version != around[0].version for a in around):
            continue
        near = bisect_left(moved, answer.sent - margin)
        if near < len(moved) and moved[near] <= answer.answered + margin:
            continue
        out.append((answer, around[0]))
    return out


def answers_from_routed(held: Iterable[tuple[Answer, Applied]]) -> list[str]:
    """Invariant 7 above (the README's 8), over ``held_answers``: no answer from a member
    that is not routed."""
    return [f"{answer.member} answered a request sent at {answer.sent:.3f} (answered "
            f"{answer.answered:.3f}) while the agent had applied version {route.version} "
            f"routed to {route.primary}" for answer, route in held
            if answer.member != route.primary]


# How late the soak's watches may hear of a ZooKeeper write: the notification, kazoo's
# re-read, and the callback thread's turn in a process busy polling Redis, HAProxy and the
# replicas, on a shared 2-core machine. ZooKeeper learns of a promote before the member does
# (a failover writes the member's unfenced mark ahead of the hook; a switchover persists its
# phase before each hook), so a member may hold a promote this long before the watch reports
# what accounts for it. The other way round needs no allowance, the order being known: a
# member logs a fence before it answers it, the mark is cleared (or the switchover ends)
# only after that answer, and the watch hears of it later still.
WATCH_LATENCY = 1.0


@dataclass(frozen=True, slots=True)
class Taken:
    """A hook a member accepted (neither refused nor failed), at the time it logged it."""

    at: float
    hook: str  # "promote" or "fence"
    epoch: int


@dataclass(frozen=True, slots=True)
class Accounted:
    """One observation by one watch (``watch``: "decision", or a switchover's id) of the
    members ZooKeeper accounts for, held until that watch's next observation."""

    watch: str
    at: float
    members: frozenset[str]
    label: str  # what was seen, for the report


def taken_hooks(calls: Iterable[Mapping[str, Any]]) -> list[Taken]:
    """The accepted hooks among a member's logged calls (refused ones are logged failed)."""
    return [Taken(float(c["at"]), str(c["call"]), int(c["epoch"])) for c in calls
            if not c.get("failed")]


def decision_accounts(at: float, decided: Decided) -> Accounted:
    return Accounted("decision", at, frozenset({decided.primary, *decided.unfenced}),
                     f"decision version {decided.version} routes {decided.primary}, "
                     f"unfenced {list(decided.unfenced)}")


def switchover_accounts(at: float, request_id: str, sw: Switchover | None) -> Accounted:
    """What a switchover record accounts for (``sw`` None: it was deleted)."""
    if sw is None:
        return Accounted(request_id, at, frozenset(), f"switchover {request_id} deleted")
    members: set[str | None] = set()
    if sw.phase.running:  # a rollback commit that failed stays running until it lands
        members = {sw.source, sw.target}
    return Accounted(request_id, at, frozenset(m for m in members if m),
                     f"switchover {request_id} {sw.phase} {sw.source} -> {sw.target}")


def unwatched(states: Iterable[tuple[float, str]]) -> list[tuple[float, float]]:
    """The periods the soak's own ZooKeeper client was not connected, from its connection
    states (time, kazoo state): its watches heard nothing then."""
    out: list[tuple[float, float]] = []
    since: float | None = None
    for at, state in states:
        if state != "CONNECTED" and since is None:
            since = at
        elif state == "CONNECTED" and since is not None:
            out.append((since, at))
            since = None
    if since is not None:
        out.append((since, math.inf))
    return out


def promotes_accounted_for(taken: Mapping[str, Sequence[Taken]], seen: Iterable[Accounted],
                           deaf: Iterable[tuple[float, float]], until: float,
                           latency: float = WATCH_LATENCY) -> list[str]:
    """Invariant 8 above: every moment a member held a promote (its last accepted hook)
    while no watch of ZooKeeper accounted for it within ``latency`` after that moment.

    ``taken``: member -> the hooks it accepted, in the order it logged them; ``seen``: the
    observations of the decision and of every switchover record; ``deaf``: periods the
    watches heard nothing (``unwatched``); ``until``: when the watching ended. Nothing is
    checked before the decision's first observation (the soak starts watching late)."""
    watches: dict[str, list[Accounted]] = {}
    for s in sorted(seen, key=lambda s: s.at):
        watches.setdefault(s.watch, []).append(s)
    decisions = watches.get("decision")
    if not decisions:
        return []
    blind = [(-math.inf, decisions[0].at), *deaf]
    out = []
    for member, hooks in sorted(taken.items()):
        # A moment is accounted for when the member is known at some point up to
        # ``latency`` after it: each known stretch covers from ``latency`` before it.
        covered = [(start - latency, end) for start, end in blind]
        for observed in watches.values():
            covered += [(s.at - latency, after.at if after else math.inf)
                        for s, after in zip(observed, [*observed[1:], None], strict=True)
                        if member in s.members]
        for promote, start, end in _held(hooks, until):
            for gap_start, gap_end in _uncovered(start, end, covered):
                known = "; ".join(_current(watches, gap_start)) or "nothing"
                out.append(f"{member} held a promote (epoch {promote.epoch}, accepted at "
                           f"{promote.at:.3f}) from {gap_start:.3f} to {gap_end:.3f} that "
                           f"ZooKeeper did not account for: {known}")
    return out


def _held(hooks: Sequence[Taken], until: float) -> list[tuple[Taken, float, float]]:
    """(the promote, from, to): each stretch over which the member's last accepted hook
    was a promote, up to ``until``."""
    out = []
    promote: Taken | None = None
    for hook in hooks:
        if hook.hook == "promote" and promote is None:
            promote = hook
        elif hook.hook == "fence" and promote is not None:
            out.append((promote, promote.at, min(hook.at, until)))
            promote = None
    if promote is not None:
        out.append((promote, promote.at, until))
    return [(p, start, end) for p, start, end in out if start < end]


def _uncovered(start: float, end: float,
               covered: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of [start, end) outside every interval of ``covered``."""
    gaps, at = [], start
    for low, high in sorted(covered):
        if high <= at:
            continue
        if low >= end:
            break
        if low > at:
            gaps.append((at, low))
        at = high
        if at >= end:
            break
    if at < end:
        gaps.append((at, end))
    return gaps


def _current(watches: Mapping[str, Sequence[Accounted]], at: float) -> list[str]:
    """What each watch last reported by ``at``: the decision, and switchovers that
    accounted for someone."""
    out = []
    for watch, observed in watches.items():
        last = [s for s in observed if s.at <= at][-1:]
        if last and (watch == "decision" or last[0].members):
            out.append(last[0].label)
    return out
