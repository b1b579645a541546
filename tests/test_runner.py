"""The runner on the in-memory workbook: one read, key-located writes, dry run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ops_sheets.config import Settings
from ops_sheets.service.runner import JobContext, describe_changes, run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook


def test_check_job_writes_the_problems_tab_and_nothing_in_team_columns(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    shop.tabs["Stock"][2][3] = "twelve"
    before = {t: [list(r) for r in rows] for t, rows in shop.tabs.items()}
    result = run_job("check", settings, now, workbook=shop)
    problems = shop.tabs["Problems"]
    assert problems[0][:8] == ["Tab", "Row", "Column", "Key", "Value", "Problem", "Job", "Found at"]
    assert problems[1][:6] == ["Stock", 3, "On hand", "00123", "twelve", "not a number"]
    assert problems[1][6] == "check" and problems[1][7] == now
    for tab, rows in before.items():
        assert shop.tabs[tab] == rows, f"{tab} changed"
    assert result.exit_code == 1
    assert shop.reads == 1 and shop.writes == 1


def test_problems_tab_is_rewritten_not_appended(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    shop.tabs["Stock"][2][3] = "twelve"
    run_job("check", settings, now, workbook=shop)
    shop.tabs["Stock"][2][3] = 5
    result = run_job("check", settings, now, workbook=shop)
    assert result.problems == []
    assert shop.tabs["Problems"] == [shop.tabs["Problems"][0]]


def test_dry_run_changes_nothing_and_lists_every_cell(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    shop.tabs["Orders"][1][3] = "KIT-9999"
    before = {t: [list(r) for r in rows] for t, rows in shop.tabs.items()}
    result = run_job("check", settings, now, workbook=shop, dry_run=True)
    assert shop.tabs == before
    assert shop.writes == 0
    assert any("'Problems'!A2: (blank) → 'Orders'" in line for line in result.dry_run_lines)


def _context(shop: MemoryWorkbook, settings: Settings, now: datetime) -> JobContext:
    from ops_sheets.service.runner import parse_tables

    grids = shop.read(["Stock", "Orders"])
    tables = parse_tables(grids, ["stock", "orders"], settings)
    return JobContext("test", settings, now, tables, clock=lambda: now)


def test_service_values_land_on_the_row_with_their_key_after_a_sort(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    ctx = _context(shop, settings, now)
    for sku, status in [("A-1", "OK"), ("00123", "LOW"), ("B-2", "OUT OF STOCK")]:
        ctx.set("stock", {"sku": sku}, {"stock_status": status, "checked_at": now})
    # a person sorts the tab and inserts a row between the job's read and its write
    header, *rows = shop.tabs["Stock"]
    shop.tabs["Stock"] = [
        header,
        ["NEW-1", "Jug", "Acme", 3, ""],
        *sorted(rows, key=lambda r: str(r[0]), reverse=True),
    ]
    report = shop.write(ctx.changes)
    table = shop.tabs["Stock"]
    col = table[0].index("Stock status")
    status = {r[0]: r[col] if len(r) > col else None for r in table[1:]}
    assert status == {"NEW-1": None, "B-2": "OUT OF STOCK", "A-1": "OK", "00123": "LOW"}
    assert report.skipped == []
    assert table[0][5:] == [
        "Daily demand",
        "Days of cover",
        "On order",
        "Suggested order",
        "Stock status",
        "Why",
        "Checked at",
    ]
    assert [r[4] for r in table[1:]] == ["", "reorder soon", "keep", ""]  # team column untouched


def test_update_for_a_deleted_row_is_skipped_and_reported(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    ctx = _context(shop, settings, now)
    ctx.set("stock", {"sku": "B-2"}, {"stock_status": "OK"})
    del shop.tabs["Stock"][3]
    report = shop.write(ctx.changes)
    assert [(s.tab, s.key) for s in report.skipped] == [("Stock", "B-2")]
    assert "no row has this key" in report.skipped[0].reason


def test_a_job_cannot_write_a_team_column(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    import pytest

    from ops_sheets.errors import JobError

    ctx = _context(shop, settings, now)
    with pytest.raises(JobError, match="belongs to the team"):
        ctx.set("stock", {"sku": "A-1"}, {"on_hand": 3})


def test_describe_changes_shows_before_and_after(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    ctx = _context(shop, settings, now)
    ctx.set("stock", {"sku": "A-1"}, {"why": "=1+1"})
    lines = describe_changes(shop.read(["Stock"]), ctx.changes)
    assert "'Stock'!K2: (blank) → '=1+1'" in lines


def test_activity_of_mail_sent_before_a_failed_write_is_written_by_the_next_run(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    import pytest

    from ops_sheets.errors import WorkbookLockedError
    from ops_sheets.store.state import State

    jobs = settings.resolve(settings.jobs_dir)
    jobs.mkdir(parents=True)
    (jobs / "notify.py").write_text(
        "from ops_sheets.mail.postman import OutgoingEmail\n"
        "from ops_sheets.mail.samples import sample_context\n"
        "def run(ctx):\n"
        "    ctx.send(OutgoingEmail('manager_alert', 'alert:test', ctx.settings.mail.manager,\n"
        "                           sample_context('manager_alert')))\n"
    )
    real_write = shop.write
    calls = {"n": 0}

    def write_fails_once(changes):  # someone opened the file while the mail went out
        calls["n"] += 1
        if calls["n"] == 1:
            raise WorkbookLockedError("workbook.xlsx is open in LibreOffice")
        return real_write(changes)

    shop.write = write_fails_once  # type: ignore[method-assign]
    state = State(settings.resolve(settings.state.path))
    with pytest.raises(WorkbookLockedError):
        run_job("notify", settings, now, workbook=shop, state=state)
    assert "Activity log" not in shop.tabs
    run_job("notify", settings, now, workbook=shop, state=state)
    log = shop.tabs["Activity log"]
    assert [r[4] for r in log[1:]] == [settings.mail.manager]  # sent once, logged once
    assert state.get("activity.unwritten", "notify") == []


def _dry_run_copies(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.glob("ops-sheets-dry-run-*"))


def test_a_dry_run_leaves_no_copy_of_the_state_behind(
    shop: MemoryWorkbook, settings: Settings, now: datetime, tmp_path: Path, monkeypatch: Any
) -> None:
    """The copy holds recipients' addresses: it is removed after every dry run."""
    import tempfile

    from ops_sheets.store.ledger import Ledger

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    Ledger(settings.resolve(settings.state.path)).close()  # a state exists: it is copied
    run_job("check", settings, now, workbook=shop, dry_run=True)
    assert _dry_run_copies(private_tmp) == []


def test_a_failed_dry_run_leaves_no_copy_of_the_state_behind(
    shop: MemoryWorkbook, settings: Settings, now: datetime, tmp_path: Path, monkeypatch: Any
) -> None:
    import tempfile

    import pytest

    from ops_sheets.store.ledger import Ledger

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    Ledger(settings.resolve(settings.state.path)).close()
    jobs = settings.resolve(settings.jobs_dir)
    jobs.mkdir(parents=True)
    (jobs / "boom.py").write_text("def run(ctx):\n    raise RuntimeError('a bug in the job')\n")
    with pytest.raises(RuntimeError, match="a bug in the job"):
        run_job("boom", settings, now, workbook=shop, dry_run=True)
    assert _dry_run_copies(private_tmp) == []
