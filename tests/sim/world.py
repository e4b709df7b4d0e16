"""The simulated world: an explicit clock, ZooKeeper, Redis and the members.

Every I/O a replica does is an ``Op`` it yields; the world carries it out when the
simulation delivers it (``perform``), which may be much later than it was sent: that gap
is where a frozen process, a slow network or a lost answer lives. Nothing here reads a real
clock or draws a random number; Hypothesis chooses every step.

The semantics follow the adapters exactly:
* ZooKeeper (adapters/zookeeper.py): the epoch node's version is the epoch; a fenced
  transaction checks it first (``Fenced``), then the decision's znode version (``Conflict``)
  and, for a switchover commit, the request's; sessions expire after the granted timeout
  without a heartbeat, taking their ephemeral nodes (election contenders, views) with them.
* Redis (adapters/routes.py, PUBLISH_ROUTE): a lower epoch is ``stale_epoch``, a lower
  version ``stale_version``, the same version naming another primary ``conflict``, and a
  missing route is only created by a writer that read it as missing (else ``missing``).
* Members keep the highest (epoch, seq) pair they have accepted and refuse a hook with a
  lower one, as the README asks of hook targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from controller.core.commands import CheckEpoch  # the gate's check, as the core names it
from controller.core.errors import Conflict, Fenced, StoreError
from controller.core.records import Decided
from controller.core.steps import Hook
from controller.core.switchover import Switchover
from probes.health import Health

MEMBERS = (("a", 100), ("b", 50), ("c", 10))  # name, priority
REQUESTED_SESSION = 6.0  # what the replicas ask for
MAX_SESSION = 3.0  # what ZooKeeper grants at most (issue 17, item 3)


class RouteStoreError(Exception):
    """Redis did not answer (the outcome is unknown)."""


# --- what a replica yields ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateDecision:
    decided: Decided
    epoch: int


@dataclass(frozen=True, slots=True)
class ReadDecision:
    pass


@dataclass(frozen=True, slots=True)
class ReadSwitchovers:
    pass


@dataclass(frozen=True, slots=True)
class CommitDecision:
    decided: Decided
    epoch: int
    version: int
    switchover: tuple[Switchover, int] | None = None


@dataclass(frozen=True, slots=True)
class SaveSwitchover:
    record: Switchover
    epoch: int
    version: int


@dataclass(frozen=True, slots=True)
class Publish:
    decided: Decided
    epoch: int
    create: bool = False  # the writer read the route as missing
    flushes: int = 0  # FLUSHALLs before it was sent (to judge invariant 1)


@dataclass(frozen=True, slots=True)
class ReadRoute:
    pass


@dataclass(frozen=True, slots=True)
class SendHook:
    member: str
    hook: Hook
    epoch: int
    seq: int  # the sender's hook sequence (daemon/hooks.py): orders hooks of one leader
    health: Health  # the member's health in the sender's view as the hook went out


@dataclass(frozen=True, slots=True)
class Wait:
    """A wait with no I/O (a switchover's wait for health, its verify window)."""


ZK_OPS = (CheckEpoch, CreateDecision, ReadDecision, ReadSwitchovers, CommitDecision,
          SaveSwitchover)
WRITES = (CreateDecision, CommitDecision, SaveSwitchover, Publish, SendHook)
Op = (CheckEpoch | CreateDecision | ReadDecision | ReadSwitchovers | CommitDecision
      | SaveSwitchover | Publish | ReadRoute | SendHook | Wait)


# --- ZooKeeper ------------------------------------------------------------------------------


@dataclass
class Session:
    id: int
    owner: str
    timeout: float  # granted
    last_heard: float
    alive: bool = True


@dataclass
class ZooKeeper:
    epoch: int = 0  # the epoch node's version
    leader: str | None = None  # the node that took it
    decision: Decided | None = None
    version: int = -1  # the decision's znode version
    switchovers: dict[str, tuple[Switchover, int]] = field(default_factory=dict)
    sessions: dict[int, Session] = field(default_factory=dict)
    contenders: list[tuple[int, str, int]] = field(default_factory=list)  # seq, node, session
    views: dict[str, tuple[dict[str, str], int]] = field(default_factory=dict)
    seq: int = 0
    # Every decision ever committed, by its Decided.version: the primary it named.
    primaries: dict[int, str] = field(default_factory=dict)

    def open_session(self, owner: str, now: float) -> int:
        self.seq += 1
        self.sessions[self.seq] = Session(self.seq, owner, min(REQUESTED_SESSION, MAX_SESSION),
                                          now)
        return self.seq

    def live(self, session: int | None) -> bool:
        return session is not None and self.sessions[session].alive

    def expire(self, session: int) -> None:
        self.sessions[session].alive = False
        self.contenders = [c for c in self.contenders if c[2] != session]
        self.views = {n: v for n, v in self.views.items() if v[1] != session}

    def first_contender(self) -> int | None:
        """The session whose contender node is first in line (a restarted replica has a
        new one: its old node waits for the old session to expire)."""
        return min(self.contenders)[2] if self.contenders else None

    def commit(self, op: CommitDecision) -> tuple[int, int | None]:
        """commit_decision's transaction: epoch check, decision CAS, request CAS."""
        if op.epoch != self.epoch:
            raise Fenced("the leadership epoch moved on")
        if op.version != self.version:
            raise Conflict(f"decision version {self.version}, not {op.version}")
        if op.switchover is not None:
            record, version = op.switchover
            if self.switchovers.get(record.id, (None, None))[1] != version:
                raise Conflict(f"request {record.id} changed")
        self.set_decision(op.decided)
        saved = None
        if op.switchover is not None:
            saved = self.switchovers[op.switchover[0].id][1] + 1
            self.switchovers[op.switchover[0].id] = (op.switchover[0], saved)
        return self.version, saved

    def set_decision(self, decided: Decided) -> None:
        known = self.primaries.setdefault(decided.version, decided.primary)
        if known != decided.primary:  # checked by the invariants, kept for the report
            self.primaries[-decided.version] = decided.primary
        self.decision, self.version = decided, self.version + 1


# --- Redis ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    primary: str
    epoch: int
    version: int


@dataclass
class Redis:
    route: Route | None = None

    def publish(self, decided: Decided, epoch: int, create: bool) -> str:
        """PUBLISH_ROUTE, outcome only."""
        stored = self.route
        if stored is None and not create:
            return "missing"
        stored_epoch = stored.epoch if stored else -1
        stored_version = stored.version if stored else -1
        if epoch < stored_epoch:
            return "stale_epoch"
        if decided.version < stored_version:
            return "stale_version"
        same = decided.version == stored_version
        if same and (stored.primary if stored else "") != decided.primary:
            return "conflict"
        if same:
            if epoch > stored_epoch:
                self.route = replace(stored, epoch=epoch) if stored else None
                return "fence_raised"
            return "unchanged"
        self.route = Route(decided.primary, epoch, decided.version)
        return "applied"


# --- members --------------------------------------------------------------------------------


@dataclass
class Member:
    name: str
    alive: bool = True
    frozen: bool = False
    degraded: bool = False
    fence_broken: bool = False  # its fence hook fails (the target refuses to be fenced)
    primary: bool = False  # believes it is primary: a promote not since undone by a fence
    highest: tuple[int, int] = (0, 0)  # the highest (epoch, seq) accepted
    received: list[tuple[int, str, bool]] = field(default_factory=list)  # epoch, hook, taken
    buffered: list[tuple[Hook, int, int]] = field(default_factory=list)  # sent while frozen

    @property
    def health(self) -> Health:
        if not self.alive or self.frozen:
            return Health.DOWN
        return Health.DEGRADED if self.degraded else Health.HEALTHY

    def receive(self, hook: Hook, epoch: int, seq: int) -> bool:
        """A hook arrives: refused below the highest (epoch, seq) accepted (the fencing
        token), and applied at once (a member applies hooks one at a time)."""
        taken = (epoch, seq) >= self.highest and not (hook is Hook.FENCE and self.fence_broken)
        self.received.append((epoch, str(hook), taken))
        if taken:
            self.highest = (epoch, seq)
            self.primary = hook is Hook.PROMOTE
        return taken

    def thaw(self) -> None:
        self.frozen = False
        for hook, epoch, seq in self.buffered:  # delivered late; their answers go nowhere
            self.receive(hook, epoch, seq)
        self.buffered.clear()


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    now: float = 1000.0
    zk: ZooKeeper = field(default_factory=ZooKeeper)
    redis: Redis = field(default_factory=Redis)
    members: dict[str, Member] = field(
        default_factory=lambda: {n: Member(n, primary=n == MEMBERS[0][0]) for n, _ in MEMBERS})
    # Every route Redis held, in order (None: flushed), with the write that put it there;
    # every promote sent (machines.py), with the sender's view of its target as it went out.
    routes: list[tuple[Route, Publish] | None] = field(default_factory=list)
    promotes: list[SendHook] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    flushes: int = 0  # FLUSHALLs so far (see the invariants)
    # Ops sent by a task that was cancelled (or a process that died) before they arrived:
    # still in flight, and the simulation may deliver them at any time.
    orphans: list[tuple[Op, int | None, bool]] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)  # what landed, for a failure's message

    def note(self, what: str) -> None:
        self.trace.append(f"{self.now:.1f} {what}")

    def tail(self) -> str:
        return "\n  " + "\n  ".join(self.trace[-25:])

    def perform(self, op: Op, session: int | None, linked: bool, fate: str) -> object:
        """Carry out ``op`` sent over ``session`` (ZooKeeper) by a replica whose link to
        ZooKeeper is up or not. ``fate``: "ok", "drop" (never arrives) or "lose" (arrives,
        its answer is lost) or "late" (a hook that times out and lands later; other ops
        arrive as "ok"). Returns the answer; raises what the adapter would."""
        if isinstance(op, Wait):
            return None
        if fate == "late" and isinstance(op, SendHook):
            # The sender's timeout fires first; the hook is still on its way and lands
            # whenever the simulation delivers it, maybe after the sender's next hook.
            self.orphans.append((op, session, linked))
            return False
        zk_op = isinstance(op, ZK_OPS)
        if fate == "drop" or (zk_op and (not linked or not self.zk.live(session))):
            return self._lost(op)
        if zk_op and session is not None:
            # Any request resets the session's expiry, as ZooKeeper's does: a session lives
            # at least a timeout past the check a lease is counted from (before this, the
            # model could expire it sooner and report a gate as wrong that was right).
            self.zk.sessions[session].last_heard = self.now
        try:
            answer = self._land(op)
        except Exception as exc:
            self.note(f"{op} -> {type(exc).__name__}")
            raise
        if not isinstance(op, ReadDecision | ReadSwitchovers | ReadRoute):
            self.note(f"{op} -> {answer}" + (" (answer lost)" if fate == "lose" else ""))
        return self._lost(op) if fate == "lose" else answer

    def _lost(self, op: Op) -> object:
        if isinstance(op, SendHook):
            return False  # a hook that timed out
        if isinstance(op, Publish | ReadRoute):
            raise RouteStoreError("no answer from Redis")
        raise StoreError("no answer from ZooKeeper")

    def _land(self, op: Op) -> object:
        zk = self.zk
        match op:
            case CheckEpoch(epoch=epoch):
                if zk.epoch != epoch:
                    raise Fenced(f"epoch {epoch} is not current (now {zk.epoch})")
                return None
            case CreateDecision(decided=decided, epoch=epoch):
                if epoch != zk.epoch:
                    raise Fenced("the leadership epoch moved on")
                if zk.decision is not None:
                    return False
                zk.set_decision(decided)
                return True
            case ReadDecision():
                return None if zk.decision is None else (zk.decision, zk.version)
            case ReadSwitchovers():
                return dict(zk.switchovers)
            case CommitDecision():
                return zk.commit(op)
            case SaveSwitchover(record=record, epoch=epoch, version=version):
                if epoch != zk.epoch:
                    raise Fenced("the leadership epoch moved on")
                if zk.switchovers.get(record.id, (None, None))[1] != version:
                    raise Conflict(f"request {record.id} changed")
                zk.switchovers[record.id] = (record, version + 1)
                return version + 1
            case Publish(decided=decided, epoch=epoch, create=create):
                outcome = self.redis.publish(decided, epoch, create)
                if outcome in ("applied", "fence_raised") and self.redis.route is not None:
                    self.routes.append((self.redis.route, op))
                return outcome
            case ReadRoute():
                return self.redis.route
            case SendHook(member=name, hook=hook, epoch=epoch, seq=seq):
                member = self.members[name]
                if not member.alive:
                    return False
                if member.frozen:
                    member.buffered.append((hook, epoch, seq))
                    return False
                return member.receive(hook, epoch, seq)
        raise TypeError(f"not an op: {op!r}")

    def flushall(self) -> None:
        self.note("FLUSHALL")
        self.redis.route = None
        self.routes.append(None)
        self.flushes += 1
