"""Metrics a fresh replica exports before anything has happened: a series born with its
first event is invisible to increase(), and a dashboard panel on it stays empty."""

from __future__ import annotations

from config import Config
from controller.daemon.metrics import Metrics
from tests.unit.test_config import GOOD


def test_counters_and_the_repoint_histogram_start_at_zero_for_every_service() -> None:
    text = Metrics(Config.model_validate(GOOD)).render().decode()
    assert 'failover_failovers_total{outcome="done",service="web"} 0.0' in text
    assert 'failover_repoint_seconds_count{service="web"} 0.0' in text
    assert 'failover_repoint_seconds_bucket{le="+Inf",service="web"} 0.0' in text
