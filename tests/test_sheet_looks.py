"""Service columns look like the service's, on xlsx and Google alike (issue 17)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from ops_sheets.config import Settings
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.looks import HEADER_FILL, HEADER_NOTE, currency_format
from ops_sheets.sheet.workbook.base import Append, ChangeSet
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook
from tests.test_workbook_google import google_settings, shop_rows


def header_cell(ws: openpyxl.worksheet.worksheet.Worksheet, header: str) -> openpyxl.cell.Cell:
    return next(c for c in ws[1] if c.value == header)


def test_init_on_xlsx_dresses_service_columns_and_leaves_team_headers_alone(
    settings: Settings,
) -> None:
    init_workbook(settings)
    book = openpyxl.load_workbook(settings.resolve(settings.workbook.path))
    stock = book["Stock"]
    status = header_cell(stock, "Stock status")
    assert status.fill.fgColor.rgb.endswith(HEADER_FILL)
    assert status.comment is not None and status.comment.text == HEADER_NOTE
    assert not header_cell(stock, "SKU").fill.fgColor.rgb.endswith(HEADER_FILL)
    checked = header_cell(stock, "Checked at").column_letter
    assert stock.column_dimensions[checked].width >= 17  # a date-time never shows ###
    assert stock.column_dimensions[status.column_letter].width >= 14  # OUT OF STOCK whole
    assert stock.freeze_panes == "A2" and stock.auto_filter.ref
    words = {
        rule.text or rule.formula[0]
        for cf in stock.conditional_formatting
        for rule in cf.rules
        if status.column_letter in str(cf.sqref)
    }
    assert {"OUT OF STOCK", "LOW", "REORDER", '"OK"'} <= words
    kpis = book["Daily KPIs"]
    revenue = header_cell(kpis, "Revenue").column_letter
    assert kpis.column_dimensions[revenue].number_format == currency_format("GBP")


def test_init_on_xlsx_puts_dropdowns_on_team_status_columns(settings: Settings) -> None:
    init_workbook(settings)
    book = openpyxl.load_workbook(settings.resolve(settings.workbook.path))
    orders = book["Orders"]
    status = header_cell(orders, "Status").column
    lists = [
        dv.formula1
        for dv in orders.data_validations.dataValidation
        if any(r.min_col <= status <= r.max_col for r in dv.sqref.ranges)
    ]
    assert lists and "SHIPPED" in lists[0]


def test_rows_written_in_place_take_their_columns_money_and_date_formats(
    settings: Settings,
) -> None:
    init_workbook(settings)
    path = settings.resolve(settings.workbook.path)
    changes = ChangeSet()
    changes.declare("Daily KPIs", ["Date", "Revenue"], ["Date"])
    changes.appends.append(Append("Daily KPIs", {"Date": date(2026, 11, 23), "Revenue": 12.5}))
    XlsxWorkbook(path).write(changes)  # every tab exists: this write is in place
    ws = openpyxl.load_workbook(path)["Daily KPIs"]
    row = [c for c in ws[2] if c.value is not None]
    assert row[0].number_format == "yyyy-mm-dd"
    assert row[1].number_format == currency_format("GBP")


def test_google_formats_columns_when_created_and_a_steady_run_stays_within_budget(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    emulator = sheets_emulator
    sheet_id = emulator.create_spreadsheet(sheets=shop_rows(20))  # type: ignore[attr-defined]
    settings = google_settings(tmp_path, sheet_id)
    init_workbook(settings)
    emulated = emulator.spreadsheet(sheet_id)  # type: ignore[attr-defined]
    stock = emulated.sheet("Stock")
    header = [stock.get(0, c) for c in range(stock.column_count)]
    titles = [c.value if c is not None else None for c in header]
    status = titles.index("Stock status")
    assert header[status].note == HEADER_NOTE
    assert header[0].note is None  # SKU is the team's
    rules = stock.decor["conditionalFormats"]
    words = {r["booleanRule"]["condition"]["values"][0]["userEnteredValue"] for r in rules}
    assert {"OUT OF STOCK", "LATE", "LOW", "OK"} <= words
    assert stock.decor["columnMetadata"][titles.index("Checked at")]["pixelSize"] >= 120
    assert "basicFilter" in emulated.sheet("Problems").decor
    assert "basicFilter" in stock.decor

    run_job("stock", settings, now)  # a first run may still create tabs and PO lines
    emulator.reset_counts()  # type: ignore[attr-defined]
    run_job("stock", settings, now)
    operations = [r.operation for r in emulator.requests]  # type: ignore[attr-defined]
    assert emulator.count("read") + emulator.count("write") <= 4  # type: ignore[attr-defined]
    assert emulator.count("write") <= 2  # type: ignore[attr-defined]
    assert "spreadsheets.batchUpdate" not in operations  # no format request in the steady state
    assert len(stock.decor["conditionalFormats"]) == len(rules)  # not added again


@pytest.mark.parametrize("currency, symbol", [("GBP", "£"), ("EUR", "€"), ("SEK", "SEK ")])
def test_money_shows_the_shops_currency(currency: str, symbol: str) -> None:
    assert currency_format(currency).startswith(f'"{symbol}"#,##0.00')
