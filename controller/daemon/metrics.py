"""Prometheus metrics. One registry per engine, so several engines can share a process
(tests, the demo) without colliding in the global registry."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from config.digest import config_digest
from config.models import Config
from controller.core.stores import Stores
from probes.scheduler import CheckReport, ProbeReport

HEALTH_VALUES = {"unknown": -1, "down": 0, "degraded": 1, "healthy": 2}
# Every outcome a counter can take, so that each starts at 0: a counter born at 1 is never
# seen by increase(), and the first failover would page no one.
FAILOVER_OUTCOMES = ("done", "failed")
SWITCHOVER_OUTCOMES = ("done", "failed", "refused", "cancelled")
VERDICTS = ("pass", "slow", "bad_answer", "no_answer")
PUBLISH_OUTCOMES = ("applied", "unchanged", "fence_raised", "missing", "stale_epoch",
                    "stale_version", "conflict")


class Metrics:
    def __init__(self, config: Config | None = None) -> None:
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
        self.is_leader = Gauge(
            "failover_is_leader",
            "1 while this replica leads with a connected ZooKeeper session.", registry=r)
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
        self.config_differs = Gauge(
            "failover_config_differs",
            "1 while this replica's config of the service is not the one most live replicas "
            "run: it does not fail the service over automatically.", ["service"], registry=r)
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
        self.notifications = Counter(
            "failover_notifications_total",
            "Notifications by target and result (sent, failed after every try, dropped "
            "because the queue was full).", ["target", "result"], registry=r)
        self.zookeeper_data_lost = Counter(
            "failover_zookeeper_data_lost_total",
            "Epochs taken after ZooKeeper had lost its data (its epoch counter was raised).",
            registry=r)
        self.route_forgeries = Counter(
            "failover_route_forgeries_total",
            "Routes in Redis no leader wrote (an epoch or version that is not a plain whole "
            "number, an epoch above any ZooKeeper handed out, a field no controller writes), "
            "by why; each is repaired, or said once if it must be left as it is.",
            ["service", "why"], registry=r)
        self.publishes = Counter(
            "failover_route_publishes_total", "Route writes by Redis's answer.", ["outcome"],
            registry=r)
        self.primary = Gauge(
            "failover_primary",
            "1 for the member this replica knows as the service's primary (ZooKeeper's "
            "decision), 0 for the others.", ["service", "member"], registry=r)
        self.leadership_changes = Counter(
            "failover_leadership_changes_total",
            "New leadership epochs this replica has seen since it started.", registry=r)
        self.route_version = Gauge(
            "failover_route_version",
            "The route's version in ZooKeeper's decision as this replica knows it, and in "
            "Redis as it last read or wrote it (the leader does both every reconcile).",
            ["service", "store"], registry=r)
        self.config_info = Gauge(
            "failover_config_info",
            "1, labelled with the digest of the config that decides (cluster, services, key "
            "prefix, ZooKeeper root): replicas with different digests run different configs.",
            ["digest"], registry=r)
        self.hook_results = Counter(
            "failover_hook_results_total",
            "Fence and promote hooks run by this replica as leader, by result: ok, failed, "
            "or refused (a promote to a member not healthy in its view).",
            ["service", "hook", "result"], registry=r)
        self.follower_behind = Gauge(
            "failover_follower_behind",
            "1 while the follower (an HAProxy agent, a RouteWatcher) acknowledges an older "
            "route version than the service's route, 0 once it has applied it.",
            ["service", "follower"], registry=r)
        self.follower_lag = Gauge(
            "failover_follower_lag_seconds",
            "From the route's write to the follower's apply of it; while it is behind, to "
            "now.", ["service", "follower"], registry=r)
        self.follower_stale = Gauge(
            "failover_follower_stale",
            "1 while the follower's last heartbeat is older than its budget (10 s): it may "
            "be gone, and what it applied is not known.", ["service", "follower"], registry=r)
        self.follower_acks_refused = Counter(
            "failover_follower_acks_refused_total",
            "Fields of a service's applied hash that are not what a follower writes (each "
            "distinct one counted once): ignored.", ["service"], registry=r)
        self.config_digest = ""
        if config is not None:
            self.known(config)

    def known(self, config: Config) -> None:
        """Every counter at 0 for each configured service, member and outcome, and the
        config's digest."""
        self.config_digest = config_digest(config)
        self.config_info.labels(self.config_digest).set(1)
        for store in ("zookeeper", "redis"):
            self.store_errors.labels(store)
        for outcome in PUBLISH_OUTCOMES:
            self.publishes.labels(outcome)
        for service in config.services:
            name = service.name
            for outcome in FAILOVER_OUTCOMES:
                self.failovers.labels(name, outcome)
            self.repoint_seconds.labels(name)  # empty buckets: a dashboard's query has data
            for outcome in SWITCHOVER_OUTCOMES:
                self.switchovers.labels(name, outcome)
            self.follower_acks_refused.labels(name)
            for hook in ("fence", "promote"):
                for result in ("ok", "failed", "refused"):
                    self.hook_results.labels(name, hook, result)
            for member in service.members:
                for verdict in VERDICTS:
                    self.probe_results.labels(name, member.name, verdict)
                for check in member.readiness:
                    for result in ("pass", "fail"):
                        self.readiness_checks.labels(name, member.name, check.name, result)

    def watch(self, stores: Callable[[], Stores], leads: Callable[[], bool]) -> None:
        """Read at each scrape: the stores as last seen, and leadership. A leader whose
        session is suspended holds its epoch but is no leader anyone can count on: 0."""
        self.is_leader.set_function(lambda: float(leads()))
        self.registry.register(StoreCollector(stores))

    def probed(self, report: ProbeReport) -> None:
        """A probe ran (no result: the route moved, which changed the member's health)."""
        if report.result is not None:
            self.probe_latency.labels(report.service, report.member).observe(
                report.result.latency)
            self.probe_results.labels(report.service, report.member,
                                      report.after.recent[-1].verdict).inc()
            self.probe_lag.observe(max(0.0, report.lag))

    def checked(self, report: CheckReport) -> None:
        self.readiness_checks.labels(report.service, report.member, report.check,
                                     "pass" if report.after.ok else "fail").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


SESSION_STATES = ("connecting", "connected", "suspended", "lost")


class StoreCollector(Collector):
    def __init__(self, stores: Callable[[], Stores]) -> None:
        self._stores = stores

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stores = self._stores()
        up = GaugeMetricFamily(
            "failover_store_up", "1 while this replica reaches the store (zookeeper: a "
            "connected session; redis: its last answer).", labels=["store"])
        out = GaugeMetricFamily(
            "failover_store_out_seconds",
            "Seconds since the store was last seen good (0 while it is).", labels=["store"])
        session = GaugeMetricFamily(
            "failover_zookeeper_session", "1 for this replica's ZooKeeper session state.",
            labels=["state"])
        now = time.time()
        for link in stores.links():
            up.add_metric([link.store.value], float(link.ok))
            out.add_metric([link.store.value], link.out_for(now))
        for state in SESSION_STATES:
            session.add_metric([state], float(stores.zookeeper.state == state))
        yield from (up, out, session)
