"""`run all` reads the sheet once and parses each tab once (issue 14), and does
exactly what the same jobs do run one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import NOW

from ops_sheets.config import Settings, load_settings
from ops_sheets.errors import WorkbookError
from ops_sheets.service.demo_data import build_demo_workbook, write_demo_config
from ops_sheets.service.runner import JobResult, jobs_for, load_job, run_job, titles_to_read
from ops_sheets.service.shared_read import SharedRead
from ops_sheets.sheet.cells import Cell
from ops_sheets.sheet.workbook.base import Append, ChangeSet, Update
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[Cell]]]:
    path = tmp_path_factory.mktemp("demo") / "demo.xlsx"
    build_demo_workbook(path, NOW)
    book = XlsxWorkbook(path)
    grids = book.read(book.tab_titles())
    return {title: grid.rows for title, grid in grids.items()}


NOW_TEXT = NOW.isoformat(timespec="minutes")


def demo_settings(directory: Path) -> Settings:
    return load_settings(write_demo_config(directory))


def run_every_job(
    settings: Settings, workbook: MemoryWorkbook, shared: SharedRead | None
) -> list[JobResult]:
    results = []
    for name in jobs_for(["all"], settings):
        if shared is None:
            results.append(run_job(name, settings, NOW, workbook=workbook))
        else:
            results.append(run_job(name, settings, NOW, shared=shared))
    return results


def test_run_all_on_one_read_writes_and_finds_what_separate_runs_do(
    demo_rows: dict[str, list[list[Cell]]], tmp_path: Path
) -> None:
    alone = MemoryWorkbook(demo_rows)
    alone_results = run_every_job(demo_settings(tmp_path / "alone"), alone, None)

    together = MemoryWorkbook(demo_rows)
    settings = demo_settings(tmp_path / "together")
    titles = [
        t
        for n in jobs_for(["all"], settings)
        for t in titles_to_read(load_job(n, settings), settings)
    ]
    shared = SharedRead(together, titles)
    together_results = run_every_job(settings, together, shared)

    assert together.reads == 1 and shared.reads == 1
    assert alone.reads == len(alone_results) > 1
    # the Activity log's Time is the postman's wall clock: everything else is the same
    for book in (alone, together):
        for row in book.tabs["Activity log"][1:]:
            row[0] = None
    assert together.tabs == alone.tabs
    for a, b in zip(alone_results, together_results, strict=True):
        assert (b.job, b.counts, [str(p) for p in b.problems]) == (
            a.job,
            a.counts,
            [str(p) for p in a.problems],
        )


def test_each_job_gets_its_own_copy_of_a_shared_table(
    demo_rows: dict[str, list[list[Cell]]],
) -> None:
    shared = SharedRead(MemoryWorkbook(demo_rows), ["Orders"])
    from ops_sheets.sheet.tables import TAB_SPECS, parse_table

    grid = shared.read(["Orders"])["Orders"]
    parse = lambda: parse_table(TAB_SPECS["orders"], grid, NOW.tzinfo, now=NOW)  # noqa: E731
    first = shared.parsed("orders", "Orders", parse)
    first.frame["qty"] = 0.0  # a job scribbling on its frame
    first.problems.clear()
    second = shared.parsed("orders", "Orders", parse)
    assert (second.frame["qty"] != 0).any()
    assert second.problems == shared.parsed("orders", "Orders", parse).problems != []


def test_a_write_is_followed_in_the_copy_without_reading_again() -> None:
    book = MemoryWorkbook(
        {"Stock": [["SKU", "On hand", "Why"], ["A-1", 3, None], ["B-2", 5, None]]}
    )
    shared = SharedRead(book, ["Stock"])
    shared.read(["Stock"])
    changes = ChangeSet()
    changes.declare("Stock", ["Why"], ["SKU"])
    changes.updates.append(Update("Stock", {"SKU": "B-2"}, {"Why": "selling fast"}))
    shared.wrote(book.write(changes), changes)
    assert shared.read(["Stock"])["Stock"].rows == book.tabs["Stock"]
    assert book.reads == 1


def test_an_append_without_a_plan_lands_below_the_last_row() -> None:
    book = MemoryWorkbook(
        {"Purchase orders": [["PO number", "SKU", "Qty"], ["PO-1", "A-1", 4], []]}
    )
    shared = SharedRead(book, ["Purchase orders"])
    shared.read(["Purchase orders"])
    changes = ChangeSet()
    changes.appends.append(Append("Purchase orders", {"PO number": "PO-2", "Qty": 6, "SKU": "B-2"}))
    shared.wrote(None, changes)  # as Google's values:append reports it
    rows = shared.read(["Purchase orders"])["Purchase orders"].rows
    assert rows[-1] == ["PO-2", "B-2", 6] and len(rows) == 3
    assert book.reads == 1


def test_tabs_a_failed_write_touched_are_read_again() -> None:
    book = MemoryWorkbook({"Stock": [["SKU", "On hand"], ["A-1", 3]], "Problems": [["Tab"]]})
    shared = SharedRead(book, ["Stock", "Problems"])
    shared.read(["Stock", "Problems"])
    shared.forget(["Stock"])
    book.tabs["Stock"].append(["C-3", 1])  # what the failed write may have left
    assert shared.read(["Stock", "Problems"])["Stock"].rows[-1] == ["C-3", 1]
    assert book.reads == 2


def test_a_tab_the_workbook_lacks_is_asked_for_once() -> None:
    book = MemoryWorkbook({"Stock": [["SKU", "On hand"]]})
    shared = SharedRead(book, ["Stock", "Returns"])
    assert "Returns" not in shared.read(["Stock", "Returns"])
    assert "Returns" not in shared.read(["Returns"])
    assert book.reads == 1


def _google_demo(directory: Path, emulator: Any, rows: dict[str, list[list[Cell]]]) -> Path:
    """The demo shop in the emulator, its config pointing there."""
    sheet_id = emulator.create_spreadsheet(title=directory.name, sheets=rows)
    config = write_demo_config(directory)
    text = config.read_text(encoding="utf-8")
    start = text.index("[workbook]")
    end = text.index("\n[", start + 1)
    workbook = f'[workbook]\nbackend = "google"\nspreadsheet_id = "{sheet_id}"\n'
    config.write_text(text[:start] + workbook + text[end:], encoding="utf-8")
    return config


def test_run_all_on_google_saves_one_read_per_job_and_writes_no_more(
    demo_rows: dict[str, list[list[Cell]]], tmp_path: Path, sheets_emulator: Any
) -> None:
    from ops_sheets.service.cli import main

    rows = demo_rows
    alone = _google_demo(tmp_path / "alone", sheets_emulator, rows)
    names = jobs_for(["all"], load_settings(alone))
    sheets_emulator.reset_counts()
    for name in names:
        main(["run", name, "--config", str(alone), "--now", NOW_TEXT])
    separately = sheets_emulator.count(), sheets_emulator.count("write")

    together = _google_demo(tmp_path / "together", sheets_emulator, rows)
    sheets_emulator.reset_counts()
    main(["run", "all", "--config", str(together), "--now", NOW_TEXT])
    # one read for all jobs, then only each job's key re-read before its write
    assert sheets_emulator.count("values.batchGet") <= 1 + len(names)
    assert sheets_emulator.count() <= separately[0] - (len(names) - 1)
    assert sheets_emulator.count("write") == separately[1]


# ---------------------------------------------------------------- one save per run all (xlsx)


@pytest.fixture
def demo_xlsx(tmp_path: Path) -> Path:
    """The demo shop as an xlsx file with its config beside it."""
    build_demo_workbook(tmp_path / "workbook.xlsx", NOW)
    config = write_demo_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    start = text.index("[workbook]")
    end = text.index("\n[", start + 1)
    config.write_text(
        text[:start] + '[workbook]\nbackend = "xlsx"\npath = "workbook.xlsx"\n' + text[end:],
        encoding="utf-8",
    )
    return config


def _counting_saves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file replaced by each save (the real os.replace still runs)."""
    import ops_sheets.sheet.workbook.xlsx as xlsx_module

    saves: list[str] = []
    real_replace = xlsx_module.os.replace

    def replace(src: object, dst: object) -> None:
        saves.append(str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(xlsx_module.os, "replace", replace)
    return saves


def test_run_all_on_xlsx_saves_the_file_once_when_no_mail_goes_out(
    demo_xlsx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops_sheets.service.cli import main

    argv = ["run", "all", "--config", str(demo_xlsx), "--now", NOW_TEXT]
    main(argv)  # the first run sends the demo's mail
    saves = _counting_saves(monkeypatch)
    main(argv)  # the same moment again: nothing new to send
    assert len(saves) == 1


def test_mail_records_and_new_po_lines_are_saved_at_once_while_saves_are_held(
    demo_xlsx: Path,
) -> None:
    settings = load_settings(demo_xlsx)
    book = XlsxWorkbook(settings.resolve("workbook.xlsx"))
    book.hold_saves = True
    shared = SharedRead(book, titles_to_read(load_job("stock", settings), settings))
    result = run_job("stock", settings, NOW, shared=shared)
    assert result.counts.get("emails_sent", 0) > 0  # POs went to suppliers
    on_disk = XlsxWorkbook(book.path).read(["Activity log", "Purchase orders"])
    sent = [r for r in on_disk["Activity log"].rows[1:] if r and r[2] == "Email sent"]
    assert len(sent) == result.counts["emails_sent"]
    assert any(str(r[0]).startswith("PO-2026112") for r in on_disk["Purchase orders"].rows[1:])


def test_held_writes_give_way_to_an_edit_saved_meanwhile(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Stock"
    for row in (["SKU", "On hand", "Why"], ["A-1", 3, None], ["B-2", 5, None]):
        wb.active.append(row)
    wb.save(path)
    book = XlsxWorkbook(path)
    book.hold_saves = True

    def why(sku: str, text: str) -> ChangeSet:
        changes = ChangeSet()
        changes.declare("Stock", ["Why"], ["SKU"])
        changes.updates.append(Update("Stock", {"SKU": sku}, {"Why": text}))
        return changes

    before = path.read_bytes()
    book.write(why("A-1", "held"))
    assert path.read_bytes() == before  # held, not saved

    team = openpyxl.load_workbook(path)  # someone saves the file meanwhile
    team["Stock"]["B2"] = 4
    team.save(path)

    book.write(why("B-2", "after the edit"))
    book.flush()
    rows = XlsxWorkbook(path).read(["Stock"])["Stock"].rows
    assert rows[1] == ["A-1", 4]  # their edit kept; the held write dropped
    assert rows[2] == ["B-2", 5, "after the edit"]


def test_a_flush_never_saves_over_an_edit_made_after_the_last_write(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Stock"
    for row in (["SKU", "On hand", "Why"], ["A-1", 3, None]):
        wb.active.append(row)
    wb.save(path)
    book = XlsxWorkbook(path)
    book.hold_saves = True
    changes = ChangeSet()
    changes.declare("Stock", ["Why"], ["SKU"])
    changes.updates.append(Update("Stock", {"SKU": "A-1"}, {"Why": "held"}))
    book.write(changes)
    team = openpyxl.load_workbook(path)
    team["Stock"]["B2"] = 7
    team.save(path)
    with pytest.raises(WorkbookError, match="changed on disk"):
        book.flush()
    assert XlsxWorkbook(path).read(["Stock"])["Stock"].rows[1] == ["A-1", 7]
