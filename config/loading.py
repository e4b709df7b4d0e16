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
# (section, value key, file key): a secret may be given inline or read from a file.
SECRET_FILES = (
    ("api", "token", "token_file"),
    ("redis", "password", "password_file"),
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
    _apply_env_overrides(data, env, problems)
    _read_secret_files(data, problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        # Pydantic skips cross-field rules of a block whose fields failed; run them on the raw
        # input too so every problem shows in one pass.
        problems = _cross_field_problems(data) + _describe(exc, data)
        raise ConfigError(list(dict.fromkeys(problems))) from None


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


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    """``FAILOVER_API__LISTEN=...`` sets ``api.listen``; ``__`` nests, digits index lists."""
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in ("FAILOVER_API_URL", "FAILOVER_API_TOKEN"):
            continue  # the two CLI variables are not config overrides
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            problems.append(f"{name}: malformed override (empty key between '__')")
            continue
        try:
            value = yaml.safe_load(env[name]) if env[name] else ""
        except yaml.YAMLError:
            value = env[name]
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append(f"{name}: no list item {part} at {'.'.join(parts[:i])}")
                    break
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                problems.append(f"{name}: {'.'.join(parts[:i])} is not a section")
                break


def _read_secret_files(data: dict[str, Any], problems: list[str]) -> None:
    for section, key, file_key in SECRET_FILES:
        _read_secret_file(data.get(section), section, key, file_key, problems)
    tokens = data.get("api", {}).get("tokens") if isinstance(data.get("api"), dict) else None
    if isinstance(tokens, list):
        for i, block in enumerate(tokens):
            _read_secret_file(block, f"api.tokens[{i}]", "token", "token_file", problems)


def _read_secret_file(block: Any, where: str, key: str, file_key: str,
                      problems: list[str]) -> None:
    if not isinstance(block, dict) or not block.get(file_key):
        return
    if block.get(key):
        problems.append(f"{where}.{file_key}: set {key} or {file_key}, not both")
        return
    try:
        secret = Path(str(block[file_key])).read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{where}.{file_key}: cannot read {block[file_key]!r}: "
                        f"{exc.strerror or exc}")
        return
    if not secret:
        problems.append(f"{where}.{file_key}: {block[file_key]!r} is empty")
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


def _describe(exc: ValidationError, data: Any) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _strip_union_tags(tuple(error["loc"]), data)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "union_tag_invalid":
            ctx = error.get("ctx") or {}
            message = f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{format_path(loc)}: {message}")
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
