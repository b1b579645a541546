"""Time allocation of 1,000,000 open order lines over 50,000 SKUs (issue 16).

Run: ``python -m benchmarks.bench_allocation`` (``--lines N``, ``--skus N``).

The yardstick is the least any allocation must do: one pandas groupby-cumsum of
the same lines' units per SKU in (Order date, row) order. The goal is at most 3×
that; the rest of :func:`ops_sheets.domain.allocation.allocate` is what the
yardstick leaves out: shipped and cancelled units, Committed and Available per
SKU, units short per line. Each is timed as the best of three runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.domain import allocation

LONDON = ZoneInfo("Europe/London")
GOAL = 3.0


def open_lines(n: int, skus: int, seed: int = 7) -> tuple[pd.DataFrame, pd.Index, np.ndarray]:
    """A typed Orders frame (as parse_table makes it) of ``n`` lines, mostly open."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(datetime(2026, 8, 1), tz=LONDON)
    minutes = rng.integers(0, 120 * 24 * 60, n)
    status = rng.choice(
        np.array(["NEW", "PACKED", "READY", "SHIPPED", "CANCELLED"], dtype=object),
        n,
        p=[0.5, 0.2, 0.2, 0.05, 0.05],
    )
    frame = pd.DataFrame(
        {
            "order_id": pd.Series([f"SO-{i}" for i in range(n)], dtype=object),
            "order_date": start + pd.to_timedelta(minutes, unit="min"),
            "sku": pd.Series(
                np.char.add("SKU-", rng.integers(0, skus, n).astype(str)).astype(object)
            ),
            "qty": rng.integers(1, 4, n).astype(float),
            "status": pd.Series(status, dtype=object),
            "shipped_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, Europe/London]"),
            "_row": np.arange(2, n + 2),
        }
    )
    index = pd.Index([f"SKU-{i}" for i in range(skus)], dtype=object)
    on_hand = rng.integers(0, 60, skus).astype(float)
    return frame, index, on_hand


def best_of(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--skus", type=int, default=50_000)
    args = parser.parse_args(argv if argv is not None else [])
    frame, skus, on_hand = open_lines(args.lines, args.skus)

    def yardstick() -> pd.Series:
        ordered = frame.sort_values(["order_date", "_row"], kind="stable")
        return ordered.groupby("sku", sort=False)["qty"].cumsum()

    def allocate() -> allocation.Allocation:
        return allocation.allocate(frame, skus, on_hand)

    base = best_of(yardstick)
    ours = best_of(allocate)
    result = allocate()
    ratio = ours / base
    print(f"{args.lines:,} lines over {args.skus:,} SKUs")
    print(f"  pandas groupby-cumsum (sort + cumsum)  {base * 1000:8.0f} ms")
    print(f"  allocation.allocate                    {ours * 1000:8.0f} ms")
    print(f"  ratio {ratio:.2f}× (goal ≤ {GOAL:g}×: {'met' if ratio <= GOAL else 'NOT met'})")
    print(
        f"  {int(result.backorder.sum()):,} lines on backorder, "
        f"{result.committed.sum():,.0f} units committed"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
