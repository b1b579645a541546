"""Fixtures that build real, cheap objects: settings, workbooks, a fixed `now`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.sheet.workbook.memory import MemoryWorkbook

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
        },
        base_dir=tmp_path,
        source="test-config.toml",
    )


def small_shop() -> dict[str, list[list[object]]]:
    """Three SKUs, two orders, one supplier, one forwarder: enough to see every rule."""
    return {
        "Stock": [
            ["SKU", "Product", "Supplier", "On hand", "Notes by team"],
            ["A-1", "Mug", "Acme", 10, "keep"],
            ["00123", "Plate", "Acme", "1,234", ""],
            ["B-2", "Bowl", "Acme", 0, "reorder soon"],
        ],
        "Suppliers": [["Supplier", "Email"], ["Acme", "orders@acme.example"]],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": [
            [
                "Order ID",
                "Order date",
                "Customer",
                "SKU",
                "Qty",
                "Status",
                "Address",
                "City",
                "Postcode",
                "Country",
                "Shipped at",
            ],
            [
                "SO-1",
                "2026-11-20 10:00",
                "Ann",
                "A-1",
                1,
                "shipped",
                "1 High St",
                "York",
                "YO1 1AA",
                "UK",
                "2026-11-20 16:00",
            ],
            [
                "SO-2",
                "21/11/2026",
                "Bob",
                "B-2",
                2,
                "NEW",
                "2 Low Rd",
                "Leeds",
                "LS1 1AA",
                "UK",
                None,
            ],
        ],
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [
            ["Forwarder", "Email", "Pickup cutoff", "Pickup days"],
            ["Zip", "z@zip.example", "15:00", "Mon-Fri"],
        ],
    }


@pytest.fixture
def shop() -> MemoryWorkbook:
    return MemoryWorkbook(small_shop())


@pytest.fixture(scope="session")
def emulator():
    """One local Sheets API emulator for the whole run; each test makes its own sheet."""
    from ops_sheets.emulator import SheetsEmulator

    with SheetsEmulator() as emu:
        yield emu


@pytest.fixture
def fresh_emulator(emulator):
    """The shared emulator with faults, hooks and counters cleared."""
    emulator.faults.clear()
    emulator.clear_hooks()
    emulator.reset_counts()
    yield emulator
    emulator.faults.clear()
    emulator.clear_hooks()


@pytest.fixture
def sheets_emulator(fresh_emulator, monkeypatch):
    """The emulator, with SHEETS_EMULATOR_HOST set the way a user would set it."""
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fresh_emulator.host_port)
    return fresh_emulator


# Both stores (SQLite and a throwaway PostgreSQL server) for the store tests (issue 21).
from storefixtures import pg_url, store_location  # noqa: E402, F401
