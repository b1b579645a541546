"""``JobContext.set_rows``: many rows' service cells at once, exactly as ``set`` row
by row (the same updates, the same optional columns declared, the same refusals)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from ops_sheets.config import Settings
from ops_sheets.errors import JobError
from ops_sheets.service.runner import JobContext, parse_tables
from ops_sheets.sheet.workbook.memory import MemoryWorkbook


def _context(shop: MemoryWorkbook, settings: Settings, now: datetime) -> JobContext:
    grids = shop.read(["Stock", "Orders"])
    tables = parse_tables(grids, ["stock", "orders"], settings)
    return JobContext("test", settings, now, tables, clock=lambda: now)


def _rows(now: datetime) -> list[tuple[dict[str, object], dict[str, object]]]:
    return [
        ({"sku": "A-1"}, {"stock_status": "OK", "checked_at": now}),
        ({"sku": np.str_("00123")}, {"stock_status": None, "available": np.float64(3.0)}),
        ({"sku": 123.0}, {"committed": np.int64(2), "available": float("nan")}),
        ({"sku": "B-2"}, {"checked_at": pd.Timestamp(now), "stock_status": "LOW"}),
        ({"sku": "C-3"}, {}),
    ]


def test_set_rows_records_what_set_row_by_row_records(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    one_by_one = _context(shop, settings, now)
    for key, values in _rows(now):
        one_by_one.set("stock", key, values)
    at_once = _context(shop, settings, now)

    at_once.set_rows("stock", _rows(now))

    assert at_once.changes.updates == one_by_one.changes.updates
    assert at_once.changes.headers == one_by_one.changes.headers  # optional columns too
    assert {"Available", "Committed"} <= set(at_once.changes.headers["Stock"])
    assert at_once.changes.anchors == one_by_one.changes.anchors


def test_set_rows_refuses_a_team_column_after_the_rows_before_it(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    rows = [({"sku": "A-1"}, {"stock_status": "OK"}), ({"sku": "B-2"}, {"on_hand": 5})]
    ctx = _context(shop, settings, now)
    with pytest.raises(JobError, match="belongs to the team"):
        ctx.set_rows("stock", rows)
    assert [u.key for u in ctx.changes.updates] == [{"SKU": "A-1"}]


def test_set_rows_writes_dates_as_the_sheet_shows_them(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    ctx = _context(shop, settings, now)
    ctx.set_rows("orders", [({"order_id": "SO-1", "sku": "A-1"}, {"ship_by": date(2026, 11, 24)})])
    (update,) = ctx.changes.updates
    assert update.values == {"Ship by": date(2026, 11, 24)}
