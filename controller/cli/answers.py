"""The API's answers as the CLI reads them: typed, and checked in one place, so an answer
without a field the CLI needs (another version, or not this API at all) ends in one line
naming the field instead of a traceback. Fields the CLI does not read are ignored."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from controller.cli.client import CliError
from controller.core.switchover import Phase


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# --- GET /v1/status -----------------------------------------------------------------------


class Member(Answer):
    health: str
    latency_ms: float | None = None
    ready: bool = True
    unfenced: bool = False
    not_ready: tuple[str, ...] = ()
    primary_probe: str | None = None  # None: it has none; "standby": not run
    views: dict[str, str] = {}  # each live replica's verdict on it, the asked one's included


class Paused(Answer):
    by: str = "?"
    until: float | None = None


class Evacuation(Answer):
    reason: str | None = None
    wake_at: float | None = None


class OpenRequest(Answer):
    id: str
    phase: str
    to: str | None = None
    target: str | None = None
    at: float | None = None
    requested_by: str = "?"


class Follower(Answer):
    """A follower as the controller last read its acknowledgement."""

    name: str
    version: int | None = None
    confirmed: bool = False
    behind: bool = False
    stale: bool = False
    lag_s: float | None = None
    heartbeat_age_s: float | None = None
    missing: bool = False  # configured, never heard from


class Service(Answer):
    primary: str | None = None
    version: int | None = None  # the route's, in the asked replica's view
    mode: str
    redundant: bool = True
    split_view: bool = False  # the asked replica sees the primary failing, too few agree
    quorum: int | None = None
    paused: Paused | None = None
    evacuation: Evacuation | None = None
    switchovers: tuple[OpenRequest, ...] = ()
    members: dict[str, Member]
    followers: tuple[Follower, ...] = ()  # older controllers: none shown
    followers_refused: int = 0


class StoreLink(Answer):
    ok: bool = True
    state: str = "?"
    out_seconds: float = 0.0
    out_since: float | None = None
    error: str | None = None


class Status(Answer):
    node: str | None = None
    leader: bool = False  # the asked replica holds the leadership
    leader_node: str | None = None
    epoch: int | None = None
    # Older controllers say nothing of their stores: nothing is shown then.
    stores: dict[str, StoreLink] = {}
    session: str | None = None
    can_act: bool | None = None
    why_not: tuple[str, ...] = ()
    services: dict[str, Service]


# --- GET /v1/services/{name}/explain ------------------------------------------------------


class Condition(Answer):
    check: str
    ok: bool
    reason: str | None = None
    until_iso: str | None = None
    evidence: dict[str, Any] = {}


class Explained(Answer):
    service: str
    node: str | None = None
    leader_node: str | None = None
    epoch: int | None = None
    mode: str
    would_fail_over: bool
    action: str | None = None  # "dry-run": it would, but only records that it would
    target: str | None = None
    reason: str | None = None
    policy_reason: str | None = None  # the policy's, when a store outage blocks first
    conditions: tuple[Condition, ...]
    followers: tuple[Follower, ...] = ()


# --- GET /v1/services/{name}/history ------------------------------------------------------


class History(Answer):
    # Entries differ by event; history.py reads each field as whatever it holds.
    entries: tuple[dict[str, Any], ...]


# --- switchover, cancel, pause, resume ----------------------------------------------------


class Step(Answer):
    step: str = "?"
    member: str | None = None
    ok: bool = False
    ms: float | None = None
    detail: Any = None


class Switchover(Answer):
    id: str
    phase: Phase
    version: int
    steps: tuple[Step, ...] = ()
    to: str | None = None
    source: str | None = None
    target: str | None = None
    at_iso: str | None = None
    reason: str | None = None
    detail: Any = None
    rolled_back: bool = False


class Refused(Answer):
    """A 409's detail when the switchover is unsafe now."""

    reason: str
    evidence: dict[str, Any] = {}


class PauseAnswer(Answer):
    until_iso: str | None = None
    already_paused: bool = False


class ResumeAnswer(Answer):
    was_paused: bool


A = TypeVar("A", bound=Answer)


def parse(model: type[A], answer: Any, what: str) -> A:
    """``answer`` as ``model``; CliError naming the first field that does not fit."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the answer"
        raise CliError(f"{what}: unexpected answer ({where}: {error['msg'].lower()}); "
                       f"is --api a failover controller of this version?") from None
