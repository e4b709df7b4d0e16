"""Configuration: typed models and the loader that reports every problem with its key path."""

from config.loading import (
    ConfigError,
    ignored_env_names,
    load_config,
    node_identity,
    parse_config,
)
from config.models import Config, MemberConfig, PolicyConfig, ServiceConfig

__all__ = [
    "Config",
    "ConfigError",
    "MemberConfig",
    "PolicyConfig",
    "ServiceConfig",
    "ignored_env_names",
    "load_config",
    "node_identity",
    "parse_config",
]
