"""Held orders on the Problems tab, and the rows only one job finds kept there when
another job runs (DESIGN.md "Packing day": a held line is `HOLD: ADDRESS` "with the
reason and what to fix on the Problems tab").

The real ``orders`` and ``stock`` jobs on a real .xlsx file and on the in-repo
Sheets emulator (through gspread), with their state; ``now`` passed in.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from backends import Harness, google_harness, xlsx_harness
from conftest import NOW, small_shop

from ops_sheets.domain import packing as pk
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import JobResult, run_job

PROBLEMS = ["Tab", "Row", "Column", "Key", "Value", "Problem", "Job", "Found at", "How to fix"]


def shop() -> dict[str, list[list[object]]]:
    """small_shop with a Payment column, SO-2 (two lines) sent to a postcode one
    letter too long and SO-3 READY but unpaid."""
    tabs = small_shop()
    orders = tabs["Orders"]
    orders[0].append("Payment")
    for line in orders[1:]:
        line.append("PAID")
    so2 = orders[2]
    so2[8] = "LS1 1AAA"  # Postcode (column I)
    second = list(so2)
    second[3] = "A-1"
    orders.append(second)  # SO-2 / A-1, row 4
    so3 = ["SO-3", "21/11/2026", "Cy", "A-1", 1, "READY", "3 Mid St", "York", "YO1 7HH", "UK"]
    orders.append([*so3, None, "PENDING"])  # row 5, Shipped at blank
    return tabs


@pytest.fixture(params=["xlsx", "google"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "xlsx":
        harness = xlsx_harness(tmp_path)
    else:
        harness = google_harness(tmp_path, request.getfixturevalue("sheets_emulator"))
    harness.seed(shop())
    init_workbook(harness.settings)
    return harness


def run(h: Harness, job: str, hours: int = 0) -> JobResult:
    wb = h.open()
    try:
        result = run_job(job, h.settings, NOW + timedelta(hours=hours), workbook=wb)
    finally:
        wb.close()
    assert result.error == ""
    return result


def problems(h: Harness) -> list[dict[str, Any]]:
    rows = h.values("Problems")
    head = [str(c) for c in rows[0]]
    assert head[: len(PROBLEMS)] == PROBLEMS
    return [dict(zip(head, r, strict=False)) for r in rows[1:] if r and r[0]]


def holds(h: Harness) -> list[dict[str, Any]]:
    """The held orders' rows (one per order and hold)."""
    return [r for r in problems(h) if str(r["Problem"]).startswith("order ")]


def orders_own(h: Harness) -> list[dict[str, Any]]:
    """The rows only the orders job finds: held orders, READY on a held line."""
    return [r for r in problems(h) if "on HOLD" in str(r["Problem"])]


def set_postcode(h: Harness, postcode: str) -> None:
    if h.name == "xlsx":
        path = h.directory / "workbook.xlsx"
        book = openpyxl.load_workbook(path)
        book["Orders"]["I3"] = postcode
        book["Orders"]["I4"] = postcode
        book.save(path)
    else:
        ss = h.extra["emulator"].spreadsheet(h.extra["sheet_id"])
        ss.set_values("Orders", "I3", [[postcode], [postcode]])


@pytest.fixture(autouse=True)
def _emulator_for_edits(request: pytest.FixtureRequest, h: Harness) -> None:
    if h.name == "google":
        h.extra["emulator"] = request.getfixturevalue("sheets_emulator")


# ---------------------------------------------------------------- the rows


def test_a_wrong_postcode_gives_one_problems_row_for_the_order_at_its_postcode_cell(
    h: Harness,
) -> None:
    run(h, "orders")
    rows = [r for r in holds(h) if r["Key"] == "SO-2"]
    assert len(rows) == 1  # one per order, not per line
    (row,) = rows
    assert (row["Tab"], row["Row"], row["Column"], row["Value"]) == (
        "Orders", 3, "Postcode", "LS1 1AAA",
    )  # fmt: skip
    assert row["Problem"].startswith("order SO-2 on HOLD: ADDRESS: Postcode 'LS1 1AAA'")
    assert "not booked for pickup" in row["Problem"]
    assert "postcode" in row["How to fix"].lower()
    assert row["Job"] == "orders"
    if h.name == "xlsx":  # the Tab cell jumps to the Postcode cell (issue 17)
        ws = openpyxl.load_workbook(h.directory / "workbook.xlsx")["Problems"]
        at = next(r for r in ws.iter_rows(min_row=2) if r[3].value == "SO-2" and r[0].value)
        assert at[0].hyperlink.location == "'Orders'!I3"
    else:
        from test_problem_links import link_of

        emu, sid = h.extra["emulator"], h.extra["sheet_id"]
        orders_gid = emu.spreadsheet(sid).sheet("Orders").sheet_id
        at = 2 + problems(h).index(row)
        assert link_of(emu, sid, f"A{at}") == f"#gid={orders_gid}&range=I3"


def test_an_unpaid_order_gives_a_problems_row_at_its_payment_cell(h: Harness) -> None:
    run(h, "orders")
    rows = [r for r in orders_own(h) if str(r["Key"]).startswith("SO-3")]
    assert sorted((r["Column"], r["Row"], r["Problem"]) for r in rows) == [
        ("Payment", 5, "order SO-3 on HOLD: UNPAID: Payment PENDING, not packed or booked"),
        ("Status", 5, "READY but on HOLD: UNPAID: no pickup booked"),
    ]


def test_the_today_tab_has_no_second_to_do_for_a_held_order(h: Harness) -> None:
    run(h, "orders")
    today = [str(c) for r in h.values("Today")[1:] for c in r if c]
    assert not any("order SO-3 on HOLD" in c for c in today)


# ---------------------------------------------------------------- kept across jobs


def test_running_stock_after_orders_keeps_the_orders_jobs_problems_rows(h: Harness) -> None:
    run(h, "orders")
    before = orders_own(h)
    assert sorted(r["Key"] for r in before) == ["SO-2", "SO-3", "SO-3 / A-1"]

    run(h, "stock", hours=1)

    assert orders_own(h) == before  # job and Found at as the orders run wrote them
    # the data problems every job finds are this run's, as before
    assert any(r["Job"] == "stock" and r["Column"] == "Postcode" for r in problems(h))


def test_fixing_the_postcode_and_running_orders_again_removes_its_row(h: Harness) -> None:
    run(h, "orders")
    run(h, "stock", hours=1)
    set_postcode(h, "LS1 1AA")

    run(h, "orders", hours=2)
    assert [r["Key"] for r in holds(h)] == ["SO-3"]
    run(h, "stock", hours=3)
    assert [r["Key"] for r in holds(h)] == ["SO-3"]  # not brought back by stock


def test_a_dry_run_records_nothing_for_later_runs(h: Harness) -> None:
    if h.name != "xlsx":
        pytest.skip("the same runner code on both backends")
    run(h, "orders")
    set_postcode(h, "LS1 1AA")
    wb = h.open()
    try:
        dry = run_job("orders", h.settings, NOW + timedelta(hours=1), workbook=wb, dry_run=True)
    finally:
        wb.close()
    assert dry.error == ""
    run(h, "stock", hours=2)
    assert sorted(r["Key"] for r in holds(h)) == ["SO-2", "SO-3"]  # as the last real run


def test_an_orders_run_that_cannot_read_stock_keeps_the_rows_it_found_before(
    h: Harness,
) -> None:
    run(h, "orders")
    before = orders_own(h)
    # the required SKU column is gone: Stock cannot be read (typed in place: a seed
    # of the xlsx harness rewrites the whole file, every other tab gone with it)
    if h.name == "xlsx":
        book = openpyxl.load_workbook(h.directory / "workbook.xlsx")
        book["Stock"]["A1"] = "Item"
        book.save(h.directory / "workbook.xlsx")
    else:
        h.extra["emulator"].spreadsheet(h.extra["sheet_id"]).set_values("Stock", "A1", [["Item"]])

    result = run(h, "orders", hours=1)

    assert result.notes and any("could not be read" in n for n in result.notes)
    assert orders_own(h) == before  # nothing reported resolved: Stock could not be read


def test_steady_runs_of_either_job_cost_at_most_four_requests(h: Harness) -> None:
    if h.name != "google":
        pytest.skip("requests are a Google thing")
    run(h, "orders")
    run(h, "stock", hours=1)
    run(h, "orders", hours=2)
    for job in ("stock", "orders"):
        run(h, job, hours=3)  # settle
        h.reset_requests()
        run(h, job, hours=3)  # the same moment: nothing changed
        reads, writes = h.requests()  # type: ignore[misc]
        assert reads + writes <= 4 and writes <= 2, (job, reads, writes)


# ---------------------------------------------------------------- pure rule


def test_order_holds_name_one_cell_per_held_order_and_hold() -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["A", "A", "B", "C"],
            "payment": ["PENDING", "PENDING", None, None],
            "address": ["1 High St"] * 4,
            "city": ["York"] * 4,
            "postcode": ["YO1 7HH", "YO1 7HH", "YO1 7HHH", "YO1 7HH"],
            "country": ["UK"] * 4,
        }
    )
    open_ = np.array([True, True, True, True])
    got = pk.order_holds(frame, pk.holds(frame, open_))
    assert [(o.order_id, o.position, o.column) for o in got] == [
        ("A", 0, "payment"),
        ("B", 2, "postcode"),
    ]
