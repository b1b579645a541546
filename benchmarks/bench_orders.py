"""Time the orders rules on 1,000,000 order lines: typed frame → statuses and requests.

Run: ``python -m benchmarks.bench_orders`` (``--lines N``, ``--checks`` to also time
the cross-tab order checks of ``ops_sheets.domain.validation`` on the same frame).

The frame is built directly with the dtypes ``parse_table`` produces (tz-aware
timestamps, float quantities, object text), as a shop with 120 days of history,
~2.5 lines per order, three forwarders, ~4 % of lines READY (many of them late)
and a tenth of those already in sent pickup requests. Timed, in order, as the job runs them:
ship-by dates, booking lookup, Ops status of every line, pickup planning (with
parcels, template context and CSV manifest), the outlook and the findings for the monitor. Peak
memory is measured in a second, traced pass (tracemalloc slows Python code, so
it does not run during the timed pass), plus the process's peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.config import settings_from_dict
from ops_sheets.domain import fulfilment as ff

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 11, 0, tzinfo=LONDON)  # Monday, before the couriers' cutoffs
CITIES = np.array(
    ["London", "Leeds", "York", "Bristol", "Lyon", "Hull", "Cardiff", "Bath"], dtype=object
)
FORWARDER_ROWS = [
    ("Swiftpost Parcels", "c@swift.example", "15:00", "Mon-Fri", "SWP-1"),
    ("Northline Couriers", "p@north.example", "16:30", "Mon, Wed, Fri", "NLC-2"),
    ("Channel Express", "b@channel.example", "12:00", "Tue, Thu", "CXF-3"),
]


def build_frame(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` order lines shaped like ``parse_table``'s output for the Orders tab."""
    rng = np.random.default_rng(seed)
    per_order = rng.integers(1, 5, size=n // 2 + 1)  # 1..4 lines, ~2.5 on average
    order_no = np.repeat(np.arange(len(per_order)), per_order)[:n]
    line_no = np.arange(n) - np.searchsorted(order_no, order_no)  # 0.. within the order
    orders = int(order_no.max()) + 1

    now_utc = pd.Timestamp(NOW).tz_convert("UTC")
    age_s = np.sort(rng.integers(0, 120 * 86400, size=orders))[::-1]  # older orders first
    ordered_o = (now_utc - pd.to_timedelta(age_s, unit="s")).tz_convert(LONDON)
    ordered = pd.Series(ordered_o[order_no]).astype("datetime64[us, Europe/London]")
    age_days = (age_s / 86400.0)[order_no]

    r = rng.random(orders)[order_no]
    status = np.where(
        age_days > 6,
        np.where(
            r < 0.02,
            "CANCELLED",
            np.where(r < 0.05, "READY", np.where(r < 0.09, "SHIPPED", "DELIVERED")),
        ),
        np.where(
            age_days > 2,
            np.where(r < 0.3, "READY", np.where(r < 0.5, "PACKED", "SHIPPED")),
            np.where(
                r < 0.2, "READY", np.where(r < 0.5, "PACKED", np.where(r < 0.52, "ON HOLD", "NEW"))
            ),
        ),
    ).astype(object)
    shipped_mask = np.isin(status, ("SHIPPED", "DELIVERED"))
    ship_delay = pd.to_timedelta(rng.integers(3600, 3 * 86400, size=n), unit="s")
    shipped_at = (ordered + ship_delay).where(shipped_mask)
    delivered_at = (shipped_at + pd.to_timedelta(2, unit="D")).where(status == "DELIVERED")

    fwd_names = np.array([f[0] for f in FORWARDER_ROWS], dtype=object)
    forwarder = fwd_names[rng.choice(3, p=[0.6, 0.3, 0.1], size=orders)][order_no]
    city = CITIES[rng.integers(0, len(CITIES), size=orders)][order_no]
    order_ids = np.char.add("SO-", order_no.astype(str)).astype(object)
    skus = np.char.add("SKU-", ((order_no * 7 + line_no) % 2000).astype(str)).astype(object)
    customers = np.char.add("Customer ", order_no.astype(str)).astype(object)
    nat = pd.Series(pd.NaT, index=range(n), dtype="datetime64[s, Europe/London]")
    frame = pd.DataFrame(
        {
            "order_id": order_ids,
            "order_date": ordered,
            "customer": customers,
            "email": "c@example.com",
            "address": "1 High Street",
            "city": city,
            "postcode": "AB1 2CD",
            "country": "GB",
            "sku": skus,
            "qty": rng.integers(1, 4, size=n).astype(float),
            "unit_price": 9.5,
            "forwarder": forwarder,
            "status": status,
            "tracking": None,
            "shipped_at": shipped_at,
            "delivered_at": delivered_at,
            "ship_by": nat,
            "ops_status": None,
            "problems": None,
            "_row": np.arange(2, n + 2, dtype=np.int64),
            "_key_ok": True,
        }
    )
    for col in ("email", "address", "postcode", "country", "tracking", "ops_status", "problems"):
        frame[col] = frame[col].astype(object)
    return frame


def forwarders() -> dict[str, ff.Forwarder]:
    from ops_sheets.domain.calendar import parse_days, parse_hhmm

    codes = ff.forwarder_codes(f[0] for f in FORWARDER_ROWS)
    return {
        name: ff.Forwarder(
            name, email, parse_hhmm(cutoff), parse_days(days), account, "", i + 2, codes[name]
        )
        for i, (name, email, cutoff, days, account) in enumerate(FORWARDER_ROWS)
    }


def earlier_bookings(frame: pd.DataFrame, share: float = 0.1) -> list[ff.Booking]:
    """Sent requests holding a share of the READY lines (what the state would hold)."""
    ready = frame[frame["status"] == "READY"]
    held = ready.iloc[: int(len(ready) * share)]
    out = []
    for i, (name, lines) in enumerate(held.groupby("forwarder")):
        out.append(
            ff.Booking(
                reference=f"PU-20261123-B{i}",
                email_key=f"pickup:PU-20261123-B{i}",
                forwarder=str(name),
                pickup_date=date(2026, 11, 23),
                sequence=1,
                lines=tuple(zip(lines["order_id"], lines["sku"], strict=True)),
                delivery=ff.REQUESTED,
            )
        )
    return out


def pipeline(
    frame: pd.DataFrame, rules: ff.Rules, fwd: dict[str, ff.Forwarder], bookings: list[ff.Booking],
    clock: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    ff.ship_by_dates(frame["order_date"], rules)
    clock("ship-by dates")
    idx = ff.booking_index(frame, bookings)
    clock("booking lookup")
    a = ff.assess(frame, rules, NOW, fwd, bookings, booking_idx=idx)
    clock("Ops status (incl. ship-by)")
    plan = ff.plan_pickups(frame, rules, NOW, fwd, bookings, booking_idx=idx)
    for req in plan.requests:
        ff.pickup_context(req, shop_name="Shop", collection_address="Unit 4")
        ff.manifest_rows(req)
    clock("pickup requests")
    ff.with_plan(a, plan)  # the counts the job reports
    found = ff.pickup_findings(frame, a, bookings, plan, fwd, NOW, rules)
    clock("outlook, monitor findings")
    return {"assessment": a, "plan": plan, "findings": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--checks", action="store_true", help="also time validation.order_checks")
    args = parser.parse_args()

    settings = settings_from_dict({"jobs": {"orders": {"holidays_country": "GB"}}})
    t0 = time.perf_counter()
    frame = build_frame(args.lines)
    print(f"built {len(frame):,} order lines in {time.perf_counter() - t0:.1f} s "
          f"({frame.memory_usage(deep=True).sum() / 2**20:,.0f} MiB as a frame)")  # fmt: skip
    rules = ff.rules_from_settings(settings, ff.years_needed(frame["order_date"], NOW))
    fwd = forwarders()
    bookings = earlier_bookings(frame)

    stages: list[tuple[str, float]] = []
    last = [time.perf_counter()]

    def clock(label: str) -> None:
        t = time.perf_counter()
        stages.append((label, t - last[0]))
        last[0] = t

    gc.collect()
    start = last[0] = time.perf_counter()
    out = pipeline(frame, rules, fwd, bookings, clock)
    total = time.perf_counter() - start

    a, plan = out["assessment"], out["plan"]
    print(f"\norders rules on {len(frame):,} lines (now = {NOW:%a %Y-%m-%d %H:%M %Z}):")
    for label, seconds in stages:
        print(f"  {label:<28} {seconds:7.2f} s")
    print(f"  {'total':<28} {total:7.2f} s  ({len(frame) / total / 1e6:.2f} M lines/s)")
    codes = pd.Series(a.ops_status).replace("", "(blank)").str.replace(r"\d+", "n", regex=True)
    print("\nOps status (numbers folded):")
    for text, count in codes.value_counts().head(12).items():
        print(f"  {count:>9,}  {text}")
    print(f"\npickup requests: {len(plan.requests)}, "
          f"{sum(len(r.parcels) for r in plan.requests):,} parcels, "
          f"{int(plan.booked.sum()):,} lines; {len(bookings)} earlier requests holding "
          f"{sum(len(b.lines) for b in bookings):,} lines")  # fmt: skip

    gc.collect()
    tracemalloc.start()
    pipeline(frame, rules, fwd, bookings, lambda _label: None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"\npeak memory of the rules (tracemalloc): {peak / 2**20:,.0f} MiB")
    print(f"peak RSS of the process (frame building included): {rss:,.0f} MiB")

    if args.checks:
        from ops_sheets.domain.validation import order_checks
        from ops_sheets.sheet.tables import ORDERS, Table

        table = Table(ORDERS, "Orders", frame, {c.key: c.header for c in ORDERS.columns})
        t = time.perf_counter()
        problems = order_checks({"orders": table})
        took = time.perf_counter() - t
        print(f"\nvalidation.order_checks: {took:.1f} s, {len(problems):,} problems")
        t = time.perf_counter()
        ids = ff.disagreeing_orders(frame)
        took = time.perf_counter() - t
        print(f"  same-order check vectorised (fulfilment.disagreeing_orders): "
              f"{took:.1f} s, {len(ids):,} orders")  # fmt: skip


if __name__ == "__main__":
    main()
