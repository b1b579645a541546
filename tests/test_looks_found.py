"""Service columns found without their look get it once (issue 17): on Google when
`init` finds them (one read of the header rows with their notes), on xlsx when a
write in place meets their header; never again after that, and a steady-state
run costs what it cost before."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.styles import Font, PatternFill

from ops_sheets.config import Settings
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.looks import HEADER_FILL, HEADER_NOTE
from tests.test_workbook_google import google_settings, shop_rows

# ---------------------------------------------------------------- Google


def header_cells(emulated: Any, tab: str) -> dict[str, Any]:
    sheet = emulated.sheet(tab)
    cells = [sheet.get(0, c) for c in range(sheet.column_count)]
    return {c.value: c for c in cells if c is not None and c.value}


def test_init_on_google_dresses_service_columns_found_without_their_look_once(
    sheets_emulator: Any, tmp_path: Path, now: datetime
) -> None:
    tabs = shop_rows(5)
    # an older version made these: plain headers, no note, no colours
    tabs["Stock"][0] += ["Stock status", "Checked at"]
    sheet_id = sheets_emulator.create_spreadsheet(sheets=tabs)
    settings = google_settings(tmp_path, sheet_id)
    emulated = sheets_emulator.spreadsheet(sheet_id)
    assert header_cells(emulated, "Stock")["Stock status"].note is None

    report = init_workbook(settings)
    found = header_cells(emulated, "Stock")
    assert found["Stock status"].note == HEADER_NOTE
    assert found["Checked at"].note == HEADER_NOTE
    assert found["SKU"].note is None  # the team's
    assert any("found without their look" in line for line in report)
    stock = emulated.sheet("Stock")
    rules = list(stock.decor["conditionalFormats"])
    titles = list(header_cells(emulated, "Stock"))
    assert stock.decor["columnMetadata"][titles.index("Checked at")]["pixelSize"] >= 120

    sheets_emulator.reset_counts()
    again = init_workbook(settings)
    assert not any("found without their look" in line for line in again)
    assert len(stock.decor["conditionalFormats"]) == len(rules)  # not added twice

    run_job("stock", settings, now)  # a first run may still create PO lines
    sheets_emulator.reset_counts()
    run_job("stock", settings, now)
    assert sheets_emulator.count("read") + sheets_emulator.count("write") <= 4
    assert sheets_emulator.count("write") <= 2
    assert len(stock.decor["conditionalFormats"]) == len(rules)


# ---------------------------------------------------------------- xlsx in place


def strip_header(path: Path, tab: str, header: str) -> None:
    book = openpyxl.load_workbook(path)
    ws = book[tab]
    cell = next(c for c in ws[1] if c.value == header)
    cell.fill = PatternFill(fill_type=None)
    cell.font = Font()
    ws.append(["A-1", "Mug", "Acme", 3])  # a row, so a stock run writes the tab
    book.save(path)


def part(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(name)


def stock_part(path: Path) -> str:
    book = openpyxl.load_workbook(path)
    index = book.sheetnames.index("Stock") + 1
    return f"xl/worksheets/sheet{index}.xml"


def test_a_write_in_place_dresses_a_service_header_found_plain_and_only_once(
    settings: Settings, now: datetime
) -> None:
    init_workbook(settings)  # every tab exists: the runs below write in place
    path = settings.resolve(settings.workbook.path)
    strip_header(path, "Stock", "Stock status")
    before = openpyxl.load_workbook(path)["Stock"]
    assert not next(c for c in before[1] if c.value == "Stock status").fill.fgColor.rgb.endswith(
        HEADER_FILL
    )
    run_job("stock", settings, now)
    ws = openpyxl.load_workbook(path)["Stock"]
    status = next(c for c in ws[1] if c.value == "Stock status")
    assert status.fill.fgColor.rgb.endswith(HEADER_FILL)
    assert status.font.b and status.font.color.rgb.endswith("FFFFFF")
    assert ws["A2"].value == "A-1" and ws["A1"].value == "SKU"  # the rest as it was
    assert not ws["A1"].fill.fgColor.rgb.endswith(HEADER_FILL)  # a team header stays

    styles = part(path, "xl/styles.xml")
    sheet = part(path, stock_part(path))
    row_1 = sheet[sheet.index(b'<row r="1"') : sheet.index(b"</row>") + 6]
    run_job("stock", settings, now.replace(hour=11))
    assert part(path, "xl/styles.xml") == styles  # no format added by a later run
    sheet = part(path, stock_part(path))
    assert row_1 in sheet  # the header row not rewritten
