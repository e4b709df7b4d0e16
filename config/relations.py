"""Rules between keys (``fast_interval`` <= ``interval``, unique names, username with
password...), as pure functions of one block's raw mapping.

The loader runs them on the raw input, so a rule is reported even when a field beside it is
invalid (pydantic skips a block's model validators then) and every problem shows in one pass;
the models run the same functions so a config built in code obeys them too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from config.fields import TIMEOUT_PER_INTERVAL, number_of
from config.templates import fields_in

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]
Rule = Callable[[Mapping[str, Any]], Found]
Model = TypeVar("Model", bound=BaseModel)

POLICY_DEFAULTS: dict[str, Any] = {"interval": 0.5, "fast_interval": 0.1, "timeout": 1.0,
                                   "fall": 3, "rise": 2, "degraded_latency": 0.5,
                                   "verify_window": 5.0}
CHECK_DEFAULTS: dict[str, Any] = {"interval": 30.0, "timeout": 10.0}
RELATION = "relation"  # the error type the loader skips: it reports these with their paths


def format_path(loc: tuple[Any, ...]) -> str:
    """``services[0].members[1].address``; a key that is no plain name is quoted: ``['a b']``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            out += f"[{str(part)[:60]!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def raise_relations(model: Model, rule: Rule) -> Model:
    """For a model validator: refuse ``model`` if ``rule`` finds anything."""
    found = rule(model.model_dump())
    if found:
        raise PydanticCustomError(RELATION, "; ".join(
            f"{format_path(loc)}: {message}" if loc else message for loc, message in found))
    return model


def _positive(value: Any) -> float | None:
    """A number usable in a rule: valid fields only (a bad one is reported by itself)."""
    number = number_of(value)
    return number if number is not None and number > 0 else None


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] \
        if isinstance(value, list) else []


def _duplicates(blocks: Any, key: str, what: str) -> str | None:
    names = [b.get(key) for _, b in _items(blocks)]
    dup = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    return f"duplicate {what} name(s): {', '.join(dup)}" if dup else None


def _unique(block: Mapping[str, Any], key: str, what: str) -> Found:
    problem = _duplicates(block.get(key), "name", what)
    return [((key,), problem)] if problem else []


def _timeout_problem(timeout: float | None, interval: float | None) -> str | None:
    if timeout is not None and interval is not None and timeout > TIMEOUT_PER_INTERVAL * interval:
        return (f"{timeout:g} must not exceed {TIMEOUT_PER_INTERVAL} x interval "
                f"({TIMEOUT_PER_INTERVAL * interval:g})")
    return None


def policy_problems(block: Mapping[str, Any]) -> Found:
    policy = {**POLICY_DEFAULTS, **block}
    fast, interval = _positive(policy["fast_interval"]), _positive(policy["interval"])
    latency, timeout = _positive(policy["degraded_latency"]), _positive(policy["timeout"])
    fall, window = _positive(policy["fall"]), _positive(policy["verify_window"])
    found: list[str] = []
    if fast is not None and interval is not None and fast > interval:
        found.append(f"fast_interval ({fast:g}) must not exceed interval ({interval:g})")
    if latency is not None and timeout is not None and latency >= timeout:
        found.append(f"degraded_latency ({latency:g}) must be below timeout ({timeout:g})")
    if problem := _timeout_problem(timeout, interval):
        found.append(f"timeout {problem}")
    if None not in (fast, interval, fall, window):
        assert fast is not None and interval is not None and fall is not None
        detect = interval + fall * fast
        if window is not None and window < detect:
            found.append(f"verify_window ({window:g}) must be at least interval + fall * "
                         f"fast_interval ({detect:g}), or a failing new primary could "
                         "not be noticed within it")
    return [((), message) for message in found]


def check_schedule_problems(block: Mapping[str, Any]) -> Found:
    check = {**CHECK_DEFAULTS, **block}
    problem = _timeout_problem(_positive(check["timeout"]), _positive(check["interval"]))
    return [(("timeout",), problem)] if problem else []


def member_problems(block: Mapping[str, Any]) -> Found:
    return _unique(block, "readiness", "readiness check") + _seq_problems(block)


def _templates(action: Any) -> list[str]:
    """Every template text of a hook's raw mapping (url, headers, body, argv)."""
    if not isinstance(action, Mapping):
        return []
    headers = action.get("headers")
    argv = action.get("argv")
    texts = [action.get("url"), action.get("body"),
             *(headers.values() if isinstance(headers, Mapping) else ()),
             *(argv if isinstance(argv, list) else ())]
    return [t for t in texts if isinstance(t, str)]


def _seq_problems(block: Mapping[str, Any]) -> Found:
    """A target that compares (epoch, seq) counts a missing seq as 0 or refuses it: a
    member whose fence passes {seq} and whose promote does not (or the other way) would
    have every promote after a fence refused, or accept hooks that crossed in flight."""
    uses = {hook: any("seq" in fields_in(t) for t in _templates(block.get(hook)))
            for hook in ("fence", "promote") if isinstance(block.get(hook), Mapping)}
    if len(uses) == 2 and uses["fence"] != uses["promote"]:
        with_it, without = ("fence", "promote") if uses["fence"] else ("promote", "fence")
        return [((without,), f"passes no {{seq}} while {with_it} does: pass {{epoch}} and "
                 "{seq} to both hooks, or {seq} to neither")]
    return []


def _primary_probe_problems(block: Mapping[str, Any]) -> Found:
    """A switchover's verify step waits for the new primary's primary_probe to pass ``rise``
    times from a fresh start (probed at once, then every fast_interval): the window must
    leave room for that, or every switchover to a member with one would fail."""
    with_one = [j for j, m in _items(block.get("members")) if m.get("primary_probe")]
    raw = block.get("policy")
    policy = {**POLICY_DEFAULTS, **(raw if isinstance(raw, dict) else {})}
    rise, fast = _positive(policy["rise"]), _positive(policy["fast_interval"])
    timeout, window = _positive(policy["timeout"]), _positive(policy["verify_window"])
    if not with_one or None in (rise, fast, timeout, window):
        return []
    assert rise is not None and fast is not None and timeout is not None
    needed = rise * (fast + timeout)
    if window is not None and window < needed:
        return [(("members", with_one[0], "primary_probe"),
                 f"needs policy.verify_window ({window:g}) at least rise * (fast_interval + "
                 f"timeout) ({needed:g}), for a new primary's primary_probe to pass in it")]
    return []


def service_problems(block: Mapping[str, Any]) -> Found:
    found = _unique(block, "members", "member") + _primary_probe_problems(block)
    seen: dict[str, int] = {}
    for j, member in _items(block.get("members")):
        address = member.get("address")
        if isinstance(address, str):
            if address in seen:
                found.append((("members", j, "address"),
                              f"{address} is also members[{seen[address]}]'s address"))
            seen.setdefault(address, j)
    known = {c.get("name") for _, m in _items(block.get("members"))
             for _, c in _items(m.get("readiness"))}
    evacuate_on = block.get("evacuate_on")
    for k, name in enumerate(evacuate_on if isinstance(evacuate_on, list) else []):
        if isinstance(name, str) and name not in known:
            found.append((("evacuate_on", k), f"no member has a readiness check named {name!r}"))
    return found


def redis_problems(block: Mapping[str, Any]) -> Found:
    if block.get("sentinels"):
        return [] if block.get("master") else [
            ((), "sentinels needs master (the name Sentinel monitors)")]
    if not block.get("url", "redis://"):
        return [((), "either url or sentinels + master is required")]
    return []


def zookeeper_problems(block: Mapping[str, Any]) -> Found:
    user = block.get("username") is not None
    password = block.get("password") is not None or bool(block.get("password_file"))
    if user and not password:
        return [(("username",), "is set without a password (password or password_file): "
                                "ZooKeeper would run without authentication")]
    if password and not user:
        return [(("password",), "is set without a username")]
    return []


def api_token_problems(block: Mapping[str, Any]) -> Found:
    if block.get("token") is None and not block.get("token_file"):
        return [((), "token or token_file is required")]
    return []


def api_problems(block: Mapping[str, Any]) -> Found:
    found: Found = []
    if (block.get("tls_cert_file") is None) != (block.get("tls_key_file") is None):
        found.append(((), "tls_cert_file and tls_key_file go together"))
    found += _unique(block, "tokens", "token")
    if block.get("token") is not None or block.get("token_file"):
        for i, token in _items(block.get("tokens")):
            if token.get("name") == "operator":
                found.append((("tokens", i, "name"), "'operator' is the name of the unnamed "
                              "api.token already; choose another name"))
    return found


def config_problems(block: Mapping[str, Any]) -> Found:
    return _unique(block, "services", "service")


def relation_problems(data: Mapping[str, Any]) -> Found:
    """Every rule of every block of a raw config, with full key paths."""
    found: Found = []

    def run(loc: Loc, block: Any, rule: Rule) -> None:
        if isinstance(block, dict):
            found.extend(((*loc, *where), message) for where, message in rule(block))

    run((), data, config_problems)
    run(("zookeeper",), data.get("zookeeper"), zookeeper_problems)
    run(("redis",), data.get("redis"), redis_problems)
    api = data.get("api")
    run(("api",), api, api_problems)
    for i, token in _items(api.get("tokens") if isinstance(api, dict) else None):
        run(("api", "tokens", i), token, api_token_problems)
    for i, service in _items(data.get("services")):
        run(("services", i), service, service_problems)
        run(("services", i, "policy"), service.get("policy"), policy_problems)
        for j, member in _items(service.get("members")):
            run(("services", i, "members", j), member, member_problems)
            for k, check in _items(member.get("readiness")):
                run(("services", i, "members", j, "readiness", k), check,
                    check_schedule_problems)
    return found
