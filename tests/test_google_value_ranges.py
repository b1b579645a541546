"""The values write of the Google backend: cells written down many rows in the same
columns go as one rectangular range (the Orders service columns of 100k lines are a
handful of ranges, not one per row), and every cell lands where it was planned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops_sheets.sheet.workbook import open_workbook
from ops_sheets.sheet.workbook.base import ChangeSet, Update
from tests.test_workbook_google import google_settings

ROWS = 300


def _sheet() -> dict[str, list[list[object]]]:
    rows: list[list[object]] = [["SKU", "Product", "Ship by", "Ops status", "Note"]]
    rows += [[f"S-{i:04d}", f"Item {i}", None, None, None] for i in range(ROWS)]
    return {"Orders": rows}


def test_a_column_written_down_many_rows_is_one_range_and_lands_cell_for_cell(
    sheets_emulator: Any, tmp_path: Path
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(sheets=_sheet())
    wb = open_workbook(google_settings(tmp_path, sheet_id))
    wb.read(["Orders"])
    changes = ChangeSet()
    changes.declare("Orders", ["SKU", "Product", "Ship by", "Ops status", "Note"], ["SKU"])
    expected: dict[tuple[int, int], object] = {}
    for i in range(ROWS):
        if i == 150:
            continue  # a row left alone: the block above it ends, a new one starts below
        values: dict[str, object] = {"Ship by": f"d{i}", "Ops status": f"s{i}"}
        if i % 100 == 7:
            values["Note"] = f"n{i}"  # three adjacent cells: a run of another shape
        if i == 42:
            values = {"Ship by": "only", "Note": "apart"}  # two runs in one row
        changes.updates.append(Update("Orders", {"SKU": f"S-{i:04d}"}, values))
        for header, value in values.items():
            expected[(i + 2, ["Ship by", "Ops status", "Note"].index(header) + 3)] = value
    bodies: list[dict[str, Any]] = []

    def keep(info: Any) -> bool:
        if info.is_values_batch_update:
            bodies.append(info.body)
        return False

    sheets_emulator.before_request(keep, lambda _: None, once=False)

    wb.write(changes)

    assert len(bodies) == 1
    ranges = [r["range"] for r in bodies[0]["data"]]
    assert "'Orders'!C2:D8" in ranges  # rows 2-8 above the first Note: one range
    assert len(ranges) < 20
    tab = sheets_emulator.spreadsheet(sheet_id).sheet("Orders")

    def value(row: int, col: int) -> object:  # 1-based, as the sheet shows it
        cell = tab.get(row - 1, col - 1)
        return None if cell is None else cell.value

    assert all(value(row, col) == v for (row, col), v in expected.items())
    assert value(152, 3) in (None, "")  # the row left alone
    assert value(2, 1) == "S-0000" and value(2, 2) == "Item 0"  # team cells untouched
