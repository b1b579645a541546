"""Focused tests of the Sheets API emulator: A1 notation, store edits, values
semantics, the request counter, fault injection, hooks, and real gspread."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gspread
import pytest
import requests

from ops_sheets.emulator import SheetsEmulator
from ops_sheets.emulator.a1 import (
    A1ParseError,
    col_to_index,
    index_to_col,
    parse_a1,
    quote_title,
)
from ops_sheets.emulator.client import RewritingSession, gspread_client_for

ORDERS = [
    ["Order ID", "SKU", "Qty"],
    ["SO-3", "B-2", 1],
    ["SO-1", "A-1", 2],
    ["SO-2", "C-3", 5],
]


class FakeClock:
    """The emulator's clock and its sleep: a fault delay advances it, no test waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[SheetsEmulator]:
    with SheetsEmulator(clock=clock, sleep=clock.sleep) as emu:
        yield emu


@pytest.fixture
def sid(emulator: SheetsEmulator) -> str:
    return emulator.create_spreadsheet(title="Shop", sheets={"Orders": ORDERS, "My tab": []})


class Api:
    """Thin raw-HTTP client so tests see exactly what Google would send back."""

    def __init__(self, emulator: SheetsEmulator, spreadsheet_id: str) -> None:
        self.base = f"{emulator.base_url}/v4/spreadsheets/{spreadsheet_id}"
        self.session = requests.Session()

    def call(self, method: str, suffix: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.request(
            method, self.base + suffix, json=body, params=params or None, timeout=10
        )

    def get(self, range_: str, **params: Any) -> dict[str, Any]:
        answer = self.call("GET", f"/values/{range_}", **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def put(self, range_: str, values: Any, option: str = "RAW") -> requests.Response:
        return self.call("PUT", f"/values/{range_}", {"values": values}, valueInputOption=option)

    def batch_get(self, *ranges: str) -> dict[str, Any]:
        return self.call("GET", "/values:batchGet", ranges=list(ranges)).json()


@pytest.fixture
def api(emulator: SheetsEmulator, sid: str) -> Api:
    return Api(emulator, sid)


# ---------------------------------------------------------------- A1 notation


@pytest.mark.parametrize(
    ("title", "quoted"),
    [
        ("Sheet1", "Sheet1"),
        ("Orders", "Orders"),
        ("My tab", "'My tab'"),
        ("D3", "'D3'"),  # reads like a cell, so Google quotes it (recording)
        ("R1C1", "'R1C1'"),
        ("It's", "'It''s'"),
        ("2024", "'2024'"),
        ("🌵 tab", "'🌵 tab'"),
    ],
)
def test_quote_title(title: str, quoted: str) -> None:
    assert quote_title(title) == quoted


@pytest.mark.parametrize(("letters", "index"), [("A", 0), ("Z", 25), ("AA", 26), ("ZZZ", 18277)])
def test_column_letters_round_trip(letters: str, index: int) -> None:
    assert col_to_index(letters) == index
    assert index_to_col(index) == letters
    assert col_to_index(letters.lower()) == index


@pytest.mark.parametrize(
    ("text", "sheet", "bounds"),
    [
        ("Sheet1!A1:B2", "Sheet1", (0, 0, 1, 1)),
        ("Sheet1!A:A", "Sheet1", (None, 0, None, 0)),
        ("Sheet1!1:1", "Sheet1", (0, None, 0, None)),
        ("'My tab'!B2:D", "My tab", (1, 1, None, 3)),
        ("'It''s'!C3", "It's", (2, 2, 2, 2)),
        ("🌵 tab 1!A1", "🌵 tab 1", (0, 0, 0, 0)),  # Google accepts unquoted input
        ("Sheet1!$A$1:$B$2", "Sheet1", (0, 0, 1, 1)),
    ],
)
def test_parse_a1(text: str, sheet: str, bounds: tuple[Any, ...]) -> None:
    parsed = parse_a1(text)
    assert parsed.sheet == sheet
    assert (parsed.start_row, parsed.start_col, parsed.end_row, parsed.end_col) == bounds


def test_parse_a1_bare_text_is_ambiguous_and_bad_text_fails() -> None:
    assert parse_a1("A1").ambiguous and parse_a1("Sheet1").sheet_only
    assert parse_a1("'My tab'").sheet_only
    for bad in ("'unclosed!A1", "Sheet1!A0", "Sheet1!", "!A1"):
        with pytest.raises(A1ParseError):
            parse_a1(bad)


def test_resolve_clips_unbounded_ends_to_the_grid() -> None:
    assert parse_a1("S!A:A").resolve(1000, 26).a1() == "A1:A1000"
    assert parse_a1("S!A2:2").resolve(1000, 26).a1() == "A2:Z2"
    assert parse_a1("S!B2:A1").resolve(1000, 26).a1() == "A1:B2"  # reversed corners


# ---------------------------------------------------------------- store edits


def test_people_edit_helpers(emulator: SheetsEmulator, sid: str) -> None:
    ss = emulator.spreadsheet(sid)
    ss.insert_rows("Orders", 2, [["SO-0", "Z-9", 7]])
    ss.delete_rows("Orders", 4)  # the original SO-1 row, now row 4
    assert ss.get_values("Orders") == [
        ["Order ID", "SKU", "Qty"],
        ["SO-0", "Z-9", 7],
        ["SO-3", "B-2", 1],
        ["SO-2", "C-3", 5],
    ]
    ss.sort_rows("Orders", 0)
    assert [row[0] for row in ss.get_values("Orders")] == ["Order ID", "SO-0", "SO-2", "SO-3"]
    ss.sort_rows("Orders", 2, reverse=True)
    assert [row[2] for row in ss.get_values("Orders")[1:]] == [7, 5, 1]
    ss.set_values("Orders", "E1", [["Note"], [None], ["late"]])
    assert ss.get_values("Orders")[2] == ["SO-2", "C-3", 5, "", "late"]
    ss.append_rows("Orders", [["SO-9", "A-1", 3]])
    assert ss.get_values("Orders")[-1] == ["SO-9", "A-1", 3]


def test_python_dates_become_date_cells(emulator: SheetsEmulator, api: Api, sid: str) -> None:
    ss = emulator.spreadsheet(sid)
    ss.set_values("My tab", "A1", [[dt.date(2020, 1, 1), dt.datetime(2026, 11, 23, 9, 30)]])
    assert api.get("'My tab'!A1:B1")["values"] == [["2020-01-01", "2026-11-23 09:30:00"]]
    raw = api.get("'My tab'!A1", valueRenderOption="UNFORMATTED_VALUE")
    assert raw["values"] == [[43831]]


def test_user_entered_sheet_setup_parses_like_the_ui(emulator: SheetsEmulator) -> None:
    sid = emulator.create_spreadsheet(
        sheets={"S": [["00123", "1,234", "12%", "TRUE", "'007"]]}, user_entered=True
    )
    assert emulator.spreadsheet(sid).get_values("S") == [[123, 1234, 0.12, True, "007"]]


# ---------------------------------------------------------------- values semantics


def test_raw_keeps_text_and_user_entered_parses(api: Api) -> None:
    api.put("'My tab'!A1", [["=SUM(1)", "0012", '=HYPERLINK("x","y")']], "RAW")
    api.put("'My tab'!A2", [["=SUM(1,2)", "0012", "2,000.5", "=B2*2", "=NOPE(1)"]], "USER_ENTERED")
    assert api.get("'My tab'!A1:E2")["values"] == [
        ["=SUM(1)", "0012", '=HYPERLINK("x","y")'],
        ["3", "12", "2,000.5", "24", "=NOPE(1)"],  # unknown functions show their text
    ]
    formulas = api.get("'My tab'!A2:E2", valueRenderOption="FORMULA")["values"]
    assert formulas == [["=SUM(1,2)", 12, 2000.5, "=B2*2", "=NOPE(1)"]]


def test_nulls_leave_cells_and_counts_skip_them(api: Api) -> None:
    answer = api.put("Orders!A2:C3", [["X", None, None], [None, None, ""]]).json()
    assert answer["updatedRange"] == "Orders!A2:C3"
    assert (answer["updatedRows"], answer["updatedColumns"], answer["updatedCells"]) == (2, 2, 2)
    assert api.get("Orders!A2:C3")["values"] == [["X", "B-2", "1"], ["SO-1", "A-1"]]


def test_reads_trim_and_echo_like_google(api: Api) -> None:
    body = api.get("Orders!A:A")
    assert body["range"] == "Orders!A1:A1000"
    assert body["values"] == [["Order ID"], ["SO-3"], ["SO-1"], ["SO-2"]]
    assert "values" not in api.get("'My tab'!B2:D")
    assert api.get("'My tab'")["range"] == "'My tab'!A1:Z1000"
    columns = api.get("Orders!A1:B2", majorDimension="COLUMNS")["values"]
    assert columns == [["Order ID", "SO-3"], ["SKU", "B-2"]]
    batch = api.batch_get("Orders!A1", "'My tab'!A1")["valueRanges"]
    assert [vr["range"] for vr in batch] == ["Orders!A1", "'My tab'!A1"]


def test_errors_use_googles_envelope(emulator: SheetsEmulator, api: Api) -> None:
    answer = api.call("GET", "/values/Nope!A1")
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": 400,
        "message": "Unable to parse range: Nope!A1",
        "status": "INVALID_ARGUMENT",
    }
    assert api.call("GET", "/values/Orders!A1:A2000").json()["error"]["message"] == (
        "Range (Orders!A1:A2000) exceeds grid limits. Max rows: 1000, max columns: 26"
    )
    too_wide = api.put("Orders!Z1", [["a", "b"]])
    assert too_wide.status_code == 400 and "exceeds grid limits" in too_wide.text
    missing = requests.get(f"{emulator.base_url}/v4/spreadsheets/unknown", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Requested entity was not found."
    emulator.store.deny("private")
    denied = requests.get(f"{emulator.base_url}/v4/spreadsheets/private", timeout=10)
    assert denied.json()["error"]["status"] == "PERMISSION_DENIED"


def test_append_finds_the_table_and_can_insert_rows(emulator: SheetsEmulator, api: Api) -> None:
    answer = api.call(
        "POST",
        "/values/Orders!A1:append",
        {"values": [["SO-4", "D-4", 1]]},
        valueInputOption="RAW",
    ).json()
    assert answer["tableRange"] == "Orders!A1:C4"
    assert answer["updates"]["updatedRange"] == "Orders!A5:C5"
    emulator.spreadsheet(api.base.rsplit("/", 1)[1]).set_values("Orders", "A7", [["footer"]])
    inserted = api.call(
        "POST",
        "/values/Orders!A1:append",
        {"values": [["SO-5"]]},
        valueInputOption="RAW",
        insertDataOption="INSERT_ROWS",
    ).json()
    assert inserted["updates"]["updatedRange"] == "Orders!A6"
    assert api.get("Orders!A6:A8")["values"] == [["SO-5"], [], ["footer"]]


def test_append_grows_rows_at_the_bottom_of_the_grid(emulator: SheetsEmulator) -> None:
    sid = emulator.create_spreadsheet(sheets={"S": [["a"]]})
    emulator.spreadsheet(sid).sheet("S").resize(rows=1)
    api = Api(emulator, sid)
    answer = api.call(
        "POST", "/values/S:append", {"values": [["b"], ["c"]]}, valueInputOption="RAW"
    )
    assert answer.json()["updates"]["updatedRange"] == "S!A2:A3"
    assert emulator.spreadsheet(sid).sheet("S").row_count == 3


def test_batch_update_is_atomic(emulator: SheetsEmulator, api: Api, sid: str) -> None:
    answer = api.call(
        "POST",
        ":batchUpdate",
        {
            "requests": [
                {"addSheet": {"properties": {"title": "New"}}},
                {"deleteSheet": {"sheetId": 42}},
            ]
        },
    )
    assert answer.status_code == 400
    assert (
        answer.json()["error"]["message"] == "Invalid requests[1].deleteSheet: No grid with id: 42"
    )
    assert [s.title for s in emulator.spreadsheet(sid).sheets] == ["Orders", "My tab"]


def _everything(api: Api) -> dict[str, Any]:
    """The whole spreadsheet as the API shows it: properties, merges, protection,
    values, formats, validation and notes of every cell."""
    answer = api.call("GET", "", includeGridData="true")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_failed_batch_update_undoes_every_kind_of_change(
    emulator: SheetsEmulator, api: Api, sid: str
) -> None:
    """Cells written, formatted and validated, rows moved by an insert and a sort,
    the grid grown, a merge and a protected range: all undone when the last
    request fails, and the sheets stay the same objects."""
    orders = emulator.spreadsheet(sid).sheet("Orders")
    sheet_id = orders.sheet_id
    api.call(
        "POST",
        ":batchUpdate",
        {
            "requests": [
                {
                    "repeatCell": {
                        "range": {"sheetId": sheet_id, "startRowIndex": 1, "endRowIndex": 2},
                        "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                        "fields": "userEnteredFormat.textFormat.bold",
                    }
                }
            ]
        },
    )
    before = _everything(api)
    grid = {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 4}
    answer = api.call(
        "POST",
        ":batchUpdate",
        {
            "requests": [
                {
                    "updateCells": {
                        "start": {"sheetId": sheet_id, "rowIndex": 1, "columnIndex": 0},
                        "rows": [{"values": [{"userEnteredValue": {"stringValue": "X"}}]}],
                        "fields": "userEnteredValue,note",
                    }
                },
                {
                    "repeatCell": {
                        "range": {**grid, "endRowIndex": 2, "endColumnIndex": 2},
                        "cell": {"userEnteredFormat": {"textFormat": {"italic": True}}},
                        "fields": "userEnteredFormat.textFormat.italic",
                    }
                },
                {
                    "setDataValidation": {
                        "range": {**grid, "endRowIndex": 2, "startColumnIndex": 2},
                        "rule": {"condition": {"type": "BOOLEAN"}},
                    }
                },
                {"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS", "length": 3}},
                {
                    "insertDimension": {
                        "range": {
                            "sheetId": sheet_id,
                            "dimension": "ROWS",
                            "startIndex": 2,
                            "endIndex": 4,
                        }
                    }
                },
                {
                    "sortRange": {
                        "range": {**grid, "startRowIndex": 1, "endRowIndex": 6},
                        "sortSpecs": [{"dimensionIndex": 0}],
                    }
                },
                {"mergeCells": {"range": {**grid, "startColumnIndex": 0, "endColumnIndex": 2}}},
                {"addProtectedRange": {"protectedRange": {"range": grid, "warningOnly": True}}},
                {"addSheet": {"properties": {"title": "New"}}},
                {"deleteSheet": {"sheetId": 42}},
            ]
        },
    )
    assert answer.status_code == 400
    assert _everything(api) == before
    assert emulator.spreadsheet(sid).sheet("Orders") is orders


def test_a_failed_values_batch_update_undoes_the_ranges_before_it(api: Api) -> None:
    before = api.batch_get("Orders", "'My tab'")
    answer = api.call(
        "POST",
        "/values:batchUpdate",
        {
            "valueInputOption": "USER_ENTERED",
            "data": [
                {"range": "Orders!A2:C2", "values": [["X", "=1+1", ""]]},
                {"range": "'My tab'!A1", "values": [["new"], ["rows"]]},
                {"range": "Orders!A1:A2", "values": [["a"], ["b"], ["c"]]},
            ],
        },
    )
    assert answer.status_code == 400
    assert api.batch_get("Orders", "'My tab'") == before
    cleared = api.call("POST", "/values:batchClear", {"ranges": ["Orders!A1:C4", "Nope!A1"]})
    assert cleared.status_code == 400
    assert api.batch_get("Orders", "'My tab'") == before


# ---------------------------------------------------------------- counter


def test_counts_reads_and_writes_per_minute(
    emulator: SheetsEmulator, api: Api, clock: FakeClock
) -> None:
    api.batch_get("Orders!A:C")
    api.put("Orders!D1", [["x"]])
    clock.now += 61
    api.batch_get("Orders!A:C")
    assert emulator.count() == 3
    assert (emulator.count("read"), emulator.count("write")) == (2, 1)
    assert emulator.count("values.batchGet") == 2
    assert emulator.per_minute() == [2, 1]
    assert emulator.max_per_minute() == 2
    assert [r.kind for r in emulator.requests] == ["read", "write", "read"]
    assert all(r.status == 200 for r in emulator.requests)
    emulator.reset_counts()
    assert emulator.count() == 0 and emulator.per_minute() == []


# ---------------------------------------------------------------- faults


def test_fail_next_then_recover(emulator: SheetsEmulator, api: Api) -> None:
    emulator.faults.fail_next(2, status=503)
    for _ in range(2):
        answer = api.call("GET", "/values/Orders!A1")
        assert answer.status_code == 503
        assert answer.json()["error"]["status"] == "UNAVAILABLE"
    assert api.call("GET", "/values/Orders!A1").status_code == 200
    assert [r.status for r in emulator.requests] == [503, 503, 200]


def test_fail_rate_is_reproducible_with_a_seed(emulator: SheetsEmulator, api: Api) -> None:
    def run() -> list[int]:
        emulator.faults.fail_rate(0.3, status=429, seed=1)
        return [api.call("GET", "/values/Orders!A1").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(429) < 20
    emulator.faults.clear()
    body = api.call("GET", "/values/Orders!A1")
    assert body.status_code == 200


def test_429_and_500_bodies(emulator: SheetsEmulator, api: Api) -> None:
    emulator.faults.fail_next(1, status=429)
    emulator.faults.fail_next(1, status=500)
    assert api.call("GET", "/values/A1").json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert api.call("GET", "/values/A1").json()["error"]["status"] == "INTERNAL"


def test_fail_after_apply_commits_the_write(emulator: SheetsEmulator, api: Api, sid: str) -> None:
    emulator.faults.fail_next(1, status=500, kind="write", after_apply=True)
    assert api.get("Orders!A1")["values"] == [["Order ID"]]  # reads are not affected
    assert api.put("Orders!A1", [["changed"]]).status_code == 500
    assert emulator.spreadsheet(sid).get_values("Orders")[0][0] == "changed"


def test_delay_and_quota(emulator: SheetsEmulator, api: Api, clock: FakeClock) -> None:
    emulator.faults.delay(0.2, kind="write")
    api.call("GET", "/values/A1")
    assert clock.slept == []  # a read is not a write
    emulator.faults.delay(0.2)
    api.call("GET", "/values/A1")
    assert clock.slept == [0.2]  # the answer waited on the emulator's clock
    emulator.faults.clear()
    emulator.faults.quota(limit=2)
    statuses = [api.call("GET", "/values/A1").status_code for _ in range(3)]
    assert statuses[-1] == 429


# ---------------------------------------------------------------- hooks


def test_hook_edits_the_sheet_between_read_and_write(emulator: SheetsEmulator, api: Api) -> None:
    hook = emulator.before_request(
        lambda r: r.is_batch_get and r.batch_get_number == 2,
        lambda ss: ss.sort_rows("Orders", 0),
    )
    first = api.batch_get("Orders!A2:A")["valueRanges"][0]["values"]
    second = api.batch_get("Orders!A2:A")["valueRanges"][0]["values"]
    third = api.batch_get("Orders!A2:A")["valueRanges"][0]["values"]
    assert first == [["SO-3"], ["SO-1"], ["SO-2"]]
    assert second == third == [["SO-1"], ["SO-2"], ["SO-3"]]
    assert hook.calls == 1  # once=True


def test_repeating_hook_and_failing_hook(emulator: SheetsEmulator, api: Api) -> None:
    seen: list[str] = []
    emulator.before_request(lambda r: r.is_write, lambda ss: seen.append(ss.id), once=False)
    api.put("Orders!D1", [["a"]])
    api.put("Orders!D2", [["b"]])
    assert len(seen) == 2
    broken = emulator.before_request(lambda r: True, lambda ss: ss.sheet("missing"))
    answer = api.call("GET", "/values/A1")
    assert answer.status_code == 500 and "hook failed" in answer.json()["error"]["message"]
    assert isinstance(broken.errors[0], KeyError)


# ---------------------------------------------------------------- gspread


def test_gspread_end_to_end(emulator: SheetsEmulator, sid: str) -> None:
    client = gspread_client_for(emulator.host_port)
    sheet = client.open_by_key(sid)
    orders = sheet.worksheet("Orders")
    assert orders.get_all_records()[0] == {"Order ID": "SO-3", "SKU": "B-2", "Qty": 1}
    orders.update([['=HYPERLINK("http://x","y")']], "D2", value_input_option="RAW")
    assert orders.acell("D2").value == '=HYPERLINK("http://x","y")'
    orders.append_row(["SO-4", "D-4", 2])
    orders.freeze(rows=1)
    assert sheet.values_batch_get(["Orders!A5"])["valueRanges"][0]["values"] == [["SO-4"]]
    new = sheet.add_worksheet("Problems", rows=10, cols=8)
    new.update([["Tab", "Row"], ["Orders", 3]], "A1")
    assert new.get_all_values() == [["Tab", "Row"], ["Orders", "3"]]
    orders.delete_rows(2)
    assert orders.col_values(1) == ["Order ID", "SO-1", "SO-2", "SO-4"]
    meta = sheet.fetch_sheet_metadata()
    assert meta["sheets"][0]["properties"]["gridProperties"]["frozenRowCount"] == 1
    created = client.create("Made by gspread")
    assert created.sheet1.title == "Sheet1"
    with pytest.raises(gspread.SpreadsheetNotFound):
        client.open_by_key("does-not-exist")


def test_rewriting_session_only_touches_google_urls() -> None:
    session = RewritingSession("http://127.0.0.1:9")
    assert session.rewrite("https://sheets.googleapis.com/v4/x") == "http://127.0.0.1:9/v4/x"
    assert session.rewrite("https://www.googleapis.com/drive/v3/files") == (
        "http://127.0.0.1:9/drive/v3/files"
    )
    assert session.rewrite("https://example.com/a") == "https://example.com/a"


# ---------------------------------------------------------------- standalone


def test_module_runs_standalone(tmp_path: Path) -> None:
    data = {"spreadsheets": [{"id": "demo", "title": "Demo", "sheets": {"S": [["a", 1]]}}]}
    load = tmp_path / "load.json"
    load.write_text(json.dumps(data), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "ops_sheets.emulator", "--port", "0", "--load", str(load)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        host_port = lines[2].strip().removeprefix("SHEETS_EMULATOR_HOST=")
        answer = requests.get(f"http://{host_port}/v4/spreadsheets/demo/values/S", timeout=10)
        assert answer.json()["values"] == [["a", "1"]]
    finally:
        process.terminate()
        process.wait(timeout=10)
