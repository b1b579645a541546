"""The Google backend through real gspread over HTTP to the local Sheets API emulator."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.errors import SheetAccessError, WorkbookError
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.base import ChangeSet, Update
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
            "YO1",
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
