"""Every job, end to end, on both real backends: xlsx files and Google Sheets
through real gspread over HTTP to the local Sheets API emulator.

A new job joins this suite by existing: the tests run every job that
``run all`` runs, on the demo shop, and require that

- both backends end with the same service values, problems and emails;
- on Google, a steady-state run costs at most 2 reads and 2 writes, the same
  for a small and a large sheet;
- a second run on the same day sends nothing new.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from backends import Harness, google_harness, xlsx_harness

from ops_sheets.config import Settings
from ops_sheets.service.demo import DEMO_NOW
from ops_sheets.service.demo_data import build_demo_workbook
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import jobs_for, parse_tables, run_job
from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

#: in the order `run all` runs them (monitor and weekly, which report on the rest, last)
JOBS = [j for j in jobs_for(["all"], Settings()) if j != "check"] or ["check"]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "workbook.xlsx"
    build_demo_workbook(path, DEMO_NOW)
    return path


def demo_grids(path: Path) -> dict[str, list[list[Any]]]:
    wb = XlsxWorkbook(path)
    return {t: g.rows for t, g in wb.read(wb.tab_titles()).items()}


def make(kind: str, directory: Path, demo_file: Path, emulator: Any) -> Harness:
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "xlsx":
        harness = xlsx_harness(directory)
        shutil.copy(demo_file, directory / "workbook.xlsx")
    else:
        harness = google_harness(directory, emulator)
        harness.seed(demo_grids(demo_file))
    init_workbook(harness.settings)
    return harness


def outcome(harness: Harness) -> dict[str, Any]:
    """What a person would compare: service columns by key, problems, emails."""
    wb = harness.open()
    titles = [TAB_SPECS[k].title for k in TAB_SPECS]
    grids = wb.read(titles)
    tables = parse_tables(grids, list(TAB_SPECS), harness.settings)
    result: dict[str, Any] = {}
    for key in TEAM_TABS:
        table = tables[key]
        service = [c.key for c in table.spec.service_columns]
        if not service or table.frame.empty:
            continue
        frame = table.frame[table.frame["_key_ok"]]
        keys = list(table.spec.key_columns)
        result[key] = {
            tuple(str(row[k]) for k in keys): tuple(_plain(row[c]) for c in service)
            for _, row in frame.iterrows()
        }
    problems = tables["problems"].frame
    result["problems"] = sorted(
        (str(r["tab"]), str(r["row"]), str(r["column"]), str(r["problem"]))
        for _, r in problems.iterrows()
    )
    outbox = harness.settings.resolve(harness.settings.mail.outbox_dir)
    result["emails"] = sorted(p.name for p in outbox.glob("*.eml"))
    return result


def _plain(value: Any) -> Any:
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return str(value)


def run_all(harness: Harness, now: datetime) -> None:
    for job in JOBS:
        run_job(job, harness.settings, now)


def test_every_job_gives_the_same_results_on_xlsx_and_google(
    tmp_path: Path, demo_file: Path, sheets_emulator: Any
) -> None:
    xlsx = make("xlsx", tmp_path / "xlsx", demo_file, sheets_emulator)
    google = make("google", tmp_path / "google", demo_file, sheets_emulator)
    run_all(xlsx, DEMO_NOW)
    run_all(google, DEMO_NOW)
    a, b = outcome(xlsx), outcome(google)
    assert a.keys() == b.keys()
    for part in a:
        assert a[part] == b[part], f"{part} differs between xlsx and google"
    assert a["emails"], "the demo should send emails"


@pytest.mark.parametrize("job", JOBS)
def test_steady_state_run_costs_at_most_two_reads_and_two_writes_whatever_the_size(
    job: str, tmp_path: Path, demo_file: Path, sheets_emulator: Any
) -> None:
    google = make("google", tmp_path / "g", demo_file, sheets_emulator)
    run_all(google, DEMO_NOW)  # tabs, columns and first emails exist now
    google.reset_requests()
    run_job(job, google.settings, DEMO_NOW)
    reads, writes = google.requests() or (0, 0)
    assert reads <= 2 and writes <= 2, (job, reads, writes)


@pytest.mark.parametrize("kind", ["xlsx", "google"])
def test_a_second_run_on_the_same_day_sends_nothing_new(
    kind: str, tmp_path: Path, demo_file: Path, sheets_emulator: Any
) -> None:
    harness = make(kind, tmp_path / kind, demo_file, sheets_emulator)
    run_all(harness, DEMO_NOW)
    first = outcome(harness), harness.values("Purchase orders"), harness.values("Returns")
    run_all(harness, DEMO_NOW)
    second = outcome(harness), harness.values("Purchase orders"), harness.values("Returns")
    assert second[0]["emails"] == first[0]["emails"]
    assert len(second[1]) == len(first[1]), "purchase order lines were appended twice"
    assert [r[0] for r in second[2]] == [r[0] for r in first[2]], "RMA numbers changed"


@pytest.mark.parametrize("kind", ["xlsx", "google"])
def test_values_land_by_key_when_people_sort_insert_and_delete_rows_mid_run(
    kind: str, tmp_path: Path, demo_file: Path, sheets_emulator: Any
) -> None:
    """The orders job writes Ship by / Ops status on every line: while it runs, a
    person sorts the Orders tab, inserts a line and deletes two. Every value must
    land on the row with its key, and no team cell may change."""
    calm = make(kind, tmp_path / "calm", demo_file, sheets_emulator)
    busy = make(kind, tmp_path / "busy", demo_file, sheets_emulator)
    run_job("orders", calm.settings, DEMO_NOW)

    after_edit: list[list[Any]] = []

    def people(rows: list[list[Any]]) -> list[list[Any]]:
        header, *body = rows
        body.sort(key=lambda r: str(r[2] or ""), reverse=True)  # by customer, Z→A
        body.insert(1, ["SO-NEW", "2026-11-23 08:30", "New Person", "new@example.com"])
        del body[10:12]
        after_edit[:] = [header, *body]
        return [header, *body]

    busy.reset_requests()
    busy.edit_before_write("Orders", people)
    run_job("orders", busy.settings, DEMO_NOW, workbook=busy.open())
    assert after_edit, "the edit did not happen between the read and the write"

    # the demo's team columns (the optional wave-2 ones are not in it)
    team = sum(1 for c in TAB_SPECS["orders"].columns if c.owner == "team" and not c.optional)
    final = busy.values("Orders")
    assert [_cells(r, team) for r in final] == [_cells(r, team) for r in after_edit]

    expected = outcome(calm)["orders"]
    got = outcome(busy)["orders"]
    deleted = set(expected) - set(got)
    assert len(deleted) <= 2
    for key, values in got.items():
        if key[0] == "SO-NEW":
            assert all(v in (None, "") for v in values)  # not read, so not written
        else:
            assert values == expected[key], key


def _cells(row: list[Any], width: int) -> list[Any]:
    """The first ``width`` cells as a person sees them: blank is blank, dates by value."""
    out = []
    for v in (list(row) + [None] * width)[:width]:
        if v in (None, ""):
            out.append(None)
        elif isinstance(v, datetime):
            out.append(v.replace(tzinfo=None))
        else:
            out.append(v)
    return out
