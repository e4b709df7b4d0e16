"""Hooks that change the world on a failover or switchover: fence and promote."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from config.fields import Block, Environment, HookTimeout, HookUrl, Template


class HttpActionConfig(Block):
    kind: Literal["http"]
    url: HookUrl
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    headers: dict[str, Template] = Field(default_factory=dict)
    body: Template | None = None
    timeout: HookTimeout = 5.0


class ExecActionConfig(Block):
    kind: Literal["exec"]
    argv: list[Template] = Field(min_length=1)
    timeout: HookTimeout = 10.0
    # Added to the hook's environment, which otherwise holds only PATH, HOME, LANG and
    # LC_ALL: the daemon's secrets are not passed on.
    env: Environment = Field(default_factory=dict)


ActionConfig = Annotated[HttpActionConfig | ExecActionConfig, Field(discriminator="kind")]
