"""The team saves the workbook in LibreOffice or Excel, and the service keeps working (issue 24).

Two kinds of real files, no hand-made imitations:

* the demo workbook converted by LibreOffice itself (``soffice --headless``), which
  rewrites every part the way LibreOffice saves it, charts included;
* files Excel made, from public test suites (``tests/data/excel/README.md`` says
  where each comes from and under which licence).

Each write must leave the team's tabs as they were (values, number formats, data
validation, conditional formatting, column widths, frozen panes, filters), and what
lives on a service tab (our own chart, re-saved by another program) never stops it.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ops_sheets.config import load_settings
from ops_sheets.errors import UnsupportedContentError
from ops_sheets.service.cli import main as cli_main
from ops_sheets.service.demo import DEMO_NOW, run_demo
from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS, WEEKLY_SUMMARY
from ops_sheets.sheet.workbook import open_workbook
from ops_sheets.sheet.workbook.base import Append, ChangeSet, ChartSpec, Update, normalise_header
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook, _chart_title

EXCEL_FILES = Path(__file__).parent / "data" / "excel"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
#: a cold LibreOffice start creates its profile first; a busy CI machine is slow
SOFFICE_TIMEOUT = 240


# ---------------------------------------------------------------- what a team would compare


def tab_facts(ws: Any, book: Any, value_columns: set[int] | None) -> dict[str, Any]:
    """Everything of one tab a person would miss if it changed, in comparable form.

    ``value_columns``: the columns whose values must stay (None: all of them); the
    service writes its own columns, so their values may change, their formats not.
    """
    values: dict[str, object] = {}
    formats: dict[str, str] = {}
    notes: dict[str, str] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.comment is not None:
                notes[cell.coordinate] = cell.comment.text
            if cell.value is not None and (value_columns is None or cell.column in value_columns):
                values[cell.coordinate] = cell.value
            if cell.number_format != "General" and (
                value_columns is None or cell.column in value_columns
            ):
                formats[cell.coordinate] = cell.number_format
    differential = list(book._differential_styles.dxf)
    rules = []
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            dxf = differential[rule.dxfId] if rule.dxfId is not None else None
            rules.append(
                (
                    str(cf.sqref),
                    rule.type,
                    rule.operator,
                    tuple(rule.formula or ()),
                    rule.text,
                    repr(dxf),
                    repr(rule.colorScale),
                    repr(rule.dataBar),
                    repr(rule.iconSet),
                )
            )
    validations = [
        (
            str(dv.sqref),
            dv.type,
            dv.operator,
            dv.formula1,
            dv.formula2,
            bool(dv.allow_blank),
            bool(dv.showErrorMessage),
            dv.error,
            dv.prompt,
        )
        for dv in ws.data_validations.dataValidation
    ]
    widths = {
        key: (dim.min, dim.max, dim.width, bool(dim.hidden))
        for key, dim in ws.column_dimensions.items()
        if (dim.customWidth or dim.hidden)
        and (value_columns is None or (dim.min or 0) in value_columns)
    }
    return {
        "values": values,
        "number formats": formats,
        "validations": sorted(validations),
        "conditional formats": sorted(rules),
        "column widths": widths,
        "freeze panes": ws.freeze_panes,
        "filter": (ws.auto_filter.ref, repr(ws.auto_filter.filterColumn)),
        "merged": sorted(str(r) for r in ws.merged_cells.ranges),
        "notes": notes,
        "tables": sorted((t.name, t.ref) for t in ws.tables.values()),
    }


def load(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # extensions openpyxl does not read
        return load_workbook(path)


def team_facts(path: Path) -> dict[str, dict[str, Any]]:
    """The demo's team tabs: values of the team's columns, and every tab-wide fact."""
    book = load(path)
    out: dict[str, dict[str, Any]] = {}
    for key in TEAM_TABS:
        spec = TAB_SPECS[key]
        ws = book[spec.title]
        service = {normalise_header(c.header) for c in spec.service_columns}
        team_columns = {
            cell.column for cell in ws[1] if normalise_header(cell.value) not in service
        }
        out[spec.title] = tab_facts(ws, book, team_columns)
    return out


def service_touches(path: Path) -> dict[str, object]:
    """What the service adds to team tabs: its headers' look, and date formats on its
    cells (compared by kind: LibreOffice may spell a format its own way)."""
    book = load(path)
    out: dict[str, object] = {}
    for key in TEAM_TABS:
        spec = TAB_SPECS[key]
        ws = book[spec.title]
        service = {normalise_header(c.header) for c in spec.service_columns}
        for cell in ws[1]:
            if normalise_header(cell.value) not in service:
                continue
            out[f"{ws.title}!{cell.coordinate}"] = (cell.value, bool(cell.font.b))
            dated = [
                c.coordinate
                for (c,) in ws.iter_rows(min_row=2, min_col=cell.column, max_col=cell.column)
                if c.value is not None and is_date_format(c.number_format)
            ]
            out[f"{ws.title}!{cell.column_letter} dates"] = dated
    return out


def differences(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """Readable differences, so a failure says which tab lost what."""
    out = []
    for tab, facts in before.items():
        for name, value in facts.items():
            if after[tab][name] != value:
                if isinstance(value, dict):
                    changed = sorted(
                        k
                        for k in value.keys() | after[tab][name].keys()
                        if value.get(k) != after[tab][name].get(k)
                    )
                    out.append(f"{tab}: {name} changed at {changed[:8]}")
                else:
                    out.append(f"{tab}: {name} was {value!r}, now {after[tab][name]!r}")
    return out


def chart_titles(path: Path, tab: str) -> list[str]:
    return sorted(_chart_title(c) for c in load(path)[tab]._charts)


# ---------------------------------------------------------------- LibreOffice


def libreoffice_save(path: Path, profile: Path) -> None:
    """Open and save the workbook in LibreOffice ("Keep current format"), as a person would."""
    assert SOFFICE is not None
    out = path.parent / "lo-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    done = subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile.as_uri()}",  # private: parallel runs do not clash
            "--headless",
            "--norestore",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=SOFFICE_TIMEOUT,
        check=False,
    )
    saved = out / path.name
    assert saved.is_file(), f"LibreOffice did not convert {path}: {done.stdout}{done.stderr}"
    assert b"LibreOffice" in _app_of(saved)
    shutil.move(saved, path)
    shutil.rmtree(out)


def _app_of(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read("docProps/app.xml")


def add_team_touches(path: Path) -> None:
    """What a team adds to its tabs: drop-downs, highlights, filters, widths, formats."""
    book = load(path)
    stock = book[TAB_SPECS["stock"].title]
    header = {normalise_header(c.value): c.column for c in stock[1]}
    on_hand = get_column_letter(header["onhand"])
    active = get_column_letter(header["active"])
    cost = get_column_letter(header["unitcost"])
    stock.conditional_formatting.add(
        f"{on_hand}2:{on_hand}500",
        CellIsRule(operator="lessThan", formula=["5"], fill=PatternFill("solid", fgColor="FFC7CE")),
    )
    yes_no = DataValidation(type="list", formula1='"TRUE,FALSE,Yes,No"', allow_blank=True)
    yes_no.add(f"{active}2:{active}500")
    stock.add_data_validation(yes_no)
    for row in range(2, stock.max_row + 1):
        stock[f"{cost}{row}"].number_format = "#,##0.00 [$£-809]"
    stock.column_dimensions[on_hand].width = 14
    orders = book[TAB_SPECS["orders"].title]
    orders.auto_filter.ref = f"A1:{get_column_letter(orders.max_column)}{orders.max_row}"
    orders.conditional_formatting.add(
        f"A2:A{orders.max_row}",
        FormulaRule(formula=['$A2="ORD-0001"'], fill=PatternFill("solid", fgColor="FFFF00")),
    )
    suppliers = book[TAB_SPECS["suppliers"].title]
    positive = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")
    positive.add("D2:D200")
    suppliers.add_data_validation(positive)
    book.save(path)


def run_all(config: Path, hours_after_demo: int) -> int:
    now = DEMO_NOW + timedelta(hours=hours_after_demo)
    return cli_main(["run", "all", "--config", str(config), "--now", now.isoformat()])


@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice (soffice) is not installed; .ci/run installs it"
)
@pytest.mark.timeout(900)
def test_a_workbook_saved_by_libreoffice_keeps_working(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo"
    run_demo(demo)  # every job once, the weekly chart drawn on 'Weekly summary'
    config = demo / "config.toml"
    workbook = load_settings(config).resolve(load_settings(config).workbook.path)
    add_team_touches(workbook)
    profile = tmp_path / "lo-profile"
    weekly = WEEKLY_SUMMARY.title
    drawn = chart_titles(workbook, weekly)
    assert len(drawn) == 2
    libreoffice_save(workbook, profile)
    capsys.readouterr()

    for saved_by_libreoffice, hours in ((True, 1), (False, 2), (True, 3)):
        if saved_by_libreoffice and hours > 1:
            ours = service_touches(workbook)
            assert any(v for k, v in ours.items() if k.endswith(" dates"))
            libreoffice_save(workbook, profile)
            # what the service added to team tabs survives LibreOffice's save
            assert service_touches(workbook) == ours
        before = team_facts(workbook)
        file_before = workbook.read_bytes()
        # the team's touches are in the file, as LibreOffice wrote them
        stock, orders = before["Stock"], before["Orders"]
        assert stock["validations"] and stock["conditional formats"] and stock["number formats"]
        assert orders["filter"][0] and orders["conditional formats"] and stock["column widths"]

        code = run_all(config, hours)

        output = capsys.readouterr()
        assert code in (0, 1), output.out + output.err
        assert "would silently drop" not in output.err
        assert workbook.read_bytes() != file_before, "the run wrote nothing"
        assert differences(before, team_facts(workbook)) == []
        assert chart_titles(workbook, weekly) == drawn  # redrawn, never doubled


# ---------------------------------------------------------------- Excel


def excel_file(name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    shutil.copy(EXCEL_FILES / name, path)
    return path


def service_column_append(path: Path, header: str) -> tuple[ChangeSet, str]:
    """A service column on the Excel file's first tab, and a row appended below its data.

    (An append rather than updates: these small files have no header row, and a
    service column is added after the last header, over cells the team may use.)
    """
    tab = load(path).worksheets[0].title
    changes = ChangeSet()
    changes.declare(tab, [header], [])
    changes.appends.append(Append(tab, {header: "checked"}))
    return changes, tab


def all_facts(path: Path, service_columns: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Every tab of a file except the service's own tab, minus the column it writes."""
    book = load(path)
    out = {}
    for ws in book.worksheets:
        if ws.title == "Weekly summary":
            continue
        columns = set(range(1, 16385)) - {service_columns.get(ws.title, 0)}
        out[ws.title] = tab_facts(ws, book, columns)
    return out


def service_column(path: Path, tab: str, header: str) -> int:
    ws = load(path)[tab]
    return next(c.column for c in ws[1] if c.value == header)


EXCEL_TEAM_FILES = [
    "data_validation02.xlsx",
    "data_validation03.xlsx",
    "cond_format10.xlsx",
    "cond_format17.xlsx",
    "autofilter04.xlsx",
    "panes01.xlsx",
    "set_column09.xlsx",
    "date_examples01.xlsx",
    "table02.xlsx",
    "comment02.xlsx",
    "conditional-formatting.xlsx",
]


@pytest.mark.parametrize("weekly", [False, True], ids=["cells-in-place", "with-weekly-chart"])
@pytest.mark.parametrize("name", EXCEL_TEAM_FILES)
def test_a_team_tab_saved_by_excel_keeps_everything_through_a_write(
    tmp_path: Path, name: str, weekly: bool
) -> None:
    """Both ways a write goes: cells only (edited in place), and with what a weekly
    run adds, a service tab and its chart (through openpyxl)."""
    path = excel_file(name, tmp_path)
    original = excel_file(name, tmp_path / "original")
    changes, tab = service_column_append(path, "Checked by service")
    if weekly:
        changes.declare("Weekly summary", ["Week", "Orders"], ["Week"])
        changes.appends.append(Append("Weekly summary", {"Week": "2026-W47", "Orders": 3}))
        changes.charts.append(ChartSpec("Weekly summary", "Orders", "bar", "Week", ("Orders",)))

    report = XlsxWorkbook(path).write(changes)

    assert report.skipped == []
    ours = {tab: service_column(path, tab, "Checked by service")}
    assert differences(all_facts(original, ours), all_facts(path, ours)) == []
    if weekly:
        assert chart_titles(path, "Weekly summary") == ["Orders"]
    else:  # in place: every part but the sheet that got cells is as Excel wrote it
        before, after = zip_parts(original), zip_parts(path)
        sheet = next(n for n in before if n.startswith("xl/worksheets/") and before[n] != after[n])
        kept = {"xl/styles.xml", "xl/workbook.xml", sheet}
        assert [n for n in before if before[n] != after.get(n) and n not in kept] == []


#: charts made by Excel 2007, and by Excel 2013+ and 2017+ (c15 and c16r3 extensions)
EXCEL_CHART_FILES = ["chart_title02.xlsx", "chart_data_labels51.xlsx", "chart_blank07.xlsx"]


@pytest.mark.parametrize("name", EXCEL_CHART_FILES)
def test_an_excel_chart_on_a_service_tab_never_stops_a_write(tmp_path: Path, name: str) -> None:
    """The tab is the service's (here: a config that gives the Weekly summary the
    Excel file's tab name), so what openpyxl cannot keep of its chart is no reason
    to refuse: the service redraws its own charts there."""
    path = excel_file(name, tmp_path)
    tab = load(path).worksheets[0].title
    charts = chart_titles(path, tab)
    assert charts, "the file should carry Excel's chart"
    changes = ChangeSet()
    changes.declare(tab, ["Week", "Orders"], ["Week"])
    changes.updates.append(Update(tab, {"Week": "2026-W47"}, {"Orders": 3}, upsert=True))

    XlsxWorkbook(path, service_tabs=[tab]).write(changes)

    assert chart_titles(path, tab) == charts


def test_our_chart_re_saved_by_excel_is_replaced(tmp_path: Path) -> None:
    """Excel keeps a chart's title when it re-saves it: the next draw replaces it."""
    path = excel_file("chart_title02.xlsx", tmp_path)
    tab = load(path).worksheets[0].title
    assert chart_titles(path, tab) == ["Title!"]
    changes = ChangeSet()
    changes.declare(tab, ["Week", "Orders"], ["Week"])
    changes.updates.append(Update(tab, {"Week": "2026-W47"}, {"Orders": 3}, upsert=True))
    changes.charts.append(ChartSpec(tab, "Title!", "bar", "Week", ("Orders",)))

    XlsxWorkbook(path, service_tabs=[tab]).write(changes)

    (chart,) = load(path)[tab]._charts
    assert _chart_title(chart) == "Title!"
    week, orders = (service_column(path, tab, h) for h in ("Week", "Orders"))
    letter = get_column_letter(orders)
    assert [s.val.numRef.f for s in chart.series] == [f"'{tab}'!${letter}$2:${letter}$6"]
    assert week == orders - 1


@pytest.mark.parametrize("name", EXCEL_CHART_FILES)
def test_an_excel_chart_on_a_team_tab_is_kept_byte_for_byte(tmp_path: Path, name: str) -> None:
    """A write of cells edits only the sheet that gets them, so a person's own Excel
    chart is kept exactly; a write that needs openpyxl (a new tab) still refuses."""
    path = excel_file(name, tmp_path)
    tab = load(path).worksheets[0].title
    before = zip_parts(path)
    changes = ChangeSet()
    changes.declare(tab, ["Checked"], [str(load(path)[tab]["A1"].value)])
    changes.appends.append(Append(tab, {"Checked": "yes"}))

    XlsxWorkbook(path, service_tabs=["Weekly summary"]).write(changes)

    after = zip_parts(path)
    charts = [n for n in before if n.startswith(("xl/charts/", "xl/drawings/"))]
    assert charts and all(after[n] == before[n] for n in charts)
    kept = path.read_bytes()
    changes.declare("Weekly summary", ["Week"], ["Week"])
    with pytest.raises(UnsupportedContentError, match=rf"would silently drop: chart .* on '{tab}'"):
        XlsxWorkbook(path, service_tabs=["Weekly summary"]).write(changes)
    assert path.read_bytes() == kept


def zip_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_open_workbook_knows_the_service_tabs_by_their_configured_titles(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[workbook]\nbackend = "xlsx"\npath = "w.xlsx"\n'
        '[tabs.weekly_summary]\nname = "Weekly figures"\n',
        encoding="utf-8",
    )
    wb = open_workbook(load_settings(config))
    assert isinstance(wb, XlsxWorkbook)
    assert "weekly figures" in wb.service_tabs and "weekly summary" not in wb.service_tabs
    assert {"problems", "activity log", "daily kpis"} <= wb.service_tabs
