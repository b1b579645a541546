"""The reorder maths on small cases computed by hand (ops_sheets.domain.inventory).

`now` is Monday 2026-11-23 09:00 London; with a 4-day lookback the days counted
are Thu 19, Fri 20, Sat 21 and Sun 22 November (today is a partial day: left out).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import LONDON, NOW

from ops_sheets.domain import inventory
from ops_sheets.domain.inventory import ReorderPolicy, decide, explain, order_quantity, statuses
from ops_sheets.sheet.tables import TAB_SPECS, parse_table
from ops_sheets.sheet.workbook.base import Grid

STOCK_HEADER = [
    "SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock", "Safety stock",
    "Lead time days", "Pack size", "Min order qty", "Unit cost", "Price", "Active",
]  # fmt: skip
ORDERS_HEADER = ["Order ID", "Order date", "SKU", "Qty", "Unit price", "Status"]
PO_HEADER = ["PO number", "Supplier", "SKU", "Qty", "Unit cost", "Created at", "Expected by",
             "Status", "Received at"]  # fmt: skip


def frame(tab: str, rows: list[list[Any]]) -> pd.DataFrame:
    spec = TAB_SPECS[tab]
    table = parse_table(spec, Grid(spec.title, rows), LONDON)
    assert [p for p in table.problems if "blank" not in p.problem] == [], table.problems
    return table.frame


def stock(*rows: dict[str, Any]) -> pd.DataFrame:
    keys = [h.lower().replace(" ", "_") for h in STOCK_HEADER]
    return frame("stock", [STOCK_HEADER, *[[r.get(k) for k in keys] for r in rows]])


def orders(*lines: tuple[str, str, float] | tuple[str, str, float, str]) -> pd.DataFrame:
    """(SKU, 'MM-DD HH:MM', qty[, status]); unit price 10."""
    rows: list[list[Any]] = [ORDERS_HEADER]
    for i, line in enumerate(lines):
        sku, when, qty, *status = line
        rows.append([f"SO-{i}", f"2026-{when}", sku, qty, 10, status[0] if status else "SHIPPED"])
    return frame("orders", rows)


def pos(*rows: list[Any]) -> pd.DataFrame:
    return frame("purchase_orders", [PO_HEADER, *rows])


SUPPLIERS = frame(
    "suppliers",
    [["Supplier", "Email", "Lead time days", "Min order value"],
     ["Acme", "orders@acme.example", 10, None],
     ["Slowco", "s@slowco.example", None, None]],
)  # fmt: skip
NO_PO = pos()
SHORT = ReorderPolicy(lookback_days=4)


def run(
    stock_frame: pd.DataFrame,
    orders_frame: pd.DataFrame | None = None,
    po: pd.DataFrame = NO_PO,
    policy: ReorderPolicy = SHORT,
    **kw: Any,
) -> pd.DataFrame:
    o = orders_frame if orders_frame is not None else orders()
    return decide(stock_frame, SUPPLIERS, po, o, policy, NOW, **kw)


def row(decision: pd.DataFrame, sku: str) -> pd.Series:
    return decision.set_index("sku").loc[sku]


# ---------------------------------------------------------------- demand


def test_demand_is_the_mean_of_whole_days_with_zero_days_counted() -> None:
    # 19th: 2 (two lines), 20th: 0, 21st: 4, 22nd: 0; the 18th and today are outside,
    # a cancelled line does not count. Mean 6/4 = 1.5; sample variance of
    # (2, 0, 4, 0) = (0.25 + 2.25 + 6.25 + 2.25) / 3 = 11/3.
    o = orders(
        ("A", "11-19 10:00", 1), ("A", "11-19 18:30", 1), ("A", "11-21 09:00", 4),
        ("A", "11-18 23:59", 7), ("A", "11-23 08:00", 9), ("A", "11-20 12:00", 5, "CANCELLED"),
    )  # fmt: skip
    dem = inventory.demand(o, ["A", "B"], date(2026, 11, 19), 4, LONDON)
    assert dem.daily.tolist() == [1.5, 0.0]
    assert dem.sd[0] == pytest.approx(math.sqrt(11 / 3))
    assert dem.units.tolist() == [6.0, 0.0]
    assert dem.revenue.tolist() == [60.0, 0.0]  # 6 units × 10 (the line's unit price)


def test_days_are_counted_in_the_business_time_zone() -> None:
    # 00:30 on the 19th in London is still the 18th in UTC: it belongs to the 19th here.
    o = orders(("A", "11-19 00:30", 4))
    dem = inventory.demand(o, ["A"], date(2026, 11, 19), 4, LONDON)
    assert dem.daily.tolist() == [1.0]


def test_stocked_out_days_are_left_out_of_demand() -> None:
    # Sales 2, 0, 4, 0; out of stock on the 20th and 22nd → days 2 and 4:
    # d = 3, σd = √(((2−3)² + (4−3)²) / 1) = √2.
    o = orders(("A", "11-19 10:00", 2), ("A", "11-21 10:00", 4))
    out = inventory.stockout_frame({"2026-11-20": ["A"], "2026-11-22": ["A", "B"]})
    dem = inventory.demand(o, ["A"], date(2026, 11, 19), 4, LONDON, stockouts=out)
    assert dem.daily.tolist() == [3.0]
    assert dem.sd[0] == pytest.approx(math.sqrt(2))
    assert dem.stockout_days.tolist() == [2.0]
    without = inventory.demand(o, ["A"], date(2026, 11, 19), 4, LONDON)
    assert without.daily.tolist() == [1.5]


def test_a_sku_out_of_stock_every_day_falls_back_to_the_whole_window() -> None:
    o = orders(("A", "11-19 10:00", 2))
    out = inventory.stockout_frame({f"2026-11-{d}": ["A"] for d in (19, 20, 21, 22)})
    dem = inventory.demand(o, ["A"], date(2026, 11, 19), 4, LONDON, stockouts=out)
    assert dem.daily.tolist() == [0.5]
    assert dem.stockout_days.tolist() == [0.0]


def test_stockout_days_flow_into_the_decision_and_its_why() -> None:
    o = orders(("A", "11-19 10:00", 2), ("A", "11-21 10:00", 4))
    out = inventory.stockout_frame({"2026-11-20": ["A"], "2026-11-22": ["A"]})
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 100}), o, stockouts=out)
    assert row(d, "A")["daily_demand"] == 3.0
    assert "2 stockout days left out" in explain(d)[0]


# ---------------------------------------------------------------- short history

EIGHT_WEEKS = ReorderPolicy(lookback_days=56)


def test_a_sku_first_sold_21_days_ago_is_divided_by_21_days_not_the_window() -> None:
    # DESIGN.md wave 2: the days the SKU has sold (from its first order line), at least 7.
    # The window is 28 Sep … 22 Nov; first sale Mon 2 Nov: 2 Nov … 22 Nov is 21 days.
    o = orders(("NEW", "11-02 10:00", 5), ("NEW", "11-10 10:00", 4), ("NEW", "11-20 15:00", 5))
    d = run(stock({"sku": "NEW", "supplier": "Acme", "on_hand": 3}), o, policy=EIGHT_WEEKS)
    assert round(row(d, "NEW")["daily_demand"], 2) == 0.67  # 14 / 21, not 14 / 56 = 0.25
    assert row(d, "NEW")["days_counted"] == 21
    assert explain(d)[0].endswith("; only 21 days of history")


def test_fewer_than_7_days_of_history_count_as_7() -> None:
    o = orders(("NEW", "11-20 10:00", 6))  # first sold 3 days ago: 20, 21, 22 Nov
    d = run(stock({"sku": "NEW", "supplier": "Acme", "on_hand": 3}), o, policy=EIGHT_WEEKS)
    assert row(d, "NEW")["daily_demand"] == pytest.approx(6 / 7)
    assert explain(d)[0].endswith("; only 3 days of history, counted as 7")


def test_a_sku_sold_before_the_window_uses_the_whole_window_and_says_nothing() -> None:
    # one sale before the window and one inside: it has sold for longer than 56 days
    o = orders(("OLD", "09-01 10:00", 3), ("OLD", "11-10 10:00", 14))
    d = run(stock({"sku": "OLD", "supplier": "Acme", "on_hand": 3}), o, policy=EIGHT_WEEKS)
    assert row(d, "OLD")["daily_demand"] == pytest.approx(14 / 56)
    assert "history" not in explain(d)[0]


def test_a_short_history_leaves_out_only_its_own_stockout_days() -> None:
    # first sale 19 Nov in a 56-day window: 19 … 22 Nov (4 days) → counted as 7,
    # 16 … 22 Nov. The stockout on 1 Nov lies before that; the one on 21 Nov is left out.
    o = orders(("NEW", "11-19 10:00", 6))
    out = inventory.stockout_frame({"2026-11-01": ["NEW"], "2026-11-21": ["NEW"]})
    dem = inventory.demand(o, ["NEW"], date(2026, 9, 28), 56, LONDON, stockouts=out)
    assert dem.daily.tolist() == [1.0]  # 6 units over 7 − 1 days
    assert dem.stockout_days.tolist() == [1.0]
    assert (dem.history_days.tolist(), dem.window_days.tolist()) == ([4.0], [7.0])


def test_a_cancelled_first_line_still_starts_the_history() -> None:
    o = orders(("NEW", "11-09 10:00", 2, "CANCELLED"), ("NEW", "11-20 10:00", 7))
    dem = inventory.demand(o, ["NEW"], date(2026, 9, 28), 56, LONDON)
    assert dem.daily.tolist() == [0.5]  # 9 … 22 Nov: 14 days, 7 units


# ---------------------------------------------------------------- ABC


def test_abc_classes_split_revenue_80_15_5_best_first() -> None:
    # 50 + 30 = 80 % → A, A; the third starts at 80 % → B; the fourth at 95 % → C.
    assert inventory.abc_classes(np.array([30, 5, 50, 15, 0])).tolist() == [
        "A", "C", "A", "B", "C"
    ]  # fmt: skip


def test_the_top_seller_is_class_a_even_when_it_alone_is_most_revenue() -> None:
    # 95 % in one SKU: the next starts at 95 % → C.
    assert inventory.abc_classes(np.array([3, 95, 2])).tolist() == ["C", "A", "C"]


def test_inactive_skus_and_no_revenue_are_class_c() -> None:
    revenue = np.array([100.0, 50.0])
    assert inventory.abc_classes(revenue, np.array([False, True])).tolist() == ["C", "A"]
    assert inventory.abc_classes(np.zeros(3)).tolist() == ["C", "C", "C"]


def test_service_level_follows_the_abc_class() -> None:
    o = orders(("A", "11-19 10:00", 80), ("B", "11-19 10:00", 15), ("C", "11-19 10:00", 5))
    skus = [{"sku": s, "supplier": "Acme", "on_hand": 500} for s in "ABC"]
    d = run(stock(*skus), o)
    assert d["abc"].tolist() == ["A", "B", "C"]
    assert d["service_level"].tolist() == [0.98, 0.95, 0.90]
    assert d["z"].tolist() == pytest.approx([2.0537, 1.6449, 1.2816], abs=1e-4)


# ---------------------------------------------------------------- lead time


def test_lead_time_comes_from_the_sku_then_the_supplier_then_the_default() -> None:
    d = run(
        stock(
            {"sku": "A", "supplier": "Acme", "on_hand": 5, "lead_time_days": 3},
            {"sku": "B", "supplier": "Acme", "on_hand": 5},
            {"sku": "C", "supplier": "Slowco", "on_hand": 5},
        )
    )
    assert d["lead_time"].tolist() == [3.0, 10.0, 14.0]
    assert d["lead_time_source"].tolist() == ["sku", "supplier", "default"]
    assert d["lead_time_sd"].tolist() == [0.0, 0.0, 0.0]


def received(n: int, created: str, days: float) -> list[Any]:
    made = datetime.fromisoformat(f"2026-{created} 10:00")
    return [f"PO-{n}", "Acme", f"X-{n}", 10, 1, made, None, "RECEIVED", made + timedelta(days)]


def test_three_received_lines_replace_the_typed_lead_time_with_mean_and_spread() -> None:
    # Received after 10, 12 and 14 days: L = 12, σL = 2 (sample). Demand is a steady
    # 2/day (σd = 0), the only seller → class A, z = 2.0537:
    # safety = z·√(L·σd² + d²·σL²) = 2.0537 × √(0 + 4 × 4) = 8.21 → 8;
    # s = 2 × 12 + 8 = 32; S = 32 + 2 × 7 = 46.
    o = orders(*[("A", f"11-{day} 10:00", 2) for day in (19, 20, 21, 22)])
    po = pos(received(1, "10-01", 10), received(2, "10-05", 12), received(3, "10-09", 14))
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 100, "lead_time_days": 5}), o, po)
    r = row(d, "A")
    assert (r["lead_time"], r["lead_time_sd"], r["lead_time_source"]) == (12.0, 2.0, "measured")
    assert (r["safety_stock"], r["reorder_point"], r["order_up_to"]) == (8.0, 32.0, 46.0)
    assert "lead time 12 ± 2 d measured over 3 received PO lines, typed 5" in explain(d)[0]


def test_two_received_lines_are_not_enough_to_measure() -> None:
    po = pos(received(1, "10-01", 10), received(2, "10-05", 12))
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 100}), po=po)
    assert row(d, "A")["lead_time_source"] == "supplier"


# ---------------------------------------------------------------- safety stock, s, S


def test_safety_stock_reorder_point_and_order_up_to_are_computed_when_blank() -> None:
    # d = 1.5, σd = √(11/3), L = 4 (typed), σL = 0, class A z = 2.0537:
    # safety = 2.0537 × √(4 × 11/3) = 7.865 → 8; s = 1.5 × 4 + 8 = 14;
    # S = 14 + 1.5 × 7 = 24.5 → 25 (half up).
    o = orders(("A", "11-19 10:00", 2), ("A", "11-21 09:00", 4))
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 30, "lead_time_days": 4}), o)
    r = row(d, "A")
    z = NormalDist().inv_cdf(0.98)
    assert z * math.sqrt(4 * 11 / 3) == pytest.approx(7.865, abs=1e-3)
    assert (r["safety_stock"], r["reorder_point"], r["order_up_to"]) == (8.0, 14.0, 25.0)
    assert r["days_of_cover"] == 20.0  # 30 ÷ 1.5
    assert not r["needs_order"]


def test_typed_safety_stock_is_used_as_typed() -> None:
    o = orders(("A", "11-19 10:00", 2), ("A", "11-21 09:00", 4))
    d = run(
        stock({"sku": "A", "supplier": "Acme", "on_hand": 30, "lead_time_days": 4,
               "safety_stock": 3}), o
    )  # fmt: skip
    r = row(d, "A")
    assert (r["safety_stock"], r["reorder_point"], r["order_up_to"]) == (3.0, 9.0, 20.0)


def test_why_reads_like_the_calculation_a_person_would_do() -> None:
    # first sold on 15 Nov, 8 days of history in a 10-day window (DESIGN.md: divide by
    # the days the SKU has sold): 42 units / 8 = 5.25/day; 5.25 × 14 + 31 = 104.5 → 105;
    # S = 105 + 36.75 → 142; 142 − 40 = 102 → packs of 50 → 150.
    o = orders(*[("A", "11-15 10:00", 42)])
    d = run(
        stock({"sku": "A", "supplier": "Acme", "on_hand": 40, "lead_time_days": 14,
               "safety_stock": 31, "pack_size": 50}),
        o, policy=ReorderPolicy(lookback_days=10),
    )  # fmt: skip
    assert explain(d)[0] == (
        "5.25/day × 14 d + 31 safety (typed) = 105; 40 on hand + 0 on order ≤ 105 → order 150 "
        "(up to 142, packs of 50); only 8 days of history"
    )


# ---------------------------------------------------------------- position and quantity


def test_order_quantity_is_max_of_gap_and_min_order_qty_rounded_up_to_packs() -> None:
    q = order_quantity([42, 42, 42, 42, 7.2], [math.nan, 60, 30, 0, math.nan],
                       [math.nan, 1, 25, 5, math.nan])  # fmt: skip
    assert q.tolist() == [42, 60, 50, 45, 8]


@pytest.mark.parametrize(
    ("on_hand", "extra", "qty"),
    [
        (10, {}, 40.0),  # position = s: order up to S
        (11, {}, 0.0),  # above s: nothing
        (8, {"pack_size": 5}, 45.0),  # 42 → 45
        (8, {"min_order_qty": 60}, 60.0),  # 42 < 60
        (8, {"min_order_qty": 30, "pack_size": 25}, 50.0),  # max(42, 30) → 50
        (-3, {}, 53.0),  # back orders count: 50 − (−3)
    ],
)
def test_typed_min_max_is_the_classic_erp_rule_exactly(
    on_hand: float, extra: dict[str, float], qty: float
) -> None:
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": on_hand, "reorder_point": 10,
                   "max_stock": 50, **extra}))  # fmt: skip
    assert row(d, "A")["order_qty"] == qty
    assert row(d, "A")["needs_order"] == (qty > 0)


def test_open_po_lines_count_as_on_order_and_others_do_not() -> None:
    po = pos(
        ["PO-1", "Acme", "A", 5, 1, None, None, "DRAFT", None],
        ["PO-2", "Acme", "A", 3, 1, None, None, "SENT", None],
        ["PO-3", "Acme", "A", 1, 1, None, None, "approved", None],
        ["PO-4", "Acme", "A", 100, 1, None, None, "RECEIVED", None],
        ["PO-5", "Acme", "A", 7, 1, None, None, "CANCELLED", None],
    )
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 1, "reorder_point": 10,
                   "max_stock": 50}), po=po)  # fmt: skip
    r = row(d, "A")
    assert (r["on_order"], r["position"], r["order_qty"]) == (9.0, 10.0, 40.0)


def test_a_max_stock_below_the_reorder_point_orders_nothing() -> None:
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 5, "reorder_point": 10,
                   "max_stock": 4, "min_order_qty": 20}))  # fmt: skip
    r = row(d, "A")
    assert not r["needs_order"] and r["order_qty"] == 0
    assert "leaves nothing to order" in explain(d)[0]


# ---------------------------------------------------------------- guards


def test_a_computed_order_above_max_order_days_of_demand_is_blocked() -> None:
    # 1 unit in 4 days = 0.25/day; Min order qty 50 forces an order of 50 = 200 days > 120.
    o = orders(("A", "11-19 10:00", 1))
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 0, "min_order_qty": 50}), o)
    r = row(d, "A")
    assert r["needs_order"] and r["order_qty"] == 50
    assert "50 is more than 120 days of demand (30 at 0.25/day)" in r["blocked"]
    assert "not ordered" in explain(d)[0]


def test_a_typed_max_stock_is_never_blocked_by_the_days_guard() -> None:
    o = orders(("A", "11-19 10:00", 1))
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 0, "max_stock": 500}), o)
    assert row(d, "A")["blocked"] == "" and row(d, "A")["order_qty"] == 500


def test_without_sales_a_computed_order_is_blocked() -> None:
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 0, "reorder_point": 5}))
    r = row(d, "A")
    assert r["needs_order"] and r["order_qty"] == 5
    assert "no sales" in r["blocked"]


# ---------------------------------------------------------------- status


def test_stock_status_takes_the_first_that_applies() -> None:
    # d = 1/day everywhere (4 units in 4 days); L = 10 (Acme), review 7 → LOW under 17 days.
    skus = ["INA", "OUT", "REO", "ONO", "LOW", "OK", "HELD"]
    o = orders(*[(s, "11-19 10:00", 4) for s in skus])
    po = pos(["PO-1", "Acme", "ONO", 40, 1, None, None, "SENT", None])
    rp = {"reorder_point": 10, "max_stock": 50}
    d = run(
        stock(
            {"sku": "INA", "supplier": "Acme", "on_hand": 0, "active": "no", **rp},
            {"sku": "OUT", "supplier": "Acme", "on_hand": 0, **rp},
            {"sku": "REO", "supplier": "Acme", "on_hand": 5, **rp},
            {"sku": "ONO", "supplier": "Acme", "on_hand": 5, **rp},
            {"sku": "LOW", "supplier": "Acme", "on_hand": 12, **rp},
            {"sku": "OK", "supplier": "Acme", "on_hand": 30, **rp},
            {"sku": "HELD", "supplier": "Acme", "on_hand": 5, **rp},
        ),
        o,
        po,
    )
    placed = d["sku"].isin(["OUT", "REO"]).to_numpy()  # HELD needed one but none was placed
    got = dict(zip(d["sku"], statuses(d, placed, 7.0), strict=True))
    assert got == {
        "INA": "INACTIVE", "OUT": "OUT OF STOCK", "REO": "REORDER", "ONO": "ON ORDER",
        "LOW": "LOW", "OK": "OK", "HELD": "LOW",
    }  # fmt: skip


def test_days_of_cover_is_blank_without_sales() -> None:
    d = run(stock({"sku": "A", "supplier": "Acme", "on_hand": 30}))
    assert math.isnan(row(d, "A")["days_of_cover"])
    assert row(d, "A")["daily_demand"] == 0


def test_a_row_whose_on_hand_cannot_be_read_gets_no_decision() -> None:
    s = stock({"sku": "A", "supplier": "Acme", "on_hand": None}, {"sku": "B", "on_hand": 1})
    d = run(s)
    assert statuses(d, np.zeros(2, dtype=bool), 7.0).tolist() == ["", "OK"]
    assert explain(d)[0].startswith("On hand is blank")
