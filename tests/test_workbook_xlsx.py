"""The xlsx backend on real files: types, write safety, atomicity, locks, what is kept.

No mocks: every test builds a workbook with openpyxl (or patches its zip by hand to
add what other programs write), runs the backend, and inspects the file.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from copy import copy
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook as OpenpyxlBook
from openpyxl import load_workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table

from ops_sheets.errors import UnsupportedContentError, WorkbookError, WorkbookLockedError
from ops_sheets.sheet.workbook.base import Append, ChangeSet, ChartSpec, Replace, Update
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

REPO = Path(__file__).resolve().parents[1]
LONDON = ZoneInfo("Europe/London")
TRICKY = ['=HYPERLINK("http://x","y")', '=IMPORTXML("http://x","//a")', "+1", "-2+3", "@SUM(A1)"]


# ---------------------------------------------------------------- helpers


def build(path: Path, tabs: Mapping[str, list[list[object]]]) -> Path:
    book = OpenpyxlBook()
    book.remove(book.active)
    for title, rows in tabs.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def stock_file(path: Path) -> Path:
    return build(
        path,
        {"Stock": [["SKU", "Product", "On hand"], ["A-1", "Mug", 10], ["B-2", "Plate", 0]]},
    )


def status_update(statuses: Mapping[str, object], tab: str = "Stock") -> ChangeSet:
    changes = ChangeSet()
    changes.declare(tab, ["SKU", "Stock status"], ["SKU"])
    for sku, status in statuses.items():
        changes.updates.append(Update(tab, {"SKU": sku}, {"Stock status": status}))
    return changes


def needing_openpyxl(changes: ChangeSet) -> ChangeSet:
    """The same write plus a new tab: one the in-place writer leaves to openpyxl."""
    changes.declare("Service notes", ["Note"], ["Note"])
    return changes


def zip_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def patch_zip(
    path: Path,
    edits: Mapping[str, Callable[[bytes], bytes]] | None = None,
    add: Mapping[str, bytes] | None = None,
) -> None:
    """Rewrite an xlsx with some parts changed or added, as another program would."""
    zin = zipfile.ZipFile(path)
    items = [(i, zin.read(i.filename)) for i in zin.infolist()]
    zin.close()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in items:
            zout.writestr(info, (edits or {}).get(info.filename, lambda d: d)(data))
        for name, data in (add or {}).items():
            zout.writestr(name, data)


def sheet_xml(path: Path, n: int = 1) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(f"xl/worksheets/sheet{n}.xml").decode()


def cell_xml(xml: str, ref: str) -> str:
    m = re.search(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', xml)
    assert m, ref
    return m.group(0)


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.ops-tmp"))


# ---------------------------------------------------------------- reading


def test_read_gives_python_values_and_trims_blanks(tmp_path: Path) -> None:
    path = tmp_path / "types.xlsx"
    book = OpenpyxlBook()
    ws = book.active
    ws.title = "Types"
    ws.append(["Text", "Int", "Float", "Bool", "When", "Day", "Time", "Blank", "Formula"])
    ws.append(["a", 3, 2.5, True, datetime(2026, 11, 23, 9, 30), date(2026, 11, 20), time(15, 0)])
    ws["I2"] = "=B2*2"
    ws.append(["b", -1, 0.1, False, None, None, None, None])
    ws["F2"].number_format = "dd/mm/yyyy"  # a team's own date format still reads as a date
    ws["K3"].fill = PatternFill("solid", fgColor="FFFF00")  # styled but empty: trimmed
    ws["A8"].font = Font(bold=True)  # styled empty row below the data: trimmed
    book.create_sheet("Empty")
    book.save(path)
    # a formula's value is what Excel cached when saving: add one by hand
    patch_zip(
        path,
        {"xl/worksheets/sheet1.xml": lambda d: d.replace(b"<f>B2*2</f>", b"<f>B2*2</f><v>6</v>")},
    )

    grids = XlsxWorkbook(path).read(["Types", "Empty", "Missing"])

    assert set(grids) == {"Types", "Empty"}
    rows = grids["Types"].rows
    assert rows[0][0] == "Text" and len(rows) == 3
    assert rows[1] == [
        "a",
        3,
        2.5,
        True,
        datetime(2026, 11, 23, 9, 30),
        date(2026, 11, 20),
        time(15, 0),
        None,
        6,
    ]
    assert rows[2] == ["b", -1, 0.1, False]
    assert type(rows[1][1]) is int and type(rows[1][2]) is float
    assert grids["Empty"].rows == []


def test_formulas_written_by_openpyxl_read_as_blank(tmp_path: Path) -> None:
    """Documented limit: openpyxl stores no cached values, so there is nothing to read."""
    path = build(tmp_path / "f.xlsx", {"T": [["A", "B"], [2, "=A2*2"]]})
    assert XlsxWorkbook(path).read(["T"])["T"].rows == [["A", "B"], [2]]


def test_tab_titles_and_case_insensitive_tabs(tmp_path: Path) -> None:
    path = build(tmp_path / "t.xlsx", {"stock": [["SKU"], ["A-1"]], "Notes": [["x"]]})
    wb = XlsxWorkbook(path)
    assert wb.tab_titles() == ["stock", "Notes"]
    assert wb.read(["Stock"])["Stock"].rows == [["SKU"], ["A-1"]]
    wb.write(status_update({"A-1": "OK"}, tab="Stock"))  # Excel titles ignore case: no new tab
    assert wb.tab_titles() == ["stock", "Notes"]
    assert wb.read(["stock"])["stock"].rows == [["SKU", "Stock status"], ["A-1", "OK"]]


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    path = tmp_path / "nope.xlsx"
    with pytest.raises(
        WorkbookError, match=r"nope\.xlsx does not exist.*ops-sheets init.*ops-sheets demo"
    ):
        XlsxWorkbook(path).read(["Stock"])
    with pytest.raises(WorkbookError, match="does not exist"):
        XlsxWorkbook(path).tab_titles()


@pytest.mark.parametrize("content", [b"", b"Name,Qty\nA,1\n", b"\xd0\xcf\x11\xe0 old xls"])
def test_not_an_xlsx_is_reported_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    wb = XlsxWorkbook(path)
    with pytest.raises(WorkbookError, match=r"bad\.xlsx is not an \.xlsx workbook"):
        wb.read(["Stock"])
    with pytest.raises(WorkbookError, match=r"not an \.xlsx workbook"):
        wb.write(status_update({"A-1": "OK"}))
    assert path.read_bytes() == content


# ---------------------------------------------------------------- layout / new files


def test_ensure_layout_creates_a_new_workbook(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.xlsx"
    wb = XlsxWorkbook(path)
    done = wb.ensure_layout({"Stock": ["SKU", "On hand"], "Problems": ["Tab", "Row", "Problem"]})
    assert done == ["created tab 'Stock'", "created tab 'Problems'"]
    assert wb.tab_titles() == ["Stock", "Problems"]  # no leftover "Sheet"
    book = load_workbook(path)
    assert [c.value for c in book["Problems"][1]] == ["Tab", "Row", "Problem"]
    assert book["Stock"]["A1"].font.b and book["Stock"].freeze_panes == "A2"
    assert wb.ensure_layout({"Stock": ["SKU", "On hand"]}) == []


def test_a_tab_named_sheet_in_a_new_file_is_kept(tmp_path: Path) -> None:
    wb = XlsxWorkbook(tmp_path / "n.xlsx")
    wb.ensure_layout({"Sheet": ["A"], "Other": ["B"]})
    assert wb.tab_titles() == ["Sheet", "Other"]
    assert wb.read(["Sheet"])["Sheet"].rows == [["A"]]


def test_bad_new_tab_name_is_refused_before_writing(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    before = path.read_bytes()
    with pytest.raises(WorkbookError, match=r"cannot create tab 'Problems/2026'.*contains /"):
        XlsxWorkbook(path).ensure_layout({"Problems/2026": ["Tab"]})
    with pytest.raises(WorkbookError, match="31"):
        XlsxWorkbook(path).ensure_layout({"x" * 32: ["Tab"]})
    assert path.read_bytes() == before


# ---------------------------------------------------------------- write by key


def test_write_back_finds_rows_people_sorted_and_inserted(tmp_path: Path) -> None:
    path = build(
        tmp_path / "s.xlsx",
        {"Stock": [["SKU", "On hand"], ["A-1", 1], ["B-2", 2], ["C-3", 3], [123, 4]]},
    )
    wb = XlsxWorkbook(path)
    grid = wb.read(["Stock"])["Stock"]
    assert grid.rows[1][0] == "A-1"

    # meanwhile, in Excel: two rows inserted at the top, then the data sorted descending
    book = load_workbook(path)
    ws = book["Stock"]
    ws.insert_rows(2, 2)
    ws["A2"], ws["B2"], ws["A3"], ws["B3"] = "Z-9", 9, "Y-8", 8
    data = sorted(([c.value for c in r] for r in ws.iter_rows(min_row=2)), key=lambda r: str(r[0]))
    for i, row in enumerate(reversed(data), start=2):
        ws.cell(i, 1, row[0])
        ws.cell(i, 2, row[1])
    book.save(path)

    report = wb.write(status_update({"A-1": "a", "B-2": "b", "C-3": "c", "123": "n", "X-0": "x"}))

    assert [s.key for s in report.skipped] == ["X-0"]
    rows = wb.read(["Stock"])["Stock"].rows
    assert {r[0]: (r[1], r[2] if len(r) > 2 else None) for r in rows[1:]} == {
        "Z-9": (9, None),
        "Y-8": (8, None),
        "C-3": (3, "c"),
        "B-2": (2, "b"),
        "A-1": (1, "a"),
        123: (4, "n"),
    }


def test_keys_computed_by_formulas_match_on_their_cached_values(tmp_path: Path) -> None:
    path = build(tmp_path / "f.xlsx", {"Stock": [["SKU", "Num"], ['="A-"&B2', 1], ["B-2", 2]]})

    def cached(xml: bytes) -> bytes:  # what Excel saves: the formula and its last value
        return re.sub(
            rb'<c r="A2"[^>]*>.*?</c>', b'<c r="A2" t="str"><f>"A-"&amp;B2</f><v>A-1</v></c>', xml
        )

    patch_zip(path, {"xl/worksheets/sheet1.xml": cached})
    wb = XlsxWorkbook(path)
    assert wb.read(["Stock"])["Stock"].rows[1] == ["A-1", 1]

    report = wb.write(status_update({"A-1": "OK", "B-2": "LOW"}))

    assert report.skipped == []
    ws = load_workbook(path)["Stock"]
    assert ws["A2"].value == '="A-"&B2'  # still the team's formula
    assert (ws["C2"].value, ws["C3"].value) == ("OK", "LOW")


def test_replace_clears_stale_rows_but_keeps_styles(tmp_path: Path) -> None:
    header = ["Tab", "Row", "Problem"]
    path = build(
        tmp_path / "p.xlsx", {"Problems": [header, *[["Stock", n, "bad"] for n in range(2, 7)]]}
    )
    book = load_workbook(path)
    book["Problems"]["C5"].fill = PatternFill("solid", fgColor="FFC7CE")
    book.save(path)
    changes = ChangeSet()
    changes.declare("Problems", header, ["Tab"])
    changes.replaces.append(Replace("Problems", [{"Tab": "Orders", "Row": 3, "Problem": "late"}]))

    XlsxWorkbook(path).write(changes)

    assert XlsxWorkbook(path).read(["Problems"])["Problems"].rows == [header, ["Orders", 3, "late"]]
    ws = load_workbook(path)["Problems"]
    assert all(ws.cell(r, c).value is None for r in range(3, 7) for c in range(1, 4))
    assert ws["C5"].fill.fgColor.rgb == "00FFC7CE"  # None clears the value, not the style


def test_appended_rows_join_an_excel_table(tmp_path: Path) -> None:
    header = ["PO number", "SKU", "Qty"]
    path = build(tmp_path / "po.xlsx", {"Purchase orders": [header, ["PO-1", "A-1", 2]]})
    book = load_workbook(path)
    book["Purchase orders"].add_table(Table(displayName="POs", ref="A1:C2"))
    book.save(path)
    changes = ChangeSet()
    changes.declare("Purchase orders", header, ["PO number"])
    changes.appends += [
        Append("Purchase orders", {"PO number": f"PO-{n}", "Qty": n}) for n in (2, 3)
    ]

    XlsxWorkbook(path).write(changes)

    table = load_workbook(path)["Purchase orders"].tables["POs"]
    assert table.ref == "A1:C4"


# ---------------------------------------------------------------- values are data


def test_formula_looking_text_is_stored_as_text(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    changes = ChangeSet()
    changes.declare("Stock", ["SKU", "Product", "Why"], ["SKU"])
    for i, text in enumerate([*TRICKY, "#N/A"]):
        changes.appends.append(Append("Stock", {"SKU": f"T-{i}", "Why": text}))
    wb = XlsxWorkbook(path)
    wb.write(changes)
    wb.write(status_update({"A-1": "OK"}))  # load + save again: still text

    rows = wb.read(["Stock"])["Stock"].rows
    why = rows[0].index("Why")
    assert [r[why] for r in rows[3:]] == [*TRICKY, "#N/A"]
    xml = sheet_xml(path)
    assert "<f>" not in xml
    for r in range(4, 4 + len(TRICKY)):
        assert 't="inlineStr"' in cell_xml(xml, f"D{r}")
    # Excel's "quote prefix" keeps them text even when someone edits the cell
    ws = load_workbook(path)["Stock"]
    assert all(ws.cell(r, 4).quotePrefix for r in range(4, 4 + len(TRICKY)))
    assert ws.cell(4, 4).data_type == "s"


def test_datetimes_numbers_and_blanks(tmp_path: Path) -> None:
    path = build(
        tmp_path / "d.xlsx",
        {"Log": [["Key", "At", "Day", "Team date", "Amount"], ["k", None, None, None, 1]]},
    )
    book = load_workbook(path)
    book["Log"]["D2"].number_format = "dd mmm yyyy"
    book.save(path)
    changes = ChangeSet()
    changes.declare("Log", ["Key"], ["Key"])
    aware = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
    changes.updates.append(
        Update(
            "Log",
            {"Key": "k"},
            {
                "At": aware,
                "Day": date(2026, 11, 23),
                "Team date": date(2026, 1, 2),
                "Amount": math.nan,
            },
        )
    )
    changes.appends.append(
        Append("Log", {"Key": "u", "At": datetime(2026, 7, 1, 8, 0, tzinfo=UTC)})
    )

    XlsxWorkbook(path).write(changes)

    ws = load_workbook(path)["Log"]
    assert ws["B2"].value == datetime(2026, 11, 23, 9, 0)  # wall time kept, naive
    assert ws["B3"].value == datetime(2026, 7, 1, 8, 0)
    assert ws["B2"].number_format == "yyyy-mm-dd hh:mm" and ws["C2"].number_format == "yyyy-mm-dd"
    assert ws["D2"].number_format == "dd mmm yyyy"  # the team's format wins
    assert ws["E2"].value is None  # NaN means no value; Excel has no NaN
    rows = XlsxWorkbook(path).read(["Log"])["Log"].rows
    assert rows[1][1:4] == [datetime(2026, 11, 23, 9, 0), date(2026, 11, 23), date(2026, 1, 2)]


# ---------------------------------------------------------------- atomic write


KILL_SCRIPT = """
import os, sys
from ops_sheets.sheet.workbook.base import ChangeSet, Update
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook
wb = XlsxWorkbook(sys.argv[1])
wb._before_replace = lambda tmp: os._exit(17)  # die between temp write and rename
changes = ChangeSet()
changes.declare("Stock", ["SKU", "Stock status"], ["SKU"])
changes.updates.append(Update("Stock", {"SKU": "A-1"}, {"Stock status": "OK"}))
wb.write(changes)
"""


def test_a_crash_before_rename_leaves_the_original_intact(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(path)], cwd=REPO, env=env, timeout=120
    )

    assert done.returncode == 17
    assert path.read_bytes() == before
    assert load_workbook(path)["Stock"]["A2"].value == "A-1"
    assert len(temps(tmp_path)) == 1  # the finished-but-unrenamed copy, hidden
    assert XlsxWorkbook(path).read(["Stock"])["Stock"].rows[0] == ["SKU", "Product", "On hand"]

    XlsxWorkbook(path).write(status_update({"A-1": "OK"}))  # the next write cleans it up
    assert temps(tmp_path) == []
    assert XlsxWorkbook(path).read(["Stock"])["Stock"].rows[1] == ["A-1", "Mug", 10, "OK"]


def test_file_mode_and_symlink_are_kept(tmp_path: Path) -> None:
    real = stock_file(tmp_path / "real.xlsx")
    real.chmod(0o640)
    link = tmp_path / "link.xlsx"
    link.symlink_to(real)
    XlsxWorkbook(link).write(status_update({"A-1": "OK"}))
    assert link.is_symlink()
    assert (real.stat().st_mode & 0o777) == 0o640
    assert XlsxWorkbook(real).read(["Stock"])["Stock"].rows[1][-1] == "OK"


def test_an_edit_saved_during_the_write_is_not_overwritten(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    wb = XlsxWorkbook(path)
    calls = []

    def person_saves_meanwhile(tmp: Path) -> None:
        calls.append(tmp)
        if len(calls) == 1:
            book = load_workbook(path)
            book["Stock"].insert_rows(2)
            book["Stock"]["A2"] = "NEW"
            book.save(path)

    wb._before_replace = person_saves_meanwhile
    wb.write(status_update({"A-1": "OK"}))

    assert len(calls) == 2  # planned again from a fresh load
    rows = wb.read(["Stock"])["Stock"].rows
    assert rows[1] == ["NEW"] and rows[2] == ["A-1", "Mug", 10, "OK"]
    assert temps(tmp_path) == []


# ---------------------------------------------------------------- locks


def libreoffice_lock(path: Path) -> Path:
    lock = path.parent / f".~lock.{path.name}#"
    lock.write_text(
        "Jan Novak,jan,shop-pc,23.11.2026 09:00,file:///home/jan/.config/libreoffice/4;"
    )
    return lock


def excel_lock(path: Path) -> Path:
    lock = path.parent / f"~${path.name}"
    name = "Ann Smith"
    data = bytes([len(name)]) + name.encode("cp1252").ljust(53) + b" " + bytes([len(name), 0])
    lock.write_bytes((data + name.encode("utf-16-le")).ljust(165, b" "))
    return lock


@pytest.mark.parametrize(
    ("make_lock", "app", "who"),
    [(libreoffice_lock, "LibreOffice", "Jan Novak"), (excel_lock, "Excel", "Ann Smith")],
)
def test_refuses_while_open_in_an_office_app(
    tmp_path: Path, make_lock: Callable[[Path], Path], app: str, who: str
) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    before = path.read_bytes()
    lock = make_lock(path)
    with pytest.raises(WorkbookLockedError) as err:
        XlsxWorkbook(path).write(status_update({"A-1": "OK"}))
    message = str(err.value)
    assert f"open in {app} by {who}" in message and "close it there and run again" in message
    assert str(lock) in message  # and which file to delete if it is stale
    assert path.read_bytes() == before
    assert temps(tmp_path) == []

    lock.unlink()
    XlsxWorkbook(path).write(status_update({"A-1": "OK"}))


def test_refuses_when_the_file_is_opened_during_the_write(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    before = path.read_bytes()
    wb = XlsxWorkbook(path)
    wb._before_replace = lambda tmp: libreoffice_lock(path) and None
    with pytest.raises(WorkbookLockedError, match="LibreOffice"):
        wb.write(status_update({"A-1": "OK"}))
    assert path.read_bytes() == before
    assert temps(tmp_path) == []


def test_our_own_runs_take_turns(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    fd = os.open(tmp_path / ".s.xlsx.ops-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another run is writing
    wb = XlsxWorkbook(path)
    wb.lock_wait_seconds = 0.2
    try:
        with pytest.raises(WorkbookLockedError, match="another ops-sheets run is writing"):
            wb.write(status_update({"A-1": "OK"}))
    finally:
        os.close(fd)
    wb.write(status_update({"A-1": "OK"}))


def test_a_snapshot_with_nothing_to_write_releases_the_lock(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    first = XlsxWorkbook(path)
    assert first.ensure_layout({"Stock": ["SKU"]}) == []  # snapshot, nothing to apply
    second = XlsxWorkbook(path)
    second.lock_wait_seconds = 0
    second.write(status_update({"A-1": "OK"}))


# ---------------------------------------------------------------- what openpyxl drops


def chart_and_image_file(path: Path, chart_tab: str = "Sales chart") -> Path:
    """A team's chart tab with a chart made by openpyxl, and a logo picture on Stock."""
    book = OpenpyxlBook()
    ws = book.active
    ws.title = chart_tab
    ws.append(["Week", "Orders"])
    for n in range(1, 5):
        ws.append([f"2026-W4{n}", n * 10])
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=5), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=5))
    ws.add_chart(chart, "D2")
    logo = path.parent / "logo.png"
    from PIL import Image as PilImage

    PilImage.new("RGB", (8, 8), "red").save(logo)
    book.create_sheet("Stock").append(["SKU", "On hand"])
    book["Stock"].append(["A-1", 1])
    book["Stock"].add_image(Image(str(logo)), "E2")
    book.save(path)
    return path


def parts(path: Path, prefix: str) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return [n for n in z.namelist() if n.startswith(prefix)]


def test_charts_and_images_openpyxl_can_keep_are_kept(tmp_path: Path) -> None:
    path = chart_and_image_file(tmp_path / "c.xlsx")
    wb = XlsxWorkbook(path)
    for status in ("OK", "LOW"):  # twice: a chart openpyxl re-wrote must pass again
        wb.write(status_update({"A-1": status}))
    assert len(parts(path, "xl/charts/chart")) == 1 and len(parts(path, "xl/media/")) == 1
    book = load_workbook(path)
    assert len(book["Sales chart"]._charts) == 1 and len(book["Stock"]._images) == 1


SHAPE = (
    b"<twoCellAnchor><from><col>1</col><colOff>0</colOff><row>10</row><rowOff>0</rowOff></from>"
    b"<to><col>3</col><colOff>0</colOff><row>14</row><rowOff>0</rowOff></to>"
    # the drawing part declares `a:` on each element that uses it, so the shape does too
    b'<sp macro="" textlink=""'
    b' xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    b'<nvSpPr><cNvPr id="9" name="TextBox 9"/>'
    b'<cNvSpPr txBox="1"/></nvSpPr>'
    b'<spPr><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></spPr>'
    b"<txBody><a:bodyPr/><a:p><a:r><a:t>Call Acme first!</a:t></a:r></a:p></txBody></sp>"
    b"<clientData/></twoCellAnchor>"
)
EXCEL_CHART_STYLE = (
    b'<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
    b'<mc:Choice Requires="c14" xmlns:c14="http://schemas.microsoft.com/office/drawing/2007/8/2/chart">'
    b'<c14:style val="102"/></mc:Choice>'
    b'<mc:Fallback><style val="2"/></mc:Fallback></mc:AlternateContent>'
)
SPARKLINES = (
    b'<extLst><ext uri="{05C60535-1F16-4fd2-B633-F4F36F0B64E0}" '
    b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    b'<x14:sparklineGroups xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    b'<x14:sparklineGroup displayEmptyCellsAs="gap"><x14:colorSeries rgb="FF376092"/>'
    b"<x14:sparklines><x14:sparkline><xm:f>Stock!B2:B2</xm:f><xm:sqref>C2</xm:sqref>"
    b"</x14:sparkline></x14:sparklines></x14:sparklineGroup></x14:sparklineGroups></ext></extLst>"
)


def _add_before_end(tag: bytes, extra: bytes) -> Callable[[bytes], bytes]:
    return lambda d: d.replace(b"</" + tag + b">", extra + b"</" + tag + b">")


def _chart_style_after_root(d: bytes) -> bytes:
    end = d.index(b">", d.index(b"<chartSpace")) + 1
    return d[:end] + EXCEL_CHART_STYLE + d[end:]


@pytest.mark.parametrize(
    ("label", "where", "patch"),
    [
        (
            "shape or text box",
            "'Sales chart'",
            {"edits": {"xl/drawings/drawing1.xml": _add_before_end(b"wsDr", SHAPE)}},
        ),
        (
            "chart formatting or features made by another program (AlternateContent, Choice",
            "'Sales chart'",
            {"edits": {"xl/charts/chart1.xml": _chart_style_after_root}},
        ),
        (
            "sparkline group",
            "'Stock'",
            {"edits": {"xl/worksheets/sheet2.xml": _add_before_end(b"worksheet", SPARKLINES)}},
        ),
        ("embedded object", "", {"add": {"xl/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0OLE"}}),
    ],
)
def test_refuses_to_drop_what_openpyxl_cannot_keep(
    tmp_path: Path, label: str, where: str, patch: dict[str, dict[str, object]]
) -> None:
    """A write that goes through openpyxl (it creates a tab) still refuses."""
    path = chart_and_image_file(tmp_path / "c.xlsx")
    patch_zip(path, **patch)  # type: ignore[arg-type]
    before = path.read_bytes()

    with pytest.raises(UnsupportedContentError) as err:
        XlsxWorkbook(path).write(needing_openpyxl(status_update({"A-1": "OK"})))

    message = str(err.value)
    assert label in message and "Nothing was written" in message
    assert "Move these objects to another file" in message and "Google Sheets backend" in message
    if where:
        assert f"on {where}" in message
    assert path.read_bytes() == before
    assert temps(tmp_path) == []


@pytest.mark.parametrize(
    "patch",
    [
        {"edits": {"xl/drawings/drawing1.xml": _add_before_end(b"wsDr", SHAPE)}},
        {"edits": {"xl/charts/chart1.xml": _chart_style_after_root}},
        {"edits": {"xl/worksheets/sheet2.xml": _add_before_end(b"worksheet", SPARKLINES)}},
        {"add": {"xl/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0OLE"}},
    ],
    ids=["shape", "chart-extension", "sparklines", "embedded-object"],
)
def test_a_write_in_place_keeps_what_openpyxl_cannot(
    tmp_path: Path, patch: dict[str, dict[str, object]]
) -> None:
    """Writing cells edits only the sheet that gets them: every other part of the
    file, charts and extensions other programs wrote included, stays byte for byte."""
    path = chart_and_image_file(tmp_path / "c.xlsx")
    patch_zip(path, **patch)  # type: ignore[arg-type]
    before = zip_parts(path)

    XlsxWorkbook(path).write(status_update({"A-1": "OK"}))

    after = zip_parts(path)
    assert list(after) == list(before)  # same parts, same order
    changed = {n for n in before if after[n] != before[n]}
    # the sheet, and workbook.xml only if it did not yet ask Excel to recalculate on opening
    assert changed == {"xl/worksheets/sheet2.xml"}
    sheet_before, sheet_after = (
        before["xl/worksheets/sheet2.xml"],
        after["xl/worksheets/sheet2.xml"],
    )
    data = re.compile(rb"<sheetData>.*</sheetData>", re.S)
    assert data.sub(b"", sheet_before).replace(b"A1:B2", b"A1:C2") == data.sub(b"", sheet_after)
    assert XlsxWorkbook(path).read(["Stock"])["Stock"].rows == [
        ["SKU", "On hand", "Stock status"],
        ["A-1", 1, "OK"],
    ]


@pytest.mark.parametrize(
    "patch",
    [
        {"edits": {"xl/drawings/drawing1.xml": _add_before_end(b"wsDr", SHAPE)}},
        {"edits": {"xl/charts/chart1.xml": _chart_style_after_root}},
        {"edits": {"xl/worksheets/sheet1.xml": _add_before_end(b"worksheet", SPARKLINES)}},
    ],
    ids=["shape", "chart-extension", "sparklines"],
)
def test_what_is_on_a_service_tab_never_stops_a_write(
    tmp_path: Path, patch: dict[str, dict[str, object]]
) -> None:
    """Issue 24: the service owns its tabs wholly, so what another program added to
    them (our chart re-saved by Excel, a shape) is the service's to redraw."""
    path = chart_and_image_file(tmp_path / "c.xlsx", chart_tab="Weekly summary")
    patch_zip(path, **patch)  # type: ignore[arg-type]
    wb = XlsxWorkbook(path)
    assert "weekly summary" in wb.service_tabs  # by default, the standard titles

    wb.write(needing_openpyxl(status_update({"A-1": "OK"})))

    assert wb.read(["Stock"])["Stock"].rows[1] == ["A-1", 1, "OK"]
    book = load_workbook(path)
    assert len(book["Weekly summary"]._charts) == 1 and len(book["Stock"]._images) == 1
    # the same tab under a title the config gives it is the service's too
    renamed = chart_and_image_file(tmp_path / "r.xlsx", chart_tab="Weekly figures")
    patch_zip(renamed, **patch)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedContentError):
        XlsxWorkbook(renamed).write(needing_openpyxl(status_update({"A-1": "OK"})))
    wb = XlsxWorkbook(renamed, service_tabs=["Weekly figures"])
    wb.write(needing_openpyxl(status_update({"A-1": "OK"})))


X14 = b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"'
XM = b'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"'
DATA_BAR_ID = b"{AAAAAAAA-0000-0000-0000-000000000001}"
DATA_BAR = (  # how Excel stores a data bar: a plain rule linked to its extension
    b'<conditionalFormatting sqref="B2:B3"><cfRule type="dataBar" priority="1"><dataBar>'
    b'<cfvo type="min"/><cfvo type="max"/><color rgb="FF638EC6"/></dataBar>'
    b'<extLst><ext uri="{B025F937-C7B1-47D3-B67F-A62EFF666E3E}" ' + X14 + b">"
    b"<x14:id>" + DATA_BAR_ID + b"</x14:id></ext></extLst></cfRule></conditionalFormatting>"
)


def x14_rules(*rules: bytes) -> bytes:
    return (
        b'<extLst><ext uri="{78C0D931-6437-407d-A8EE-F0AAD7539E65}" ' + X14 + b">"
        b"<x14:conditionalFormattings>" + b"".join(rules) + b"</x14:conditionalFormattings>"
        b"</ext></extLst>"
    )


X14_DATA_BAR = (
    b"<x14:conditionalFormatting " + XM + b'><x14:cfRule type="dataBar" id="' + DATA_BAR_ID + b'">'
    b'<x14:dataBar minLength="0" maxLength="100">'
    b'<x14:cfvo type="autoMin"/><x14:cfvo type="autoMax"/>'
    b"</x14:dataBar></x14:cfRule><xm:sqref>B2:B3</xm:sqref></x14:conditionalFormatting>"
)
X14_ONLY_RULE = (  # Excel keeps a rule that refers to another tab only as an extension
    b"<x14:conditionalFormatting " + XM + b'><x14:cfRule type="expression" priority="2" '
    b'id="{BBBBBBBB-0000-0000-0000-000000000002}"><xm:f>B2&gt;Suppliers!$B$2</xm:f>'
    b"</x14:cfRule><xm:sqref>B2:B3</xm:sqref></x14:conditionalFormatting>"
)


@pytest.mark.parametrize("refused", [False, True], ids=["data-bar-kept", "extension-only-rule"])
def test_conditional_formatting_extensions(tmp_path: Path, refused: bool) -> None:
    path = stock_file(tmp_path / "s.xlsx")
    ext = x14_rules(X14_DATA_BAR, X14_ONLY_RULE) if refused else x14_rules(X14_DATA_BAR)

    def add_rules(xml: bytes) -> bytes:
        xml = xml.replace(b"<pageMargins", DATA_BAR + b"<pageMargins")
        return xml.replace(b"</worksheet>", ext + b"</worksheet>")

    patch_zip(path, {"xl/worksheets/sheet1.xml": add_rules})
    wb = XlsxWorkbook(path)
    if refused:  # by a write through openpyxl; one in place keeps the rule as it is
        with pytest.raises(UnsupportedContentError, match=r"1 × conditional formatting rule"):
            wb.write(needing_openpyxl(status_update({"A-1": "OK"})))
        wb.write(status_update({"A-1": "OK"}))
        assert X14_ONLY_RULE in sheet_xml(path).encode()
    else:
        wb.write(needing_openpyxl(status_update({"A-1": "OK"})))
        rules = load_workbook(path)["Stock"].conditional_formatting
        assert [r.type for cf in rules for r in cf.rules] == ["dataBar"]


X14_VALIDATION = (
    b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
    b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    b'<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    b'<x14:dataValidation type="list" allowBlank="1" showInputMessage="1" showErrorMessage="1">'
    b"<x14:formula1><xm:f>Suppliers!$A$2:$A$9</xm:f></x14:formula1><xm:sqref>C2:C100</xm:sqref>"
    b"</x14:dataValidation></x14:dataValidations></ext></extLst>"
)


def test_drop_down_lists_from_another_tab_are_kept(tmp_path: Path) -> None:
    """Excel stores them as an extension openpyxl drops; the backend converts them."""
    path = build(
        tmp_path / "v.xlsx",
        {
            "Stock": [["SKU", "On hand", "Supplier"], ["A-1", 1, "Acme"]],
            "Suppliers": [["Supplier"], ["Acme"]],
        },
    )
    patch_zip(path, {"xl/worksheets/sheet1.xml": _add_before_end(b"worksheet", X14_VALIDATION)})

    XlsxWorkbook(path).write(status_update({"A-1": "OK"}))
    assert X14_VALIDATION in sheet_xml(path).encode()  # in place: kept as Excel wrote it
    XlsxWorkbook(path).write(needing_openpyxl(status_update({"A-1": "OK"})))

    (dv,) = load_workbook(path)["Stock"].data_validations.dataValidation
    assert (dv.type, dv.formula1, str(dv.sqref)) == ("list", "Suppliers!$A$2:$A$9", "C2:C100")
    assert dv.allow_blank and dv.showErrorMessage


# ---------------------------------------------------------------- the team's formatting


def team_file(path: Path) -> Path:
    """A formatted team workbook: styles, formats, widths, formulas, rules, names, panes."""
    book = OpenpyxlBook()
    ws = book.active
    ws.title = "Stock"
    ws.append(["SKU", "Product", "On hand", "Unit cost", "Counted on", "Stock value", "Active"])
    for i in range(2, 7):
        ws.append(
            [f"S-{i}", f"Item {i}", i * 3, 1.25 * i, datetime(2026, 11, i), f"=C{i}*D{i}", "Yes"]
        )
        ws.cell(i, 4).number_format = "£#,##0.00"
        ws.cell(i, 5).number_format = "dd/mm/yyyy"
    thin = Side(style="thin", color="FF999999")
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFFFF", name="Calibri", size=12)
        cell.fill = PatternFill("solid", fgColor="FF1F4E78")
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
        cell.border = Border(bottom=thin)
    for cell in ws[4]:
        cell.fill = PatternFill("solid", fgColor="FFFFFF00")  # someone highlighted a row
    ws.column_dimensions["B"].width = 30
    ws.column_dimensions["G"].width = 11
    ws.freeze_panes = "B2"
    dv = DataValidation(type="list", formula1='"Yes,No"', allow_blank=True)
    dv.add("G2:G100")
    ws.add_data_validation(dv)
    ws.conditional_formatting.add(
        "C2:C100",
        CellIsRule(
            operator="lessThan", formula=["5"], fill=PatternFill("solid", fgColor="FFFFC7CE")
        ),
    )
    book.defined_names["StockValue"] = DefinedName("StockValue", attr_text="Stock!$F$2:$F$6")
    notes = book.create_sheet("Notes")
    notes["A1"] = "Total value"
    notes["B1"] = "=SUM(StockValue)"
    notes.merge_cells("A3:C3")
    notes["A3"] = "Merged note"
    book.save(path)
    return path


def cell_facts(path: Path) -> dict[tuple[str, str], tuple[object, ...]]:
    """Every cell's value and style (copies: openpyxl's style proxies do not compare)."""
    book = load_workbook(path)
    return {
        (ws.title, c.coordinate): (
            c.value,
            c.data_type,
            c.number_format,
            *(copy(s) for s in (c.font, c.fill, c.border, c.alignment, c.protection)),
        )
        for ws in book.worksheets
        for row in ws.iter_rows()
        for c in row
    }


def test_team_cells_formats_and_rules_survive_a_write(tmp_path: Path) -> None:
    path = team_file(tmp_path / "team.xlsx")
    before = cell_facts(path)
    changes = ChangeSet()
    changes.declare("Stock", ["SKU", "Stock status", "Why", "Checked at"], ["SKU"])
    for i in (2, 4, 6):
        changes.updates.append(
            Update(
                "Stock",
                {"SKU": f"S-{i}"},
                {"Stock status": "OK", "Why": "enough", "Checked at": datetime(2026, 11, 23, 9)},
            )
        )

    XlsxWorkbook(path).write(changes)

    after = cell_facts(path)
    changed = {key for key, facts in before.items() if after.get(key) != facts}
    assert changed == set()  # every team cell: value/formula, format, font, fill, border...
    book = load_workbook(path)
    ws = book["Stock"]
    assert ws["F2"].value == "=C2*D2" and book["Notes"]["B1"].value == "=SUM(StockValue)"
    assert ws.column_dimensions["B"].width == 30 and ws.freeze_panes == "B2"
    assert [str(dv.sqref) for dv in ws.data_validations.dataValidation] == ["G2:G100"]
    assert [str(cf.sqref) for cf in ws.conditional_formatting] == ["C2:C100"]
    assert book.defined_names["StockValue"].attr_text == "Stock!$F$2:$F$6"
    assert [str(r) for r in book["Notes"].merged_cells.ranges] == ["A3:C3"]
    assert book.sheetnames == ["Stock", "Notes"]
    # new service headers look like the team's last header, and sit after it
    assert [c.value for c in ws[1]][7:] == ["Stock status", "Why", "Checked at"]
    for col in ("H", "I", "J"):
        assert copy(ws[f"{col}1"].font) == copy(ws["G1"].font)
        assert copy(ws[f"{col}1"].fill) == copy(ws["G1"].fill)
        assert ws.column_dimensions[col].width == 11
    assert (
        ws["H2"].value == "OK"
        and ws["H3"].value is None
        and ws["J6"].value == datetime(2026, 11, 23, 9)
    )


def test_a_merged_cell_in_a_service_column_is_skipped_and_reported_not_fatal(
    tmp_path: Path,
) -> None:
    from openpyxl import Workbook as Book
    from openpyxl import load_workbook

    from ops_sheets.sheet.workbook.base import ChangeSet, Update
    from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

    path = tmp_path / "m.xlsx"
    book = Book()
    ws = book.active
    ws.title = "Stock"
    for row in (["SKU", "On hand", "Why"], ["A", 1, None], ["B", 2, None], ["C", 3, None]):
        ws.append(row)
    ws.merge_cells("C3:C4")  # a person merged B's and C's Why cells
    book.save(path)
    changes = ChangeSet()
    changes.declare("Stock", ["Why"], ["SKU"])
    for sku in "ABC":
        changes.updates.append(Update("Stock", {"SKU": sku}, {"Why": f"why {sku}"}))
    report = XlsxWorkbook(path).write(changes)
    assert [(s.tab, s.key) for s in report.skipped] == [("Stock", "C4")]
    assert "merged" in report.skipped[0].reason
    values = [[c.value for c in r] for r in load_workbook(path)["Stock"].iter_rows()]
    assert [r[2] for r in values[1:]] == ["why A", "why B", None]


# ---------------------------------------------------------------- written in place


def mixed_changes() -> ChangeSet:
    """Updates, appends and a new column with every kind of value a job writes."""
    changes = ChangeSet()
    changes.declare("Stock", ["SKU", "Stock status", "Checked at", "Why", "Days"], ["SKU"])
    values: list[dict[str, object]] = [
        {"Stock status": "OK", "Checked at": datetime(2026, 11, 23, 9, 30), "Days": 2.5},
        {"Stock status": "=not a formula", "Why": "-2 below", "Days": None},
        {"Stock status": True, "Checked at": date(2026, 11, 24), "Why": "x" * 40000},
    ]
    for i, vals in zip((2, 4, 6), values, strict=True):
        changes.updates.append(Update("Stock", {"SKU": f"S-{i}"}, vals))
    changes.appends.append(Append("Stock", {"SKU": "S-9", "Days": 7, "Why": "new\nline"}))
    changes.updates.append(Update("Stock", {"SKU": "S-3"}, {"Product": "", "Why": ""}))
    return changes


def blanks_untyped(facts: dict[tuple[str, str], tuple[object, ...]]) -> dict[object, object]:
    return {k: (f[0], None if f[0] is None else f[1], *f[2:]) for k, f in facts.items()}


def test_in_place_and_openpyxl_writes_give_the_same_workbook(tmp_path: Path) -> None:
    """The in-place writer is an optimisation: what a person sees is the same."""
    in_place = team_file(tmp_path / "a.xlsx")
    whole = team_file(tmp_path / "b.xlsx")
    openpyxl_wb = XlsxWorkbook(whole)
    openpyxl_wb.whole_file_writes = True

    reports = [XlsxWorkbook(in_place).write(mixed_changes()), openpyxl_wb.write(mixed_changes())]

    assert reports[0] == reports[1]
    assert XlsxWorkbook(in_place).read(["Stock", "Notes"]) == openpyxl_wb.read(["Stock", "Notes"])
    # values, formats, fonts, fills... (a blank's type is the writer's business)
    assert blanks_untyped(cell_facts(in_place)) == blanks_untyped(cell_facts(whole))
    assert load_workbook(in_place)["Stock"]["B3"].value is None  # "" is a blank cell
    a, b = load_workbook(in_place)["Stock"], load_workbook(whole)["Stock"]
    widths = {k: d.width for k, d in a.column_dimensions.items() if d.customWidth}
    assert widths == {k: d.width for k, d in b.column_dimensions.items() if d.customWidth}
    assert a.freeze_panes == b.freeze_panes == "B2"
    assert "<f>" not in sheet_xml(in_place).split("<sheetData>")[1].split("F2")[0]


def test_keys_of_every_type_are_found_in_place(tmp_path: Path) -> None:
    path = build(
        tmp_path / "k.xlsx",
        {
            "Log": [
                ["Day", "Code", "Flag", "Result"],
                [date(2026, 11, 23), 123, True, None],
                [datetime(2026, 11, 24, 8, 15), 4.5, False, None],
            ]
        },
    )
    book = load_workbook(path)
    book["Log"]["A2"].number_format = "dd/mm/yyyy"
    book.save(path)
    changes = ChangeSet()
    changes.declare("Log", ["Result"], ["Day", "Code", "Flag"])
    changes.updates.append(
        Update("Log", {"Day": "2026-11-23", "Code": "123", "Flag": "TRUE"}, {"Result": "a"})
    )
    changes.updates.append(
        Update("Log", {"Day": "2026-11-24 08:15:00", "Code": "4.5", "Flag": "FALSE"}, {"Result": 1})
    )

    report = XlsxWorkbook(path).write(changes)

    assert report.skipped == []
    rows = XlsxWorkbook(path).read(["Log"])["Log"].rows
    assert [r[3] for r in rows[1:]] == ["a", 1]


def test_a_write_over_a_formula_drops_the_calculation_chain(tmp_path: Path) -> None:
    """Excel repairs a file whose calculation chain names a cell without a formula."""
    path = build(tmp_path / "f.xlsx", {"Stock": [["SKU", "Stock status"], ["A-1", "=1+1"]]})
    rel = (
        b'<Relationship Id="rIdCalc" Target="calcChain.xml" Type="http://schemas.openxmlformats.'
        b'org/officeDocument/2006/relationships/calcChain"/>'
    )
    override = (
        b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.calcChain+xml"/>'
    )
    patch_zip(
        path,
        {
            "xl/_rels/workbook.xml.rels": _add_before_end(b"Relationships", rel),
            "[Content_Types].xml": _add_before_end(b"Types", override),
        },
        add={
            "xl/calcChain.xml": b'<calcChain xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><c r="B2" i="1"/></calcChain>'
        },
    )

    XlsxWorkbook(path).write(status_update({"A-1": "OK"}))

    parts = zip_parts(path)
    assert "xl/calcChain.xml" not in parts
    assert b"calcChain" not in parts["xl/_rels/workbook.xml.rels"]
    assert b"calcChain" not in parts["[Content_Types].xml"]
    assert XlsxWorkbook(path).read(["Stock"])["Stock"].rows[1] == ["A-1", "OK"]


def test_a_write_over_a_shared_formula_goes_through_openpyxl(tmp_path: Path) -> None:
    """Other cells take their formula from a shared formula's first cell: openpyxl
    writes them out one by one, so that write is left to it."""
    path = build(
        tmp_path / "s.xlsx", {"Stock": [["SKU", "N", "Stock status"], ["A-1", 1], ["B-2", 2]]}
    )

    def shared(xml: bytes) -> bytes:
        xml = xml.replace(
            b'<c r="B2" t="n"><v>1</v></c>',
            b'<c r="B2" t="n"><v>1</v></c>'
            b'<c r="C2"><f t="shared" ref="C2:C3" si="0">B2*2</f><v>2</v></c>',
        )
        return xml.replace(
            b'<c r="B3" t="n"><v>2</v></c>',
            b'<c r="B3" t="n"><v>2</v></c><c r="C3"><f t="shared" si="0"/><v>4</v></c>',
        )

    patch_zip(path, {"xl/worksheets/sheet1.xml": shared})
    assert 'ref="C2:C3"' in sheet_xml(path)

    XlsxWorkbook(path).write(status_update({"A-1": "OK"}))

    ws = load_workbook(path)["Stock"]
    assert (ws["C2"].value, ws["C3"].value) == ("OK", "=B3*2")


def test_dates_in_a_workbook_counting_from_1904(tmp_path: Path) -> None:
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    path = tmp_path / "mac.xlsx"
    book = OpenpyxlBook()
    book.epoch = CALENDAR_MAC_1904
    ws = book.active
    ws.title = "Stock"
    ws.append(["SKU", "Counted"])
    ws.append(["A-1", date(2026, 11, 20)])
    ws["B2"].number_format = "yyyy-mm-dd"
    book.save(path)
    changes = ChangeSet()
    changes.declare("Stock", ["Checked at"], ["SKU"])
    changes.updates.append(
        Update("Stock", {"SKU": "A-1"}, {"Checked at": datetime(2026, 11, 23, 9)})
    )

    XlsxWorkbook(path).write(changes)

    assert XlsxWorkbook(path).read(["Stock"])["Stock"].rows[1] == [
        "A-1",
        date(2026, 11, 20),
        datetime(2026, 11, 23, 9),
    ]


def weekly_changes(*titles: str) -> ChangeSet:
    changes = ChangeSet()
    changes.declare("Weekly summary", ["Week", "Orders"], ["Week"])
    changes.updates.append(Update("Weekly summary", {"Week": "2026-W45"}, {"Orders": 50}))
    for title in titles:
        changes.charts.append(
            ChartSpec("Weekly summary", title, "bar", "Week", ("Orders",), anchor="F2")
        )
    return changes


def test_a_chart_is_drawn_in_place_on_a_tab_without_one(tmp_path: Path) -> None:
    path = build(
        tmp_path / "w.xlsx",
        {
            "Stock": [["SKU"], ["A-1"]],
            "Weekly summary": [["Week", "Orders"], ["2026-W44", 40], ["2026-W45", 45]],
        },
    )
    before = zip_parts(path)

    XlsxWorkbook(path).write(weekly_changes("Orders by week"))

    after = zip_parts(path)
    assert {n for n in after if n not in before} == {
        "xl/drawings/drawing1.xml",
        "xl/drawings/_rels/drawing1.xml.rels",
        "xl/charts/chart1.xml",
        "xl/worksheets/_rels/sheet2.xml.rels",
    }
    assert after["xl/worksheets/sheet1.xml"] == before["xl/worksheets/sheet1.xml"]
    (chart,) = load_workbook(path)["Weekly summary"]._charts
    assert chart.title.tx.rich.p[0].r[0].t == "Orders by week"
    assert [s.val.numRef.f for s in chart.series] == ["'Weekly summary'!$B$2:$B$3"]
    assert XlsxWorkbook(path).read(["Weekly summary"])["Weekly summary"].rows[2] == [
        "2026-W45",
        50,
    ]


def test_redrawing_in_place_keeps_the_tabs_other_drawings_byte_for_byte(tmp_path: Path) -> None:
    """Our chart of a title is replaced; a chart of another title and a picture stay
    exactly as they were, and nothing is left behind of the chart replaced."""
    path = chart_and_image_file(tmp_path / "c.xlsx", chart_tab="Weekly summary")
    XlsxWorkbook(path).write(weekly_changes("Orders"))  # ours, next to the untitled one
    assert sorted(_titles(path)) == ["", "Orders"]
    before = zip_parts(path)

    XlsxWorkbook(path).write(weekly_changes("Orders"))

    after = zip_parts(path)
    assert sorted(_titles(path)) == ["", "Orders"]
    assert [n for n in after if n.startswith("xl/charts/")] == [
        n for n in before if n.startswith("xl/charts/")
    ]
    untitled = next(
        n for n in before if n.startswith("xl/charts/") and b"Orders</" not in before[n]
    )
    assert after[untitled] == before[untitled]
    assert [n for n in before if n.startswith("xl/media/")] == [
        n for n in after if n.startswith("xl/media/")
    ]
    assert all(after[n] == before[n] for n in before if n.startswith("xl/media/"))
    types = after["[Content_Types].xml"]
    assert all(f"/{n}".encode() in types for n in after if n.startswith("xl/charts/"))


def _titles(path: Path) -> list[str]:
    from ops_sheets.sheet.workbook.xlsx import _chart_title

    return [_chart_title(c) for c in load_workbook(path)["Weekly summary"]._charts]


@pytest.mark.parametrize(
    ("xml", "why"),
    [(b"<a><b></a>", "mismatched tag"), (b"<x:a/>", "unbound prefix"), (b"<a>", "no element")],
)
def test_an_in_place_part_that_is_not_well_formed_never_reaches_the_file(
    xml: bytes, why: str
) -> None:
    from ops_sheets.sheet.workbook.xlsx_parts import InPlaceUnsupported, _check_well_formed

    with pytest.raises(InPlaceUnsupported, match=why):
        _check_well_formed("xl/worksheets/sheet1.xml", xml)
