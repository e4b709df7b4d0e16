"""Where the controller tells people what happened (Sentinel's notification-script,
orchestrator's PostFailoverProcesses): a webhook that takes a JSON body, or a command."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from config.fields import Block, Environment, HookTimeout, HttpUrl, Name, NotifyTemplate

# History events worth a message by default: what moved, what failed, who leads.
DEFAULT_EVENTS = ("route_changed", "failover_failed", "switchover_failed",
                  "switchover_done", "leadership_changed", "fence_late_failed",
                  "zookeeper_data_lost", "decision_rebuilt", "decision_refused",
                  "route_repaired", "followers_applied")


class _Target(Block):
    name: Name
    # History events sent to this target; empty: DEFAULT_EVENTS.
    events: list[Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]] = Field(
        default_factory=list, max_length=50)
    attempts: int = Field(default=3, ge=1, le=10)  # tries per notification, with back-off


class WebhookNotifyConfig(_Target):
    kind: Literal["webhook"]
    url: HttpUrl
    # Sent as they are, never shown (an Authorization header, a chat token).
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: HookTimeout = 5.0


class ExecNotifyConfig(_Target):
    kind: Literal["exec"]
    argv: list[NotifyTemplate] = Field(min_length=1)
    env: Environment = Field(default_factory=dict)
    timeout: HookTimeout = 10.0


NotifyConfig = Annotated[WebhookNotifyConfig | ExecNotifyConfig, Field(discriminator="kind")]
