"""Load a config file: YAML, ``${VAR}`` expansion, environment overrides, secret files.

Every problem is reported with the key path it belongs to (``services[0].members[1].probe.url:
...``) and all problems are collected before giving up, so an operator fixes a file in one go.
Nothing here starts anything: a ConfigError means nothing was applied.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.models import (
    Config,
    api_relation_problems,
    duplicate_names_problem,
    policy_relation_problems,
)

ENV_PREFIX = "FAILOVER_"
# The CLI's own variables: read by the operator commands, never config overrides.
CLI_VARIABLES = frozenset({"FAILOVER_API_URL", "FAILOVER_API_TOKEN", "FAILOVER_API_CACERT"})
# Names Kubernetes gives a Service's docker-link variables end like this; only used to hint
# at the cause when one happens to have the override shape (a Service named failover-api--x).
_SERVICE_LINK = re.compile(r"_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)"
                           r"(_(ADDR|PORT|PROTO))?)?)$")
# (section, value key, file key): a secret may be given inline or read from a file.
SECRET_FILES = (
    ("api", "token", "token_file"),
    ("redis", "password", "password_file"),
    ("redis", "sentinel_password", "sentinel_password_file"),
    ("zookeeper", "password", "password_file"),
)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one located message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, expand, override and validate the file at ``path``."""
    env = os.environ if env is None else env
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror or exc}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {_one_line(exc)}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping, not {type(raw).__name__}"])
    return parse_config(raw, env)


def parse_config(raw: dict[str, Any], env: Mapping[str, str]) -> Config:
    problems: list[str] = []
    data = _expand(raw, env, (), problems)
    origins = _apply_env_overrides(data, env, problems)
    _read_secret_files(data, origins, problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        # Pydantic skips cross-field rules of a block whose fields failed; run them on the raw
        # input too so every problem shows in one pass.
        problems = _cross_field_problems(data) + _describe(exc, data, origins)
        raise ConfigError(list(dict.fromkeys(problems))) from None


def override_path(name: str) -> list[str] | None:
    """The key path an environment variable overrides, or None if it is no override.

    An override is ``FAILOVER_<SECTION>__<KEY>...`` (a section name starting with a letter,
    then ``__``) or ``FAILOVER_<TOP-LEVEL KEY>`` exactly (``FAILOVER_NODE_ID``). Anything else
    under the prefix is not ours: Kubernetes injects ``FAILOVER_API_SERVICE_HOST``,
    ``FAILOVER_FAILOVER_CONTROLLER_PORT_8080_TCP``... for Services named ``failover-*``
    (single underscores; ``failover--x`` gives ``FAILOVER__X_...``, no section), and the CLI
    reads ``FAILOVER_API_URL`` and friends.
    """
    if not name.startswith(ENV_PREFIX):
        return None
    rest = name[len(ENV_PREFIX) :]
    section, nested, _ = rest.partition("__")
    if nested:
        return [p.lower() for p in rest.split("__")] if section[:1].isalpha() else None
    return [rest.lower()] if rest.lower() in Config.model_fields else None


def ignored_env_names(env: Mapping[str, str]) -> list[str]:
    """``FAILOVER_*`` variables that are neither overrides nor the CLI's own, sorted."""
    return sorted(name for name in env if name.startswith(ENV_PREFIX)
                  and name not in CLI_VARIABLES and override_path(name) is None)


def node_identity(config: Config) -> str:
    """The replica's name in ZooKeeper, probe headers and logs."""
    return config.node_id or f"{os.uname().nodename}:{os.getpid()}"


# --- helpers ------------------------------------------------------------------------------


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _expand(value: Any, env: Mapping[str, str], loc: tuple[Any, ...], problems: list[str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, recursively."""
    if isinstance(value, dict):
        return {k: _expand(v, env, (*loc, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, (*loc, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(f"{format_path(loc)}: environment variable {name} is not set")
        return ""

    return _VAR.sub(substitute, value)


# Which override set a key path: its problems are reported under the variable's name.
Origins = dict[tuple[Any, ...], str]


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str],
                         problems: list[str]) -> Origins:
    """``FAILOVER_API__LISTEN=...`` sets ``api.listen``; ``__`` nests, digits index lists."""
    origins: Origins = {}
    for name in sorted(env):
        parts = override_path(name)
        if parts is None:
            continue
        if not all(parts):
            problems.append(f"{name}: malformed override (empty key between '__')")
            continue
        try:
            value = yaml.safe_load(env[name]) if env[name] else ""
        except yaml.YAMLError:
            value = env[name]
        node: Any = data
        loc: tuple[Any, ...] = ()
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append(f"{name}: no list item {part} at {'.'.join(parts[:i])}")
                    break
                loc += (int(part),)
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                loc += (part,)
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                problems.append(f"{name}: {'.'.join(parts[:i])} is not a section")
                break
        else:
            origins[loc] = name
    return origins


def _origin(loc: tuple[Any, ...], origins: Origins, below: bool = False) -> str | None:
    """The override that set ``loc`` or a block above it; with ``below``, also one that set a
    key under it (an unknown section such as ``FAILOVER_APII__LISTEN`` is reported at
    ``apii``)."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    if below:
        return next((name for path, name in sorted(origins.items(), key=lambda o: o[1])
                     if path[: len(loc)] == loc), None)
    return None


def _located(loc: tuple[Any, ...], origin: str | None) -> str:
    """The key path, after the name of the override it came from, if it did."""
    return f"{origin}: {format_path(loc)}" if origin else format_path(loc)


def _read_secret_files(data: dict[str, Any], origins: Origins, problems: list[str]) -> None:
    for section, key, file_key in SECRET_FILES:
        _read_secret_file(data.get(section), (section,), key, file_key, origins, problems)
    tokens = data.get("api", {}).get("tokens") if isinstance(data.get("api"), dict) else None
    if isinstance(tokens, list):
        for i, block in enumerate(tokens):
            _read_secret_file(block, ("api", "tokens", i), "token", "token_file", origins,
                              problems)


def _read_secret_file(block: Any, loc: tuple[Any, ...], key: str, file_key: str,
                      origins: Origins, problems: list[str]) -> None:
    if not isinstance(block, dict) or not block.get(file_key):
        return
    path = (*loc, file_key)
    where = _located(path, _origin(path, origins))
    if block.get(key):
        problems.append(f"{where}: set {key} or {file_key}, not both")
        return
    try:
        secret = Path(str(block[file_key])).read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{where}: cannot read {block[file_key]!r}: {exc.strerror or exc}")
        return
    if not secret:
        problems.append(f"{where}: {block[file_key]!r} is empty")
        return
    block[key] = secret


def _cross_field_problems(data: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if isinstance(data.get("api"), dict):
        problems += [f"api: {p}" for p in api_relation_problems(data["api"])]
    services = data.get("services")
    if not isinstance(services, list):
        return problems
    problem = duplicate_names_problem([s.get("name") for s in services if isinstance(s, dict)],
                                      "service")
    if problem:
        problems.append(f"services: {problem}")
    for i, service in enumerate(services):
        if not isinstance(service, dict):
            continue
        members = service.get("members")
        if isinstance(members, list):
            names = [m.get("name") for m in members if isinstance(m, dict)]
            problem = duplicate_names_problem(names, "member")
            if problem:
                problems.append(f"services[{i}].members: {problem}")
            for j, member in enumerate(members):
                checks = member.get("readiness") if isinstance(member, dict) else None
                if isinstance(checks, list):
                    problem = duplicate_names_problem(
                        [c.get("name") for c in checks if isinstance(c, dict)],
                        "readiness check")
                    if problem:
                        problems.append(f"services[{i}].members[{j}].readiness: {problem}")
        policy = service.get("policy")
        if isinstance(policy, dict):
            problems += [f"services[{i}].policy: {p}" for p in policy_relation_problems(policy)]
    return problems


def _describe(exc: ValidationError, data: Any, origins: Origins) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _strip_union_tags(tuple(error["loc"]), data)
        message = error["msg"].removeprefix("Value error, ")
        unknown = error["type"] == "extra_forbidden"
        origin = _origin(loc, origins, below=unknown)
        if unknown:
            message = "unknown key"
            if origin and _SERVICE_LINK.search(origin):
                message += (" (a Kubernetes service link? Services named failover-<section>--*"
                            " need enableServiceLinks: false)")
        elif error["type"] == "union_tag_invalid":
            ctx = error.get("ctx") or {}
            message = f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{_located(loc, origin)}: {message}")
    return problems


def _strip_union_tags(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Pydantic puts a discriminated union's tag ('http') into the path; users never wrote it."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
