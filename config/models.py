"""Typed configuration: the whole YAML file as pydantic models.

Every model forbids unknown keys, so a typo is an error with its key path rather than a
silently ignored setting. The blocks live in modules named for what they hold (probing,
hooks, services, infrastructure; value types in fields, rules between keys in relations);
this module holds the top level and keeps the names importable from one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.fields import Block, Name
from config.hooks import ActionConfig, ExecActionConfig, HttpActionConfig
from config.infrastructure import ApiConfig, ApiTokenConfig, RedisConfig, ZooKeeperConfig
from config.notify import ExecNotifyConfig, NotifyConfig, WebhookNotifyConfig
from config.probing import (
    ExecCheckConfig,
    ExecProbeConfig,
    HttpCheckConfig,
    HttpProbeConfig,
    ProbeConfig,
    ReadinessConfig,
    TcpCheckConfig,
    TcpProbeConfig,
)
from config.relations import config_problems, raise_relations
from config.services import MemberConfig, PolicyConfig, ServiceConfig, TraefikConfig
from config.shapes import NAME_PATTERN, split_host_port
from config.templates import CHECK_VARIABLES, HOOK_VARIABLES

TEMPLATE_VARIABLES = HOOK_VARIABLES


class Config(Block):
    cluster: Name = "default"
    node_id: str | None = Field(default=None, min_length=1, max_length=200)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    zookeeper: ZooKeeperConfig = Field(default_factory=ZooKeeperConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    services: list[ServiceConfig] = Field(min_length=1)
    # Who hears of failovers, switchovers, leadership changes and failed attempts.
    notify: list[NotifyConfig] = Field(default_factory=list, max_length=20)

    @field_validator("node_id", mode="before")
    @classmethod
    def _empty_node_id_is_the_default(cls, value: object) -> object:
        # `${HOSTNAME:-}` where HOSTNAME is not exported: use the default, hostname:pid.
        return None if value == "" else value

    @model_validator(mode="after")
    def _relations(self) -> Config:
        return raise_relations(self, config_problems)

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)


__all__ = [
    "CHECK_VARIABLES", "NAME_PATTERN", "TEMPLATE_VARIABLES", "ActionConfig", "ApiConfig",
    "ApiTokenConfig", "Config", "ExecActionConfig", "ExecCheckConfig", "ExecNotifyConfig",
    "ExecProbeConfig",
    "HttpActionConfig", "HttpCheckConfig", "HttpProbeConfig", "MemberConfig", "NotifyConfig",
    "PolicyConfig",
    "ProbeConfig", "ReadinessConfig", "RedisConfig", "ServiceConfig", "TcpCheckConfig",
    "TcpProbeConfig", "TraefikConfig", "WebhookNotifyConfig", "ZooKeeperConfig",
    "split_host_port",
]
