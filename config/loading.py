"""Load a config file: YAML, ``${VAR}`` expansion, environment overrides, secret files.

Every problem is reported with the key path it belongs to (``services[0].members[1].probe.url:
...``) and all problems are collected before giving up, so an operator fixes a file in one go.
Nothing here starts anything: a ConfigError means nothing was applied.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from config.environment import (
    CLI_VARIABLES,
    ENV_PREFIX,
    apply_overrides,
    expand,
    ignored_env_names,
    override_path,
)
from config.fields import password_problem, token_problem
from config.models import Config
from config.problems import ConfigError, Report, describe
from config.relations import Loc, format_path, relation_problems
from config.source import CONFIG_LIMIT, SECRET_LIMIT, Unreadable, read_text
from config.yamltree import Refused, YamlRefused, load_yaml

__all__ = ["CLI_VARIABLES", "ENV_PREFIX", "ConfigError", "format_path", "ignored_env_names",
           "load_config", "node_identity", "override_path", "parse_config"]

# (section, value key, file key): a secret may be given inline or read from a file.
SECRET_FILES = (
    ("api", "token", "token_file"),
    ("redis", "password", "password_file"),
    ("redis", "sentinel_password", "sentinel_password_file"),
    ("zookeeper", "password", "password_file"),
)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, expand, override and validate the file at ``path``."""
    env = os.environ if env is None else env
    try:
        text = read_text(path, CONFIG_LIMIT)
    except Unreadable as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc}"]) from None
    try:
        raw, found = load_yaml(text, str(path))
    except YamlRefused as exc:
        raise ConfigError([str(exc)]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping, not "
                           f"{'a list' if isinstance(raw, list) else 'a single value'}"])
    report = Report()
    for loc, message in found:
        report.at(loc, message)
    return _parse(raw, env, report)


def parse_config(raw: dict[str, Any], env: Mapping[str, str]) -> Config:
    """Validate already-parsed data (tests, tools); ``load_config`` reads a file first."""
    return _parse(raw, env, Report())


def _parse(raw: dict[str, Any], env: Mapping[str, str], report: Report) -> Config:
    data = expand(raw, env, (), report)
    apply_overrides(data, env, report)
    _read_secret_files(data, report)
    config: Config | None = None
    exc: ValidationError | None = None
    refused: set[Loc] = set()
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        refused = describe(error, data, report)
        exc = error
    # Rules between keys, on the raw input so none waits for another fix; a value already
    # refused takes no part (an interval of 1e-9 is reported once, as out of range).
    for loc, message in relation_problems(_without(data, refused)):
        if not report.is_claimed(loc):
            report.at(loc, message, claim=False)
    if report.lines:
        raise report.error()
    if config is None:  # refused by a rule the raw pass did not see: say pydantic's words
        raise ConfigError([f"(top level): {' '.join(str(exc).split())}"])
    return config


def _without(value: Any, refused: set[Loc], loc: Loc = ()) -> Any:
    """``value`` with each refused value replaced by a placeholder no rule reads."""
    if loc in refused:
        return Refused()
    if isinstance(value, dict):
        return {k: _without(v, refused, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(v, refused, (*loc, i)) for i, v in enumerate(value)]
    return value


def node_identity(config: Config) -> str:
    """The replica's name in ZooKeeper, probe headers and logs."""
    return config.node_id or f"{os.uname().nodename}:{os.getpid()}"


def _read_secret_files(data: dict[str, Any], report: Report) -> None:
    for section, key, file_key in SECRET_FILES:
        _read_secret_file(data.get(section), (section,), key, file_key, report)
    tokens = data.get("api", {}).get("tokens") if isinstance(data.get("api"), dict) else None
    if isinstance(tokens, list):
        for i, block in enumerate(tokens):
            _read_secret_file(block, ("api", "tokens", i), "token", "token_file", report)


def _read_secret_file(block: Any, loc: Loc, key: str, file_key: str, report: Report) -> None:
    if not isinstance(block, dict) or not block.get(file_key):
        return
    path = (*loc, file_key)
    if not isinstance(block[file_key], str):
        return  # validation says "expected text"
    if block.get(key) is not None:
        report.at(path, f"set {key} or {file_key}, not both")
        return
    try:
        secret = read_text(block[file_key], SECRET_LIMIT, private=True)
    except Unreadable as exc:
        report.at(path, f"cannot read {block[file_key]!r}: {exc}")
        return
    secret = secret.strip()  # the newline a file ends with, and any blank lines around
    problem = (token_problem if key == "token" else password_problem)(secret)
    if problem:
        report.at(path, f"{block[file_key]!r}: {problem}")
        report.claimed.append((*loc, key))
        return
    block[key] = secret
