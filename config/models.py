"""Typed configuration: the whole YAML file as pydantic models.

Every model forbids unknown keys, so a typo is an error with its key path rather than a
silently ignored setting. Cross-field rules (fast_interval <= interval, ...) live next to
the fields they relate.
"""

from __future__ import annotations

import ipaddress
import re
import string
from typing import Annotated, Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    SecretStr,
    field_validator,
    model_validator,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
TEMPLATE_VARIABLES = frozenset({"service", "member", "address", "epoch", "previous"})
CHECK_VARIABLES = frozenset({"service", "member", "address"})  # exec probes and checks


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def split_host_port(value: str) -> tuple[str, int]:
    """Parse ``host:port`` or ``[v6]:port``; raise ValueError saying what is wrong."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]\s/]+):(\d+)", value)
    if not match:
        raise ValueError(f"expected host:port (or [ipv6]:port), got {value!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1-65535")
    if match.group(1):
        ipaddress.IPv6Address(host)
    return host, port


def _host_port(value: str) -> str:
    split_host_port(value)
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"bad port in {value!r}") from exc
    return value


def _template_of(variables: frozenset[str]) -> Any:
    def check(value: str) -> str:
        for _, field, _, _ in string.Formatter().parse(value):
            if field is not None and field not in variables:
                allowed = ", ".join("{" + v + "}" for v in sorted(variables))
                raise ValueError(f"unknown template variable {{{field}}}; allowed: {allowed}")
        return value

    return check


check_template = _template_of(TEMPLATE_VARIABLES)  # action templates: the documented variables
check_probe_template = _template_of(CHECK_VARIABLES)


HostPort = Annotated[str, AfterValidator(_host_port)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Template = Annotated[str, AfterValidator(check_template)]
CheckTemplate = Annotated[str, AfterValidator(check_probe_template)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Seconds = PositiveFloat


# --- probes -------------------------------------------------------------------------------


class HttpProbeConfig(Strict):
    kind: Literal["http"]
    url: HttpUrl
    method: Literal["GET", "HEAD", "POST", "PUT"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    body_contains: str | None = None
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class TcpProbeConfig(Strict):
    kind: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(gt=0, lt=65536)


class ExecProbeConfig(Strict):
    """A command run directly (no shell): exit status 0 passes; its output is the detail."""

    kind: Literal["exec"]
    argv: list[CheckTemplate] = Field(min_length=1)


ProbeConfig = Annotated[HttpProbeConfig | TcpProbeConfig | ExecProbeConfig,
                        Field(discriminator="kind")]


# --- readiness checks (issue: survive the second failure) ---------------------------------


class CheckSchedule(Strict):
    """A readiness check: not "is it up" but "could it take over": backups, RAID, disk."""

    name: Name
    interval: Seconds = 30.0
    timeout: Seconds = 10.0


class HttpCheckConfig(HttpProbeConfig, CheckSchedule):
    pass


class TcpCheckConfig(TcpProbeConfig, CheckSchedule):
    pass


class ExecCheckConfig(ExecProbeConfig, CheckSchedule):
    pass


ReadinessConfig = Annotated[HttpCheckConfig | TcpCheckConfig | ExecCheckConfig,
                            Field(discriminator="kind")]


# --- actions (hooks) ----------------------------------------------------------------------


class HttpActionConfig(Strict):
    kind: Literal["http"]
    url: Annotated[HttpUrl, AfterValidator(check_template)]
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    headers: dict[str, Template] = Field(default_factory=dict)
    body: Template | None = None
    timeout: Seconds = 5.0


class ExecActionConfig(Strict):
    kind: Literal["exec"]
    argv: list[Template] = Field(min_length=1)
    timeout: Seconds = 10.0


ActionConfig = Annotated[HttpActionConfig | ExecActionConfig, Field(discriminator="kind")]


# --- services -----------------------------------------------------------------------------


class PolicyConfig(Strict):
    interval: Seconds = 0.5
    fast_interval: Seconds = 0.1
    timeout: Seconds = 1.0
    fall: int = Field(default=3, ge=1)
    rise: int = Field(default=2, ge=1)
    degraded_latency: Seconds = 0.5
    cooldown: float = Field(default=60.0, ge=0)
    # After a failed attempt (promote hook refused, fence of a reachable primary failed) the
    # leader waits this long before trying again, so a broken hook is not hammered.
    retry_backoff: Seconds = 5.0
    auto_failover: bool | Literal["dry-run"] = True
    # Switchover: how long to wait for the target to be healthy after fencing the old
    # primary, and how long the new primary must stay healthy before it counts as done.
    ready_timeout: Seconds = 10.0
    verify_window: Seconds = 5.0
    quorum: Annotated[int, Field(ge=1)] | Literal["majority"] = "majority"

    @model_validator(mode="after")
    def _relations(self) -> PolicyConfig:
        problems = policy_relation_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MemberConfig(Strict):
    name: Name
    address: HostPort
    priority: int = 0
    probe: ProbeConfig
    promote: ActionConfig | None = None
    fence: ActionConfig | None = None
    readiness: list[ReadinessConfig] = Field(default_factory=list)

    @field_validator("readiness")
    @classmethod
    def _unique_checks(cls, checks: list[ReadinessConfig]) -> list[ReadinessConfig]:
        return _require_unique(checks, "readiness check")


class TraefikConfig(Strict):
    service: Name
    root_key: str = Field(default="traefik", min_length=1)
    scheme: Literal["http", "https"] = "http"


class ServiceConfig(Strict):
    name: Name
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    members: list[MemberConfig] = Field(min_length=2)
    traefik: TraefikConfig | None = None
    # Pre-emptive switchover: when these readiness checks of the primary keep failing for
    # evacuate_after seconds and a ready standby exists, move off it (inside a window).
    evacuate_on: list[Name] = Field(default_factory=list)
    evacuate_after: Seconds = 60.0
    windows: list[str] = Field(default_factory=list)  # "Sun 02:00-04:00 UTC"; none: any time

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[MemberConfig]) -> list[MemberConfig]:
        return _require_unique(members, "member")

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: list[str]) -> list[str]:
        from config.windows import parse_window

        for text in windows:
            parse_window(text)
        return windows

    @model_validator(mode="after")
    def _evacuation_checks_exist(self) -> ServiceConfig:
        known = {c.name for m in self.members for c in m.readiness}
        unknown = [n for n in self.evacuate_on if n not in known]
        if unknown:
            raise ValueError(f"evacuate_on names no readiness check of any member: "
                             f"{', '.join(unknown)}")
        return self

    def member(self, name: str) -> MemberConfig | None:
        return next((m for m in self.members if m.name == name), None)


def duplicate_names_problem(names: list[Any], what: str) -> str | None:
    duplicates = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    return f"duplicate {what} name(s): {', '.join(duplicates)}" if duplicates else None


def _require_unique(items: list[Named], what: str) -> list[Named]:
    problem = duplicate_names_problem([item.name for item in items], what)
    if problem:
        raise ValueError(problem)
    return items


def policy_relation_problems(policy: dict[str, Any]) -> list[str]:
    """Rules between policy fields; the loader also runs them on raw input (see loading.py)."""

    def number(key: str) -> float | None:
        value = policy.get(key, PolicyConfig.model_fields[key].default)
        return float(value) if isinstance(value, int | float) else None

    problems = []
    fast, interval = number("fast_interval"), number("interval")
    latency, timeout = number("degraded_latency"), number("timeout")
    if fast is not None and interval is not None and fast > interval:
        problems.append(f"fast_interval ({fast}) must not exceed interval ({interval})")
    if latency is not None and timeout is not None and latency >= timeout:
        problems.append(f"degraded_latency ({latency}) must be below timeout ({timeout})")
    fall, window = number("fall"), number("verify_window")
    if None not in (fast, interval, fall, window):
        assert fast is not None and interval is not None and fall is not None
        detect = interval + fall * fast
        if window is not None and window < detect:
            problems.append(f"verify_window ({window}) must be at least interval + fall * "
                            f"fast_interval ({detect:g}), or a failing new primary could "
                            "not be noticed within it")
    return problems


def api_relation_problems(api: dict[str, Any]) -> list[str]:
    """Rules between api fields; the loader also runs them on raw input."""
    if (api.get("tls_cert_file") is None) != (api.get("tls_key_file") is None):
        return ["tls_cert_file and tls_key_file go together"]
    return []


# --- infrastructure -----------------------------------------------------------------------


class ZooKeeperConfig(Strict):
    hosts: str = "127.0.0.1:2181"
    session_timeout: float = Field(default=6.0, ge=1.0, le=120.0)
    root: str = Field(default="/failover", pattern=r"^(/[A-Za-z0-9_.-]+)+$")
    # Digest auth: nodes this controller creates are then readable/writable by that user only.
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    request_timeout: Seconds = 5.0

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        chroot_free = value.split("/", 1)[0]
        for host in chroot_free.split(","):
            split_host_port(host.strip())
        return value


class RedisConfig(Strict):
    url: str | None = "redis://127.0.0.1:6379/0"
    sentinels: list[HostPort] | None = None
    master: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    sentinel_password: SecretStr | None = None
    sentinel_password_file: str | None = None
    key_prefix: str = Field(default="failover", min_length=1, pattern=r"^[^\s{}]+$")
    socket_timeout: Seconds = 1.0
    history_length: int = Field(default=1000, ge=10)
    # The leader compares ZooKeeper's decisions with Redis this often and repairs Redis.
    reconcile_interval: Seconds = 1.0

    @model_validator(mode="after")
    def _one_source(self) -> RedisConfig:
        if self.sentinels:
            if not self.master:
                raise ValueError("sentinels needs master (the name Sentinel monitors)")
            return self
        if not self.url:
            raise ValueError("either url or sentinels + master is required")
        parts = urlsplit(self.url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"url must be redis://, rediss:// or unix://, got {self.url!r}")
        return self


class ApiTokenConfig(Strict):
    """A named token: the name is what history records as the operator."""

    name: Name
    token: SecretStr | None = None
    token_file: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> ApiTokenConfig:
        if self.token is None:
            raise ValueError("token or token_file is required")
        return self


class ApiConfig(Strict):
    listen: HostPort = "0.0.0.0:8080"
    # The unnamed token (recorded as "operator"), and any number of named ones. With none,
    # every mutating request is refused.
    token: SecretStr | None = None
    token_file: str | None = None
    tokens: list[ApiTokenConfig] = Field(default_factory=list)
    read_auth: bool = False  # true: reads (status, history, explain...) need a token too
    tls_cert_file: str | None = None  # PEM; serve HTTPS when both are set
    tls_key_file: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("tokens")
    @classmethod
    def _unique_tokens(cls, tokens: list[ApiTokenConfig]) -> list[ApiTokenConfig]:
        return _require_unique(tokens, "token")

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        problems = api_relation_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def named_tokens(self) -> dict[str, str]:
        """name -> secret, the unnamed token as "operator"."""
        out = {t.name: t.token.get_secret_value() for t in self.tokens if t.token is not None}
        if self.token is not None:
            out.setdefault("operator", self.token.get_secret_value())
        return out


class Config(Strict):
    cluster: Name = "default"
    node_id: str | None = Field(default=None, min_length=1, max_length=200)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    zookeeper: ZooKeeperConfig = Field(default_factory=ZooKeeperConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    services: list[ServiceConfig] = Field(min_length=1)

    @field_validator("node_id", mode="before")
    @classmethod
    def _empty_node_id_is_the_default(cls, value: object) -> object:
        # `${HOSTNAME:-}` where HOSTNAME is not exported: use the default, hostname:pid.
        return None if value == "" else value

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: list[ServiceConfig]) -> list[ServiceConfig]:
        return _require_unique(services, "service")

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)
