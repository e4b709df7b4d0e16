"""Value types of the config: numbers with documented bounds, names, addresses, secrets.

Numbers are strict: ``true`` is not 1 and ``3.0`` is not a whole number. Text is read as a
number or a boolean only where one is expected and only when written as one (``5``, ``0.5``,
``-2``, ``1e3``, ``true``, ``false``), so a value from the environment (always text) works for
a numeric key while a secret that looks like a number stays text. Every message says what is
expected in a user's words, never a type's internal name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SecretStr,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from config.redaction import redact_url
from config.shapes import FOLLOWER_PATTERN, NAME_PATTERN, split_host_port
from config.templates import CHECK_VARIABLES, HOOK_VARIABLES, NOTIFY_VARIABLES, template_problem

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_MAX_DIGITS = 30  # beyond every bound below; longer text is refused before int() sees it


class Block(BaseModel):
    """Every block: unknown keys are errors (a typo is located, not ignored); frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def fail(message: str) -> PydanticCustomError:
    """A refusal whose message is shown as written (no "Value error, " prefix)."""
    return PydanticCustomError("config", message)


def number_of(value: Any) -> float | None:
    """A finite number from a YAML number or number-shaped text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 10**_MAX_DIGITS else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= 2 * _MAX_DIGITS and _FLOAT_TEXT.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _bounds(low: float, high: float, unit: str) -> str:
    return f"must be from {low:g} to {high:g}{unit}"


def parse_whole(value: Any, low: int, high: int) -> int:
    """A whole number within [low, high] from a YAML integer or number-shaped text."""
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        value = value.strip()
        if len(value.lstrip("+-")) > _MAX_DIGITS:
            raise fail(_bounds(low, high, ""))
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"expected a whole number from {low} to {high}")
    if not low <= value <= high:
        raise fail(_bounds(low, high, ""))
    return value


def parse_decimal(value: Any, low: float, high: float, unit: str) -> float:
    """A finite number within [low, high] from a YAML number or number-shaped text."""
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"expected a number from {low:g} to {high:g}{unit}")
    if isinstance(value, int) and abs(value) >= 10**9:
        raise fail(_bounds(low, high, unit))  # before float() could overflow
    if not (math.isfinite(value) and low <= value <= high):
        raise fail(_bounds(low, high, unit))
    return float(value)


def parse_flag(value: Any, *others: str) -> Any:
    """true or false (or text of one), or one of ``others`` as written."""
    if isinstance(value, str) and value not in others:
        value = {"true": True, "false": False}.get(value.strip(), value)
    if not isinstance(value, bool) and value not in others:
        choices = ["true", "false", *(repr(o) for o in others)]
        raise fail(f"expected {', '.join(choices[:-1])} or {choices[-1]}")
    return value


@dataclass(frozen=True, slots=True)
class Within:
    """A number within [low, high], read by parse_whole or parse_decimal. Unlike a bare
    validator it shows its bounds in the JSON Schema, and so in the config reference."""

    low: float
    high: float
    unit: str = ""
    whole: bool = False

    def parse(self, value: Any) -> Any:
        if self.whole:
            return parse_whole(value, int(self.low), int(self.high))
        return parse_decimal(value, self.low, self.high, self.unit)

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.parse, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out.update(minimum=self.low, maximum=self.high)
        return out


def whole_in(low: int, high: int) -> Within:
    return Within(low, high, whole=True)


def decimal_in(low: float, high: float, unit: str = " seconds") -> Within:
    return Within(low, high, unit)


Flag = Annotated[bool, BeforeValidator(parse_flag)]


def _name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise fail(f"{value[:80]!r} is not a name: 1 to 63 letters, digits, '_', '.', '-', "
                   "starting with a letter or digit")
    return value


def _follower(value: str) -> str:
    if not re.fullmatch(FOLLOWER_PATTERN, value):
        raise fail(f"{value[:80]!r} is not a follower name: 1 to 100 letters, digits, "
                   "'_', '.', ':', '@', '/', '-', starting with a letter or digit")
    return value


def _host_port(value: str) -> str:
    split_host_port(value)
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail("expected an http:// or https:// URL with a host, got "
                   f"{redact_url(value)[:200]!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise fail(f"bad port in {redact_url(value)[:200]!r}") from None
    return value


def _environment(env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a variable name (letters, digits and _, "
                             "not starting with a digit)")
        if "\0" in value:
            raise ValueError(f"{name}: a value cannot hold a NUL byte")
    return env


def _template_of(variables: frozenset[str]) -> Any:
    def check(value: str) -> str:
        problem = template_problem(value, variables)
        if problem:
            raise fail(problem)
        return value

    return AfterValidator(check)


def token_problem(value: str) -> str | None:
    """What is wrong with an API token, never echoing it."""
    if not value.strip():
        return "a token must not be empty or only whitespace"
    if value != value.strip():
        return "a token must not start or end with whitespace"
    if any(not " " <= c <= "~" for c in value):
        return "a token must be one line of printable ASCII (no line breaks or control " \
               "characters)"
    return None


def password_problem(value: str) -> str | None:
    if not value or "\n" in value or "\r" in value:
        return "a password must be one non-empty line"
    return None


def _secret(check: Any) -> BeforeValidator:
    def validate(value: Any) -> Any:
        problem = check(value) if isinstance(value, str) else None
        if problem:
            raise fail(problem)
        return value

    return BeforeValidator(validate)


Name = Annotated[str, Strict(), AfterValidator(_name)]
FollowerName = Annotated[str, Strict(), AfterValidator(_follower)]
# What an exec hook, probe or check adds to its minimal environment (probes/process.py).
Environment = Annotated[dict[str, str], AfterValidator(_environment)]
HostPort = Annotated[str, Strict(), AfterValidator(_host_port)]
HttpUrl = Annotated[str, Strict(), AfterValidator(_http_url)]
Template = Annotated[str, Strict(), _template_of(HOOK_VARIABLES)]  # fence and promote hooks
CheckTemplate = Annotated[str, Strict(), _template_of(CHECK_VARIABLES)]  # exec probes, checks
NotifyTemplate = Annotated[str, Strict(), _template_of(NOTIFY_VARIABLES)]  # notify commands
HookUrl = Annotated[str, Strict(), AfterValidator(_http_url), _template_of(HOOK_VARIABLES)]
Token = Annotated[SecretStr, _secret(token_problem)]
Password = Annotated[SecretStr, _secret(password_problem)]


# The limits (the generated config reference shows them): generous for any real deployment,
# and every one finite, so no socket, timer or ZooKeeper client is ever handed an absurd value.
ProbeInterval = Annotated[float, decimal_in(0.01, 3600)]  # interval, fast_interval
ProbeTimeout = Annotated[float, decimal_in(0.01, 600)]  # timeout, degraded_latency
Cooldown = Annotated[float, decimal_in(0, 7 * 86400)]
LongWait = Annotated[float, decimal_in(0.1, 7 * 86400)]  # retry_backoff, evacuate_after
SwitchoverWait = Annotated[float, decimal_in(0.1, 3600)]  # ready_timeout, verify_window
HookTimeout = Annotated[float, decimal_in(0.1, 3600)]
CheckInterval = Annotated[float, decimal_in(0.1, 86400)]
CheckTimeout = Annotated[float, decimal_in(0.1, 3600)]
NetworkTimeout = Annotated[float, decimal_in(0.01, 300)]  # ZooKeeper requests, Redis sockets
SessionTimeout = Annotated[float, decimal_in(1, 120)]
Count = Annotated[int, whole_in(1, 100)]  # fall, rise
Priority = Annotated[int, whole_in(-1_000_000, 1_000_000)]
Port = Annotated[int, whole_in(1, 65535)]
Status = Annotated[int, whole_in(100, 599)]
# A probe may wait up to this many intervals for its answer: beyond, detection of a hung
# member (fall answers that never come) would take longer than anyone configured for.
TIMEOUT_PER_INTERVAL = 10
