"""A team tab the service cannot read is unknown data, never an empty tab (issue 12,
break 1).

Rename ``Orders`` to ``Orders 2026`` and a job that read it as "no rows" would
rewrite every Stock row to 0/day, write a Weekly summary row of 0 orders and tell
the manager every late line was "resolved". Here, for each team tab: run ``all``
on the demo shop, rename the tab, run ``all`` again at the same ``now``. What the
second run would compute from the tab is unknown, so every value that depends on
it stays as the first run wrote it; values that do not depend on it come out the
same anyway (same data, same ``now``). So the sheet must read the same, apart
from the service's own bookkeeping (Problems, Activity log, mail counts), and the
manager's alert marks nothing resolved.
"""

from __future__ import annotations

import shutil
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from backends import Harness, google_harness, xlsx_harness

from ops_sheets.service.demo import DEMO_NOW
from ops_sheets.service.demo_data import build_demo_workbook
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import JobResult, available_jobs, run_job
from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS
from ops_sheets.store.state import State

JOBS = [j for j in available_jobs() if j != "check"]
#: Columns that count the service's own work (problems listed, emails sent): they
#: change on the second run whatever happened to the team's tabs.
BOOKKEEPING = {
    "Open problems",
    "Emails sent",
    "Emails awaiting review",
    "Open problems change",
    "Emails sent change",
    "Emails awaiting review change",
    # issue 18: emails sent by kind, counted from the ledger as Emails sent is
    *(
        f"{kind} sent{change}"
        for kind in (
            "Shipping confirmations",
            "Delay notices",
            "Review requests",
            "Complaint acknowledgements",
        )
        for change in ("", " change")
    ),
}


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "workbook.xlsx"
    build_demo_workbook(path, DEMO_NOW)
    return path


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, demo_file: Path) -> Path:
    """A folder (workbook, state, outbox) after ``run all`` on the demo shop, made
    once: each test works on its own copy. Run twice, so that the sheet is in its
    steady state (the first run's new PO lines count as on order from the second)."""
    folder = tmp_path_factory.mktemp("first-run")
    harness = xlsx_harness(folder)
    shutil.copy(demo_file, folder / "workbook.xlsx")
    init_workbook(harness.settings)
    run_all(harness)
    run_all(harness)
    return folder


def copy_of(first_run: Path, tmp_path: Path) -> Harness:
    folder = tmp_path / "shop"
    shutil.copytree(first_run, folder)
    return xlsx_harness(folder)


def run_all(harness: Harness) -> list[JobResult]:
    return [run_job(job, harness.settings, DEMO_NOW) for job in JOBS]


def xlsx_sheet(harness: Harness) -> dict[str, list[list[Any]]]:
    book = openpyxl.load_workbook(harness.directory / "workbook.xlsx")
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book}


def comparable(tabs: dict[str, list[list[Any]]], renamed: dict[str, str]) -> dict[str, Any]:
    """Every tab but the service's bookkeeping, under the tab's original title."""
    out: dict[str, Any] = {}
    for title, rows in tabs.items():
        title = renamed.get(title, title)
        # Today mirrors Problems and the findings (a missing tab is a to-do there)
        if title in (
            TAB_SPECS["problems"].title,
            TAB_SPECS["activity_log"].title,
            TAB_SPECS["today"].title,
        ):
            continue
        header = [str(h) if h is not None else "" for h in (rows[0] if rows else [])]
        keep = [i for i, h in enumerate(header) if h not in BOOKKEEPING]
        out[title] = [[blank_is_none(r[i] if i < len(r) else None) for i in keep] for r in rows]
    return out


def blank_is_none(value: Any) -> Any:
    """A blank cell as a person sees it: an empty string and no value look the same
    (which of the two a save leaves depends on the writer, not on the job)."""
    return None if value == "" else value


def outbox(harness: Harness) -> set[str]:
    return {p.name for p in harness.settings.resolve(harness.settings.mail.outbox_dir).iterdir()}


def alert_bodies(harness: Harness, names: set[str]) -> list[str]:
    folder = harness.settings.resolve(harness.settings.mail.outbox_dir)
    bodies = []
    for name in sorted(names):
        msg = BytesParser(policy=policy.default).parsebytes((folder / name).read_bytes())
        bodies.append(msg.get_body(("plain",)).get_content())
    return bodies


def reported(harness: Harness) -> set[str]:
    """Keys of the findings the manager was told about and not told are resolved."""
    state = State(harness.settings.resolve(harness.settings.state.path))
    try:
        return set(state.get("monitor", "reported", {}))
    finally:
        state.close()


@pytest.mark.parametrize("tab", TEAM_TABS)
def test_renaming_a_team_tab_changes_nothing_that_depends_on_it(
    tab: str, tmp_path: Path, first_run: Path
) -> None:
    harness = copy_of(first_run, tmp_path)
    before, sent_before, told = xlsx_sheet(harness), outbox(harness), reported(harness)
    assert told, "the demo's first run should report findings to the manager"

    title = TAB_SPECS[tab].title
    book = openpyxl.load_workbook(harness.directory / "workbook.xlsx")
    book[title].title = f"{title} 2026"
    book.save(harness.directory / "workbook.xlsx")
    results = run_all(harness)
    after = xlsx_sheet(harness)

    # no second, empty tab of the old name; every value as the first run left it
    assert title not in after
    assert comparable(after, {f"{title} 2026": title}) == comparable(before, {})

    # nothing sent that depends on the tab; the alert marks nothing resolved
    new_mail = outbox(harness) - sent_before
    assert all(name.startswith("alert_") for name in new_mail), new_mail
    assert not any("Resolved since the last alert" in b for b in alert_bodies(harness, new_mail))
    assert told <= reported(harness)
    monitor = next(r for r in results if r.job == "monitor")
    assert not [n for n in monitor.notes if "(resolved)" in n]

    # one Problems row names the tab it may be, and does not suggest `init`
    missing = [p for p in results[0].problems if p.tab == title and p.row is None]
    assert len(missing) == 1
    assert f"did you mean '{title} 2026'?" in missing[0].problem
    assert f'[tabs.{tab}] name = "{title} 2026"' in missing[0].fix
    assert "init" not in missing[0].fix


def test_a_renamed_tab_on_google_writes_nothing_that_depends_on_it(
    tmp_path: Path, demo_file: Path, sheets_emulator: Any
) -> None:
    """The same on Google Sheets: the Orders tab renamed between two runs."""
    from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

    harness = google_harness(tmp_path, sheets_emulator)
    demo = XlsxWorkbook(demo_file)
    harness.seed({t: g.rows for t, g in demo.read(demo.tab_titles()).items()})
    init_workbook(harness.settings)
    run_all(harness)
    spreadsheet = sheets_emulator.spreadsheet(harness.extra["sheet_id"])
    titles = [s.title for s in spreadsheet.sheets]
    before = {t: harness.values(t) for t in titles}
    sent_before = outbox(harness)

    spreadsheet.sheet("Orders").properties["title"] = "Orders 2026"
    results = run_all(harness)
    after = {t: harness.values(t) for t in [s.title for s in spreadsheet.sheets]}

    assert "Orders" not in after
    assert comparable(after, {"Orders 2026": "Orders"}) == comparable(before, {})
    assert all(name.startswith("alert_") for name in outbox(harness) - sent_before)
    missing = [p for p in results[0].problems if p.tab == "Orders" and p.row is None]
    assert [p.problem for p in missing] == ["tab 'Orders' not found — did you mean 'Orders 2026'?"]


def test_a_tab_without_a_required_column_is_unknown_too(tmp_path: Path, first_run: Path) -> None:
    """Orders whose "Order date" header was retyped cannot be read either: the stock
    job must not take that for a shop without sales."""
    harness = copy_of(first_run, tmp_path)
    before = xlsx_sheet(harness)

    book = openpyxl.load_workbook(harness.directory / "workbook.xlsx")
    column = next(c for c in book["Orders"][1] if c.value == "Order date")
    column.value = "Ordered on"
    book.save(harness.directory / "workbook.xlsx")
    results = run_all(harness)
    after = xlsx_sheet(harness)

    for tab in ("Stock", "Purchase orders", "Returns", "Daily KPIs", "Weekly summary"):
        assert comparable(after, {})[tab] == comparable(before, {})[tab], tab
    stock = next(r for r in results if r.job == "stock")
    assert any("Orders could not be read" in n for n in stock.notes)


def test_init_never_adds_a_tab_beside_a_renamed_one_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import small_shop

    from ops_sheets.service.cli import main

    tabs = small_shop()
    tabs["Orders 2026"] = tabs.pop("Orders")
    del tabs["Returns"]  # a tab nothing looks like: init creates it
    xlsx_harness(tmp_path).seed(tabs)
    config = tmp_path / "config.toml"
    config.write_text('[workbook]\nbackend = "xlsx"\npath = "workbook.xlsx"\n')

    assert main(["init", "--config", str(config)]) == 1
    said = capsys.readouterr().out
    assert "did not create tab 'Orders': 'Orders 2026' looks like it" in said
    assert '[tabs.orders] name = "Orders 2026"' in said and "init --yes" in said
    titles = openpyxl.load_workbook(tmp_path / "workbook.xlsx").sheetnames
    assert "Orders" not in titles and "Returns" in titles

    assert main(["init", "--config", str(config), "--yes"]) == 0
    assert "Orders" in openpyxl.load_workbook(tmp_path / "workbook.xlsx").sheetnames
