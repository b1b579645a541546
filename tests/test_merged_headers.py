"""Merged header cells (issue 12, break 6).

Someone merges Forwarders A1:B1 for looks. B1 then reads blank, the Email column
has no header, and every forwarder seemed to have no Email: the orders job
reported "Email is blank" on each row, and the next job's Problems tab lost it.
The header is the problem, so parsing the tab reports it, once, in every job.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
from backends import xlsx_harness
from conftest import small_shop

from ops_sheets.config import Settings
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import available_jobs, run_job
from ops_sheets.sheet.tables import FORWARDERS, ORDERS, parse_table
from ops_sheets.sheet.workbook.base import Grid
from ops_sheets.sheet.workbook.google import GoogleWorkbook
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

MERGED = "column 'Email' is missing — the header cell B1 is merged with A1"
BLANK = "column 'Email' is missing — the header cell B1 is blank (merged with A1?)"


def shop() -> dict[str, list[list[Any]]]:
    """The small shop, with a line READY for pickup by the forwarder Zip."""
    tabs = small_shop()
    orders = tabs["Orders"]
    orders[0] += ["Forwarder"]
    orders.append(
        ["SO-3", "2026-11-22 10:00", "Cy", "A-1", 1, "READY", "3 Mid Way", "Hull", "HU1 1AA",
         "UK", None, "Zip"]
    )  # fmt: skip
    tabs["Forwarders"].append(["Ace", "a@ace.example", "15:00", "Mon-Fri"])
    return tabs


def forwarder_problems(problems: list[Any]) -> list[str]:
    return [p.problem for p in problems if p.tab == "Forwarders"]


def test_a_header_cell_merged_into_its_neighbour_is_one_problem_naming_the_column() -> None:
    rows = [["Forwarder", None, "Pickup cutoff"], ["Zip", "z@zip.example", "15:00"]]
    table = parse_table(FORWARDERS, Grid("Forwarders", rows, [(1, 1, 1, 2)]), _tz())
    [problem] = table.problems
    assert (problem.row, problem.column, problem.problem) == (1, "Email", MERGED)
    assert problem.fix == "unmerge A1:B1 and type 'Email' in B1"
    assert "email" not in table.headers


def test_without_merge_information_a_blank_header_over_data_is_the_sign() -> None:
    rows = [["Forwarder", "", "Pickup cutoff"], ["Zip", "z@zip.example", "15:00"]]
    table = parse_table(FORWARDERS, Grid("Forwarders", rows, None), _tz())
    assert [p.problem for p in table.problems] == [BLANK]
    # a blank header the backend knows is not merged is the team's own column
    assert parse_table(FORWARDERS, Grid("Forwarders", rows, []), _tz()).problems == []


def test_a_required_column_lost_to_a_merge_is_reported_once() -> None:
    rows = [["Order ID", None, "SKU", "Qty", "Status"], ["SO-1", "2026-11-20", "A-1", 1, "NEW"]]
    table = parse_table(ORDERS, Grid("Orders", rows, [(1, 1, 1, 2)]), _tz())
    assert [p.problem for p in table.problems] == [
        "column 'Order date' is missing — the header cell B1 is merged with A1"
    ]
    assert not table.available  # nothing is computed from a tab that cannot be read


def test_every_job_reports_the_merged_header_and_none_blames_the_rows(
    tmp_path: Path, now: datetime
) -> None:
    harness = xlsx_harness(tmp_path)
    harness.seed(shop())
    book = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    book["Forwarders"].merge_cells("A1:B1")
    book.save(tmp_path / "workbook.xlsx")

    for job in available_jobs():
        result = run_job(job, harness.settings, now)
        assert forwarder_problems(result.problems) == [MERGED], job
        assert not [p for p in result.problems if "is blank" in p.problem], job
        if job == "orders":
            assert result.counts["pickup_requests"] == 0  # no address to send it to
    problems_tab = harness.values("Problems")
    assert [r[5] for r in problems_tab[1:] if r[0] == "Forwarders"] == [MERGED]
    forwarders = XlsxWorkbook(tmp_path / "workbook.xlsx").read(["Forwarders"])["Forwarders"]
    assert forwarders.merges == [(1, 1, 1, 2)]


def test_memory_backend_passes_merges_through(settings: Settings, now: datetime) -> None:
    tabs = shop()
    tabs["Forwarders"][0][1] = None
    wb = MemoryWorkbook(tabs, merges={"Forwarders": [(1, 1, 1, 2)]})
    result = run_job("check", settings, now, workbook=wb)
    assert forwarder_problems(result.problems) == [MERGED]


def google(tmp_path: Path, emulator: Any, tabs: dict[str, list[list[Any]]]) -> Settings:
    from backends import google_harness

    harness = google_harness(tmp_path, emulator)
    harness.seed(tabs)
    emulator.spreadsheet(harness.extra["sheet_id"]).merge_cells("Forwarders", "A1:B1")
    return harness.settings


def test_on_google_the_merged_header_is_found_without_another_request(
    tmp_path: Path, sheets_emulator: Any, now: datetime
) -> None:
    settings = google(tmp_path, sheets_emulator, shop())
    init_workbook(settings)  # every tab there: the run's read is one batchGet
    sheets_emulator.reset_counts()
    result = run_job("orders", settings, now)
    # a steady read learns no merges (no metadata request): the blank header tells
    assert forwarder_problems(result.problems) == [BLANK]
    assert not [p for p in result.problems if "is blank:" in p.problem]
    assert sheets_emulator.count("read") <= 2


def test_on_google_merges_come_with_a_metadata_read(
    tmp_path: Path, sheets_emulator: Any, now: datetime
) -> None:
    tabs = shop()
    del tabs["Returns"]  # a missing tab: the read asks for the metadata anyway
    settings = google(tmp_path, sheets_emulator, tabs)
    wb = GoogleWorkbook.from_settings(settings, emulator=sheets_emulator.host_port)
    grids = wb.read(["Forwarders", "Returns"])
    assert grids["Forwarders"].merges == [(1, 1, 1, 2)]
    assert grids["Forwarders"].rows[0][:3] == ["Forwarder", "", "Pickup cutoff"]
    result = run_job("check", settings, now)
    assert forwarder_problems(result.problems) == [MERGED]


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/London")


def test_the_emulator_merges_cells_as_google_does(tmp_path: Path, sheets_emulator: Any) -> None:
    """mergeCells keeps only the top-left value and lists the range in the metadata;
    unmergeCells takes it away again (the emulator used to ignore both)."""
    tabs = {"Forwarders": [["Forwarder", "Email"], ["Zip", "z@zip.example"]]}
    sheet_id = sheets_emulator.create_spreadsheet(sheets=tabs)
    wb = GoogleWorkbook.from_settings(
        Settings(workbook=dataclasses.replace(Settings().workbook, spreadsheet_id=sheet_id)),
        emulator=sheets_emulator.host_port,
    )
    wb.tab_titles()  # the metadata, for the sheet id
    cells = {
        "sheetId": wb._sheet_ids["Forwarders"],
        "startRowIndex": 0,
        "endRowIndex": 1,
        "startColumnIndex": 0,
        "endColumnIndex": 2,
    }
    wb.http.batch_update(sheet_id, {"requests": [{"mergeCells": {"range": cells}}]})
    assert sheets_emulator.spreadsheet(sheet_id).get_values("Forwarders")[0] == ["Forwarder"]
    wb.tab_titles()
    assert wb.read(["Forwarders"])["Forwarders"].merges == [(1, 1, 1, 2)]

    wb.http.batch_update(sheet_id, {"requests": [{"unmergeCells": {"range": cells}}]})
    wb.tab_titles()
    assert wb.read(["Forwarders"])["Forwarders"].merges == []
