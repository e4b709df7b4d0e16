"""What the daemon's parts get from it instead of the engine: named, typed collaborators
and callbacks. The engine builds one; no part imports the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from controller.adapters.zookeeper import ZkStore
from controller.core.plan import Inputs
from controller.core.records import Decided
from controller.daemon.hooks import HookRunner
from controller.daemon.interpreter import Interpreter
from controller.daemon.metrics import Metrics
from controller.daemon.office import Leader, Office
from controller.daemon.state import ServiceState
from probes.scheduler import ProbeScheduler


@dataclass(frozen=True, slots=True)
class Collaborators:
    """All that operator work and the switchover runner need from the rest of the daemon,
    by name. The engine builds it; no part imports the engine, and none calls back into it:
    when a part's task ends, the engine evaluates the service."""

    node_id: str
    services: Mapping[str, ServiceState]
    zk: ZkStore
    probes: ProbeScheduler
    metrics: Metrics
    log: Any  # structlog's logger, bound to the node
    # Leadership, and the gate in front of every leader write and hook.
    office: Office
    leadership: Callable[[], Leader]
    step_down: Callable[[str], None]
    # The service: its snapshot for the core, its decision, hooks, route and history.
    inputs: Callable[[ServiceState], Inputs]
    on_decision: Callable[[str, Decided | None, int], None]
    reread: Callable[[ServiceState], Awaitable[None]]
    hooks: HookRunner
    interpreter: Interpreter  # carries out the switchover's machine
    publish: Callable[..., Awaitable[object]]
    record: Callable[..., Coroutine[Any, Any, None]]
    # Events: member health changed; a request changed.
    wait_health_change: Callable[[float], Awaitable[bool]]
    requests_changed: Callable[[], asyncio.Event]
