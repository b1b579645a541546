"""Problems rows you can jump to (issue 17): each row's Tab cell links to the cell
the problem is about — an xlsx cell hyperlink, a Google ``#gid=…&range=…`` link —
never a formula, and on Google without a request of its own."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import gspread
import openpyxl
import pytest
from backends import google_harness, xlsx_harness
from conftest import NOW, small_shop

from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import run_job


def shop(on_hand: Any = "lots") -> dict[str, list[list[object]]]:
    tabs = small_shop()
    tabs["Stock"][1][3] = on_hand  # Stock!D2: "lots" is not a number
    return tabs


def run(h: Any, job: str = "returns", hours: int = 0) -> Any:
    from datetime import timedelta

    wb = h.open()
    try:
        result = run_job(job, h.settings, NOW + timedelta(hours=hours), workbook=wb)
    finally:
        wb.close()
    assert result.error == ""
    return result


def problems(h: Any) -> list[list[Any]]:
    return h.values("Problems")


def xlsx_links(path: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path)["Problems"]
    return {
        c.coordinate: c.hyperlink.location for row in ws.iter_rows() for c in row if c.hyperlink
    }


# ---------------------------------------------------------------- xlsx


def test_on_xlsx_each_problem_links_to_its_cell_and_a_fixed_one_loses_its_link(
    tmp_path: Path,
) -> None:
    h = xlsx_harness(tmp_path)
    h.seed(shop())
    path = tmp_path / "workbook.xlsx"
    run(h)  # a new Problems tab: written by openpyxl
    rows = problems(h)
    at = next(i for i, r in enumerate(rows, 1) if r[0] == "Stock" and r[2] == "On hand")
    assert xlsx_links(path)[f"A{at}"] == "'Stock'!D2"
    cell = openpyxl.load_workbook(path)["Problems"][f"A{at}"]
    assert cell.value == "Stock" and cell.font.u == "single"  # text, not a formula

    run(h, hours=1)  # the tab exists now: the in-place writer keeps the links
    with zipfile.ZipFile(path) as z:
        assert b"HYPERLINK" not in b"".join(z.read(n) for n in z.namelist())
    assert xlsx_links(path)[f"A{at}"] == "'Stock'!D2"

    book = openpyxl.load_workbook(path)
    book["Stock"]["D2"] = 12  # the team fixes the cell
    book.save(path)
    run(h, hours=2)
    assert not any(r[0] == "Stock" and r[2] == "On hand" for r in problems(h))
    linked = xlsx_links(path)
    rows = problems(h)
    # every link left is on a row that still holds a problem, and leads to its cell
    assert all(rows[int(ref[1:]) - 1][0] for ref in linked)
    assert all(loc.startswith(f"'{rows[int(ref[1:]) - 1][0]}'!") for ref, loc in linked.items())


# ---------------------------------------------------------------- Google


def link_of(emulator: Any, sheet_id: str, a1: str) -> str | None:
    cell = emulator.spreadsheet(sheet_id).cell("Problems", a1)
    fmt = (cell.fmt or {}) if cell is not None else {}
    return ((fmt.get("textFormat") or {}).get("link") or {}).get("uri")


def test_on_google_problems_link_by_gid_and_range_at_no_extra_request(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    h = google_harness(tmp_path, sheets_emulator)
    h.seed(shop())
    init_workbook(h.settings)  # reads the sheet ids; the state keeps them
    run(h)
    sid = h.extra["sheet_id"]
    stock_gid = sheets_emulator.spreadsheet(sid).sheet("Stock").sheet_id
    rows = problems(h)
    at = next(i for i, r in enumerate(rows, 1) if r[0] == "Stock" and r[2] == "On hand")
    assert link_of(sheets_emulator, sid, f"A{at}") == f"#gid={stock_gid}&range=D2"
    assert rows[at - 1][0] == "Stock"  # the cell keeps its text: no formula

    h.reset_requests()
    run(h, hours=1)  # the steady state: the links ride in the one write
    reads, writes = h.requests()  # type: ignore[misc]
    assert reads + writes <= 4 and writes <= 2
    assert link_of(sheets_emulator, sid, f"A{at}") == f"#gid={stock_gid}&range=D2"

    sheets_emulator.spreadsheet(sid).set_values("Stock", "D2", [[12]])  # fixed
    run(h, hours=2)
    rows = problems(h)
    for i, row in enumerate(rows[1:], start=2):
        uri = link_of(sheets_emulator, sid, f"A{i}")
        assert (uri is not None) == bool(row and row[0]), (i, row, uri)


def test_on_google_without_known_sheet_ids_the_links_wait_and_cost_no_request(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    h = google_harness(tmp_path, sheets_emulator)
    h.seed(shop())
    init_workbook(h.settings)
    run(h)
    h.reset_requests()
    run(h, hours=1)
    with_ids = h.requests()
    (tmp_path / "state.db").unlink()  # a state that never saw the ids
    h.reset_requests()
    run(h, hours=2)
    assert h.requests() == with_ids  # no metadata request to learn them


def test_a_remembered_sheet_id_gone_stale_is_read_again_and_the_write_made_once_more(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    h = google_harness(tmp_path, sheets_emulator)
    h.seed(shop())
    init_workbook(h.settings)  # the state remembers the ids, Problems' among them
    sid = h.extra["sheet_id"]
    ss = sheets_emulator.spreadsheet(sid)
    header = ss.get_values("Problems")[0]
    ss.delete_sheet(ss.sheet("Problems").sheet_id)  # a person deletes the tab and
    ss.add_sheet("Problems")  # makes it again: a new sheet id
    ss.set_values("Problems", "A1", [header])
    h.reset_requests()
    run(h)
    # refused for the old id, then made again with the ids of one metadata read
    assert sheets_emulator.count("spreadsheets.batchUpdate") == 2
    rows = problems(h)
    at = next(i for i, r in enumerate(rows, 1) if r[0] == "Stock" and r[2] == "On hand")
    stock_gid = ss.sheet("Stock").sheet_id
    assert link_of(sheets_emulator, sid, f"A{at}") == f"#gid={stock_gid}&range=D2"


def test_the_emulator_takes_a_link_as_google_does_and_refuses_other_names(
    sheets_emulator: Any,
) -> None:
    sid = sheets_emulator.create_spreadsheet(title="links")
    client = gspread.Client(None, session=_session(sheets_emulator))
    ss = client.open_by_key(sid)
    gid = ss.sheet1.id
    cell = {
        "userEnteredValue": {"stringValue": "Stock"},
        "userEnteredFormat": {"textFormat": {"link": {"uri": f"#gid={gid}&range=B2"}}},
    }

    def update(data: dict[str, Any]) -> Any:
        return ss.batch_update(
            {
                "requests": [
                    {
                        "updateCells": {
                            "start": {"sheetId": gid, "rowIndex": 0, "columnIndex": 0},
                            "rows": [{"values": [data]}],
                            "fields": "userEnteredValue,userEnteredFormat.textFormat.link",
                        }
                    }
                ]
            }
        )

    update(cell)
    meta = ss.fetch_sheet_metadata(params={"includeGridData": "true", "ranges": "A1"})
    value = meta["sheets"][0]["data"][0]["rowData"][0]["values"][0]
    assert value["hyperlink"] == f"#gid={gid}&range=B2"
    with pytest.raises(gspread.exceptions.APIError, match="Unknown name"):
        update({**cell, "userEnteredFormat": {"textFormat": {"link": {"url": "x"}}}})
    update({"userEnteredValue": {"stringValue": "Stock"}})  # the mask clears the link
    meta = ss.fetch_sheet_metadata(params={"includeGridData": "true", "ranges": "A1"})
    assert "hyperlink" not in meta["sheets"][0]["data"][0]["rowData"][0]["values"][0]


def _session(emulator: Any) -> Any:
    from ops_sheets.emulator.client import emulator_session

    return emulator_session(emulator.host_port)
