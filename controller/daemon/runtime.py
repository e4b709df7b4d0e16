"""Process-level tuning for the daemon's event loop.

Python's cyclic GC stops the loop while it scans; with the default thresholds a busy prober
(1 000 members, ~2 000 probes/s) saw full collections of 70-97 ms every few seconds, which is
scheduling lag for every probe due in that window (bench/probes.py: lag p99 83 ms). Fewer,
later collections, and moving the long-lived startup objects (config, probers, pools) out of
the collector's sight once they exist, brought it to about 6 ms.
"""

from __future__ import annotations

import asyncio
import gc

GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


async def freeze_after(delay: float) -> None:
    """Once startup has settled, collect once and freeze what survives."""
    await asyncio.sleep(delay)
    gc.collect()
    gc.freeze()
