"""Prometheus metrics. One registry per engine, so several engines can share a process
(tests, the demo) without colliding in the global registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

HEALTH_VALUES = {"unknown": -1, "down": 0, "degraded": 1, "healthy": 2}


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.probe_latency = Histogram(
            "failover_probe_latency_seconds", "Probe round-trip time.", ["service", "member"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r)
        self.probe_results = Counter(
            "failover_probe_results_total", "Probe results by verdict.",
            ["service", "member", "verdict"], registry=r)
        self.probe_lag = Histogram(
            "failover_probe_schedule_lag_seconds", "How late probes start against plan.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25), registry=r)
        self.member_health = Gauge(
            "failover_member_health",
            "Member health in this replica's view: -1 unknown, 0 down, 1 degraded, 2 healthy.",
            ["service", "member"], registry=r)
        self.is_leader = Gauge("failover_is_leader", "1 while this replica leads.", registry=r)
        self.epoch = Gauge("failover_epoch", "The leadership epoch last seen.", registry=r)
        self.failovers = Counter(
            "failover_failovers_total", "Automatic failovers by outcome (done, failed).",
            ["service", "outcome"], registry=r)
        self.member_ready = Gauge(
            "failover_member_ready",
            "1 while every readiness check of the member passes (this replica's view).",
            ["service", "member"], registry=r)
        self.readiness_checks = Counter(
            "failover_readiness_checks_total", "Readiness check results.",
            ["service", "member", "check", "result"], registry=r)
        self.redundant = Gauge(
            "failover_redundant",
            "1 while the service could survive losing its primary: a healthy, ready standby.",
            ["service"], registry=r)
        self.switchovers = Counter(
            "failover_switchovers_total",
            "Operator switchovers by outcome (done, failed, refused, cancelled).",
            ["service", "outcome"], registry=r)
        self.paused = Gauge(
            "failover_paused", "1 while an operator has paused the service.", ["service"],
            registry=r)
        self.repoint_seconds = Histogram(
            "failover_repoint_seconds",
            "From the probe result that triggered a failover to the Redis route write.",
            ["service"], buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r)
        self.split_view = Gauge(
            "failover_split_view",
            "1 while the leader sees the primary failing but too few replicas agree.",
            ["service"], registry=r)
        self.failing_votes = Gauge(
            "failover_primary_failing_replicas",
            "Live replicas (the leader included) that see the primary failing.", ["service"],
            registry=r)
        self.store_errors = Counter(
            "failover_store_errors_total", "ZooKeeper and Redis errors.", ["store"], registry=r)
        self.route_forgeries = Counter(
            "failover_route_forgeries_total",
            "Routes in Redis no leader wrote (an epoch or version that is not a plain whole "
            "number, an epoch above any ZooKeeper handed out, a field no controller writes), "
            "by why; each is repaired, or said once if it must be left as it is.",
            ["service", "why"], registry=r)
        self.publishes = Counter(
            "failover_route_publishes_total", "Route writes by Redis's answer.", ["outcome"],
            registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
