"""Fewer passes of Python's cycle collector while jobs run.

A run holds a whole sheet as Python lists and builds hundreds of thousands of
small objects (cells, updates, write ranges) that live to its end. With the
default thresholds the collector walks all of them again and again: at 100k
Orders lines about a quarter of ``run orders``' CPU went to it, and freed
nothing, since what a run builds is freed by reference counting, not by the
collector. During a run the young generation is collected after 100,000
allocations instead of 700, so the collector still runs, far less often.
Nothing a job computes depends on when it runs; the thresholds are put back
after the run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: (young, middle, old) collection thresholds during a run; Python's are (700, 10, 10)
RUN_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the block; restore them after it."""
    before = gc.get_threshold()
    gc.set_threshold(*RUN_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
