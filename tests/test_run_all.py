"""`run all` on a real xlsx workbook: a bad cell is a problem, never a crash, and
one job failing never stops the jobs after it (issue 12, break 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from backends import _xlsx_write
from conftest import small_shop

from ops_sheets.config import load_settings
from ops_sheets.service.cli import main
from ops_sheets.store.state import State

NOW = "2026-11-23T09:00"
CONFIG = """\
timezone = "Europe/London"
jobs_dir = "jobs"
[workbook]
backend = "xlsx"
path = "workbook.xlsx"
[mail]
transport = "outbox"
outbox_dir = "outbox"
manager = "manager@example.com"
[state]
path = "state.db"
"""


@pytest.fixture
def shop_dir(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "jobs").mkdir()
    return tmp_path


def seed(directory: Path, tabs: dict[str, list[list[object]]]) -> None:
    _xlsx_write(directory / "workbook.xlsx", tabs)


def run_all(directory: Path) -> int:
    return main(["run", "all", "--config", str(directory / "config.toml"), "--now", NOW])


def outcomes(directory: Path) -> dict[str, str]:
    """Each job's last recorded outcome in the state (ok, problems, failed)."""
    settings = load_settings(directory / "config.toml")
    state = State(settings.resolve(settings.state.path))
    try:
        return {run.job: run.result for run in reversed(state.runs(limit=50))}
    finally:
        state.close()


def problems_tab(directory: Path) -> list[tuple[object, ...]]:
    import openpyxl

    ws = openpyxl.load_workbook(directory / "workbook.xlsx")["Problems"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = rows[0]
    wanted = [header.index(h) for h in ("Tab", "Row", "Column", "Value", "Problem")]
    return [tuple(r[i] for i in wanted) for r in rows[1:]]


def test_an_order_dated_9999_is_a_problem_row_and_every_job_runs(
    shop_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tabs = small_shop()
    tabs["Orders"][2][1] = "31/12/9999"  # SO-2's Order date
    tabs["Orders"][1][4] = "1e308"  # SO-1's Qty
    seed(shop_dir, tabs)

    code = run_all(shop_dir)

    out, err = capsys.readouterr()
    assert "Traceback" not in err and "failed" not in err, err
    assert code == 1  # the job ran and found problems
    runs = outcomes(shop_dir)
    assert set(runs) >= {"check", "stock", "orders", "returns", "monitor", "weekly"}
    assert "failed" not in runs.values(), runs
    found = problems_tab(shop_dir)
    assert any(
        r[:4] == ("Orders", 3, "Order date", "31/12/9999") and "outside 2000-01-01" in str(r[4])
        for r in found
    ), found
    assert any(
        r[:3] == ("Orders", 2, "Qty") and "beyond ±1,000,000,000" in str(r[4]) for r in found
    ), found
    assert "results: check problems, stock problems, orders problems" in out


def test_a_job_that_raises_mid_run_all_does_not_stop_the_jobs_after_it(
    shop_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(shop_dir, small_shop())
    (shop_dir / "jobs" / "orders.py").write_text(
        "def run(ctx):\n    raise OverflowError('date value out of range')\n", encoding="utf-8"
    )

    code = run_all(shop_dir)

    out, err = capsys.readouterr()
    assert code == 1
    failure = [line for line in err.splitlines() if "orders" in line]
    assert failure == [
        "ops-sheets: job orders failed: OverflowError: date value out of range "
        "(a bug in ops-sheets: run it again with -v for the traceback and report it)"
    ]
    runs = outcomes(shop_dir)
    assert runs["orders"] == "failed"
    for later in ("returns", "monitor", "weekly"):
        assert runs[later] in ("ok", "problems"), runs
    assert "orders FAILED" in out and "weekly " in out.splitlines()[-1]


def test_a_single_job_that_raises_is_one_line_and_exit_1(
    shop_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(shop_dir, small_shop())
    (shop_dir / "jobs" / "stock.py").write_text(
        "def run(ctx):\n    raise KeyError('Supplier')\n", encoding="utf-8"
    )
    code = main(["run", "stock", "--config", str(shop_dir / "config.toml"), "--now", NOW])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().splitlines() == [
        "ops-sheets: job stock failed: KeyError: 'Supplier' "
        "(a bug in ops-sheets: run it again with -v for the traceback and report it)"
    ]
    assert "results:" not in out  # one job: its own line says it all
