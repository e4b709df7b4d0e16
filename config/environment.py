"""What the environment adds to a config file: ``${VAR}`` expansion and overrides.

``${NAME}`` and ``${NAME:-default}`` expand as a shell does (the default also when NAME is
set but empty); any other ``${...}`` form is refused rather than passed through. An override
``FAILOVER_<SECTION>__<KEY>`` sets a key to its value *as text*: only a key that holds a list
or a block reads its value as YAML, and numbers and booleans are read from text by the
fields themselves (``config.fields``), so a secret such as ``s3cret #1`` or ``null`` stays
exactly that.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from config.models import Config
from config.problems import Origins, Report
from config.relations import Loc, format_path
from config.yamltree import Refused, YamlRefused, load_yaml

ENV_PREFIX = "FAILOVER_"
# The CLI's own variables: read by the operator commands, never config overrides.
CLI_VARIABLES = frozenset({"FAILOVER_API_URL", "FAILOVER_API_TOKEN", "FAILOVER_API_CACERT"})
_REFERENCE = re.compile(r"\$\{([^}]*)(\}?)")
_FORM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


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


def expand(value: Any, env: Mapping[str, str], loc: Loc, report: Report) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, recursively."""
    if isinstance(value, dict):
        return {k: expand(v, env, (*loc, k), report) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env, (*loc, i), report) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        inner, closed = match.group(1), match.group(2)
        form = _FORM.fullmatch(inner)
        if not closed or form is None or "${" in (form.group(2) or ""):
            shown = "${" + inner[:40] + closed
            report.at(loc, f"unsupported {shown!r}: only ${{NAME}} and ${{NAME:-default}} "
                           "are expanded")
            return ""
        name, default = form.group(1), form.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default  # like a shell: also when the variable is set but empty
        if name in env:
            return ""
        report.at(loc, f"environment variable {name} is not set")
        return ""

    return _REFERENCE.sub(substitute, value)


def apply_overrides(data: dict[str, Any], env: Mapping[str, str], report: Report) -> Origins:
    """``FAILOVER_API__LISTEN=...`` sets ``api.listen``; ``__`` nests, digits index lists."""
    origins: Origins = report.origins
    for name in sorted(env):
        parts = override_path(name)
        if parts is None:
            continue
        if not all(parts):
            report.line(f"{name}: malformed override (empty key between '__')")
            continue
        node: Any = data
        loc: Loc = ()
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            key: str | int = part
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    report.line(f"{name}: {format_path(loc)}: has no item {part}")
                    break
                key = int(part)
            elif not isinstance(node, dict):
                report.line(f"{name}: {format_path(loc)}: holds a value, not keys")
                break
            loc += (key,)
            if last:
                node[key] = _value(name, env[name], loc, data, report)
            elif isinstance(node, dict):
                node = node.setdefault(key, {})
            else:
                node = node[key]
        else:
            origins[loc] = name
    return origins


def _value(name: str, text: str, loc: Loc, data: Any, report: Report) -> Any:
    """The override's text, or for a key that holds a list or block, its YAML."""
    if not _holds_structure(loc, data):
        return text
    try:
        value, found = load_yaml(text, name)
    except YamlRefused as exc:
        report.line(str(exc))
        report.claimed.append(loc)
        return Refused()
    for where, message in found:
        report.line(f"{name}: {message}" + (f" (at {where})" if where else ""))
    return value


def _holds_structure(loc: Loc, data: Any) -> bool:
    """Does the key at ``loc`` hold a list, a mapping or a block (as the models declare)?"""
    hint: Any = Config
    node = data
    for part in loc:
        hint = _concrete(hint, node)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            field = hint.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return False
            hint = field.annotation
        elif get_origin(hint) in (list, dict):
            hint = get_args(hint)[-1]
        else:
            return False
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int)
            and part < len(node) else None)
    hint = _concrete(hint, node)
    return get_origin(hint) in (list, dict) or (
        isinstance(hint, type) and issubclass(hint, BaseModel))


def _concrete(hint: Any, node: Any) -> Any:
    """Through ``Annotated`` and ``X | None``; in a union of blocks, the one of node's kind."""
    while True:
        if get_origin(hint) is Annotated:
            hint = get_args(hint)[0]
        elif get_origin(hint) in (Union, types.UnionType):
            options = [a for a in get_args(hint) if a is not type(None)]
            blocks = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
            kind = node.get("kind") if isinstance(node, dict) else None
            hint = next((b for b in blocks if kind in get_args(b.model_fields["kind"]
                                                                .annotation)), options[0])
        else:
            return hint
