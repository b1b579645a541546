"""Time the stock decision from typed frames to plan: 5,000 → 50,000 SKUs, 1,000,000 order lines.

Run: ``python -m benchmarks.bench_stock`` (``--skus 5000 50000 --lines 1000000``).

The frames have the dtypes :func:`ops_sheets.sheet.tables.parse_table` produces (tz-aware
datetimes, float64 with NaN for blanks, object text), so the figures are those of
the job after its one read: demand and σd per SKU over 56 days with stockout days
left out, ABC classes, measured lead times, safety stock, s, S, quantities and
guards (``inventory.decide``), statuses and the Why text, and the PO plan per
supplier (``purchasing.plan_new_lines``). Parsing cells and the sheet I/O are the
backends' part and are measured by their own benchmarks.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import numpy as np
import pandas as pd

from ops_sheets.domain import inventory, purchasing
from ops_sheets.service.demo import DEMO_NOW

NOW = DEMO_NOW
TZ = NOW.tzinfo


def frames(n_skus: int, n_lines: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    skus = np.array([f"SKU-{i:06d}" for i in range(n_skus)], dtype=object)
    n_sup = max(5, n_skus // 500)
    suppliers = np.array([f"Supplier {i:03d}" for i in range(n_sup)], dtype=object)
    sku_sup = suppliers[rng.integers(0, n_sup, n_skus)]
    # Pareto-ish popularity: a few SKUs carry most of the sales
    weight = rng.pareto(1.2, n_skus) + 0.05
    weight /= weight.sum()
    typed = rng.random(n_skus) < 0.2

    def maybe(values: np.ndarray, share: float) -> np.ndarray:
        return np.where(rng.random(n_skus) < share, values, np.nan)

    stock = pd.DataFrame(
        {
            "sku": skus,
            "product": np.array([f"Product {i}" for i in range(n_skus)], dtype=object),
            "supplier": sku_sup,
            "on_hand": rng.integers(-2, 400, n_skus).astype(float),
            "reorder_point": np.where(typed, rng.integers(5, 50, n_skus), np.nan),
            "max_stock": np.where(typed, rng.integers(60, 300, n_skus), np.nan),
            "safety_stock": maybe(rng.integers(1, 20, n_skus).astype(float), 0.05),
            "lead_time_days": maybe(rng.integers(3, 30, n_skus).astype(float), 0.1),
            "pack_size": maybe(rng.choice([6.0, 12.0, 24.0, 50.0], n_skus), 0.5),
            "min_order_qty": maybe(rng.choice([12.0, 24.0, 48.0], n_skus), 0.1),
            "unit_cost": rng.uniform(0.5, 40, n_skus).round(2),
            "price": rng.uniform(2, 90, n_skus).round(2),
            "active": pd.array(rng.random(n_skus) > 0.02, dtype="boolean"),
            "_row": np.arange(2, n_skus + 2),
            "_key_ok": True,
        }
    )
    # 1M order lines over the last 120 days (56 of them in the lookback)
    start = pd.Timestamp(NOW) - pd.Timedelta(days=120)
    offsets = pd.to_timedelta(rng.uniform(0, 120 * 86400, n_lines), unit="s")
    orders = pd.DataFrame(
        {
            "order_id": np.arange(n_lines).astype(str).astype(object),
            "order_date": (start + offsets).tz_convert(TZ),
            "sku": skus[rng.choice(n_skus, n_lines, p=weight)],
            "qty": rng.integers(1, 4, n_lines).astype(float),
            "unit_price": np.where(rng.random(n_lines) < 0.9, 9.99, np.nan),
            "status": np.where(rng.random(n_lines) < 0.03, "CANCELLED", "SHIPPED").astype(object),
        }
    )
    # PO history: ~2 received lines per SKU (lead times), plus some open lines
    n_po = 2 * n_skus
    created = pd.Timestamp(NOW) - pd.to_timedelta(rng.uniform(20, 200, n_po), unit="D")
    received = created + pd.to_timedelta(rng.uniform(5, 25, n_po), unit="D")
    status = np.where(rng.random(n_po) < 0.9, "RECEIVED", "SENT").astype(object)
    po_skus = rng.integers(0, n_skus, n_po)
    purchase_orders = pd.DataFrame(
        {
            "po_number": np.array([f"PO-{i}" for i in range(n_po)], dtype=object),
            "supplier": sku_sup[po_skus],
            "sku": skus[po_skus],
            "qty": rng.integers(6, 200, n_po).astype(float),
            "unit_cost": 1.0,
            "created_at": created.tz_convert(TZ),
            "expected_by": (created + pd.Timedelta(days=14)).tz_convert(TZ),
            "status": status,
            "received_at": pd.Series(received.tz_convert(TZ)).where(status == "RECEIVED"),
            "_row": np.arange(2, n_po + 2),
            "_key_ok": True,
        }
    )
    sup_frame = pd.DataFrame(
        {
            "supplier": suppliers,
            "email": [f"orders{i}@supplier.example" for i in range(n_sup)],
            "contact": "",
            "lead_time_days": rng.integers(5, 30, n_sup).astype(float),
            "min_order_value": np.where(rng.random(n_sup) < 0.3, 250.0, np.nan),
            "_row": np.arange(2, n_sup + 2),
            "_key_ok": True,
        }
    )
    # stockout snapshots: 3 % of SKUs were out on each of the last 30 days
    days = [(NOW - timedelta(days=k)).date().isoformat() for k in range(1, 31)]
    history = {d: list(skus[rng.random(n_skus) < 0.03]) for d in days}
    return {
        "stock": stock,
        "orders": orders,
        "purchase_orders": purchase_orders,
        "suppliers": sup_frame,
        "stockouts": inventory.stockout_frame(history),
    }


def measure(n_skus: int, n_lines: int) -> dict[str, float]:
    f = frames(n_skus, n_lines)
    policy = inventory.ReorderPolicy()
    times: dict[str, float] = {}

    t = time.perf_counter()
    decision = inventory.decide(
        f["stock"], f["suppliers"], f["purchase_orders"], f["orders"], policy, NOW,
        stockouts=f["stockouts"],
    )  # fmt: skip
    times["decide"] = time.perf_counter() - t

    t = time.perf_counter()
    sups = purchasing.suppliers_by_name(f["suppliers"])
    numbers = purchasing.PoNumbers(NOW.date(), f["purchase_orders"])
    plan = purchasing.plan_new_lines(
        decision, f["purchase_orders"], sups, numbers, NOW, top_up=True, currency="GBP"
    )
    times["po plan"] = time.perf_counter() - t

    t = time.perf_counter()
    placed = decision["sku"].isin(plan.placed).to_numpy(dtype=bool)
    inventory.statuses(decision, placed, policy.review_days)
    inventory.explain(decision, placed_qty=plan.pulled, notes=plan.notes)
    times["status + why"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    times["orders placed"] = float(len(plan.lines))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, nargs="+", default=[5000, 10000, 20000, 50000])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"stock decision, {args.lines:,} order lines, 56-day lookback (seconds)")
    print(f"{'SKUs':>8} {'decide':>8} {'po plan':>8} {'why':>8} {'total':>8} {'lines':>7}")
    first: float | None = None
    for n in args.skus:
        m = measure(n, args.lines)
        first = first or m["total"]
        print(
            f"{n:>8,} {m['decide']:>8.2f} {m['po plan']:>8.2f} {m['status + why']:>8.2f} "
            f"{m['total']:>8.2f} {int(m['orders placed']):>7,}   ×{m['total'] / first:.1f}"
        )


if __name__ == "__main__":
    main()
