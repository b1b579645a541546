"""The stock job with issue 16's columns: Committed, Available, kits, computed On hand
and Forecast per day, on a real in-memory workbook."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from conftest import NOW
from test_job_stock import PO_HEADER, Rows, memory_shop

STOCK = ["SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock", "Price",
         "Counted", "Counted at", "Forecast per day"]  # fmt: skip
ORDERS = ["Order ID", "Order date", "SKU", "Qty", "Unit price", "Status", "Qty shipped",
          "Shipped at"]  # fmt: skip


def shop_tabs(stock: list[list[Any]], orders: list[list[Any]], **extra: Rows) -> dict[str, Rows]:
    return {
        "Stock": [STOCK, *stock],
        "Suppliers": [["Supplier", "Email"], ["Tea Co", "tea@tea.example"]],
        "Purchase orders": [PO_HEADER],
        "Orders": [ORDERS, *orders],
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Requested at", "Condition", "Status"]],
        "Forwarders": [["Forwarder", "Email"]],
        **extra,
    }


def rows(shop: Any) -> dict[str, dict[str, Any]]:
    return shop.by_sku()


def test_committed_units_lower_available_and_the_reorder_position(tmp_path: Path) -> None:
    # TEA-EG: 3 on hand, 4 units waiting to ship: available −1; reorder point 2
    shop = memory_shop(
        shop_tabs(
            [["TEA-EG", "Earl Grey", "Tea Co", 3, 2, 10, 5]],
            [
                ["SO-1", datetime(2026, 11, 20, 9), "TEA-EG", 3, 5, "NEW"],
                ["SO-2", datetime(2026, 11, 21, 9), "TEA-EG", 1, 5, "READY"],
                ["SO-0", datetime(2026, 11, 19, 9), "TEA-EG", 2, 5, "SHIPPED"],
            ],
        ),
        tmp_path,
    )
    shop.run()
    row = rows(shop)["TEA-EG"]
    assert (row["Committed"], row["Available"]) == (4, -1)
    assert row["Stock status"] == "REORDER"
    assert row["Why"].startswith(
        "reorder point 2 (typed); 3 on hand − 4 committed + 0 on order ≤ 2 → order 11"
    )
    assert row["Days of cover"] == 0


def test_a_kit_is_never_reordered_and_its_sales_are_component_demand(tmp_path: Path) -> None:
    shop = memory_shop(
        shop_tabs(
            [
                ["SET", "Gift set", "Tea Co", None, None, None, 30],
                ["CUP", "Cup", "Tea Co", 10, 1, 20, 5],
                ["LID", "Lid", "Tea Co", 5, 1, 20, 1],
                ["TEA", "Tea", "Tea Co", 0, 1, 20, 5],
            ],
            [["SO-1", datetime(2026, 11, 20, 9), "SET", 1, 30, "NEW"]],
            Kits=[
                ["Kit SKU", "Component SKU", "Qty"],
                ["SET", "CUP", 2],
                ["SET", "LID", 1],
                ["SET", "TEA", 3],
            ],
        ),
        tmp_path,
    )
    shop.run()
    by = rows(shop)
    assert by["SET"]["Available"] == 0
    assert by["SET"]["Suggested order"] == 0
    assert by["SET"]["Stock status"] == "OUT OF STOCK"
    assert "never reordered" in by["SET"]["Why"]
    assert (by["CUP"]["Committed"], by["TEA"]["Committed"]) == (2, 3)
    assert by["TEA"]["Suggested order"] > 0  # its components are reordered
    assert by["CUP"]["Daily demand"] > 0  # the kit's sale is the cup's demand
    assert all(line[1] != "SET" for line in shop.po_lines()[1:])


def test_computed_on_hand_is_written_with_its_arithmetic(tmp_path: Path) -> None:
    shop = memory_shop(
        shop_tabs(
            [["TEA-EG", "Earl Grey", "Tea Co", 99, 2, 50, 5, 20, datetime(2026, 11, 15, 18)]],
            [
                [
                    "SO-1",
                    datetime(2026, 11, 16, 9),
                    "TEA-EG",
                    3,
                    5,
                    "SHIPPED",
                    None,
                    datetime(2026, 11, 17, 9),
                ],
            ],
        ),
        tmp_path,
    )
    shop.run(on_hand="computed")
    row = rows(shop)["TEA-EG"]
    assert row["On hand"] == 17
    assert row["Why"].startswith(
        "On hand 17 = counted 20 at 2026-11-15 18:00 + 0 received − 3 shipped + 0 restocked since; "
    )


def test_a_typed_forecast_replaces_measured_demand(tmp_path: Path) -> None:
    shop = memory_shop(
        shop_tabs(
            [["NEW-1", "Launch tea", "Tea Co", 10, None, None, 5, None, None, 4]],
            [["SO-1", datetime(2026, 11, 20, 9), "NEW-1", 1, 5, "SHIPPED"]],
        ),
        tmp_path,
    )
    shop.run()
    row = rows(shop)["NEW-1"]
    assert row["Daily demand"] == 4
    assert row["Why"].startswith("Forecast per day 4 typed (measured 0.14/day)")
    assert row["Days of cover"] == 2.5
    assert NOW.date().isoformat() == "2026-11-23"


def test_a_kit_containing_itself_is_a_problems_row_and_is_not_expanded(tmp_path: Path) -> None:
    shop = memory_shop(
        shop_tabs(
            [
                ["SET", "Gift set", "Tea Co", 2, None, None, 30],
                ["CUP", "Cup", "Tea Co", 10, 1, 20, 5],
            ],
            [["SO-1", datetime(2026, 11, 20, 9), "SET", 1, 30, "NEW"]],
            Kits=[["Kit SKU", "Component SKU", "Qty"], ["SET", "CUP", 2], ["SET", "SET", 1]],
        ),
        tmp_path,
    )
    result = shop.run()
    assert [(p.tab, p.row, p.column) for p in result.problems if p.tab == "Kits"] == [
        ("Kits", 3, "Component SKU")
    ]
    by = rows(shop)
    assert by["CUP"]["Committed"] == 0  # the kit is unusable: its line takes its own row
    assert by["SET"]["Committed"] == 1
