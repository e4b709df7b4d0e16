"""The suite's one Hypothesis profile is in force, whatever the environment says (CI=true
would otherwise load Hypothesis' ``ci`` profile). At a desk it explores and keeps failing
examples; in CI it runs the same examples every time (tests/conftest.py says why)."""

from __future__ import annotations

import os

from hypothesis import settings


def test_no_deadline_blobs_printed_and_failing_examples_kept() -> None:
    active = settings()
    assert settings.get_current_profile_name() == "failover"
    assert active.deadline is None
    assert active.print_blob
    if os.environ.get("CI"):
        assert active.derandomize
    else:
        assert not active.derandomize
        assert active.database is not None
