"""Rows whose key is duplicated or blank are "skipped", and skipped means left out
of every figure: demand, KPIs, the weekly summary (issue 12, break 4)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from backends import Harness, xlsx_harness

from ops_sheets.service.runner import run_job

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)  # Monday

ORDER_HEADER = [
    "Order ID", "Order date", "Customer", "Address", "City", "Postcode", "Country",
    "SKU", "Qty", "Unit price", "Forwarder", "Status", "Shipped at",
]  # fmt: skip


def line(order_id: str, ordered: str, sku: str, qty: int, price: float, status: str) -> list[Any]:
    shipped = "2026-11-20 15:00" if status == "SHIPPED" else None
    return [
        order_id, ordered, f"Customer {order_id}", "1 High St", "York", "YO1 1AA", "GB",
        sku, qty, price, "Zip", status, shipped,
    ]  # fmt: skip


def clean_orders() -> list[list[Any]]:
    rows = [ORDER_HEADER]
    # a steady seller over the 8-week window, so demand is measured on full history
    days = ["10-01", "10-08", "10-15", "10-22", "10-29", "11-05", "11-12", "11-19"]
    for i, day in enumerate(days):
        rows.append(line(f"SO-{900 + i}", f"2026-{day} 10:00", "TEA-EG", 1, 8.0, "SHIPPED"))
    rows.append(line("SO-1029", "2026-11-18 10:00", "TEA-EG", 2, 8.0, "SHIPPED"))  # last week
    rows.append(line("SO-1029", "2026-11-18 10:00", "MUG-1", 1, 12.0, "SHIPPED"))
    rows.append(line("SO-1030", "2026-11-23 08:00", "TEA-EG", 3, 8.0, "NEW"))  # today
    return rows


def tabs(orders: list[list[Any]]) -> dict[str, list[list[Any]]]:
    return {
        "Stock": [
            ["SKU", "Product", "Supplier", "On hand", "Price"],
            ["TEA-EG", "Earl Grey", "Acme", 40, 8.0],
            ["MUG-1", "Mug", "Acme", 20, 12.0],
        ],
        "Suppliers": [["Supplier", "Email"], ["Acme", "orders@acme.example"]],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": orders,
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [
            ["Forwarder", "Email", "Pickup cutoff", "Pickup days"],
            ["Zip", "z@zip.example", "15:00", "Mon-Fri"],
        ],
    }


def run_and_read(directory: Path, orders: list[list[Any]]) -> tuple[Harness, dict[str, Any]]:
    directory.mkdir()
    harness = xlsx_harness(directory)
    harness.seed(tabs(orders))
    for job in ("stock", "monitor", "weekly"):
        run_job(job, harness.settings, NOW)
    stock = rows_by_header(harness.values("Stock"))
    daily = rows_by_header(harness.values("Daily KPIs"))
    weekly = rows_by_header(harness.values("Weekly summary"))
    figures = {
        "demand": {r["SKU"]: r["Daily demand"] for r in stock},
        "today": {k: daily[-1][k] for k in ("Orders", "Order lines", "Units", "Revenue")},
        "week": {k: weekly[-1][k] for k in ("Orders", "Order lines", "Units", "Revenue")},
    }
    return harness, figures


def rows_by_header(rows: list[list[Any]]) -> list[dict[str, Any]]:
    header = rows[0]
    return [dict(zip(header, r, strict=False)) for r in rows[1:]]


def test_duplicate_and_blank_key_lines_are_left_out_of_demand_kpis_and_the_week(
    tmp_path: Path,
) -> None:
    """Every copy is skipped, as the Problems row says: the service cannot tell which
    line is the real one, so pasting an order twice more never adds to any figure,
    and the order counts again once the copies are deleted."""
    orders = clean_orders()
    _, clean = run_and_read(tmp_path / "clean", orders)
    assert clean["week"]["Revenue"] == 8 * 2 + 12 + 8  # SO-1029 and SO-907
    assert clean["today"]["Revenue"] == 24  # SO-1030

    so_1029 = [r for r in orders if r[0] == "SO-1029"]
    so_1030 = [r for r in orders if r[0] == "SO-1030"]
    blank_id = line("", "2026-11-18 11:00", "TEA-EG", 5, 8.0, "SHIPPED")
    pasted = [*orders, *so_1029, *so_1029, *so_1030, blank_id]
    harness, dirty = run_and_read(tmp_path / "pasted", pasted)
    _, without = run_and_read(
        tmp_path / "without", [r for r in orders if r[0] not in ("SO-1029", "SO-1030")]
    )

    assert dirty == without  # the skipped lines count nowhere
    assert dirty["demand"]["TEA-EG"] < clean["demand"]["TEA-EG"]  # never more than clean
    assert dirty["week"] == {"Orders": 1, "Order lines": 1, "Units": 1, "Revenue": 8}
    assert dirty["today"] == {"Orders": 0, "Order lines": 0, "Units": 0, "Revenue": 0}

    problems = rows_by_header(harness.values("Problems"))
    skipped = {
        int(p["Row"])
        for p in problems
        if p["Tab"] == "Orders" and str(p["Problem"]).endswith("skipped")
    }
    n = len(orders)  # sheet rows 2..n hold the clean lines; the pasted ones follow
    assert skipped == {
        *(orders.index(r) + 1 for r in [*so_1029, *so_1030]),
        *range(n + 1, n + 7),  # SO-1029's two lines twice, SO-1030 once, the blank ID
    }


def test_a_return_of_a_skipped_order_line_says_why_it_cannot_be_checked() -> None:
    from ops_sheets.config import settings_from_dict
    from ops_sheets.domain.returns import ReturnRules, plan_returns
    from ops_sheets.domain.validation import unknown_references
    from ops_sheets.service.runner import parse_tables
    from ops_sheets.sheet.workbook.base import Grid

    settings = settings_from_dict({"timezone": "Europe/London"})
    orders = clean_orders()
    so_1029 = [r for r in orders if r[0] == "SO-1029"]
    stock = tabs(orders)["Stock"]
    grids = {
        "Orders": Grid("Orders", [*orders, *so_1029]),
        "Stock": Grid("Stock", [*stock, stock[1]]),  # TEA-EG typed twice on Stock too
        "Returns": Grid(
            "Returns",
            [
                ["Return ID", "Order ID", "SKU", "Qty", "Requested at", "Status"],
                ["", "SO-1029", "MUG-1", 1, "2026-11-21 10:00", "REQUESTED"],
            ],
        ),
    }
    tables = parse_tables(grids, ["returns", "orders", "stock"], settings, NOW)

    plan = plan_returns(
        tables["returns"],
        tables["orders"],
        tables["stock"],
        ReturnRules.from_settings(settings),
        NOW,
    )

    (problem,) = plan.rows[0].problems
    assert problem.problem == (
        "order line SO-1029 / MUG-1 is skipped on the Orders tab (its Order ID + SKU is on "
        "more than one row), so this return cannot be checked"
    )
    # a duplicated SKU is a duplicate, not an unknown SKU, wherever it is named
    assert not [p for p in unknown_references(tables) if "unknown SKU" in p.problem]
