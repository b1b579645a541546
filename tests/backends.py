"""The two real backends behind one test harness, for suites that must give the
same results on xlsx and on Google (through real gspread over HTTP to the local
Sheets API emulator).

A job's end-to-end tests take the ``backend`` fixture (see tests/test_e2e_jobs.py):
they seed tabs, run jobs, read the sheet back, and, on Google, count requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.sheet.workbook.base import Cell, Workbook

Rows = Sequence[Sequence[Cell]]


def base_config(kind: str, **workbook: Any) -> dict[str, Any]:
    return {
        "timezone": "Europe/London",
        "workbook": {"backend": kind, **workbook},
        "mail": {"transport": "outbox", "outbox_dir": "outbox"},
        "state": {"path": "state.db"},
    }


@dataclass
class Harness:
    name: str
    directory: Path
    settings: Settings
    open: Callable[[], Workbook]
    seed: Callable[[Mapping[str, Rows]], None]
    #: rows of a tab exactly as stored (for "no team cell changed" diffs)
    values: Callable[[str], list[list[Cell]]]
    #: (reads, writes) since the last reset; None where requests are not a thing
    requests: Callable[[], tuple[int, int] | None] = lambda: None
    reset_requests: Callable[[], None] = lambda: None
    #: run ``edit(rows) -> rows`` on a tab between a job's first read and its write
    edit_before_write: Callable[[str, Callable[[list[list[Cell]]], list[list[Cell]]]], None] = (
        lambda tab, edit: None
    )
    extra: dict[str, Any] = field(default_factory=dict)


def _xlsx_write(path: Path, tabs: Mapping[str, Rows]) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in tabs.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append([_naive(v) for v in r])
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # literal text, as a person typed it with a leading '
    wb.save(path)


def _naive(v: Cell) -> Cell:
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.replace(tzinfo=None)
    return v


def xlsx_harness(directory: Path) -> Harness:
    from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

    settings = settings_from_dict(base_config("xlsx", path="workbook.xlsx"), base_dir=directory)
    path = directory / "workbook.xlsx"
    pending: list[tuple[str, Callable[[list[list[Cell]]], list[list[Cell]]]]] = []

    def values(tab: str) -> list[list[Cell]]:
        wb = openpyxl.load_workbook(path)
        ws = wb[tab]
        return [list(r) for r in ws.iter_rows(values_only=True)]

    def open_() -> Workbook:
        wb = XlsxWorkbook(path)
        if pending:
            original = wb.snapshot

            def snapshot(changes: Any, **kw: Any) -> Any:
                while pending:
                    tab, edit = pending.pop(0)
                    book = openpyxl.load_workbook(path)
                    ws = book[tab]
                    rows = edit([list(r) for r in ws.iter_rows(values_only=True)])
                    ws.delete_rows(1, ws.max_row)
                    for r in rows:
                        ws.append(r)
                    book.save(path)
                return original(changes, **kw)

            wb.snapshot = snapshot  # type: ignore[method-assign]
        return wb

    return Harness(
        "xlsx",
        directory,
        settings,
        open=open_,
        seed=lambda tabs: _xlsx_write(path, tabs),
        values=values,
        edit_before_write=lambda tab, edit: pending.append((tab, edit)),
    )


def google_harness(directory: Path, emulator: Any) -> Harness:
    from ops_sheets.sheet.workbook.google import GoogleWorkbook

    sheet_id = emulator.create_spreadsheet(title=f"test {directory.name}")
    settings = settings_from_dict(
        base_config("google", spreadsheet_id=sheet_id, deadline_seconds=20.0), base_dir=directory
    )

    def seed(tabs: Mapping[str, Rows]) -> None:
        ss = emulator.spreadsheet(sheet_id)
        for title, rows in tabs.items():
            if title not in [s.title for s in ss.sheets]:
                ss.add_sheet(title) if hasattr(ss, "add_sheet") else None
            ss.set_values(title, "A1", [[_sheet_value(v) for v in r] for r in rows])

    def values(tab: str) -> list[list[Cell]]:
        return emulator.spreadsheet(sheet_id).get_values(tab)

    def edit_before_write(tab: str, edit: Callable[[list[list[Cell]]], list[list[Cell]]]) -> None:
        def action(ss: Any) -> None:
            rows = edit(ss.get_values(tab))
            width = max((len(r) for r in rows), default=0)
            height = len(ss.get_values(tab))
            ss.set_values(tab, "A1", [list(r) + [""] * (width - len(r)) for r in rows])
            for extra in range(len(rows), height):
                ss.set_values(tab, f"A{extra + 1}", [[""] * width])

        emulator.before_request(lambda r: r.is_batch_get and r.batch_get_number == 2, action)

    return Harness(
        "google",
        directory,
        settings,
        open=lambda: GoogleWorkbook.from_settings(settings, emulator=emulator.host_port),
        seed=seed,
        values=values,
        requests=lambda: (emulator.count("read"), emulator.count("write")),
        reset_requests=emulator.reset_counts,
        edit_before_write=edit_before_write,
        extra={"sheet_id": sheet_id},
    )


def _sheet_value(v: Cell) -> Cell:
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    if isinstance(v, date):
        return v
    return v
