"""One Hypothesis profile for the whole suite.

Every property test runs on a loaded 2-core machine beside real servers, so a per-example
deadline measures the machine, not the code: there is none. At a desk examples stay random
(a run explores beyond the last one), a failure prints what replays it (the
@reproduce_failure blob; Hypothesis adds the seed when a failure does not replay), and the
example database (.hypothesis/) keeps every failing example, tried first on the next run.
In CI (``CI`` set) the examples are derandomized: the same ones every run, so a landing is
judged on the code, not on which examples a run happened to draw, and a failure there
replays by running the same command again. Exploring is a desk's job.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# Built on "default", not on whichever profile Hypothesis loaded (``ci`` when CI is set).
settings.register_profile(
    "failover", settings.get_profile("default"), deadline=None, print_blob=True,
    derandomize=bool(os.environ.get("CI")), suppress_health_check=[HealthCheck.too_slow])
# `make mutate` only: a failure kills the mutant, so shrinking it is time wasted.
settings.register_profile("mutation", settings.get_profile("failover"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("FAILOVER_HYPOTHESIS_PROFILE", "failover"))
