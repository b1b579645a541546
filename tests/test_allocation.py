"""Committed, Available, allocation, backorders, kits and computed On hand
(ops_sheets.domain.allocation), on small sheets worked out by hand, plus an
independent recount of computed On hand with plain pandas over random sheets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from conftest import LONDON
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ops_sheets.domain import allocation as al
from ops_sheets.sheet.tables import TAB_SPECS, parse_table
from ops_sheets.sheet.workbook.base import Grid

ORDERS = ["Order ID", "Order date", "SKU", "Qty", "Status", "Qty shipped", "Shipped at"]
PO = ["PO number", "SKU", "Qty", "Status", "Expected by", "Received at", "Qty received"]
RETURNS = ["Return ID", "Order ID", "SKU", "Qty", "Requested at", "Condition", "Status"]
STOCK = ["SKU", "On hand", "Counted", "Counted at"]
KITS = ["Kit SKU", "Component SKU", "Qty"]


def frame(tab: str, header: list[str], rows: list[list[Any]]) -> pd.DataFrame:
    spec = TAB_SPECS[tab]
    return parse_table(spec, Grid(spec.title, [header, *rows]), LONDON).frame


def orders(*rows: list[Any]) -> pd.DataFrame:
    return frame("orders", ORDERS, [list(r) + [None] * (len(ORDERS) - len(r)) for r in rows])


def pos(*rows: list[Any]) -> pd.DataFrame:
    return frame("purchase_orders", PO, [list(r) + [None] * (len(PO) - len(r)) for r in rows])


def resaleable(condition: str | None) -> bool:
    return condition is not None and condition.lower() in {"new", "unopened"}


SKUS = pd.Index(["TEA-CH", "TEA-EG"])


def test_earlier_order_takes_stock_first_and_ties_go_by_row() -> None:
    lines = orders(
        ["SO-3", "2026-11-20 10:00", "TEA-EG", 2, "NEW"],  # row 2: later order
        ["SO-1", "2026-11-19 10:00", "TEA-EG", 2, "NEW"],  # row 3: earliest
        ["SO-2", "2026-11-19 10:00", "TEA-EG", 2, "READY"],  # row 4: tie, later row
    )
    a = al.allocate(lines, SKUS, np.array([0.0, 4.0]))
    assert a.backorder.tolist() == [True, False, False]
    assert a.short.tolist() == [2, 0, 0]
    assert a.committed.tolist() == [0, 6]
    assert a.available.tolist() == [0, -2]


def test_a_line_exactly_covered_is_not_a_backorder() -> None:
    a = al.allocate(orders(["SO-1", "2026-11-19", "TEA-EG", 3, "NEW"]), SKUS, np.array([0, 3.0]))
    assert a.backorder.tolist() == [False]
    assert a.available.tolist() == [0, 0]


def test_a_line_one_unit_short_is_a_backorder_with_the_earliest_po_date() -> None:
    lines = orders(["SO-1", "2026-11-19", "TEA-EG", 4, "PACKED"])
    po = pos(
        ["PO-2", "TEA-EG", 10, "SENT", "2026-12-09"],
        ["PO-1", "TEA-EG", 10, "CONFIRMED", "2026-12-01"],
        ["PO-0", "TEA-EG", 10, "RECEIVED", "2026-11-20"],  # arrived: nothing to come
        ["PO-3", "TEA-CH", 10, "SENT", "2026-11-25"],  # another SKU
    )
    a = al.allocate(lines, SKUS, np.array([0, 3.0]), po)
    assert a.backorder.tolist() == [True]
    assert a.short.tolist() == [1]
    assert a.backorder_text(0) == "BACKORDER 1 SHORT, PO EXPECTED 2026-12-01"
    no_po = al.allocate(lines, SKUS, np.array([0, 3.0]), pos())
    assert no_po.backorder_text(0) == "BACKORDER 1 SHORT, NO PO"


def test_shipped_and_cancelled_lines_hold_nothing_and_unknown_stock_is_not_judged() -> None:
    lines = orders(
        ["SO-1", "2026-11-19", "TEA-EG", 5, "SHIPPED"],
        ["SO-2", "2026-11-19", "TEA-EG", 5, "CANCELLED"],
        ["SO-3", "2026-11-19", "TEA-CH", 5, "NEW"],
    )
    a = al.allocate(lines, SKUS, np.array([np.nan, 1.0]))
    assert a.committed.tolist() == [5, 0]
    assert a.backorder.tolist() == [False, False, False]


def test_a_partial_shipment_releases_part_of_its_commitment() -> None:
    lines = orders(["SO-1", "2026-11-19", "TEA-EG", 5, "SHIPPED", 2, "2026-11-20 12:00"])
    a = al.allocate(lines, SKUS, np.array([0, 3.0]))
    assert a.committed.tolist() == [0, 3]
    assert a.backorder.tolist() == [False]
    assert al.part_shipped_texts(lines).tolist() == ["PART SHIPPED 2 OF 5"]
    assert al.shipped_units(lines).tolist() == [2]


def test_a_partly_received_po_keeps_the_rest_on_order() -> None:
    po = pos(
        ["PO-1", "TEA-EG", 10, "CONFIRMED", "2026-12-01", "2026-11-20", 4],
        ["PO-2", "TEA-EG", 10, "RECEIVED", "2026-12-01", "2026-11-20", 7],
        ["PO-3", "TEA-EG", 10, "RECEIVED", "2026-12-01", "2026-11-20"],
        ["PO-4", "TEA-EG", 10, "CANCELLED", "2026-12-01"],
    )
    assert al.received_units(po).tolist() == [4, 7, 10, 0]
    assert al.to_come_units(po).tolist() == [6, 3, 0, 0]


def kits(*rows: list[Any]) -> al.Kits:
    skus = pd.Index(["BOX", "CUP", "LID", "TEA", "SET"])
    return al.read_kits(frame("kits", KITS, [list(r) for r in rows]), skus)


def test_a_kit_of_three_components_with_one_out_of_stock() -> None:
    k = kits(["SET", "CUP", 2], ["SET", "LID", 1], ["SET", "TEA", 3])
    assert k.problems == []
    skus = pd.Index(["CUP", "LID", "TEA", "SET"])
    lines = orders(["SO-1", "2026-11-19", "SET", 1, "NEW"], ["SO-2", "2026-11-20", "CUP", 1, "NEW"])
    a = al.allocate(lines, skus, np.array([10.0, 5.0, 0.0, 0.0]), pos(), k)
    # the kit takes 2 cups, 1 lid and 3 teas, of which there are none
    assert a.committed.tolist() == [3, 1, 3, 1]
    assert a.backorder.tolist() == [True, False]
    assert a.short.tolist() == [1, 0]
    # available: cups 7, lids 4, teas −3 → no whole kit
    assert a.available.tolist() == [7, 4, -3, 0]
    assert "never reordered" in al.kit_why("SET", k, skus, a.available)


def test_kit_components_are_demand_as_order_lines() -> None:
    k = kits(["SET", "CUP", 2], ["SET", "LID", 1])
    lines = al.kit_order_lines(orders(["SO-1", "2026-11-19", "SET", 3, "SHIPPED"]), k)
    assert sorted(zip(lines["sku"], lines["qty"], strict=True)) == [
        ("CUP", 6), ("LID", 3), ("SET", 3)
    ]  # fmt: skip


def test_a_kit_that_contains_itself_or_an_unknown_component_is_a_problem() -> None:
    k = kits(
        ["SET", "BOX", 1],
        ["BOX", "SET", 1],  # SET → BOX → SET
        ["GIFT", "NOPE", 1],  # not on Stock
        ["DUO", "CUP", 2],
        ["DUO", "LID", 1],
    )
    assert sorted(k.components) == ["DUO"]
    found = sorted(p.problem for p in k.problems)
    assert any("contains itself" in p for p in found)
    assert any("NOPE of kit GIFT is not on the Stock tab" in p for p in found)


# ---------------------------------------------------------------- computed On hand


def stock_take(counted: float | None, at: str | None) -> pd.DataFrame:
    return frame("stock", STOCK, [["TEA-EG", 99, counted, at]])


def returns(*rows: list[Any]) -> pd.DataFrame:
    return frame("returns", RETURNS, [list(r) for r in rows])


NO_RETURNS = returns()


def test_a_receipt_mid_window_counts_once_after_the_stock_take() -> None:
    po = pos(
        ["PO-1", "TEA-EG", 10, "RECEIVED", None, "2026-11-10 09:00"],  # before: in the count
        ["PO-2", "TEA-EG", 6, "RECEIVED", None, "2026-11-18 09:00"],  # after
        ["PO-3", "TEA-EG", 8, "CONFIRMED", None, "2026-11-19 09:00", 5],  # 5 of 8 so far
    )
    oh = al.computed_on_hand(
        stock_take(20, "2026-11-15 18:00"), orders(), po, NO_RETURNS, resaleable=resaleable
    )
    assert oh.value.tolist() == [31]
    assert oh.why[0] == (
        "On hand 31 = counted 20 at 2026-11-15 18:00 + 11 received − 0 shipped + 0 restocked since"
    )


def test_a_return_restockable_counts_and_a_damaged_one_does_not() -> None:
    rets = returns(
        ["RMA-1", "SO-1", "TEA-EG", 2, "2026-11-18", "unopened", "RECEIVED"],
        ["RMA-2", "SO-2", "TEA-EG", 3, "2026-11-18", "damaged", "RECEIVED"],
        ["RMA-3", "SO-3", "TEA-EG", 4, "2026-11-18", "new", "REQUESTED"],  # not back yet
    )
    oh = al.computed_on_hand(
        stock_take(10, "2026-11-15"), orders(), pos(), rets, resaleable=resaleable
    )
    assert oh.value.tolist() == [12]


def test_a_stock_take_after_some_movements_and_before_others() -> None:
    lines = orders(
        ["SO-1", "2026-11-10", "TEA-EG", 4, "SHIPPED", None, "2026-11-12 10:00"],  # before
        ["SO-2", "2026-11-14", "TEA-EG", 3, "SHIPPED", None, "2026-11-16 10:00"],  # after
        ["SO-3", "2026-11-15", "TEA-EG", 5, "DELIVERED", 2, "2026-11-17 10:00"],  # 2 of 5
        ["SO-4", "2026-11-15", "TEA-EG", 1, "SHIPPED"],  # no Shipped at: listed
    )
    po = pos(["PO-1", "TEA-EG", 10, "RECEIVED", None, "2026-11-14 09:00"])  # before
    take = stock_take(30, "2026-11-15 12:00")
    oh = al.computed_on_hand(take, lines, po, NO_RETURNS, resaleable=resaleable)
    assert oh.value.tolist() == [25]
    assert "(not counted: 1 shipped without a date; type the date to count them)" in oh.why[0]
    # a stock take typed later resets the base: the movements before it are in it
    later = al.computed_on_hand(
        stock_take(24, "2026-11-18 08:00"), lines, po, NO_RETURNS, resaleable=resaleable
    )
    assert later.value.tolist() == [24]


def test_without_a_stock_take_on_hand_stays_as_typed() -> None:
    oh = al.computed_on_hand(stock_take(None, None), orders(), pos(), NO_RETURNS,
                             resaleable=resaleable)  # fmt: skip
    assert oh.value.tolist() == [99]
    assert oh.why == ["On hand as typed: no stock take (Counted blank)"]


# ---------------------------------------------------------------- independent recount

BASE = datetime(2026, 11, 1, 12, 0)
moment = st.one_of(st.none(), st.integers(-20, 20).map(lambda h: BASE + timedelta(hours=h * 7)))
units = st.one_of(st.none(), st.integers(0, 20))
ship = st.tuples(
    st.integers(0, 2),
    st.integers(1, 9),
    st.sampled_from(["SHIPPED", "DELIVERED", "NEW", "CANCELLED"]),
    units,
    moment,
)
receive = st.tuples(
    st.integers(0, 2),
    st.integers(1, 20),
    st.sampled_from(["RECEIVED", "CONFIRMED", "CANCELLED"]),
    units,
    moment,
)
restock = st.tuples(st.integers(0, 2), st.integers(1, 5), st.sampled_from(["new", "damaged"]),
                    st.sampled_from(["RECEIVED", "REQUESTED"]), moment)  # fmt: skip
RECOUNT_SKUS = ["A", "B", "C"]


def _when(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%d %H:%M")


def _moments(values: list[datetime | None]) -> pd.Series:
    return pd.Series(
        [pd.Timestamp(t, tz=LONDON) if t else pd.NaT for t in values],
        dtype="datetime64[ns, Europe/London]",
    )


def recount(
    takes: list[Any], shipments: list[Any], receipts: list[Any], restocks: list[Any]
) -> list[float]:
    """DESIGN.md's formula in plain pandas, from the generated values (not the sheet)."""
    skus = RECOUNT_SKUS
    take = pd.DataFrame({"sku": skus, "counted": [n for n, _ in takes]})
    take["at"] = _moments([t for _, t in takes])
    shp = pd.DataFrame(shipments, columns=["s", "qty", "status", "typed", "t"], dtype=object)
    left = shp["status"].isin(["SHIPPED", "DELIVERED"]) | shp["t"].notna()
    shp["units"] = [
        0 if st_ == "CANCELLED" else (min(typed, q) if typed is not None else (q if lf else 0))
        for q, st_, typed, lf in zip(shp["qty"], shp["status"], shp["typed"], left, strict=True)
    ]
    rec = pd.DataFrame(receipts, columns=["s", "qty", "status", "typed", "t"], dtype=object)
    rec["units"] = [
        min(typed, q) if typed is not None else (q if st_ == "RECEIVED" else 0)
        for q, st_, typed in zip(rec["qty"], rec["status"], rec["typed"], strict=True)
    ]
    back = pd.DataFrame(restocks, columns=["s", "qty", "cond", "status", "t"], dtype=object)
    back["units"] = [
        q if st_ == "RECEIVED" and cond == "new" else 0
        for q, cond, st_ in zip(back["qty"], back["cond"], back["status"], strict=True)
    ]

    def since(moves: pd.DataFrame) -> pd.Series:
        m = pd.DataFrame({"sku": [skus[s] for s in moves["s"]],
                          "units": moves["units"].astype(float)})  # fmt: skip
        m["when"] = _moments(list(moves["t"]))
        m = m.merge(take, on="sku")
        m = m[m["when"].notna() & (m["when"] > m["at"])]
        return m.groupby("sku")["units"].sum().reindex(skus, fill_value=0.0)

    per_sku = take.set_index("sku")
    total = per_sku["counted"] + since(rec) - since(shp) + since(back)
    # no stock take: On hand as typed (0 in these sheets)
    return total.where(per_sku["at"].notna(), 0.0).astype(float).tolist()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate],  # shrinking re-parses sheets for minutes
)
@given(
    takes=st.lists(st.tuples(st.integers(0, 50), moment), min_size=3, max_size=3),
    shipments=st.lists(ship, max_size=12),
    receipts=st.lists(receive, max_size=8),
    restocks=st.lists(restock, max_size=6),
)
def test_computed_on_hand_equals_an_independent_pandas_recount(
    takes: list[Any], shipments: list[Any], receipts: list[Any], restocks: list[Any]
) -> None:
    skus = RECOUNT_SKUS
    stock_f = frame(
        "stock", STOCK, [[s, 0, n, _when(t)] for s, (n, t) in zip(skus, takes, strict=True)]
    )
    lines = orders(*[[f"SO-{i}", "2026-10-30", skus[s], q, status, typed, _when(t)]
                     for i, (s, q, status, typed, t) in enumerate(shipments)])  # fmt: skip
    po = pos(*[[f"PO-{i}", skus[s], q, status, None, _when(t), typed]
               for i, (s, q, status, typed, t) in enumerate(receipts)])  # fmt: skip
    rets = returns(*[[f"RMA-{i}", "SO-0", skus[s], q, _when(t), cond, status]
                     for i, (s, q, cond, status, t) in enumerate(restocks)])  # fmt: skip
    got = al.computed_on_hand(stock_f, lines, po, rets, resaleable=resaleable).value
    assert got.tolist() == recount(takes, shipments, receipts, restocks)


def test_a_partly_received_po_is_overdue_only_for_the_rest() -> None:
    from ops_sheets.domain.purchasing import plan_reminders

    po = frame(
        "purchase_orders",
        ["PO number", "Supplier", "SKU", "Qty", "Status", "Expected by", "Qty received"],
        [
            ["PO-1", "Tea Co", "TEA-EG", 10, "CONFIRMED", "2026-11-10", 4],  # 6 still owed
            ["PO-1", "Tea Co", "TEA-CH", 5, "CONFIRMED", "2026-11-10", 5],  # all arrived
            ["PO-2", "Tea Co", "TEA-CH", 8, "SENT", "2026-11-10", 8],  # all arrived
        ],
    )
    now = datetime(2026, 11, 23, 9, tzinfo=LONDON)
    reminders = plan_reminders(po, now, 3.0, {}, {})
    assert [(r.po_number, [(ln.sku, ln.qty) for ln in r.lines]) for r in reminders] == [
        ("PO-1", [("TEA-EG", 6.0)])
    ]
