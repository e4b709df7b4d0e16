"""The suite's one Hypothesis profile is in force, whatever the environment says (CI=true
would otherwise load Hypothesis' ``ci`` profile, which keeps no failing example)."""

from __future__ import annotations

from hypothesis import settings


def test_no_deadline_blobs_printed_and_failing_examples_kept() -> None:
    active = settings()
    assert settings.get_current_profile_name() == "failover"
    assert active.deadline is None
    assert active.print_blob
    assert not active.derandomize
    assert active.database is not None
