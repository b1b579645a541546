"""The `orders` job end to end: the real runner, state, ledger and outbox.

The main scenario runs on both real backends, the .xlsx file and a Google
Sheet served by the local Sheets API emulator; finer behaviours (failed
sends, dry run, problems) run on the xlsx file only, because they do not
depend on the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook as OpenpyxlBook
from openpyxl import load_workbook

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.domain import findings as published
from ops_sheets.domain.calendar import local_days_and_seconds
from ops_sheets.errors import ConfigError
from ops_sheets.mail.transports import OutboxTransport, PermanentDeliveryError, UnknownOutcomeError
from ops_sheets.service.runner import JobResult, run_job
from ops_sheets.sheet.tables import ORDERS, parse_table
from ops_sheets.sheet.workbook.base import Grid, Workbook
from ops_sheets.store.ledger import Ledger
from ops_sheets.store.state import State

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)  # Monday

ORDER_HEADER = [
    "Order ID", "Order date", "Customer", "Email", "Address", "City", "Postcode", "Country",
    "SKU", "Qty", "Unit price", "Forwarder", "Status", "Tracking", "Shipped at", "Delivered at",
    "Notes",
]  # fmt: skip


def order(
    order_id: str,
    sku: str,
    ordered: str,
    status: str,
    forwarder: str | None = "Zip",
    shipped: str | None = None,
    delivered: str | None = None,
    qty: int = 1,
    city: str = "York",
) -> list[Any]:
    return [
        order_id, ordered, f"Customer {order_id}", "c@example.com", "1 High St", city, "YO1 1AA",
        "GB", sku, qty, 9.5, forwarder, status, None, shipped, delivered, f"note {order_id}",
    ]  # fmt: skip


def shop_tabs(extra_ready: int = 0) -> dict[str, list[list[Any]]]:
    orders = [
        ORDER_HEADER,
        order("SO-1", "A-1", "2026-11-18 10:00", "NEW"),  # ship by Thu 19: late
        order("SO-2", "A-1", "2026-11-20 10:00", "READY", qty=2),  # ship by today: book
        order("SO-2", "B-2", "2026-11-20 10:00", "READY"),
        order("SO-3", "C-3", "2026-11-21 10:00", "READY", forwarder="Rapid", city="Leeds"),
        order("SO-4", "A-1", "2026-11-02 10:00", "SHIPPED", shipped="2026-11-03 15:00"),
        order("SO-5", "A-1", "2026-11-19 15:00", "PACKED"),  # ship by today, Zip at 15:00
        order("SO-6", "B-2", "2026-11-19 10:00", "DELIVERED", shipped="2026-11-20 14:00",
              delivered="2026-11-21 10:00"),
        order("SO-7", "A-1", "2026-11-10 10:00", "CANCELLED"),
        order("SO-8", "KIT-9999", "2026-11-23 08:00", "NEW"),
    ]  # fmt: skip
    for i in range(extra_ready):
        orders.append(order(f"SO-{100 + i}", "A-1", "2026-11-20 11:00", "READY"))
    return {
        "Stock": [["SKU", "On hand"], ["A-1", 10 + extra_ready], ["B-2", 5], ["C-3", 2]],
        "Suppliers": [["Supplier", "Email"]],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": orders,
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [
            ["Forwarder", "Email", "Pickup cutoff", "Pickup days", "Account"],
            ["Zip", "pickups@zip.example", "15:00", "Mon-Fri", "ZIP-123"],
            ["Rapid", "desk@rapid.example", "16:30", "Mon, Wed, Fri", "R-9"],
        ],
        # as `init` makes it: on Google a tab the job reads that is not there costs a
        # failed read and a metadata request
        "Kits": [["Kit SKU", "Component SKU", "Qty"]],
    }


def make_settings(tmp_path: Path, **orders: Any) -> dict[str, Any]:
    return {
        "timezone": "Europe/London",
        "shop_name": "Harbour & Pine",
        "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
        "mail": {"transport": "outbox", "outbox_dir": "outbox", "sender": "Ops <ops@shop.example>"},
        "state": {"path": "state.db"},
        "jobs": {
            "orders": {"at_risk_hours": 8.0, "collection_address": "Unit 4\nBristol", **orders}
        },
    }


# ---------------------------------------------------------------- backends


@dataclass
class Shop:
    """One shop on one backend: open a workbook, run the job, read and edit rows."""

    kind: str
    settings: Settings
    open: Callable[[], Workbook]
    append: Callable[[str, list[list[Any]]], None]
    emulator: Any = None

    def run(self, now: datetime = NOW, **kw: Any) -> JobResult:
        wb = self.open()
        try:
            return run_job("orders", self.settings, now, workbook=wb, **kw)
        finally:
            wb.close()

    def rows(self, tab: str) -> list[list[Any]]:
        wb = self.open()
        try:
            return wb.read([tab])[tab].rows
        finally:
            wb.close()

    def orders(self) -> pd.DataFrame:
        table = parse_table(ORDERS, Grid("Orders", self.rows("Orders")), LONDON, self.settings)
        f = table.frame
        days, _ = local_days_and_seconds(f["ship_by"], LONDON)
        f["ship_by_date"] = [None if np.isnat(d) else d.astype(date) for d in days]
        f["key"] = f["order_id"] + "/" + f["sku"]
        return f.set_index("key")

    def status(self) -> dict[str, str | None]:
        return self.orders()["ops_status"].to_dict()

    def outbox(self) -> dict[str, EmailMessage]:
        folder = self.settings.resolve("outbox")
        out = {}
        for path in sorted(folder.glob("*.eml")):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            out[str(msg["X-Ops-Key"])] = msg
        return out


def xlsx_shop(tmp_path: Path, tabs: dict[str, list[list[Any]]], **orders: Any) -> Shop:
    from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

    path = tmp_path / "workbook.xlsx"
    book = OpenpyxlBook()
    book.remove(book.active)
    for title, rows in tabs.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)

    def append(tab: str, rows: list[list[Any]]) -> None:
        book = load_workbook(path)
        for row in rows:
            book[tab].append(row)
        book.save(path)

    settings = settings_from_dict(make_settings(tmp_path, **orders), base_dir=tmp_path)
    return Shop("xlsx", settings, lambda: XlsxWorkbook(path), append)


def google_shop(
    tmp_path: Path, tabs: dict[str, list[list[Any]]], emulator: Any, **orders: Any
) -> Shop:
    from ops_sheets.sheet.workbook.google import GoogleWorkbook

    sid = emulator.create_spreadsheet(title="Shop", sheets=tabs)
    data = make_settings(tmp_path, **orders)
    data["workbook"] = {"backend": "google", "spreadsheet_id": sid}
    settings = settings_from_dict(data, base_dir=tmp_path)

    def append(tab: str, rows: list[list[Any]]) -> None:
        emulator.spreadsheet(sid).append_rows(tab, rows)

    return Shop(
        "google",
        settings,
        lambda: GoogleWorkbook.from_settings(settings, emulator=emulator.host_port),
        append,
        emulator,
    )


@pytest.fixture
def emulator() -> Iterator[Any]:
    from ops_sheets.emulator import SheetsEmulator

    with SheetsEmulator() as emu:
        yield emu


@pytest.fixture(params=["xlsx", "google"])
def make_shop(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Shop]:
    made = iter(range(100))

    def make(tabs: dict[str, list[list[Any]]] | None = None, **orders: Any) -> Shop:
        tabs = tabs or shop_tabs()
        folder = tmp_path / f"shop{next(made)}"  # its own workbook, state and outbox
        folder.mkdir()
        if request.param == "xlsx":
            return xlsx_shop(folder, tabs, **orders)
        return google_shop(folder, tabs, request.getfixturevalue("emulator"), **orders)

    return make


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return xlsx_shop(tmp_path, shop_tabs())


# ---------------------------------------------------------------- both backends


def test_orders_job_writes_deadlines_and_statuses_and_books_each_parcel_once(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop()
    result = shop.run()
    assert result.error == ""

    f = shop.orders()
    assert f.loc["SO-1/A-1", "ship_by_date"] == date(2026, 11, 19)
    assert f.loc["SO-5/A-1", "ship_by_date"] == date(2026, 11, 23)
    assert shop.status() == {
        "SO-1/A-1": "LATE 2 BUSINESS DAYS",
        "SO-2/A-1": "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP",
        "SO-2/B-2": "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP",
        "SO-3/C-3": "PICKUP REQUESTED 2026-11-23 PU-20261123-RAPI",
        "SO-4/A-1": "IN TRANSIT 20 DAYS",
        "SO-5/A-1": "AT RISK 6 HOURS LEFT",
        "SO-6/B-2": "SHIPPED ON TIME",
        "SO-7/A-1": "CANCELLED",
        "SO-8/KIT-9999": None,
    }
    assert f.loc["SO-8/KIT-9999", "problems"] == "SKU: unknown SKU 'KIT-9999': not on the Stock tab"
    assert list(f["Notes"]) == [f"note {k.split('/')[0]}" for k in f.index]  # team column kept

    mails = shop.outbox()
    assert sorted(mails) == ["pickup:PU-20261123-RAPI", "pickup:PU-20261123-ZIP"]
    zip_mail = mails["pickup:PU-20261123-ZIP"]
    assert zip_mail["To"] == "pickups@zip.example"
    assert "ZIP-123" in zip_mail["Subject"]
    text = zip_mail.get_body(("plain",)).get_content()
    assert "Order SO-2 to York YO1 1AA, GB: 2 lines, 3 units" in text
    (manifest,) = [
        p for p in zip_mail.iter_attachments() if p.get_filename() == "PU-20261123-ZIP.csv"
    ]
    assert b'"SO-2","Customer SO-2","1 High St","York"' in manifest.get_payload(decode=True)

    # Re-running any number of times books each parcel once.
    for _ in range(3):
        again = shop.run()
        assert again.error == ""
        assert again.counts["pickup_requests"] == 0
    assert sorted(shop.outbox()) == ["pickup:PU-20261123-RAPI", "pickup:PU-20261123-ZIP"]
    assert shop.status()["SO-2/A-1"] == "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"

    # A parcel made ready later that morning goes into an additional request...
    shop.append("Orders", [order("SO-9", "A-1", "2026-11-23 08:00", "READY")])
    shop.run(datetime(2026, 11, 23, 11, 0, tzinfo=LONDON))
    extra = shop.outbox()["pickup:PU-20261123-ZIP-2"]
    assert extra["Subject"].startswith("Additional pickup")
    assert shop.status()["SO-9/A-1"] == "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP-2"
    # ... and one made ready after the cutoff waits for the next pickup day.
    shop.append("Orders", [order("SO-10", "A-1", "2026-11-23 12:00", "READY")])
    shop.run(datetime(2026, 11, 23, 15, 30, tzinfo=LONDON))
    assert shop.status()["SO-10/A-1"] == "PICKUP REQUESTED 2026-11-24 PU-20261124-ZIP"
    assert len(shop.outbox()) == 4


def _requests_of_a_booking_run(folder: Path, emulator: Any, extra_ready: int) -> tuple[int, int]:
    folder.mkdir()
    shop = google_shop(folder, shop_tabs(extra_ready), emulator)
    shop.run()  # creates the service columns and books what is READY
    shop.append("Orders", [order("SO-99", "A-1", "2026-11-23 08:00", "READY")])
    emulator.reset_counts()
    result = shop.run(datetime(2026, 11, 23, 11, 0, tzinfo=LONDON))
    assert result.counts["pickup_requests"] == 1  # a request was sent: the busiest kind of run
    return emulator.count(), emulator.count("write")


def test_api_requests_per_run_stay_constant_in_the_number_of_rows(
    tmp_path: Path, emulator: Any
) -> None:
    small = _requests_of_a_booking_run(tmp_path / "small", emulator, 5)
    large = _requests_of_a_booking_run(tmp_path / "large", emulator, 400)
    assert small == large
    total, writes = large
    assert total <= 4 and writes <= 2, large


# ---------------------------------------------------------------- one backend


def _state(shop: Shop) -> State:
    return State(shop.settings.resolve("state.db"))


def test_state_remembers_requests_and_hands_findings_to_the_monitor(shop: Shop) -> None:
    shop.run()
    state = _state(shop)
    try:
        requests = state.items("orders.pickups")
        found = [f for f in published.current(state) if f.source == "orders"]
    finally:
        state.close()
    zip_req = requests["PU-20261123-ZIP"]
    assert zip_req["email_key"] == "pickup:PU-20261123-ZIP"
    assert zip_req["lines"] == [["SO-2", "A-1"], ["SO-2", "B-2"]]
    assert (zip_req["pickup_date"], zip_req["sequence"], zip_req["additional"]) == (
        "2026-11-23",
        1,
        False,
    )
    assert found == []  # nothing about pickups the manager must hear yet


class FailingOutbox(OutboxTransport):
    """The outbox, except that sending raises ``error`` (after handing over, if asked)."""

    def __init__(self, directory: Path, error: Exception, handed_over: bool) -> None:
        super().__init__(directory)
        self.error = error
        self.handed_over = handed_over

    def send(self, msg: EmailMessage, on_handover: Any = None) -> None:
        if self.handed_over and on_handover is not None:
            on_handover()
        raise self.error


def test_a_request_with_unknown_outcome_is_never_booked_again_automatically(shop: Shop) -> None:
    broken = FailingOutbox(shop.settings.resolve("outbox"), UnknownOutcomeError("timeout"), True)
    shop.run(transport=broken)
    status = shop.status()["SO-2/A-1"]
    assert status is None or "PICKUP REQUESTED" not in status  # not confirmed by the ledger
    for _ in range(2):
        result = shop.run()
        assert result.counts["pickup_requests"] == 0
    assert shop.status()["SO-2/A-1"] == "PICKUP REQUEST UNCONFIRMED 2026-11-23 PU-20261123-ZIP"
    assert "pickup:PU-20261123-ZIP" not in shop.outbox()
    ledger = Ledger(shop.settings.resolve("state.db"))
    try:  # monitor reports it from here (email:<key>)
        assert "pickup:PU-20261123-ZIP" in [r.key for r in ledger.awaiting_review()]
    finally:
        ledger.close()
    # the manager confirms it arrived: the lines count as booked
    ledger = Ledger(shop.settings.resolve("state.db"))
    try:
        ledger.review("pickup:PU-20261123-ZIP", "sent", NOW)
    finally:
        ledger.close()
    shop.run()
    assert shop.status()["SO-2/A-1"] == "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"


def test_a_refused_request_waits_until_the_forwarder_email_is_corrected(shop: Shop) -> None:
    broken = FailingOutbox(
        shop.settings.resolve("outbox"), PermanentDeliveryError("550 no such user"), False
    )
    shop.run(transport=broken)
    shop.run()
    assert shop.status()["SO-2/A-1"] == "PICKUP REQUEST FAILED 2026-11-23 PU-20261123-ZIP"
    assert "pickup:PU-20261123-ZIP" not in shop.outbox()
    # correct the address: the parcels go into a new request to the new address
    book = load_workbook(shop.settings.resolve("workbook.xlsx"))
    book["Forwarders"]["B2"] = "collect@zip.example"
    book.save(shop.settings.resolve("workbook.xlsx"))
    shop.run()
    new = shop.outbox()["pickup:PU-20261123-ZIP-2"]
    assert new["To"] == "collect@zip.example"
    assert shop.status()["SO-2/A-1"] == "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP-2"


def test_an_invalid_forwarder_address_is_a_problem_and_is_retried_once_fixed(shop: Shop) -> None:
    book = load_workbook(shop.settings.resolve("workbook.xlsx"))
    book["Forwarders"]["B2"] = "pickups@zip, other@zip.example"
    book.save(shop.settings.resolve("workbook.xlsx"))
    result = shop.run()
    assert any(p.tab == "Forwarders" and p.row == 2 for p in result.problems)
    assert "pickup:PU-20261123-ZIP" not in shop.outbox()
    assert shop.status()["SO-2/A-1"] is None or "PICKUP" not in shop.status()["SO-2/A-1"]
    book = load_workbook(shop.settings.resolve("workbook.xlsx"))
    book["Forwarders"]["B2"] = "pickups@zip.example"
    book.save(shop.settings.resolve("workbook.xlsx"))
    shop.run()
    # a new request (keys are never reused); the forwarder sees no earlier one that day
    mail = shop.outbox()["pickup:PU-20261123-ZIP-2"]
    assert mail["Subject"].startswith("Pickup request")
    assert shop.status()["SO-2/A-1"] == "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP-2"


def test_two_runs_at_once_never_share_a_request_key(shop: Shop) -> None:
    # another run (say `serve` while someone types `ops-sheets run orders`) took number 1
    state = _state(shop)
    try:
        state.next_in_sequence("orders.pickups:Zip:2026-11-23")
    finally:
        state.close()
    shop.run()
    assert "pickup:PU-20261123-ZIP-2" in shop.outbox()
    assert "pickup:PU-20261123-ZIP" not in shop.outbox()


def test_dry_run_changes_nothing_and_lists_the_pickup_emails(shop: Shop) -> None:
    before = shop.rows("Orders")
    result = shop.run(dry_run=True)
    assert shop.rows("Orders") == before
    assert shop.outbox() == {}
    text = "\n".join(result.notes + result.dry_run_lines)
    assert "pickup:PU-20261123-ZIP" in text
    assert "LATE 2 BUSINESS DAYS" in text


def test_forwarder_problems_land_on_the_forwarders_tab_and_the_order_rows(tmp_path: Path) -> None:
    tabs = shop_tabs()
    tabs["Forwarders"][1] = ["Zip", None, "15:00", "Mon-Fri", None]
    tabs["Forwarders"][2] = ["Rapid", "desk@rapid.example", "16:30", "Mon to Fry", "R-9"]
    shop = xlsx_shop(tmp_path, tabs)
    result = shop.run()
    where = {(p.tab, p.row, p.column) for p in result.problems}
    assert ("Forwarders", 2, "Email") in where
    assert ("Forwarders", 3, "Pickup days") in where
    assert result.counts["pickup_requests"] == 0
    f = shop.orders()
    assert "not booked for pickup: Zip has no Email" in f.loc["SO-2/A-1", "problems"]
    assert "Pickup days of Rapid cannot be read" in f.loc["SO-3/C-3", "problems"]


def test_a_second_run_writes_only_what_changed(shop: Shop) -> None:
    shop.run()
    result = shop.run()
    assert result.counts["order_rows_updated"] == 0
    later = shop.run(datetime(2026, 11, 24, 9, 0, tzinfo=LONDON))
    assert later.counts["order_rows_updated"] > 0
    assert shop.status()["SO-5/A-1"] == "LATE 1 BUSINESS DAY"


def test_bad_orders_settings_are_a_config_error_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[jobs.orders\] holidays: \"next friday\""):
        xlsx_shop(tmp_path, shop_tabs(), holidays=["next friday"])  # refused as it loads


def test_parcels_not_shipped_after_their_pickup_day_are_handed_to_the_monitor(shop: Shop) -> None:
    shop.run()
    shop.run(datetime(2026, 11, 24, 9, 0, tzinfo=LONDON))  # nobody marked them shipped
    state = _state(shop)
    try:
        found = {f.key: f for f in published.current(state) if f.source == "orders"}
    finally:
        state.close()
    assert sorted(found) == ["pickup-overdue:PU-20261123-RAPI", "pickup-overdue:PU-20261123-ZIP"]
    assert found["pickup-overdue:PU-20261123-ZIP"].metric == 2  # two lines of SO-2
    assert shop.status()["SO-2/A-1"] == (
        "LATE 1 BUSINESS DAY; PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"
    )


def test_a_dry_run_after_a_real_run_knows_what_was_booked(shop: Shop) -> None:
    import sqlite3

    def dump() -> list[str]:
        # the content, not the bytes: SQLite may checkpoint its WAL at any time
        conn = sqlite3.connect(shop.settings.resolve(shop.settings.state.path))
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    shop.run()
    before = dump()
    result = shop.run(dry_run=True)
    text = "\n".join(result.notes + result.dry_run_lines)
    assert "email pickup:" not in text  # nothing booked twice, even on paper
    assert dump() == before
