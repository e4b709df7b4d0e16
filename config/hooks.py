"""Hooks that change the world on a failover or switchover: fence and promote."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from config.fields import Block, HookTimeout, HookUrl, Template


class HttpActionConfig(Block):
    kind: Literal["http"]
    url: HookUrl
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    headers: dict[str, Template] = Field(default_factory=dict)
    body: Template | None = None
    timeout: HookTimeout = 5.0


def _environment(env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a variable name (letters, digits and _, "
                             "not starting with a digit)")
        if "\0" in value:
            raise ValueError(f"{name}: a value cannot hold a NUL byte")
    return env


class ExecActionConfig(Block):
    kind: Literal["exec"]
    argv: list[Template] = Field(min_length=1)
    timeout: HookTimeout = 10.0
    # Added to the hook's environment, which otherwise holds only PATH, HOME, LANG and
    # LC_ALL: the daemon's secrets are not passed on.
    env: Annotated[dict[str, str], AfterValidator(_environment)] = Field(default_factory=dict)


ActionConfig = Annotated[HttpActionConfig | ExecActionConfig, Field(discriminator="kind")]
