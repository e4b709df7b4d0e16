"""What the controller talks to: ZooKeeper, Redis, and its own HTTP API."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from config.fields import (
    Block,
    Flag,
    HostPort,
    Name,
    NetworkTimeout,
    Password,
    ProbeInterval,
    SessionTimeout,
    Token,
    fail,
    whole_in,
)
from config.redaction import redact_url
from config.relations import (
    api_problems,
    api_token_problems,
    raise_relations,
    redis_problems,
    zookeeper_problems,
)
from config.shapes import split_host_port


def _zookeeper_hosts(value: str) -> str:
    chroot_free = value.split("/", 1)[0]
    for host in chroot_free.split(","):
        try:
            split_host_port(host.strip())
        except ValueError as exc:
            raise fail(str(exc)) from None
    return value


def _matching(pattern: str, expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise fail(f"expected {expected}, got {value[:200]!r}")
        return value

    return AfterValidator(check)


def _redis_url(value: str | None) -> str | None:
    if value and value.split("://", 1)[0] not in ("redis", "rediss", "unix"):
        raise fail("must be redis://, rediss:// or unix://, got "
                   f"{redact_url(value)[:200]!r}")
    return value


class ZooKeeperConfig(Block):
    hosts: Annotated[str, AfterValidator(_zookeeper_hosts)] = "127.0.0.1:2181"
    session_timeout: SessionTimeout = 6.0
    root: Annotated[str, _matching(r"(/[A-Za-z0-9_.-]+)+", "a path such as /failover")] = \
        "/failover"
    # Digest auth: nodes this controller creates are then readable/writable by that user only.
    username: str | None = Field(default=None, min_length=1)
    password: Password | None = None
    password_file: str | None = None
    request_timeout: NetworkTimeout = 5.0

    @model_validator(mode="after")
    def _relations(self) -> ZooKeeperConfig:
        return raise_relations(self, zookeeper_problems)


class RedisConfig(Block):
    url: Annotated[str | None, AfterValidator(_redis_url)] = "redis://127.0.0.1:6379/0"
    sentinels: list[HostPort] | None = None
    master: str | None = None
    username: str | None = None
    password: Password | None = None
    password_file: str | None = None
    sentinel_password: Password | None = None
    sentinel_password_file: str | None = None
    key_prefix: Annotated[str, _matching(r"[^\s{}]+", "a prefix without spaces or braces")] = \
        "failover"
    socket_timeout: NetworkTimeout = 1.0
    history_length: Annotated[int, whole_in(10, 1_000_000)] = 1000
    # The leader compares ZooKeeper's decisions with Redis this often and repairs Redis.
    reconcile_interval: ProbeInterval = 1.0

    @model_validator(mode="after")
    def _relations(self) -> RedisConfig:
        return raise_relations(self, redis_problems)


class ApiTokenConfig(Block):
    """A named token: the name is what history records as the operator."""

    name: Name
    token: Token | None = None
    token_file: str | None = None

    @model_validator(mode="after")
    def _relations(self) -> ApiTokenConfig:
        return raise_relations(self, api_token_problems)


class ApiConfig(Block):
    listen: HostPort = "0.0.0.0:8080"
    # The unnamed token (recorded as "operator"), and any number of named ones. With none,
    # every mutating request is refused.
    token: Token | None = None
    token_file: str | None = None
    tokens: list[ApiTokenConfig] = Field(default_factory=list)
    read_auth: Flag = False  # true: reads (status, history, explain...) need a token too
    tls_cert_file: str | None = None  # PEM; serve HTTPS when both are set
    tls_key_file: str | None = None
    max_body_bytes: Annotated[int, whole_in(1024, 16 * 1024 * 1024)] = 64 * 1024

    @model_validator(mode="after")
    def _relations(self) -> ApiConfig:
        return raise_relations(self, api_problems)

    def named_tokens(self) -> dict[str, str]:
        """name -> secret, the unnamed token as "operator"."""
        out = {t.name: t.token.get_secret_value() for t in self.tokens if t.token is not None}
        if self.token is not None:
            out.setdefault("operator", self.token.get_secret_value())
        return out

