"""An Orders tab synced in Shopify's layout (``[tabs.orders] preset = "shopify"``),
read and written by the real jobs on the memory and xlsx backends."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook

EXPORTS = Path(__file__).parent / "data" / "exports"
NEW_YORK = ZoneInfo("America/New_York")
# two weeks after the last order in the file: every fulfilled line is old news
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=NEW_YORK)


def shopify_rows() -> list[list[Any]]:
    text = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8")
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]


def synced_settings(tmp_path: Path, **orders: Any) -> Settings:
    return settings_from_dict(
        {
            "timezone": "America/New_York",
            "currency": "USD",
            "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
            "tabs": {"orders": {"preset": "shopify", **orders}},
        },
        base_dir=tmp_path,
    )


def shop(orders: list[list[Any]]) -> MemoryWorkbook:
    return MemoryWorkbook(
        {
            "Orders": orders,
            "Stock": [
                ["SKU", "Product", "On hand"],
                ["TOWEL-SAGE", "Linen Tea Towel - Sage", 40],
                ["MUG-SPECK", "Stoneware Mug - Speckled", 12],
            ],
            "Forwarders": [["Forwarder", "Email", "Pickup cutoff", "Pickup days"]],
            "Suppliers": [["Supplier", "Email"]],
            "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
            "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        }
    )


def test_a_shopify_synced_tab_reads_as_an_orders_tab_with_no_status_or_fill_down_problems(
    tmp_path: Path,
) -> None:
    wb = shop(shopify_rows())
    result = run_job("check", synced_settings(tmp_path), NOW, workbook=wb)
    orders_problems = [p for p in result.problems if p.tab == "Orders"]
    assert not [p for p in orders_problems if "status" in p.problem]
    assert not [p for p in orders_problems if "is blank" in p.problem]
    assert not [p for p in orders_problems if "appears on rows" in p.problem]
    notes = " ".join(result.notes)
    assert "Orders: 10 rows" in notes, notes


def test_the_orders_job_writes_its_columns_into_the_synced_tab_by_the_platforms_keys(
    tmp_path: Path,
) -> None:
    rows = shopify_rows()
    wb = shop(rows)
    result = run_job("orders", synced_settings(tmp_path), NOW, workbook=wb)
    assert result.write is not None
    # the same SKU twice in #1044 is one line to the jobs, but two rows in the tab:
    # its service cells cannot be placed on one of them, and the run says so
    assert [s.key for s in result.write.skipped] == ["BOARD-WAL / #1044"]
    tab = wb.tabs["Orders"]
    header = tab[0]
    assert header[: len(rows[0])] == rows[0]  # the connector's columns untouched
    ops = header.index("Ops status")
    name, sku = header.index("Name"), header.index("Lineitem sku")
    status = {(r[name], r[sku]): (r[ops] if ops < len(r) else None) for r in tab[1:] if r[name]}
    # fulfilled lines: shipped; nothing is "stuck" (the export has no delivery date)
    assert status[("#1041", "TOWEL-SAGE")].startswith("SHIPPED")
    assert not any(str(v).startswith("IN TRANSIT") for v in status.values())
    # an unfulfilled line with no Forwarder is late or due, never booked
    assert status[("#1042", "PRINT-FERN-A4")]
    assert result.delivery is None  # no pickup request: no line has a Forwarder


def test_problems_on_a_synced_tab_name_the_sheets_rows_below_a_title_row(tmp_path: Path) -> None:
    rows = shopify_rows()
    created = rows[0].index("Created at")
    rows[3][created] = "yesterday-ish"  # #1042's only line
    wb = shop([["Synced by Coupler.io"], *rows])
    result = run_job("check", synced_settings(tmp_path), NOW, workbook=wb)
    bad = [p for p in result.problems if p.tab == "Orders" and p.value == "yesterday-ish"]
    assert [(p.row, p.column) for p in bad] == [(5, "Created at")]
