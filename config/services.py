"""A service: its failover policy, its members and where its route is also published."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from config.fields import (
    Block,
    Cooldown,
    Count,
    FollowerName,
    HostPort,
    LongWait,
    Name,
    Priority,
    ProbeInterval,
    ProbeTimeout,
    SwitchoverWait,
    fail,
    parse_flag,
    parse_whole,
)
from config.hooks import ActionConfig
from config.probing import ProbeConfig, ReadinessConfig
from config.relations import (
    POLICY_DEFAULTS,
    member_problems,
    policy_problems,
    raise_relations,
    service_problems,
)
from config.windows import parse_window


def _quorum(value: Any) -> Any:
    if value == "majority":
        return value
    try:
        return parse_whole(value, 1, 1000)
    except PydanticCustomError:
        raise fail("expected 'majority' or a whole number from 1 to 1000") from None


def _window(text: str) -> str:
    try:
        parse_window(text)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return text


def _distinct(names: list[str]) -> list[str]:
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise fail(f"named more than once: {', '.join(twice)}")
    return names


AutoFailover = Annotated[bool | Literal["dry-run"],
                         BeforeValidator(lambda value: parse_flag(value, "dry-run"))]


class PolicyConfig(Block):
    interval: ProbeInterval = POLICY_DEFAULTS["interval"]
    fast_interval: ProbeInterval = POLICY_DEFAULTS["fast_interval"]
    timeout: ProbeTimeout = POLICY_DEFAULTS["timeout"]
    fall: Count = POLICY_DEFAULTS["fall"]
    rise: Count = POLICY_DEFAULTS["rise"]
    degraded_latency: ProbeTimeout = POLICY_DEFAULTS["degraded_latency"]
    cooldown: Cooldown = 60.0
    # After a failed attempt (promote hook refused, fence of a reachable primary failed) the
    # leader waits this long before trying again, so a broken hook is not hammered.
    retry_backoff: LongWait = 5.0
    auto_failover: AutoFailover = True
    # Switchover: how long to wait for the target to be healthy after fencing the old
    # primary, and how long the new primary must stay healthy before it counts as done.
    ready_timeout: SwitchoverWait = 10.0
    verify_window: SwitchoverWait = POLICY_DEFAULTS["verify_window"]
    # The inner bounds only show in the JSON Schema: _quorum has checked them already.
    quorum: Annotated[Annotated[int, Field(ge=1, le=1000)] | Literal["majority"],
                      BeforeValidator(_quorum)] = "majority"

    @model_validator(mode="after")
    def _relations(self) -> PolicyConfig:
        return raise_relations(self, policy_problems)


class MemberConfig(Block):
    name: Name
    address: HostPort
    priority: Priority = 0
    # Liveness, always run: "is it up, and could it take over?". A standby must pass it.
    probe: ProbeConfig
    # Run only while this member is the routed primary (a write canary): a failing one makes
    # the primary degraded; on a standby it is not run at all (it would fail when fenced).
    primary_probe: ProbeConfig | None = None
    promote: ActionConfig | None = None
    fence: ActionConfig | None = None
    readiness: list[ReadinessConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _relations(self) -> MemberConfig:
        return raise_relations(self, member_problems)


class TraefikConfig(Block):
    service: Name
    root_key: str = Field(default="traefik", min_length=1)
    scheme: Literal["http", "https"] = "http"


class ServiceConfig(Block):
    name: Name
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    members: list[MemberConfig] = Field(min_length=2)
    traefik: TraefikConfig | None = None
    # Pre-emptive switchover: when these readiness checks of the primary keep failing for
    # evacuate_after seconds and a ready standby exists, move off it (inside a window).
    evacuate_on: list[Name] = Field(default_factory=list)
    evacuate_after: LongWait = 60.0
    # "Sun 02:00-04:00 UTC"; none: any time
    windows: list[Annotated[str, AfterValidator(_window)]] = Field(default_factory=list)
    # The followers (HAProxy agents, RouteWatchers, by the name each acknowledges under)
    # that must apply every route change; none: every follower heard from in the last 60 s.
    followers: Annotated[list[FollowerName], AfterValidator(_distinct)] | None = Field(
        default=None, min_length=1)

    @model_validator(mode="after")
    def _relations(self) -> ServiceConfig:
        return raise_relations(self, service_problems)

    def member(self, name: str) -> MemberConfig | None:
        return next((m for m in self.members if m.name == name), None)
