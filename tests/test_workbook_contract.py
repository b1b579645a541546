"""The shared backend contract (tests/workbook_contract.py) run on memory and xlsx."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from openpyxl import Workbook as OpenpyxlBook
from openpyxl import load_workbook
from workbook_contract import (
    CONTRACT_CHECKS,
    BackendUnderTest,
    MakeWorkbook,
    Rows,
    check_backend_contract,
)

from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook


def make_memory(tabs: Mapping[str, Rows]) -> BackendUnderTest:
    wb = MemoryWorkbook(tabs)

    def edit(tab: str, change: Callable[[Rows], Rows]) -> None:
        wb.tabs[tab] = change(wb.values(tab))

    return BackendUnderTest(wb, edit)


def xlsx_factory(folder: Path) -> MakeWorkbook:
    counter = iter(range(1_000_000))

    def make(tabs: Mapping[str, Rows]) -> BackendUnderTest:
        path = folder / f"book{next(counter)}.xlsx"
        book = OpenpyxlBook()
        book.remove(book.active)
        for title, rows in tabs.items():
            ws = book.create_sheet(title)
            for row in rows:
                ws.append(row)
        book.save(path)

        def edit(tab: str, change: Callable[[Rows], Rows]) -> None:
            # a person editing the file (as Excel would: values only, other tabs kept)
            book = load_workbook(path)
            ws = book[tab]
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            ws.delete_rows(1, ws.max_row)
            for row in change(rows):
                ws.append(row)
            book.save(path)

        return BackendUnderTest(XlsxWorkbook(path), edit)

    return make


def google_factory(emulator: object) -> MakeWorkbook:
    """Real gspread over HTTP to the local Sheets API emulator."""
    from ops_sheets.config import settings_from_dict
    from ops_sheets.sheet.workbook.google import GoogleWorkbook

    def make(tabs: Mapping[str, Rows]) -> BackendUnderTest:
        sheet_id = emulator.create_spreadsheet(sheets=tabs)  # type: ignore[attr-defined]
        settings = settings_from_dict(
            {
                "workbook": {
                    "backend": "google",
                    "spreadsheet_id": sheet_id,
                    "deadline_seconds": 10.0,
                }
            }
        )

        def edit(tab: str, change: Callable[[Rows], Rows]) -> None:
            # a person editing in the browser: the same sheet, other values
            ss = emulator.spreadsheet(sheet_id)  # type: ignore[attr-defined]
            old = ss.get_values(tab)
            new = [list(r) for r in change([list(r) for r in old])]
            width = max([len(r) for r in old + new] + [1])
            padded = [r + [""] * (width - len(r)) for r in new]
            padded += [[""] * width for _ in range(len(old) - len(new))]
            ss.set_values(tab, "A1", padded)

        return BackendUnderTest(GoogleWorkbook.from_settings(settings, emulator.host_port), edit)  # type: ignore[attr-defined]

    return make


BACKENDS = ["memory", "xlsx", "google"]


@pytest.fixture(params=BACKENDS)
def make_workbook(request: pytest.FixtureRequest, tmp_path: Path) -> MakeWorkbook:
    if request.param == "google":
        return google_factory(request.getfixturevalue("fresh_emulator"))
    return make_memory if request.param == "memory" else xlsx_factory(tmp_path)


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_contract(make_workbook: MakeWorkbook, check: Callable[[MakeWorkbook], None]) -> None:
    check(make_workbook)


def test_check_backend_contract_runs_every_check(tmp_path: Path) -> None:
    check_backend_contract(xlsx_factory(tmp_path))
