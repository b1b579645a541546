"""Problems rows judged per tab: rows worked out from a tab this run could not see
whole stay as they were; rows whose tabs were all read are this run's; a job no
longer enabled keeps nothing on the Problems and Today tabs.

DESIGN.md: when the service cannot see a tab whole, it writes and sends nothing
that depends on it, and nothing is reported resolved because its data could not
be read. The real ``orders`` and ``stock`` jobs on a real .xlsx file and on the
in-repo Sheets emulator (through gspread), with their state; ``now`` passed in.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from backends import Harness, google_harness, xlsx_harness
from conftest import NOW
from test_problems_kept import problems, shop

from ops_sheets.config import Settings
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import JobResult, run_job

UNKNOWN_SKU = "unknown SKU 'Z-9': not on the Stock tab"
BAD_POSTCODE = "Postcode 'LS1 1AAA' is not a valid United Kingdom postcode"


def shop_with_unknown_sku() -> dict[str, list[list[object]]]:
    """The held-orders shop plus SO-4 (row 6), for a SKU the Stock tab does not have."""
    tabs = shop()
    so4 = ["SO-4", "21/11/2026", "Dee", "Z-9", 1, "NEW", "3 Mid St", "York", "YO1 7HH", "UK"]
    tabs["Orders"].append([*so4, None, "PAID"])
    return tabs


@pytest.fixture(params=["xlsx", "google"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "xlsx":
        harness = xlsx_harness(tmp_path)
    else:
        emulator = request.getfixturevalue("sheets_emulator")
        harness = google_harness(tmp_path, emulator)
        harness.extra["emulator"] = emulator
    harness.seed(shop_with_unknown_sku())
    init_workbook(harness.settings)
    return harness


def run(h: Harness, job: str, hours: int = 0, settings: Settings | None = None) -> JobResult:
    wb = h.open()
    try:
        result = run_job(job, settings or h.settings, NOW + timedelta(hours=hours), workbook=wb)
    finally:
        wb.close()
    assert result.error == ""
    return result


def edit(h: Harness, tab: str, cells: dict[str, object]) -> None:
    """Type into cells of a tab in place, as a person would (every other tab as it is)."""
    if h.name == "xlsx":
        path = h.directory / "workbook.xlsx"
        book = openpyxl.load_workbook(path)
        for at, value in cells.items():
            book[tab][at] = value
        book.save(path)
    else:
        sheet = h.extra["emulator"].spreadsheet(h.extra["sheet_id"])
        for at, value in cells.items():
            sheet.set_values(tab, at, [[value]])


def break_stock(h: Harness, how: str) -> None:
    """Stock cannot be read: its SKU header retyped, or the tab renamed."""
    if how == "column":
        edit(h, "Stock", {"A1": "Item"})
    else:
        rename(h, "Stock", "Stock 2026")


def rename(h: Harness, tab: str, title: str) -> None:
    """Give a tab another title in place, as a person would."""
    if h.name == "xlsx":
        path = h.directory / "workbook.xlsx"
        book = openpyxl.load_workbook(path)
        book[tab].title = title
        book.save(path)
    else:
        sheet = h.extra["emulator"].spreadsheet(h.extra["sheet_id"])
        sheet.sheet(tab).properties["title"] = title


def fix_postcode(h: Harness) -> None:
    edit(h, "Orders", {"I3": "LS1 1AA", "I4": "LS1 1AA"})


def where(row: dict[str, Any]) -> tuple[object, ...]:
    return (row["Tab"], row["Row"], row["Column"], row["Problem"])


def about_orders(h: Harness) -> list[dict[str, Any]]:
    return [r for r in problems(h) if r["Tab"] == "Orders"]


def today(h: Harness) -> list[str]:
    return [str(c) for r in h.values("Today")[1:] for c in r if c]


# ---------------------------------------------------------------- Stock unreadable


@pytest.mark.parametrize("how", ["column", "missing"])
def test_while_stock_cannot_be_read_every_row_about_orders_stays_as_it_was(
    h: Harness, how: str
) -> None:
    run(h, "stock")
    run(h, "orders", hours=1)
    before = about_orders(h)
    assert {r["Problem"] for r in before} >= {UNKNOWN_SKU, BAD_POSTCODE, "READY but no Forwarder"}

    break_stock(h, how)
    for job, hours in (("orders", 2), ("stock", 3)):
        result = run(h, job, hours=hours)
        assert any("could not be read" in n for n in result.notes), job

        after = {where(r): r for r in about_orders(h)}
        assert set(after) == {where(r) for r in before}, job  # none dropped, none added
        # the unknown SKU is worked out from Stock: kept exactly as it was found
        (sku,) = [r for r in before if r["Problem"] == UNKNOWN_SKU]
        assert after[where(sku)] == sku
        # the rows about Orders, which was read, are this run's
        (postcode, *_) = [r for r in before if r["Problem"] == BAD_POSTCODE]
        assert after[where(postcode)]["Job"] == job
    # and the tab says why Stock cannot be read
    stock_rows = [r["Problem"] for r in problems(h) if r["Tab"] == "Stock"]
    assert stock_rows == (
        ["required column 'SKU' is missing"]
        if how == "column"
        else ["tab 'Stock' not found — did you mean 'Stock 2026'?"]
    )
    assert any(UNKNOWN_SKU in t for t in today(h))  # still a to-do


def test_a_row_about_orders_fixed_while_stock_cannot_be_read_goes(h: Harness) -> None:
    run(h, "orders")
    break_stock(h, "column")
    fix_postcode(h)

    run(h, "stock", hours=1)

    problems_now = {r["Problem"] for r in about_orders(h)}
    assert BAD_POSTCODE not in problems_now  # Orders was read: resolved, truly
    assert UNKNOWN_SKU in problems_now  # Stock was not: kept


def test_the_unknown_sku_row_clears_once_stock_is_readable_and_has_the_sku(h: Harness) -> None:
    run(h, "orders")
    break_stock(h, "column")
    run(h, "orders", hours=1)
    assert UNKNOWN_SKU in {r["Problem"] for r in about_orders(h)}

    edit(h, "Stock", {"A1": "SKU", "A5": "Z-9", "B5": "Spoon", "C5": "Acme", "D5": 3})
    run(h, "stock", hours=2)

    assert UNKNOWN_SKU not in {r["Problem"] for r in problems(h)}
    run(h, "orders", hours=3)
    assert UNKNOWN_SKU not in {r["Problem"] for r in problems(h)}  # not brought back


# ---------------------------------------------------------------- judged per tab


def computed_on_hand(h: Harness) -> Settings:
    jobs = h.settings.jobs
    stock = dataclasses.replace(jobs.stock, on_hand="computed")
    return dataclasses.replace(h.settings, jobs=dataclasses.replace(jobs, stock=stock))


def test_a_tab_missing_for_good_keeps_only_the_rows_that_depend_on_it(h: Harness) -> None:
    """Returns absent with on_hand = "computed": the orders job cannot compute On
    hand, but its rows worked out from the tabs it did read still clear when fixed."""
    settings = computed_on_hand(h)
    rename(h, "Returns", "Old returns")

    first = run(h, "orders", settings=settings)
    assert any("computed On hand" in n and "could not be read" in n for n in first.notes)
    held = [r["Key"] for r in problems(h) if str(r["Problem"]).startswith("order ")]
    assert sorted(held) == ["SO-2", "SO-3"]

    fix_postcode(h)
    run(h, "orders", hours=1, settings=settings)

    held = [r["Key"] for r in problems(h) if str(r["Problem"]).startswith("order ")]
    assert held == ["SO-3"]  # the Returns tab is still missing, the address was fixed


# ---------------------------------------------------------------- disabled jobs


def disabled(h: Harness, job: str) -> Settings:
    jobs = h.settings.jobs
    off = dataclasses.replace(getattr(jobs, job), enabled=False)
    return dataclasses.replace(h.settings, jobs=dataclasses.replace(jobs, **{job: off}))


def test_a_job_disabled_in_the_config_keeps_no_rows_on_problems_or_today(h: Harness) -> None:
    run(h, "orders")
    run(h, "stock", hours=1)
    held = "READY but on HOLD: UNPAID: no pickup booked"
    assert any(r["Problem"] == held for r in problems(h))  # kept across the stock run
    assert any(held in t for t in today(h))

    run(h, "stock", hours=2, settings=disabled(h, "orders"))

    assert not [r for r in problems(h) if "on HOLD" in str(r["Problem"])]
    assert not any(held in t for t in today(h))
    # re-enabled later: its old rows do not come back with another job's run
    run(h, "stock", hours=3)
    assert not [r for r in problems(h) if "on HOLD" in str(r["Problem"])]


# ---------------------------------------------------------------- stored rows


def test_a_stored_row_comes_back_with_its_tabs_its_depends_and_its_to_do_flag() -> None:
    from ops_sheets.service.problems_tab import Found
    from ops_sheets.sheet.tables import Problem

    problem = Problem("Orders", 6, "SKU", "SO-4", "Z-9", UNKNOWN_SKU, "add it", depends=("stock",))
    held = Problem("Orders", 5, "Payment", "SO-3", "PENDING", "order SO-3 on HOLD", "", todo=False)
    for found in (Found(problem, "stock", NOW, ("orders", "stock")), Found(held, "orders", NOW)):
        back = Found.from_dict(found.to_dict())
        assert back == found
        assert back is not None and back.problem.depends == found.problem.depends
        assert back.problem.todo == found.problem.todo
    # a row stored by the version before (no tabs): every team tab, the cautious reading
    old = Found(held, "orders", NOW).to_dict()
    del old["tabs"], old["depends"]
    assert Found.from_dict(old) == Found(held, "orders", NOW, None)
