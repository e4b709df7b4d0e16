"""Probes (is a member up?) and readiness checks (could it take over?)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from config.fields import (
    Block,
    CheckInterval,
    CheckTemplate,
    CheckTimeout,
    Environment,
    HttpUrl,
    Name,
    Port,
    Status,
)
from config.relations import check_schedule_problems, raise_relations


class HttpProbeConfig(Block):
    kind: Literal["http"]
    url: HttpUrl
    method: Literal["GET", "HEAD", "POST", "PUT"] = "GET"
    expect_status: list[Status] = Field(
        default_factory=lambda: [200], min_length=1
    )
    body_contains: str | None = None
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class TcpProbeConfig(Block):
    kind: Literal["tcp"]
    host: str = Field(min_length=1)
    port: Port


class ExecProbeConfig(Block):
    """A command run directly (no shell): exit status 0 passes; its output is the detail."""

    kind: Literal["exec"]
    argv: list[CheckTemplate] = Field(min_length=1)
    # Added to its environment, which otherwise holds only PATH, HOME, LANG and LC_ALL (as
    # a hook's): the daemon's secrets are not passed on, nor shown in its output.
    env: Environment = Field(default_factory=dict)


ProbeConfig = Annotated[HttpProbeConfig | TcpProbeConfig | ExecProbeConfig,
                        Field(discriminator="kind")]


class CheckSchedule(Block):
    """A readiness check: not "is it up" but "could it take over": backups, RAID, disk."""

    name: Name
    interval: CheckInterval = 30.0
    timeout: CheckTimeout = 10.0

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> CheckSchedule:
        return raise_relations(self, check_schedule_problems)


class HttpCheckConfig(HttpProbeConfig, CheckSchedule):
    pass


class TcpCheckConfig(TcpProbeConfig, CheckSchedule):
    pass


class ExecCheckConfig(ExecProbeConfig, CheckSchedule):
    pass


ReadinessConfig = Annotated[HttpCheckConfig | TcpCheckConfig | ExecCheckConfig,
                            Field(discriminator="kind")]
