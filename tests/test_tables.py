from __future__ import annotations

import contextlib
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops_sheets.config import settings_from_dict
from ops_sheets.sheet.tables import (
    ORDERS,
    STOCK,
    CellError,
    parse_bool,
    parse_datetime,
    parse_enum,
    parse_number,
    parse_table,
    parse_time,
)
from ops_sheets.sheet.workbook.base import Grid

TZ = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12.0),
        ("12.0", 12.0),
        ("1,234", 1234.0),
        ("1,234.50", 1234.5),
        (" 7 ", 7.0),
        ("£3.20", 3.2),
        ("-2", -2.0),
        ("", None),
        (None, None),
        ("1e3", 1000.0),
    ],
)
def test_numbers_parse_as_people_type_them(raw: object, expected: float | None) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["twelve", "12,5", "1.2.3", True, "12 boxes", float("nan")])
def test_bad_numbers_say_what_a_number_looks_like(raw: object) -> None:
    with pytest.raises(CellError) as err:
        parse_number(raw)
    assert "type a number" in err.value.fix or "point for decimals" in err.value.fix


@given(st.floats(min_value=-1e9, max_value=1e9, width=32))
def test_any_number_within_the_limit_round_trips_through_text(x: float) -> None:
    assert parse_number(repr(float(x))) == pytest.approx(float(x))


@pytest.mark.parametrize(
    "raw", [1e308, "1e308", "1e309", "-2e9", 1_000_000_001, float("inf"), "£2,000,000,000"]
)
def test_numbers_beyond_a_billion_or_not_finite_are_problems(raw: object) -> None:
    with pytest.raises(CellError, match="beyond ±1,000,000,000|not a finite number"):
        parse_number(raw)


def test_a_billion_itself_is_still_a_number() -> None:
    assert parse_number("1e9") == 1e9 and parse_number(-1_000_000_000) == -1e9


@given(st.text(max_size=20))
def test_number_parser_never_crashes_on_text(text: str) -> None:
    with contextlib.suppress(CellError):
        parse_number(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=TZ)),
        ("26/11/2026", datetime(2026, 11, 26, tzinfo=TZ)),
        ("26/11/2026 14:30", datetime(2026, 11, 26, 14, 30, tzinfo=TZ)),
        ("2026-11-26T14:30:00Z", datetime(2026, 11, 26, 14, 30, tzinfo=TZ)),
        ("2026-07-01T12:00:00+00:00", datetime(2026, 7, 1, 13, 0, tzinfo=TZ)),
        (46352, datetime(2026, 11, 26, tzinfo=TZ)),
        (46352.5, datetime(2026, 11, 26, 12, 0, tzinfo=TZ)),
        ("46352", datetime(2026, 11, 26, tzinfo=TZ)),
        (date(2026, 11, 26), datetime(2026, 11, 26, tzinfo=TZ)),
        (datetime(2026, 11, 26, 8, 0), datetime(2026, 11, 26, 8, 0, tzinfo=TZ)),
    ],
)
def test_dates_parse_from_iso_uk_and_serial_numbers(raw: object, expected: datetime) -> None:
    assert parse_datetime(raw, TZ) == expected


def test_month_first_when_configured() -> None:
    assert parse_datetime("03/04/2026", TZ, day_first=False) == datetime(2026, 3, 4, tzinfo=TZ)


@pytest.mark.parametrize("raw", ["31/11/2026", "2026-13-05", "tomorrow", 12, True])
def test_bad_dates_are_problems(raw: object) -> None:
    with pytest.raises(CellError):
        parse_datetime(raw, TZ)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", True),
        ("No", False),
        ("TRUE", True),
        ("0", False),
        (1, True),
        ("✓", True),
        ("", None),
    ],
)
def test_booleans(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) == expected


def test_enums_ignore_case_and_separators() -> None:
    assert parse_enum("on_hold", ("ON HOLD",)) == "ON HOLD"
    assert parse_enum(" shipped ", ("SHIPPED",)) == "SHIPPED"
    with pytest.raises(CellError, match="known status") as err:
        parse_enum("sent?", ("SENT",))
    assert "use one of: SENT" in err.value.fix


def test_times_of_day() -> None:
    assert parse_time("15:00") == time(15, 0)
    assert parse_time(0.625) == time(15, 0)
    with pytest.raises(CellError):
        parse_time("25:00")


def grid(rows: list[list[object]]) -> Grid:
    return Grid("Stock", rows)


def test_headers_match_ignoring_case_spaces_and_punctuation() -> None:
    t = parse_table(STOCK, grid([["sku", "ON_HAND", "Lead-time days."], ["A", 3, 4]]), TZ)
    assert t.problems == []
    assert t.frame.loc[0, "on_hand"] == 3.0
    assert t.frame.loc[0, "lead_time_days"] == 4.0
    assert t.headers["on_hand"] == "ON_HAND"


def test_renamed_columns_and_tab_from_config() -> None:
    s = settings_from_dict(
        {
            "tabs": {
                "stock": {
                    "name": "Inventory",
                    "columns": {"sku": "Item code", "on_hand": "Qty in stock"},
                }
            }
        }
    )
    t = parse_table(STOCK, Grid("Inventory", [["Item code", "Qty in stock"], ["X", 1]]), TZ, s)
    assert t.title == "Inventory"
    assert t.frame.loc[0, "sku"] == "X"
    assert t.header("sku") == "Item code"


def test_numeric_looking_keys_stay_text_and_extra_columns_are_kept() -> None:
    t = parse_table(
        STOCK, grid([["SKU", "On hand", "Shelf"], ["00123", 1, "B4"], [456.0, 2, "C1"]]), TZ
    )
    assert list(t.frame["sku"]) == ["00123", "456"]
    assert list(t.frame["Shelf"]) == ["B4", "C1"]


def test_bad_cells_become_problems_with_row_column_and_fix_and_the_rest_is_kept() -> None:
    t = parse_table(
        STOCK, grid([["SKU", "On hand", "Pack size"], ["A", "twelve", 6], ["B", 4, 0]]), TZ
    )
    assert len(t.frame) == 2
    p1, p2 = t.problems
    assert (p1.row, p1.column, p1.key, p1.value, p1.problem) == (
        2,
        "On hand",
        "A",
        "twelve",
        "not a number",
    )
    assert (p2.row, p2.column) == (3, "Pack size")
    assert "at least 1" in p2.fix


def test_duplicate_and_blank_keys_are_problems_and_rows_are_marked_unusable() -> None:
    t = parse_table(STOCK, grid([["SKU", "On hand"], ["A", 1], ["", 2], ["A", 3], ["B", 4]]), TZ)
    assert [p.row for p in t.problems] == [3, 2, 4]
    assert "rows 2, 4" in t.problems[1].problem
    assert list(t.rows_ok()["sku"]) == ["B"]


def test_missing_required_column_makes_the_tab_unusable_with_one_problem() -> None:
    t = parse_table(STOCK, grid([["SKU", "Product"], ["A", "Mug"]]), TZ)
    assert t.frame.empty
    assert len(t.problems) == 1
    assert "required column 'On hand' is missing" in t.problems[0].problem


def test_blank_rows_are_skipped_and_row_numbers_are_the_sheets() -> None:
    t = parse_table(STOCK, grid([["SKU", "On hand"], ["A", 1], [None, ""], ["B", 2]]), TZ)
    assert list(t.frame["_row"]) == [2, 4]


def test_order_dates_are_aware_in_the_business_zone() -> None:
    t = parse_table(
        ORDERS,
        Grid(
            "Orders",
            [
                ["Order ID", "Order date", "SKU", "Qty", "Status"],
                ["1", "2026-07-01 10:00", "A", 1, "new"],
            ],
        ),
        TZ,
    )
    ts = t.frame.loc[0, "order_date"]
    assert str(ts.tz) == "Europe/London" and ts.hour == 10
    assert t.frame.loc[0, "status"] == "NEW"


def orders_grid(*dates: object) -> Grid:
    header = ["Order ID", "Order date", "SKU", "Qty", "Status"]
    return Grid("Orders", [header, *([f"SO-{i}", d, "A", 1, "NEW"] for i, d in enumerate(dates))])


def test_dates_outside_2000_to_two_years_ahead_are_problems_never_values() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    t = parse_table(
        ORDERS,
        orders_grid(
            "31/12/9999",
            "1999-12-31 23:59",
            "2000-01-01",
            "23/11/2028 23:00",  # the last day of the window still counts
            "24/11/2028",
            datetime(2026, 11, 20, 10, 0),
        ),
        TZ,
        now=now,
    )
    bad = {(p.row, p.column): p for p in t.problems}
    assert set(bad) == {(2, "Order date"), (3, "Order date"), (6, "Order date")}
    assert bad[(2, "Order date")].value == "31/12/9999"
    assert bad[(2, "Order date")].problem == "a date outside 2000-01-01 … 2028-11-23"
    assert "check the year" in bad[(2, "Order date")].fix
    dates = t.frame["order_date"]
    assert dates.isna().tolist() == [True, True, False, False, True, False]
    assert len(t.frame) == 6  # the rows stay; only the bad cells are blank


def test_a_number_beyond_the_limit_is_a_problem_row_with_its_cell() -> None:
    t = parse_table(STOCK, grid([["SKU", "On hand"], ["A", "1e308"], ["B", 5]]), TZ)
    (p,) = t.problems
    assert (p.row, p.column, p.key, p.value) == (2, "On hand", "A", "1e308")
    assert t.frame["on_hand"].isna().tolist() == [True, False]
