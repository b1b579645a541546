"""The Google backend through real gspread over HTTP to the local Sheets API emulator."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.errors import SheetAccessError, WorkbookError
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.base import Append, ChangeSet, Update
from ops_sheets.sheet.workbook.google import GoogleWorkbook


def google_settings(tmp_path: Path, sheet_id: str, **workbook: object) -> Settings:
    return settings_from_dict(
        {
            "workbook": {"backend": "google", "spreadsheet_id": sheet_id, **workbook},
            "state": {"path": "state.db"},
            "mail": {"outbox_dir": "outbox"},
        },
        base_dir=tmp_path,
    )


def shop_rows(n: int) -> dict[str, list[list[object]]]:
    """A shop with ``n`` SKUs and ``n`` order lines."""
    stock = [["SKU", "Product", "Supplier", "On hand"]]
    stock += [[f"S-{i:05d}", f"Item {i}", "Acme", i % 7] for i in range(n)]
    orders = [
        [
            "Order ID",
            "Order date",
            "Customer",
            "SKU",
            "Qty",
            "Status",
            "Address",
            "City",
            "Postcode",
            "Country",
        ]
    ]
    orders += [
        [
            f"SO-{i}",
            "2026-11-20 10:00",
            "Ann",
            f"S-{i:05d}",
            1,
            "NEW",
            "1 High St",
            "York",
            "YO1 7HH",
            "UK",
        ]
        for i in range(n)
    ]
    return {
        "Stock": stock,
        "Suppliers": [["Supplier", "Email"], ["Acme", "a@acme.example"]],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": orders,
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [["Forwarder", "Email"]],
    }


def run_twice_counting(emulator: object, tmp_path: Path, n: int, now: datetime) -> tuple[int, int]:
    sheet_id = emulator.create_spreadsheet(sheets=shop_rows(n))  # type: ignore[attr-defined]
    settings = google_settings(tmp_path / f"n{n}", sheet_id)
    init_workbook(settings)
    run_job("check", settings, now)  # first run may create tabs
    emulator.reset_counts()  # type: ignore[attr-defined]
    run_job("check", settings, now)
    return emulator.count("read"), emulator.count("write")  # type: ignore[attr-defined]


def test_requests_per_run_do_not_grow_with_rows(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    small = run_twice_counting(sheets_emulator, tmp_path, 100, now)
    large = run_twice_counting(sheets_emulator, tmp_path, 10_000, now)
    assert small == large
    reads, writes = large
    assert reads <= 2 and writes <= 2, large


def test_a_run_whose_problems_outgrow_the_grid_still_makes_one_write(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    """Problems has a 1000-row grid after init; 1,200 bad lines need more rows.
    The rows are added in the same batchUpdate that writes the cells (issue 14)."""
    rows = shop_rows(1_200)
    for line in rows["Orders"][1:]:
        line[4] = "lots"  # Qty: not a number, one Problems row per line
    # a UK shop's spreadsheet (en_US would add check's day_first problem to the count)
    sheet_id = sheets_emulator.create_spreadsheet(sheets=rows, locale="en_GB")  # type: ignore[attr-defined]
    settings = google_settings(tmp_path, sheet_id)
    init_workbook(settings)
    problems = sheets_emulator.spreadsheet(sheet_id).sheet("Problems")  # type: ignore[attr-defined]
    assert problems.row_count == 1000
    sheets_emulator.reset_counts()  # type: ignore[attr-defined]

    run_job("check", settings, now)

    operations = [r.operation for r in sheets_emulator.requests]  # type: ignore[attr-defined]
    writes = [r.operation for r in sheets_emulator.requests if r.kind == "write"]  # type: ignore[attr-defined]
    assert writes == ["spreadsheets.batchUpdate"], operations
    assert len(operations) <= 4, operations
    assert problems.row_count > 1_201
    written = sheets_emulator.spreadsheet(sheet_id).get_values("Problems")  # type: ignore[attr-defined]
    assert len(written) == 1_201
    assert sum("lots" in str(row) for row in written) == 1_200


def test_growing_and_new_tabs_go_in_the_batch_update_that_writes_the_cells(
    sheets_emulator: object, tmp_path: Path
) -> None:
    """A team tab using all 26 columns gets a service column, rows are appended
    past its grid and a new tab is made: one write, cells stored as RAW values."""
    header = [f"C{i}" for i in range(26)]
    header[0] = "SKU"
    body = [[f"S-{i}"] + [i] * 25 for i in range(9)]
    sheet_id = sheets_emulator.create_spreadsheet(sheets={"Stock": [header, *body]})  # type: ignore[attr-defined]
    emulated = sheets_emulator.spreadsheet(sheet_id)  # type: ignore[attr-defined]
    emulated.sheet("Stock").resize(rows=10)
    wb = GoogleWorkbook.from_settings(
        google_settings(tmp_path, sheet_id), sheets_emulator.host_port
    )  # type: ignore[attr-defined]
    wb.read(["Stock"])
    changes = ChangeSet()
    changes.declare("Stock", ["SKU", "Why"], ["SKU"])
    changes.declare("Log", ["When", "What"], ["When"])
    changes.updates.append(Update("Stock", {"SKU": "S-3"}, {"Why": "=not a formula", "C1": ""}))
    changes.updates.append(Update("Stock", {"SKU": "S-4"}, {"Why": True, "C2": 2.5}))
    for i in range(3):
        changes.appends.append(Append("Stock", {"SKU": f"N-{i}", "Why": f"new {i}"}))
    changes.appends.append(Append("Log", {"When": "today", "What": 7}))
    sheets_emulator.reset_counts()  # type: ignore[attr-defined]

    report = wb.write(changes)

    writes = [r.operation for r in sheets_emulator.requests if r.kind == "write"]  # type: ignore[attr-defined]
    assert writes == ["spreadsheets.batchUpdate"]
    assert report.skipped == [] and report.new_tabs == ["Log"]
    stock = emulated.get_values("Stock", "FORMULA")
    assert stock[0][26] == "Why"
    assert stock[4][:3] == ["S-3", "", 3] and stock[4][26] == "=not a formula"
    assert stock[5][:3] == ["S-4", 4, 2.5] and stock[5][26] is True
    assert [row[0] for row in stock[10:]] == ["N-0", "N-1", "N-2"]
    assert [row[26] for row in stock[10:]] == ["new 0", "new 1", "new 2"]
    assert emulated.cell("Stock", "AA5").formula is None  # stored as text, as RAW does
    assert emulated.get_values("Log") == [["When", "What"], ["today", 7]]
    # the next write into the grown grid is an ordinary values write again
    more = ChangeSet()
    more.declare("Stock", ["SKU", "Why"], ["SKU"])
    more.updates.append(Update("Stock", {"SKU": "N-2"}, {"Why": "again"}))
    sheets_emulator.reset_counts()  # type: ignore[attr-defined]
    wb.write(more)
    writes = [r.operation for r in sheets_emulator.requests if r.kind == "write"]  # type: ignore[attr-defined]
    assert writes == ["values.batchUpdate"]
    assert emulated.get_values("Stock")[12][26] == "again"


def test_formula_looking_text_is_stored_and_read_back_literally(
    sheets_emulator: object, tmp_path: Path
) -> None:
    text = '=IMPORTXML("http://x","//a")'
    sheet_id = sheets_emulator.create_spreadsheet(sheets={"Stock": [["SKU", "Why"], ["A", None]]})  # type: ignore[attr-defined]
    wb = GoogleWorkbook.from_settings(
        google_settings(tmp_path, sheet_id), sheets_emulator.host_port
    )  # type: ignore[attr-defined]
    changes = ChangeSet()
    changes.declare("Stock", ["Why"], ["SKU"])
    changes.updates.append(Update("Stock", {"SKU": "A"}, {"Why": text}))
    wb.write(changes)
    assert wb.read(["Stock"])["Stock"].rows[1] == ["A", text]
    cell = sheets_emulator.spreadsheet(sheet_id).sheet("Stock")  # type: ignore[attr-defined]
    assert sheets_emulator.spreadsheet(sheet_id).get_values("Stock", "FORMULA")[1][1] == text  # type: ignore[attr-defined]
    assert cell is not None


def test_job_completes_with_429_on_30_percent_of_requests(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(sheets=shop_rows(20))  # type: ignore[attr-defined]
    settings = google_settings(tmp_path, sheet_id, deadline_seconds=60.0)
    sheets_emulator.faults.fail_rate(0.3, status=429, seed=3)  # type: ignore[attr-defined]
    result = run_job("check", settings, now)
    sheets_emulator.faults.clear()  # type: ignore[attr-defined]
    assert result.write is not None
    failed = [r for r in sheets_emulator.requests if r.status == 429]  # type: ignore[attr-defined]
    assert failed, "the fault injection did not fire"
    assert sheets_emulator.spreadsheet(sheet_id).get_values("Problems")[0][0] == "Tab"  # type: ignore[attr-defined]


def test_unreachable_sheets_fail_within_the_deadline_with_one_line(
    tmp_path: Path, now: datetime
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = google_settings(tmp_path, "x", deadline_seconds=2.0, request_timeout_seconds=0.5)
    wb = GoogleWorkbook.from_settings(settings, f"127.0.0.1:{port}")
    # without the deadline the retries would go on until pytest's timeout
    with pytest.raises(WorkbookError) as err:
        wb.read(["Stock"])
    assert "did not answer within 2s" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_sheet_not_shared_says_whom_to_share_it_with(
    sheets_emulator: object, tmp_path: Path
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(sheets={"Stock": [["SKU"]]})  # type: ignore[attr-defined]
    sheets_emulator.store.deny(sheet_id)  # type: ignore[attr-defined]
    wb = GoogleWorkbook.from_settings(
        google_settings(tmp_path, sheet_id), sheets_emulator.host_port
    )  # type: ignore[attr-defined]
    wb.share_with = "ops-bot@shop.iam.gserviceaccount.com"
    with pytest.raises(
        SheetAccessError, match="not shared with ops-bot@shop.iam.gserviceaccount.com.*Share"
    ):
        wb.read(["Stock"])


def test_unknown_spreadsheet_id_says_where_to_find_it(
    sheets_emulator: object, tmp_path: Path
) -> None:
    wb = GoogleWorkbook.from_settings(
        google_settings(tmp_path, "no-such-sheet"), sheets_emulator.host_port
    )  # type: ignore[attr-defined]
    with pytest.raises(SheetAccessError, match="no such spreadsheet.*spreadsheets/d/<id>/edit"):
        wb.read(["Stock"])


def test_init_freezes_headers_adds_status_dropdowns_and_warns_on_service_columns(
    sheets_emulator: object, tmp_path: Path
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(
        sheets={"Orders": [["Order ID", "Order date", "SKU", "Qty", "Status"]]}
    )  # type: ignore[attr-defined]
    settings = google_settings(tmp_path, sheet_id)
    done = init_workbook(settings)
    assert "created tab 'Stock'" in done
    ss = sheets_emulator.spreadsheet(sheet_id)  # type: ignore[attr-defined]
    orders = ss.sheet("Orders")
    assert orders.grid.get("frozenRowCount") == 1
    assert ss.get_values("Orders")[0][-3:] == ["Ship by", "Ops status", "Problems"]
    assert any(p.get("warningOnly") for p in orders.protected_ranges)
    again = init_workbook(settings)
    assert len(again) == 1 and "already there" in again[0]  # nothing new to report
    assert len(orders.protected_ranges) == 3  # not duplicated by a second init


def test_write_safety_in_a_real_job_run_with_rows_sorted_inserted_and_deleted(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    tabs = shop_rows(30)
    tabs["Stock"][5][3] = "lots"  # a bad cell, so the job writes a problem keyed by SKU
    sheet_id = sheets_emulator.create_spreadsheet(sheets=tabs)  # type: ignore[attr-defined]
    settings = google_settings(tmp_path, sheet_id)
    init_workbook(settings)
    sheets_emulator.reset_counts()  # type: ignore[attr-defined]
    ss = sheets_emulator.spreadsheet(sheet_id)  # type: ignore[attr-defined]

    edited: list[list[object]] = []

    def people_edit(sheet: object) -> None:
        sheet.sort_rows("Stock", 0, reverse=True)  # type: ignore[attr-defined]
        sheet.insert_rows("Stock", 3, [["NEW-1", "Jug", "Acme", 4]])  # type: ignore[attr-defined]
        sheet.delete_rows("Stock", 10, 2)  # type: ignore[attr-defined]
        edited.extend(sheet.get_values("Stock"))  # type: ignore[attr-defined]

    sheets_emulator.before_request(
        lambda r: r.is_batch_get and r.batch_get_number == 2, people_edit
    )  # type: ignore[attr-defined]
    result = run_job("check", settings, now)
    assert edited, "the edit hook did not run between read and write"
    # every team cell is exactly as the people left it (the whole tab, diffed)
    assert [r[:4] for r in ss.get_values("Stock")] == [r[:4] for r in edited]
    problems = ss.get_values("Problems")
    assert problems[1][:4] == ["Stock", 6, "On hand", "S-00004"]
    assert result.write is not None
