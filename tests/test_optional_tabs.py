"""A tab a shop may not have (Kits) is looked for once a day, not on every run:
on Google, asking for a missing tab costs a failed read and a metadata request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from test_job_orders import NOW, google_shop, shop_tabs

from ops_sheets.service.runner import MISSING_TAB
from ops_sheets.store.state import State


def _operations(emulator: Any) -> list[str]:
    return [r.operation for r in emulator.requests]


def test_a_shop_without_kits_pays_for_looking_once_a_day(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    tabs = shop_tabs()
    del tabs["Kits"]  # a shop from before kits, that has not run `init` since
    shop = google_shop(tmp_path, tabs, sheets_emulator)
    shop.run(NOW)  # finds the Kits tab missing (and makes the service tabs)

    sheets_emulator.reset_counts()
    shop.run(NOW + timedelta(hours=1))
    assert "spreadsheets.get" not in _operations(sheets_emulator)
    assert sheets_emulator.count() <= 4 and sheets_emulator.count("write") <= 2

    # the team adds kits: the next look, a day later, finds them
    sid = shop.settings.workbook.spreadsheet_id
    sheets_emulator.spreadsheet(sid).add_sheet("Kits")
    sheets_emulator.spreadsheet(sid).set_values(
        "Kits", "A1", [["Kit SKU", "Component SKU", "Qty"], ["A-1", "B-2", 2]]
    )
    shop.run(NOW + timedelta(hours=2))
    assert _missing_since(shop, sid) is not None  # not looked for again yet
    shop.run(NOW + timedelta(hours=26))
    assert _missing_since(shop, sid) is None  # looked for, and found


def _missing_since(shop: Any, sid: str) -> str | None:
    """When the state last found the Kits tab missing (None: found)."""
    state = State(shop.settings.resolve(shop.settings.state.path))
    try:
        return state.get(MISSING_TAB, f"Google Sheet {sid}|Kits")
    finally:
        state.close()
