"""The one vocabulary of the sequences that act (core/failover.py and the machines beside
it): the commands a machine asks its shell to carry out, in the imperative, and the answers
the shell hands back, in the past tense. The daemon's interpreter carries them out against
ZooKeeper, Redis and the members; the simulation against its in-memory stores. Neither
decides anything: which command comes next is the machine's alone.

Every write command goes out behind the office gate (in office, the epoch confirmed within
the lease): the shell's gate, in front of every write, so a machine never has to ask for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.core.records import Decided
from controller.core.recovery import RoutedAt
from controller.core.steps import Hook, Step
from controller.core.switchover import Checked, StepEnded, Switchover


class IllegalAnswer(ValueError):
    """An answer the machine's pending command cannot have; the state is left as it was."""


class Fault(StrEnum):
    """Why a command was not carried out (the domain's errors, core/errors.py, as data)."""

    NOT_IN_OFFICE = "not_in_office"  # nothing was sent
    FENCED = "fenced"  # definite: another leader's epoch is newer
    CONFLICT = "conflict"  # definite: the record changed since it was read
    STORE_ERROR = "store_error"  # no answer: the outcome is unknown


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckEpoch:
    """Confirm that ``epoch`` is still ours (the gate, on its own): ``EpochChecked``."""

    epoch: int


@dataclass(frozen=True, slots=True)
class RunHook:
    """Run ``member``'s fence or promote hook (behind the gate; a promote only to a member
    healthy in this replica's view): ``HookRan``."""

    hook: Hook
    member: str
    # The route's primary as the machine read it, the hook's {previous}; None: the newest
    # decision's (a switchover's hooks).
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class CheckPromotable:
    """Is ``member`` healthy in this replica's view, worth a write-ahead? ``Promotable``."""

    member: str


@dataclass(frozen=True, slots=True)
class WriteAhead:
    """Commit ``decided`` (the same route, a member marked as maybe promoted) against
    ``base_version``, before the promote goes out: ``Committed``."""

    decided: Decided
    base_version: int


@dataclass(frozen=True, slots=True)
class CommitDecision:
    """Commit ``decided`` against ``base_version``, the version of the very record it was
    built on: ``Committed``."""

    decided: Decided
    base_version: int
    # A switchover request saved in the same transaction: (record, its znode version).
    switchover: tuple[Switchover, int] | None = None


@dataclass(frozen=True, slots=True)
class Publish:
    """Copy the newest committed decision to Redis (``origin`` and ``detail`` go with it
    into the route's history): ``Published``."""

    origin: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Exclude:
    """``member`` failed to be promoted: no candidate again in this episode. ``Noted``."""

    member: str


@dataclass(frozen=True, slots=True)
class NoteUnfenced:
    """``member``'s fence failed and it does not answer: it stays marked (the log says so
    as it happens). ``Noted``."""

    member: str
    detail: str


@dataclass(frozen=True, slots=True)
class CreateDecision:
    """Write ``decided`` as ``service``'s first decision unless one exists: ``Created``.
    ``rebuilt``: it replaces one ZooKeeper lost (core/recovery.py says from what)."""

    service: str
    decided: Decided
    rebuilt: str | None = None


@dataclass(frozen=True, slots=True)
class ReadDecision:
    """Read ``service``'s decision (and take it as this replica's): ``DecisionRead``."""

    service: str


@dataclass(frozen=True, slots=True)
class ReadRoute:
    """Read ``service``'s route in Redis, a truth to rebuild a lost decision from:
    ``RouteRead``."""

    service: str


@dataclass(frozen=True, slots=True)
class EnterOffice:
    """Take office under ``epoch``, if this replica still holds it: ``Noted``."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Record:
    """Append ``event`` to ``service``'s history (``wait``: before anything else happens;
    else without waiting for it): ``Noted``."""

    service: str
    event: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    wait: bool = False


@dataclass(frozen=True, slots=True)
class Republish:
    """Read ``service``'s route, then publish the decision under our epoch, creating a
    route found missing: ``Noted`` (a failure is the reconcile's to mend)."""

    service: str


@dataclass(frozen=True, slots=True)
class LoadRequests:
    """Read every stored switchover request of ``service``: ``Noted``."""

    service: str


@dataclass(frozen=True, slots=True)
class Preflight:
    """May switchover ``request`` start now, on this replica's view? ``Checked``."""

    request: str
    to: str | None
    force: bool


@dataclass(frozen=True, slots=True)
class AwaitReady:
    """Wait until ``member`` is healthy (and ready, unless ``force``), at most ``timeout``
    seconds: ``StepEnded``."""

    member: str
    timeout: float
    force: bool


@dataclass(frozen=True, slots=True)
class VerifyPrimary:
    """``member`` must not turn failing for ``window`` seconds: ``StepEnded``."""

    member: str
    window: float


@dataclass(frozen=True, slots=True)
class ReadSnapshot:
    """The decision as this replica knows it now, and ``primary``'s address if it is a
    configured member: ``Snapshot``."""

    primary: str


@dataclass(frozen=True, slots=True)
class SaveSwitchover:
    """Save ``record`` against ``base_version``: ``Saved``."""

    record: Switchover
    base_version: int


@dataclass(frozen=True, slots=True)
class Reread:
    """Read the decision again (a commit found it changed, or could not tell): ``Noted``."""


@dataclass(frozen=True, slots=True)
class CountStoreError:
    """One more ZooKeeper error for the metrics: ``Noted``."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Nothing for ``seconds`` (a retry's backoff): ``Noted``."""

    seconds: float


Command = (CheckEpoch | RunHook | CheckPromotable | WriteAhead | CommitDecision | Publish
           | Exclude | NoteUnfenced | CreateDecision | ReadDecision | ReadRoute | EnterOffice
           | Record
           | Republish | LoadRequests | Preflight | AwaitReady | VerifyPrimary | ReadSnapshot
           | SaveSwitchover | Reread | CountStoreError | Sleep)


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpochChecked:
    ms: float


@dataclass(frozen=True, slots=True)
class HookRan:
    """``answers``: the member still answers its probes (a failed fence then leaves a member
    that may act as primary). ``step``: what the hook runner recorded, if it ran or refused
    one (None for a hook that is not configured)."""

    ok: bool
    detail: str
    answers: bool
    step: Step | None = None
    ms: float = 0.0  # the whole command, the gate included


@dataclass(frozen=True, slots=True)
class Promotable:
    refusal: str | None  # None: it may be promoted


@dataclass(frozen=True, slots=True)
class Committed:
    version: int  # the decision's znode version after the commit
    ms: float
    saved: int | None = None  # the switchover request's znode version, if one rode along


@dataclass(frozen=True, slots=True)
class Published:
    outcome: str | None  # Redis's answer; None: not published now (the reconcile will)
    ms: float


@dataclass(frozen=True, slots=True)
class Noted:
    pass


@dataclass(frozen=True, slots=True)
class Created:
    created: bool  # False: a decision existed


@dataclass(frozen=True, slots=True)
class DecisionRead:
    current: tuple[Decided, int] | None  # the decision and its znode version


@dataclass(frozen=True, slots=True)
class RouteRead:
    route: RoutedAt | None  # None: Redis holds no route for the service


@dataclass(frozen=True, slots=True)
class Snapshot:
    current: tuple[Decided, int] | None  # the decision and its znode version
    address: str | None  # the primary's, None if it is not a configured member


@dataclass(frozen=True, slots=True)
class Saved:
    version: int  # the request's znode version after the save


@dataclass(frozen=True, slots=True)
class Failed:
    """Not carried out. ``ms``: how long the write itself took, None when the gate stopped
    it before it went out."""

    fault: Fault
    detail: str
    ms: float | None = None


Answer = (EpochChecked | HookRan | Promotable | Committed | Published | Noted | Created
          | DecisionRead | RouteRead | Snapshot | Saved | Checked | StepEnded | Failed)


# --- how a sequence ends ----------------------------------------------------------------------


class Ending(StrEnum):
    DONE = "done"
    ABORTED = "aborted"  # it stopped on purpose (a code says why); nothing more is safe
    INTERRUPTED = "interrupted"  # left office: the next leader looks again
    FENCED = "fenced"  # another leader's epoch: step down
    CONFLICT = "conflict"  # the record changed since it was read: read it again
    STORE_FAILED = "store_failed"  # ZooKeeper did not answer: the outcome is unknown


ENDING_OF: Mapping[Fault, Ending] = {
    Fault.NOT_IN_OFFICE: Ending.INTERRUPTED,
    Fault.FENCED: Ending.FENCED,
    Fault.CONFLICT: Ending.CONFLICT,
    Fault.STORE_ERROR: Ending.STORE_FAILED,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a sequence ended. ``code``: why it was aborted (``fence_failed``,
    ``promote_failed``); ``detail``: one line for the log and history (a hook's answer, the
    store's error); ``primary``/``version``: the route it committed; ``published``: Redis's
    answer to the publish after it."""

    ending: Ending
    code: str | None = None
    detail: str = ""
    primary: str | None = None
    version: int | None = None
    published: str | None = None
