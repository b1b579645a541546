"""Cells as people type them: value maps, numbers with a decimal comma or a
currency, and headers below a title row — read through the real runner."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.errors import ConfigError
from ops_sheets.service.runner import parse_tables, run_job
from ops_sheets.sheet.cells import Grid
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from tests.conftest import small_shop

ORDERS = ["Order ID", "Order date", "SKU", "Qty", "Unit price", "Status"]


def shop_settings(tmp_path: Path, **extra: Any) -> Settings:
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
            **extra,
        },
        base_dir=tmp_path,
        source="test-config.toml",
    )


def orders_table(settings: Settings, rows: list[list[Any]], now: datetime) -> Any:
    grids = {"Orders": Grid("Orders", rows)}
    return parse_tables(grids, ["orders"], settings, now)["orders"]


def test_value_maps_turn_a_platforms_words_into_ours_before_parsing(
    tmp_path: Path, now: datetime
) -> None:
    settings = shop_settings(
        tmp_path,
        tabs={
            "orders": {
                "values": {
                    "status": {"fulfilled": "SHIPPED", "UnFulfilled": "new", "partial": "PACKED"}
                }
            }
        },
    )
    table = orders_table(
        settings,
        [
            ORDERS,
            ["1", "2026-11-20", "A", 1, 2, "fulfilled"],
            ["2", "2026-11-20", "A", 1, 2, "unfulfilled"],
            ["3", "2026-11-20", "A", 1, 2, "  Partial "],
            ["4", "2026-11-20", "A", 1, 2, "shipped"],
        ],
        now,
    )
    assert table.problems == []
    assert list(table.frame["status"]) == ["SHIPPED", "NEW", "PACKED", "SHIPPED"]


def test_check_reports_a_map_onto_a_word_the_column_does_not_take(
    tmp_path: Path, now: datetime
) -> None:
    settings = shop_settings(
        tmp_path, tabs={"orders": {"values": {"status": {"fulfilled": "SENT"}}}}
    )
    result = run_job("check", settings, now, workbook=MemoryWorkbook(small_shop()))
    found = [p for p in result.problems if "maps" in p.problem]
    assert len(found) == 1
    assert found[0].tab == "Orders" and found[0].column == "Status"
    assert '"fulfilled" to "SENT"' in found[0].problem
    assert "NEW, PACKED" in found[0].fix
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("tabs", "message"),
    [
        ({"orders": {"values": {"colour": {"red": "x"}}}}, "[tabs.orders.values] colour: unknown"),
        ({"orders": {"values": {"status": "SHIPPED"}}}, "expected a table"),
        ({"orders": {"preset": "magento"}}, '"magento" is not a known export layout'),
        ({"returns": {"preset": "shopify"}}, "only the orders and stock tabs"),
        ({"stock": {"preset": "amazon"}}, '"amazon" is not a known stock layout'),
        ({"orders": {"header_row": 0.5}}, "header_row"),
    ],
)
def test_bad_wave2_tab_settings_are_refused_naming_the_key(
    tmp_path: Path, tabs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        shop_settings(tmp_path, tabs=tabs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_decimal_comma_reads_eu_numbers_and_ignores_currency_marks(
    tmp_path: Path, now: datetime
) -> None:
    settings = shop_settings(tmp_path, numbers={"decimal": ","}, currency="EUR")
    table = orders_table(
        settings,
        [
            ORDERS,
            ["1", "2026-11-20", "A", "2", "12,50", "NEW"],
            ["2", "2026-11-20", "B", 1, "1.234,50", "NEW"],
            ["3", "2026-11-20", "C", 1, "12,50 €", "NEW"],
            ["4", "2026-11-20", "D", 1, "EUR 7", "NEW"],
        ],
        now,
    )
    assert table.problems == []
    assert list(table.frame["unit_price"]) == [12.5, 1234.5, 12.5, 7.0]
    assert list(table.frame["qty"]) == [2.0, 1.0, 1.0, 1.0]


def test_a_currency_code_other_than_the_shops_is_a_problem(tmp_path: Path, now: datetime) -> None:
    settings = shop_settings(tmp_path)  # GBP, decimal point
    table = orders_table(
        settings,
        [
            ORDERS,
            ["1", "2026-11-20", "A", 1, "GBP 12.50", "NEW"],
            ["2", "2026-11-20", "B", 1, "£3.20", "NEW"],
            ["3", "2026-11-20", "C", 1, "USD 12.50", "NEW"],
            ["4", "2026-11-20", "D", 1, "12,50", "NEW"],
        ],
        now,
    )
    prices = list(table.frame["unit_price"])
    assert prices[:2] == [12.5, 3.2]
    by_row = {p.row: p for p in table.problems}
    assert set(by_row) == {4, 5}
    assert by_row[4].problem == "an amount in USD, while the shop's currency is GBP"
    assert by_row[4].column == "Unit price" and by_row[4].value == "USD 12.50"
    assert "decimal comma" in by_row[5].problem and '[numbers] decimal = ","' in by_row[5].fix


def test_headers_below_a_title_row_are_found_and_problems_keep_sheet_rows(
    tmp_path: Path, now: datetime
) -> None:
    settings = shop_settings(tmp_path)
    table = orders_table(
        settings,
        [
            ["Orders export — November", None, None],
            [],
            ORDERS,
            ["1", "2026-11-20", "A", 1, 2, "NEW"],
            ["2", "not a date", "B", 1, 2, "NEW"],
        ],
        now,
    )
    assert list(table.frame["order_id"]) == ["1", "2"]
    assert list(table.frame["_row"]) == [4, 5]
    assert [(p.row, p.column) for p in table.problems] == [(5, "Order date")]


def test_header_row_in_the_config_wins_over_detection(tmp_path: Path, now: datetime) -> None:
    settings = shop_settings(tmp_path, tabs={"orders": {"header_row": 2}})
    table = orders_table(
        settings,
        [
            ORDERS,  # a stale copy of the headers above the real ones
            ["Order ID", "Order date", "SKU", "Qty", "Unit price", "Status"],
            ["1", "2026-11-20", "A", 1, 2, "NEW"],
        ],
        now,
    )
    assert list(table.frame["_row"]) == [3]
