"""What the leader makes of the route it finds in Redis. Pure: no I/O, no clock.

ZooKeeper is the authority on epochs: the epoch node's version is the newest epoch ever
handed out, and every legitimate writer of a route holds one of them. So a stored epoch that
is not a plain whole number, or that is above the newest epoch ZooKeeper has handed out, was
never written by a leader: it is corruption or forgery. Obeying it ("Redis holds a newer
epoch: step down") would let one hand-written key hold the route for good, the leader
stepping down and retaking office in a loop; it is repaired instead, by a compare-and-swap
on the very value read, so that a real writer that got there first is never overwritten.
A stored epoch above ours but within what ZooKeeper handed out is a real newer leader's,
and we step down.

One case is held back from the repair: an epoch above ZooKeeper's newest that comes with a
version above our decision's. That is what Redis holds after ZooKeeper lost its data and
started its epochs again, and there Redis, not the rebuilt decision, has the truth: it is
an alarm, with nothing overwritten and no stepping down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# Lua numbers are doubles: above 2**53 the route script could not tell two epochs apart.
MOST = 2**53
_WHOLE = re.compile(r"[0-9]{1,16}")


class Forgery(StrEnum):
    """Why a stored route cannot be a leader's."""

    NOT_A_WHOLE_NUMBER = "not_a_whole_number"  # epoch or version: nan, inf, 1e5, +3, ...
    ABOVE_NEWEST_EPOCH = "above_newest_epoch"  # no leader was ever handed that epoch
    NOT_A_ROUTE = "not_a_route"  # a field no controller writes (primary, address, ...)
    NOT_A_MEMBER = "not_a_member"  # a decision naming no configured member
    NOT_THE_MEMBERS_ADDRESS = "not_the_members_address"  # ... or another address for it


class Answer(StrEnum):
    KEEP = "keep"  # ours or older: the normal publish and reconcile apply
    ASK_ZOOKEEPER = "ask_zookeeper"  # newer than ours: judge again with ZooKeeper's newest
    STEP_DOWN = "step_down"  # a real newer leader wrote it
    REPAIR = "repair"  # no leader wrote it
    ALARM = "alarm"  # no leader of ZooKeeper's present wrote it, but it may be the truth


@dataclass(frozen=True, slots=True)
class Judged:
    answer: Answer
    forgery: Forgery | None = None


def whole(text: str) -> int | None:
    """A plain whole number from 0 to 2**53, as a leader writes one; None otherwise."""
    if not _WHOLE.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MOST else None


def unconfigured(primary: str, address: str, members: Mapping[str, str]) -> Forgery | None:
    """Why a decision read from ZooKeeper cannot be published: its primary is no member of
    the service as configured here (``members``: name -> address), or it routes that member
    at another address. None: it can."""
    if primary not in members:
        return Forgery.NOT_A_MEMBER
    if members[primary] != address:
        return Forgery.NOT_THE_MEMBERS_ADDRESS
    return None


def judge(epoch: str, version: str, route_ok: bool, ours: int, decided_version: int,
          newest: int | None = None) -> Judged:
    """The stored route's ``epoch`` and ``version`` as the text Redis holds, whether its
    other fields are a route's (``route_ok``), our epoch and decision's version, and the
    newest epoch ZooKeeper has handed out (None: not asked yet)."""
    stored, stored_version = whole(epoch), whole(version)
    if stored is None or stored_version is None:
        return Judged(Answer.REPAIR, Forgery.NOT_A_WHOLE_NUMBER)
    if not route_ok:
        return Judged(Answer.REPAIR, Forgery.NOT_A_ROUTE)
    if stored <= ours:
        return Judged(Answer.KEEP)
    if newest is None:
        return Judged(Answer.ASK_ZOOKEEPER)
    if stored > newest:
        answer = Answer.ALARM if stored_version > decided_version else Answer.REPAIR
        return Judged(answer, Forgery.ABOVE_NEWEST_EPOCH)
    return Judged(Answer.STEP_DOWN)
