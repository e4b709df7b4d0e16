"""Redis: the routing copy that proxies and applications read. The only module that imports
redis; its errors leave as RouteStoreError.

Every route write goes through one Lua script, so Redis itself refuses a stale writer: the
hash, the optional Traefik key, the PUBLISH and the history entry change together or not at
all, and a writer whose epoch is lower than the stored one changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from config.models import RedisConfig, ServiceConfig, split_host_port
from controller.core.history import decode as decode_entry
from controller.core.history import encode as encode_entry
from controller.core.records import Decided
from controller.followers.route import BadRoute, Route

T = TypeVar("T")

# KEYS: route hash, history stream, [traefik url key]
# ARGV: writer epoch, version, primary, address, updated_at, reason, history maxlen, channel,
#       traefik url (or ""), history detail (JSON), "create" or "update"
# Returns {outcome, stored epoch, stored version} (the stored ones as the text Redis holds);
# outcome is one of
#   corrupt        the stored epoch or version is not a plain whole number (nan, inf, 1e5:
#                  Lua's tonumber takes them): no leader wrote it; refused, the leader
#                  repairs it (REPAIR_ROUTE)
#   missing        no route is stored and the writer did not say "create": refused (a
#                  FLUSHALL or a restart without persistence; the reconcile reads, then creates)
#   applied        the route changed: hash written, published, recorded in history
#   fence_raised   same route, newer writer: only the stored epoch goes up
#   unchanged      same route, same writer (a retry): nothing to do
#   stale_epoch    the writer's epoch is below the stored one: refused
#   stale_version  the writer's version is below the stored one: refused
#   conflict       the stored version names another primary: two decisions were given one
#                  version, which only a bug or a hand-edited key can cause; refused, never
#                  taken for a retry
PUBLISH_ROUTE = """
local epoch = tonumber(ARGV[1])
local version = tonumber(ARGV[2])
local raw_epoch = redis.call('HGET', KEYS[1], 'epoch') or '-1'
local raw_version = redis.call('HGET', KEYS[1], 'version') or '-1'
if raw_epoch == '-1' and raw_version == '-1' then
  if ARGV[11] ~= 'create' then
    return {'missing', '-1', '-1'}
  end
elseif not (string.match(raw_epoch, '^%d+$') and #raw_epoch <= 16
            and string.match(raw_version, '^%d+$') and #raw_version <= 16) then
  return {'corrupt', raw_epoch, raw_version}
end
local stored_epoch = tonumber(raw_epoch)
local stored_version = tonumber(raw_version)
if epoch < stored_epoch then
  return {'stale_epoch', raw_epoch, raw_version}
end
if version < stored_version then
  return {'stale_version', raw_epoch, raw_version}
end
local same_version = version == stored_version
if same_version and (redis.call('HGET', KEYS[1], 'primary') or '') ~= ARGV[3] then
  return {'conflict', raw_epoch, raw_version}
end
if KEYS[3] and redis.call('GET', KEYS[3]) ~= ARGV[9] then
  redis.call('SET', KEYS[3], ARGV[9])
end
if same_version then
  if epoch > stored_epoch then
    redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
    return {'fence_raised', ARGV[1], ARGV[2]}
  end
  return {'unchanged', raw_epoch, raw_version}
end
local previous = redis.call('HGET', KEYS[1], 'primary') or ''
redis.call('HSET', KEYS[1], 'primary', ARGV[3], 'address', ARGV[4], 'epoch', ARGV[1],
           'version', ARGV[2], 'updated_at', ARGV[5], 'reason', ARGV[6])
redis.call('PUBLISH', ARGV[8], cjson.encode({primary = ARGV[3], address = ARGV[4],
           epoch = epoch, version = version, updated_at = tonumber(ARGV[5]),
           reason = ARGV[6]}))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', 'route_changed',
           'primary', ARGV[3], 'previous', previous, 'address', ARGV[4], 'epoch', ARGV[1],
           'version', ARGV[2], 'reason', ARGV[6], 'at', ARGV[5], 'detail', ARGV[10])
return {'applied', ARGV[1], ARGV[2]}
"""

# A route no leader wrote (ZooKeeper's judgement: core/stored_route.py), replaced by the
# leader's, as one compare-and-swap on the stored epoch and version exactly as read: a real
# writer changes one of them, so its route is never overwritten by a repair. Every field is
# replaced (a forged extra field too), published, and recorded in history.
# KEYS: route hash, history stream, [traefik url key]
# ARGV: expected epoch, expected version (as read), then PUBLISH_ROUTE's ARGV[1..10]
# Returns {'repaired' or 'changed', stored epoch, stored version}.
REPAIR_ROUTE = """
local raw_epoch = redis.call('HGET', KEYS[1], 'epoch') or ''
local raw_version = redis.call('HGET', KEYS[1], 'version') or ''
if raw_epoch ~= ARGV[1] or raw_version ~= ARGV[2] then
  return {'changed', raw_epoch, raw_version}
end
local previous = redis.call('HGET', KEYS[1], 'primary') or ''
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'primary', ARGV[5], 'address', ARGV[6], 'epoch', ARGV[3],
           'version', ARGV[4], 'updated_at', ARGV[7], 'reason', ARGV[8])
if KEYS[3] then
  redis.call('SET', KEYS[3], ARGV[11])
end
redis.call('PUBLISH', ARGV[10], cjson.encode({primary = ARGV[5], address = ARGV[6],
           epoch = tonumber(ARGV[3]), version = tonumber(ARGV[4]),
           updated_at = tonumber(ARGV[7]), reason = ARGV[8]}))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'event', 'route_repaired',
           'primary', ARGV[5], 'previous', previous, 'address', ARGV[6], 'epoch', ARGV[3],
           'version', ARGV[4], 'reason', ARGV[13], 'at', ARGV[7], 'detail', ARGV[12])
return {'repaired', ARGV[3], ARGV[4]}
"""


class RouteStoreError(Exception):
    """Redis could not be reached or refused the command; the outcome is unknown."""


@dataclass(frozen=True, slots=True)
class Stored:
    """The route hash as read: the route, or why it is not one (None, None: no route)."""

    route: Route | None
    problem: str | None
    # Exactly as stored (b"" if absent), for a repair's compare-and-swap: a forged value
    # need not be text.
    raw_epoch: bytes
    raw_version: bytes

    @property
    def epoch(self) -> str:
        return _text(self.raw_epoch)

    @property
    def version(self) -> str:
        return _text(self.raw_version)


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    outcome: str
    stored_epoch: str  # as Redis holds them: a forged one need not be a number
    stored_version: str

    @property
    def refused(self) -> bool:
        return self.outcome.startswith("stale") or self.outcome == "conflict"


class RouteStore:
    def __init__(self, config: RedisConfig) -> None:
        self._config = config
        self._prefix = config.key_prefix
        self._client = _connect(config)
        self._script = self._client.register_script(PUBLISH_ROUTE)
        self._repair = self._client.register_script(REPAIR_ROUTE)

    def route_key(self, service: str) -> str:
        return f"{self._prefix}:route:{service}"

    def history_key(self, service: str) -> str:
        return f"{self._prefix}:history:{service}"

    async def publish(self, service: ServiceConfig, decided: Decided, writer_epoch: int,
                      detail: dict[str, Any] | None = None, *, create: bool = False
                      ) -> PublishOutcome:
        """Write the route under ``writer_epoch``. Only ``create`` may write a route that
        is missing: pass it only just after reading the route as missing. A
        write that passed its gate before a FLUSHALL then finds no stored epoch to refuse
        it, but is refused as ``missing`` instead of putting an older route back."""
        keys, args = self._route_args(service, decided, writer_epoch, detail)
        raw = await self._call(lambda: self._script(
            keys=keys, args=[*args, "create" if create else "update"]))
        return _outcome(raw)

    async def repair(self, service: ServiceConfig, decided: Decided, writer_epoch: int,
                     stored: Stored, why: str, detail: dict[str, Any]) -> PublishOutcome:
        """Replace a route no leader wrote (``stored``, as read) with ours: 'repaired', or
        'changed' if the stored epoch or version is no longer what was read."""
        keys, args = self._route_args(service, decided, writer_epoch, detail)
        raw = await self._call(lambda: self._repair(
            keys=keys, args=[stored.raw_epoch, stored.raw_version, *args, why]))
        return _outcome(raw)

    def _route_args(self, service: ServiceConfig, decided: Decided, writer_epoch: int,
                    detail: dict[str, Any] | None) -> tuple[list[str], list[str | int]]:
        keys = [self.route_key(service.name), self.history_key(service.name)]
        traefik_url = ""
        if service.traefik is not None:
            t = service.traefik
            keys.append(f"{t.root_key}/http/services/{t.service}/loadBalancer/servers/0/url")
            traefik_url = f"{t.scheme}://{decided.address}"
        return keys, [
            writer_epoch, decided.version, decided.primary, decided.address,
            f"{decided.updated_at:.3f}", decided.reason, self._config.history_length,
            self.route_key(service.name), traefik_url, json.dumps(detail or {}, default=str)]

    async def read_stored(self, service: str) -> Stored:
        raw = await self._call(lambda: self._client.hgetall(self.route_key(service)))
        by_name = {_text(k): v for k, v in (raw or {}).items()}
        if not by_name:
            return Stored(None, None, b"", b"")
        try:
            route, problem = Route.check({k: _text(v) for k, v in by_name.items()}), None
        except BadRoute as exc:
            route, problem = None, str(exc)
        return Stored(route, problem, _bytes(by_name.get("epoch", b"")),
                      _bytes(by_name.get("version", b"")))

    async def read(self, service: str) -> Route | None:
        raw = await self._call(lambda: self._client.hgetall(self.route_key(service)))
        if not raw:
            return None
        # Not ours or damaged parses as None: the next publish overwrites it.
        return Route.parse({_text(k): _text(v) for k, v in (raw or {}).items()})

    async def record(self, service: str, event: str, **fields: Any) -> None:
        """Append a history entry that is not a route change (failed attempt, dry-run...).
        ``event``, ``at`` (now) and ``id`` (the stream's) are the entry's own fields; the
        others are history's fields (controller/core/history.py), each of its kind."""
        reserved = {"event", "at", "id"} & fields.keys()
        if reserved:
            raise ValueError(f"history fields {sorted(reserved)} are the entry's own")
        entry = encode_entry({"event": event, "at": round(time.time(), 3), **fields})
        await self._call(lambda: self._client.xadd(
            self.history_key(service), entry,  # type: ignore[arg-type]
            maxlen=self._config.history_length, approximate=True))

    async def history(self, service: str, count: int = 50) -> list[dict[str, Any]]:
        """The newest ``count`` entries, newest first, each field as its JSON type."""
        raw = await self._call(lambda: self._client.xrevrange(
            self.history_key(service), count=count))
        return [{"id": _text(entry_id),
                 **decode_entry({_text(k): _text(v) for k, v in (fields or {}).items()})}
                for entry_id, fields in raw or []]

    def applied_key(self, service: str) -> str:
        return f"{self._prefix}:applied:{service}"

    async def read_applied(self, services: list[str]) -> dict[str, dict[str, str]]:
        """Every service's applied hash (follower -> its ack, as text), in one round trip.
        What followers write is input: acks.py reads it."""
        async def read() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                for service in services:
                    pipe.hgetall(self.applied_key(service))
                result: list[Any] = await pipe.execute()
                return result
        raw = await self._call(read)
        return {service: {_text(k): _text(v) for k, v in (fields or {}).items()}
                for service, fields in zip(services, raw, strict=True)}

    async def forget_applied(self, service: str, followers: list[str]) -> None:
        """Drop followers' entries (those not heard from in an hour)."""
        if followers:
            await self._call(lambda: self._client.hdel(self.applied_key(service), *followers))

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        # redis-py has socket timeouts; the outer bound also covers reconnect and Sentinel
        # discovery, so no caller ever waits on Redis for longer than this.
        try:
            async with asyncio.timeout(self._config.socket_timeout * 3):
                return await command()
        except TimeoutError as exc:
            raise RouteStoreError(f"no answer from Redis within "
                                  f"{self._config.socket_timeout * 3:g}s") from exc
        except (RedisError, OSError) as exc:
            raise RouteStoreError(f"{type(exc).__name__}: {exc}") from exc


def _connect(config: RedisConfig) -> aioredis.Redis:
    password = config.password.get_secret_value() if config.password else None
    common: dict[str, Any] = {
        "username": config.username,
        "password": password,
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.socket_timeout,
        "health_check_interval": 5,
    }
    if config.sentinels:
        sentinel_password = (config.sentinel_password.get_secret_value()
                             if config.sentinel_password else None)
        # A typed name: Sentinel's constructor is annotated in some redis-py releases only.
        make_sentinel: Callable[..., Sentinel] = Sentinel
        sentinel = make_sentinel(
            [split_host_port(s) for s in config.sentinels],
            sentinel_kwargs={"password": sentinel_password,
                             "socket_timeout": config.socket_timeout,
                             "socket_connect_timeout": config.socket_timeout},
            **common,
        )
        assert config.master is not None  # the model guarantees it
        master: aioredis.Redis = sentinel.master_for(config.master)
        return master
    assert config.url is not None
    if urlsplit(config.url).password:  # credentials in the URL win over the separate keys
        common.pop("password")
        common.pop("username")
    return aioredis.Redis.from_url(config.url, **common)


def _outcome(raw: Any) -> PublishOutcome:
    outcome, epoch, version = raw
    return PublishOutcome(_text(outcome), _text(epoch), _text(version))


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value: Any) -> str:
    # A forged value need not be UTF-8: replaced, it fails every check and stays readable.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
