"""A Stock tab synced from Shopify's inventory export (``[tabs.stock] preset = "shopify"``),
read and written by the real stock job on xlsx and on the in-repo Sheets emulator.

tests/data/exports/shopify_inventory.csv is the "Only Available quantities" export
(a column per location); shopify_inventory_all_quantities.csv the "All quantity
types" one (a row per location). Both have a UTF-8 byte order mark and CRLF line
ends, two locations, and a variant without a SKU.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
from backends import Harness, base_config, google_harness, xlsx_harness

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.errors import ConfigError
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.base import Cell

EXPORTS = Path(__file__).parent / "data" / "exports"
TEAM_HEADERS = ["Supplier", "Reorder point", "Lead time days", "Pack size", "Unit cost"]
TEAM_VALUES = {
    "TOWEL-SAGE": ["Linen & Co", 10, 14, 6, 4.5],
    "TOWEL-OAT": ["Linen & Co", 5, 14, 6, 4.5],
    "MUG-SPECK": ["Clayworks", 12, 21, 4, 7.25],
    "PRINT-FERN-A4": ["Clayworks", 5, 7, 1, 2.1],
}


def export_rows(name: str) -> list[list[Cell]]:
    """The file as a paste or a connector puts it in the tab: every cell text, the
    byte order mark still on the first header (read as plain UTF-8, not utf-8-sig)."""
    raw = (EXPORTS / name).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    return [list(r) for r in csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))]


def with_team_columns(rows: list[list[Cell]]) -> list[list[Cell]]:
    """The team's own Stock columns under our names, typed right of Shopify's."""
    sku = rows[0].index("SKU")
    out = [rows[0] + TEAM_HEADERS]
    for r in rows[1:]:
        out.append(r + list(TEAM_VALUES.get(str(r[sku]), [None] * len(TEAM_HEADERS))))
    return out


def other_tabs() -> dict[str, list[list[Cell]]]:
    return {
        "Orders": [
            ["Order ID", "Order date", "SKU", "Qty", "Unit price", "Status"],
            ["1001", datetime(2026, 11, 10, 10, 0), "TOWEL-SAGE", 2, 12.0, "SHIPPED"],
            ["1002", datetime(2026, 11, 16, 11, 0), "MUG-SPECK", 3, 18.0, "NEW"],
        ],
        "Suppliers": [
            ["Supplier", "Email", "Lead time days"],
            ["Linen & Co", "orders@linen.example.com", 14],
            ["Clayworks", "sales@clay.example.com", 21],
        ],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [["Forwarder", "Email", "Pickup cutoff", "Pickup days"]],
    }


@pytest.fixture(params=["xlsx", "google"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "xlsx":
        return xlsx_harness(tmp_path)
    return google_harness(tmp_path, request.getfixturevalue("sheets_emulator"))


def stock_preset_settings(harness: Harness) -> Settings:
    if harness.name == "xlsx":
        config = base_config("xlsx", path="workbook.xlsx")
    else:
        config = base_config(
            "google", spreadsheet_id=harness.extra["sheet_id"], deadline_seconds=20.0
        )
    config["tabs"] = {"stock": {"preset": "shopify"}}
    return settings_from_dict(config, base_dir=harness.directory, source="config.toml")


def padded(row: list[Cell], width: int) -> list[Cell]:
    """A row's first ``width`` cells, a blank cell as None whatever the backend gives."""
    cells = [None if c == "" else c for c in row[:width]]
    return cells + [None] * (width - len(cells))


def by_sku(rows: list[list[Cell]], column: str) -> dict[str, Cell]:
    """A column's cells by SKU, from the tab as stored."""
    header = rows[0]
    sku, col = header.index("SKU"), header.index(column)
    return {
        str(r[sku]): (r[col] if col < len(r) else None)
        for r in rows[1:]
        if len(r) > sku and r[sku] not in (None, "")
    }


def test_stock_from_shopifys_inventory_export_column_per_location(
    backend: Harness, now: datetime
) -> None:
    rows = with_team_columns(export_rows("shopify_inventory.csv"))
    backend.seed({"Stock": rows, **other_tabs()})
    settings = stock_preset_settings(backend)

    check = run_job("check", settings, now, workbook=backend.open())
    stock_problems = [p for p in check.problems if p.tab == "Stock"]
    # the variant without a SKU, on the row the sheet shows (header is row 1)
    assert [(p.row, p.column) for p in stock_problems] == [(5, "SKU")], stock_problems
    assert "no SKU" in stock_problems[0].problem

    result = run_job("stock", settings, now, workbook=backend.open())
    assert result.write is not None and not result.write.skipped
    after = backend.values("Stock")
    # the connector's and the team's columns are untouched
    width = len(rows[0])
    assert [padded(r, width) for r in after[: len(rows)]] == [padded(r, width) for r in rows]
    status = by_sku(after, "Stock status")
    assert set(status) == {"TOWEL-SAGE", "TOWEL-OAT", "MUG-SPECK", "PRINT-FERN-A4"}
    # TOWEL-OAT: 0 + not stocked; MUG-SPECK 9 - 2 = 7 with 12 as reorder point
    assert status["TOWEL-OAT"] == "OUT OF STOCK"
    assert status["MUG-SPECK"] == "REORDER"
    assert status["TOWEL-SAGE"] == "OK"  # 14 + 6 = 20 over a reorder point of 10
    why = {k: str(v) for k, v in by_sku(after, "Why").items()}
    assert "7" in why["MUG-SPECK"], why["MUG-SPECK"]
    # the purchase order goes to the supplier the team typed, in its pack size
    pos = backend.values("Purchase orders")
    assert pos[1:], "no PO line appended"
    header = pos[0]
    lines = {r[header.index("SKU")]: r for r in pos[1:]}
    assert lines["MUG-SPECK"][header.index("Supplier")] == "Clayworks"
    assert int(lines["MUG-SPECK"][header.index("Qty")]) % 4 == 0


def test_stock_from_shopifys_all_quantities_export_sums_on_hand_over_location_rows(
    backend: Harness, now: datetime
) -> None:
    rows = with_team_columns(export_rows("shopify_inventory_all_quantities.csv"))
    backend.seed({"Stock": rows, **other_tabs()})
    settings = stock_preset_settings(backend)
    result = run_job("stock", settings, now, workbook=backend.open())
    assert result.write is not None
    # a SKU stocked at two locations has two rows: its service cells cannot be
    # placed on one of them, and the run says so; the one-row SKU is written
    assert sorted(s.key for s in result.write.skipped) == [
        "MUG-SPECK",
        "PRINT-FERN-A4",
        "TOWEL-SAGE",
    ]
    stock = run_job("check", settings, now, workbook=backend.open())
    assert [(p.row, p.column) for p in stock.problems if p.tab == "Stock"] == [(6, "SKU")]


def test_the_read_stock_table_sums_on_hand_and_keeps_the_teams_columns(now: datetime) -> None:
    from ops_sheets.service.runner import parse_tables
    from ops_sheets.sheet.cells import Grid

    settings = settings_from_dict(
        {**base_config("memory"), "tabs": {"stock": {"preset": "shopify"}}}, base_dir=Path(".")
    )
    for name, expected in (
        ("shopify_inventory.csv", {"TOWEL-SAGE": 20, "TOWEL-OAT": 0, "MUG-SPECK": 7}),
        # On hand (current), not Available: our own Committed comes from the Orders tab
        ("shopify_inventory_all_quantities.csv", {"TOWEL-SAGE": 24, "MUG-SPECK": 9}),
    ):
        rows = with_team_columns(export_rows(name))
        stock = parse_tables({"Stock": Grid("Stock", rows)}, ["stock"], settings, now)["stock"]
        frame = stock.frame.set_index("sku")
        for sku, on_hand in expected.items():
            assert frame.loc[sku, "on_hand"] == on_hand, (name, sku)
        assert frame.loc["PRINT-FERN-A4", "on_hand"] == 30  # "Not stocked" counts none
        assert frame.loc["MUG-SPECK", "product"] == "Stoneware Mug - Speckled - 350 ml"
        assert frame.loc["PRINT-FERN-A4", "product"] == "Fern Print"
        assert frame.loc["MUG-SPECK", "supplier"] == "Clayworks"
        assert frame.loc["MUG-SPECK", "pack_size"] == 4


def test_only_shopify_is_a_stock_preset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[tabs.stock\] preset.*valid: shopify"):
        settings_from_dict(
            {**base_config("memory"), "tabs": {"stock": {"preset": "woocommerce"}}},
            base_dir=tmp_path,
        )
