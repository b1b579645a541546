"""The orders job with allocation (issue 16): BACKORDER lines get no pickup, READY on
one is a Problems row, PART SHIPPED keeps the rest committed, backorders reach the
manager as findings. A real xlsx workbook, the real ledger and state."""

from __future__ import annotations

from pathlib import Path

from conftest import NOW
from test_job_orders import Shop, order, shop_tabs, xlsx_shop

from ops_sheets.domain.findings import NAMESPACE
from ops_sheets.store.state import State

NS_PICKUPS = "orders.pickups"


def tea_shop(tmp_path: Path, on_hand: int) -> dict[str, list[list[object]]]:
    tabs = shop_tabs()
    tabs["Stock"].append(["TEA-CH", on_hand])
    tabs["Orders"] += [
        order("SO-20", "TEA-CH", "2026-11-21 10:00", "READY", qty=2),  # later order, row first
        order("SO-10", "TEA-CH", "2026-11-20 10:00", "NEW", qty=2),
    ]
    tabs["Purchase orders"] = [
        ["PO number", "Supplier", "SKU", "Qty", "Status", "Expected by"],
        ["PO-1", "Tea Co", "TEA-CH", 10, "SENT", "2026-12-01"],
    ]
    return tabs


def test_a_backordered_ready_line_is_not_booked_and_is_a_problem(tmp_path: Path) -> None:
    shop = xlsx_shop(tmp_path, tea_shop(tmp_path, 3))
    result = shop.run()
    status = shop.status()
    # SO-10 ordered first takes 2 of 3; SO-20 is 1 short
    assert status["SO-20/TEA-CH"] == "BACKORDER 1 SHORT, PO EXPECTED 2026-12-01"
    assert not (status["SO-10/TEA-CH"] or "").startswith("BACKORDER")
    assert ["SO-20", "TEA-CH"] not in booked_lines(shop)
    assert ["SO-2", "A-1"] in booked_lines(shop)
    assert shop.orders().loc["SO-20/TEA-CH", "problems"] == (
        "READY but BACKORDER 1 SHORT, PO EXPECTED 2026-12-01: no pickup booked"
    )
    assert result.counts["backorder_lines"] == 1
    state = State(shop.settings.resolve("state.db"))
    try:
        found = {f["key"]: f for f in state.items(NAMESPACE)["orders"]["findings"]}
    finally:
        state.close()
    assert found["backorder:TEA-CH"]["metric"] == 1
    assert found["backorder:TEA-CH"]["title"] == "Backorder: TEA-CH is 1 unit(s) short"


def booked_lines(shop: Shop) -> list[list[str]]:
    state = State(shop.settings.resolve("state.db"))
    try:
        return [line for r in state.items(NS_PICKUPS).values() for line in r["lines"]]
    finally:
        state.close()


def test_an_exactly_covered_line_is_booked(tmp_path: Path) -> None:
    shop = xlsx_shop(tmp_path, tea_shop(tmp_path, 4))
    shop.run()
    assert "BACKORDER" not in (shop.status()["SO-20/TEA-CH"] or "")
    assert ["SO-20", "TEA-CH"] in booked_lines(shop)


def test_part_shipped_keeps_the_rest_committed(tmp_path: Path) -> None:
    tabs = tea_shop(tmp_path, 1)
    tabs["Orders"][0] = [*tabs["Orders"][0], "Qty shipped"]
    for row in tabs["Orders"][1:]:
        row.append(None)
    tabs["Orders"][-1][12] = "SHIPPED"  # SO-10: 1 of 2 shipped, 1 still to go
    tabs["Orders"][-1][14] = "2026-11-21 12:00"
    tabs["Orders"][-1][-1] = 1
    shop = xlsx_shop(tmp_path, tabs)
    shop.run()
    status = shop.status()
    assert status["SO-10/TEA-CH"] == "PART SHIPPED 1 OF 2"
    # its rest takes the 1 on hand: SO-20 (ordered later) is 2 short
    assert status["SO-20/TEA-CH"] == "BACKORDER 2 SHORT, PO EXPECTED 2026-12-01"
    assert NOW.year == 2026
