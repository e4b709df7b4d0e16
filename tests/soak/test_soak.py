"""The soak's short run, inside ``make test``: about a minute of faults, zero violations.
``make soak`` runs the same for 30 minutes (SOAK_SECONDS, SOAK_SEED to change)."""

from __future__ import annotations

import json
import os

import pytest

from tests.soak.soak import run

pytestmark = pytest.mark.integration


def test_a_minute_of_faults_breaks_no_invariant() -> None:
    seconds = float(os.environ.get("SOAK_SECONDS", "60"))
    seed = int(os.environ.get("SOAK_SEED", "20261123"))
    summary = run(seconds, seed)
    print(json.dumps(summary, indent=2))
    assert summary["violations"] == [], f"seed {seed}: {summary['violations']}"
    assert summary["rounds"] >= 3 and sum(summary["faults"].values()) >= 3
    # Zero violations means something only if the checks saw something to check.
    assert summary["traffic"]["held_to_the_applied_route"] > 0, summary["traffic"]
    assert summary["hook_calls"]["promote"] > 0, summary["hook_calls"]
