"""Cross-tab and row checks that every job reports on the Problems tab."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from conftest import small_shop

from ops_sheets.config import Settings, TabSettings
from ops_sheets.service.runner import JOB_NAMES, run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook


def shop_with_stock_mistakes() -> MemoryWorkbook:
    """A-1 oversold by 3; B-2 tops up to 4 but reorders at 10; 00123 is right."""
    tabs = small_shop()
    tabs["Stock"] = [
        ["SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock"],
        ["A-1", "Mug", "Acme", -3, None, None],
        ["00123", "Plate", "Acme", 12, 10, 10],
        ["B-2", "Bowl", "Acme", 0, 10, 4],
    ]
    return MemoryWorkbook(tabs)


def stock_problems(shop: MemoryWorkbook) -> list[list[object]]:
    """(Row, Column, Key, Value, Problem) of the Problems rows about the Stock tab."""
    return [row[1:6] for row in shop.tabs["Problems"][1:] if row[0] == "Stock"]


@pytest.mark.parametrize("job", JOB_NAMES)
def test_oversold_stock_and_max_below_reorder_point_are_problems_in_every_job(
    job: str, settings: Settings, now: datetime
) -> None:
    shop = shop_with_stock_mistakes()
    run_job(job, settings, now, workbook=shop)
    found = stock_problems(shop)
    assert [2, "On hand", "A-1", "-3", "oversold by 3 — count the stock"] in found
    assert [
        4,
        "Max stock",
        "B-2",
        "4",
        "Max stock 4 is below the Reorder point 10: orders will be too small",
    ] in found
    assert not [p for p in found if p[2] == "00123"]  # Max stock equal to it is fine


def test_the_problem_names_the_columns_as_the_sheet_calls_them(
    settings: Settings, now: datetime
) -> None:
    shop = shop_with_stock_mistakes()
    shop.tabs["Stock"][0][4:6] = ["ROP", "Order up to"]
    renamed = dataclasses.replace(
        settings,
        tabs={"stock": TabSettings(columns={"reorder_point": "ROP", "max_stock": "Order up to"})},
    )
    run_job("check", renamed, now, workbook=shop)
    [row] = [p for p in stock_problems(shop) if p[2] == "B-2"]
    assert row[1] == "Order up to"
    assert row[4] == "Order up to 4 is below the ROP 10: orders will be too small"
