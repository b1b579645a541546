"""Headers below a title row: jobs, `import` and `init` read and write around them,
on a real xlsx file and on the Sheets emulator."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.service.cli import main
from ops_sheets.service.runner import run_job
from tests.conftest import small_shop

TITLE = ["Orders — our shop, November", None, None]


def shop_with_title_rows() -> dict[str, list[list[object]]]:
    tabs = small_shop()
    tabs["Orders"] = [TITLE, [], *tabs["Orders"]]
    return tabs


def write_xlsx(path: Path, tabs: dict[str, list[list[object]]]) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in tabs.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)


def xlsx_settings(tmp_path: Path) -> Settings:
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
        },
        base_dir=tmp_path,
    )


def values(path: Path, tab: str) -> list[list[object]]:
    ws = openpyxl.load_workbook(path)[tab]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_a_job_writes_service_columns_on_the_header_row_below_a_title(
    tmp_path: Path, now: datetime
) -> None:
    write_xlsx(tmp_path / "workbook.xlsx", shop_with_title_rows())
    settings = xlsx_settings(tmp_path)
    result = run_job("orders", settings, now)
    assert result.write is not None and not result.write.skipped
    rows = values(tmp_path / "workbook.xlsx", "Orders")
    assert rows[0][:3] == TITLE and all(v is None for v in rows[0][3:])
    header = rows[2]
    assert "Ship by" in header and "Ops status" in header
    ship_by, ops = header.index("Ship by"), header.index("Ops status")
    assert rows[3][0] == "SO-1" and rows[3][ship_by] is not None and rows[3][ops]
    assert rows[4][0] == "SO-2" and rows[4][ship_by] is not None
    # Problems name the rows as the sheet shows them
    orders_problems = [
        r for r in values(tmp_path / "workbook.xlsx", "Problems") if r[0] == "Orders"
    ]
    assert all(r[1] is None or r[1] >= 4 for r in orders_problems)


def test_import_appends_below_the_data_of_a_tab_with_a_title_row(tmp_path: Path) -> None:
    tabs = {
        "Orders": [
            TITLE,
            ["Order ID", "Order date", "SKU", "Qty", "Status", "Shipped at"],
            ["#1041", "2026-03-02", "TOWEL-SAGE", 2, "NEW", None],
        ]
    }
    write_xlsx(tmp_path / "workbook.xlsx", tabs)
    config = tmp_path / "config.toml"
    config.write_text(
        'timezone = "America/New_York"\ncurrency = "USD"\n'
        '[workbook]\npath = "workbook.xlsx"\n[state]\npath = "state.db"\n',
        encoding="utf-8",
    )
    export = Path(__file__).parent / "data" / "exports" / "shopify_orders.csv"
    assert main(["import", str(export), "--config", str(config), "--now", "2026-03-20"]) == 0
    rows = values(tmp_path / "workbook.xlsx", "Orders")
    assert rows[0][:3] == TITLE
    assert rows[2][:5] == ["#1041", "2026-03-02", "TOWEL-SAGE", 2, "SHIPPED"]
    assert {r[0] for r in rows[3:]} >= {"#1041", "#1042", "#1048"}
    assert all(r[0] != "#1041" or r[2] != "TOWEL-SAGE" for r in rows[3:])


def test_init_adds_service_columns_on_the_header_row_and_refuses_a_tab_without_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tabs = shop_with_title_rows()
    tabs["Stock"] = [["Inventory"], ["Item", "Count"], ["A-1", 3]]
    write_xlsx(tmp_path / "workbook.xlsx", tabs)
    config = tmp_path / "config.toml"
    config.write_text(
        '[workbook]\npath = "workbook.xlsx"\n[state]\npath = "state.db"\n', encoding="utf-8"
    )
    assert main(["init", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "did not add columns to tab 'Stock'" in out
    assert "SKU, On hand" in out and "found none of them" in out
    orders = values(tmp_path / "workbook.xlsx", "Orders")
    assert orders[0][:3] == TITLE and all(v is None for v in orders[0][3:])
    assert "Ship by" in orders[2]
    assert values(tmp_path / "workbook.xlsx", "Stock") == [["Inventory", None], *tabs["Stock"][1:]]


def test_on_google_a_title_row_is_left_alone_and_the_header_row_gets_the_columns(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(sheets=shop_with_title_rows())  # type: ignore[attr-defined]
    settings = settings_from_dict(
        {
            "timezone": "Europe/London",
            "workbook": {"backend": "google", "spreadsheet_id": sheet_id},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
        },
        base_dir=tmp_path,
    )
    result = run_job("orders", settings, now)
    assert result.write is not None and not result.write.skipped
    rows = sheets_emulator.spreadsheet(sheet_id).get_values("Orders", "FORMULA")  # type: ignore[attr-defined]
    assert rows[0][0] == TITLE[0] and len([v for v in rows[0] if v not in ("", None)]) == 1
    header = rows[2]
    assert "Ops status" in header
    assert rows[3][header.index("Ops status")] == "SHIPPED ON TIME"
