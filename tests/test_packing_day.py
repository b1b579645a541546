"""Packing day (issue 22): payment and address holds, probable double orders, the
Pick list tab and packing slips — the real ``orders`` job on a real .xlsx file,
with its state, ledger and outbox; slips read back with pypdf."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook as OpenpyxlBook
from openpyxl import load_workbook
from pypdf import PdfReader

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.domain import packing as pk
from ops_sheets.service.runner import JobResult, run_job
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)  # Monday; Zip collects today at 15:00

HEADER = [
    "Order ID", "Order date", "Customer", "Email", "Address", "City", "State", "Postcode",
    "Country", "SKU", "Qty", "Forwarder", "Status", "Payment", "Shipped at",
]  # fmt: skip
FRI = "2026-11-20 10:00"  # ship by Mon 23: due by today's pickup


def line(
    oid: str,
    sku: str,
    qty: int = 1,
    *,
    at: str = FRI,
    email: str | None = None,
    city: str = "London",
    state: str | None = None,
    postcode: str = "SW1A 2AA",
    country: str = "United Kingdom",
    status: str = "NEW",
    payment: str | None = None,
) -> list[Any]:
    return [
        oid, at, f"Customer {oid}", email or f"{oid.lower()}@example.com", "10 Downing Street",
        city, state, postcode, country, sku, qty, "Zip", status, payment, None,
    ]  # fmt: skip


def tabs() -> dict[str, list[list[Any]]]:
    return {
        "Stock": [
            ["SKU", "Product", "On hand", "Location"],
            ["A-1", "Linen apron", 50, "A-10"],
            ["B-2", "Tea towel", 50, "A-2"],
            ["C-3", "Oven glove", 50, "B-1"],
            ["D-4", "Bread bin", 50, None],
            ["E-5", "Butter dish", 50, "C-1"],
        ],
        "Suppliers": [["Supplier", "Email"]],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": [
            HEADER,
            # three orders sharing SKUs, all due by today's pickup
            line("SO-1", "A-1", 2),
            line("SO-1", "B-2", 1),
            line("SO-2", "A-1", 1, city="New York, NY", postcode="10118", country="USA"),
            line("SO-2", "C-3", 1, city="New York, NY", postcode="10118", country="USA"),
            line("SO-3", "B-2", 3, city="Berlin", postcode="10117", country="DE", status="READY"),
            # unpaid, READY: held, a Problems row, never booked
            line("SO-4", "A-1", 1, status="READY", payment="PENDING"),
            # a postcode one letter too long: held for its address
            line("SO-5", "C-3", 1, postcode="SW1A 1AAA"),
            # the same customer ordering the same thing twice in 40 minutes
            line("SO-6", "D-4", 1, email="Dup@Example.com"),
            line("SO-7", "D-4", 1, at="2026-11-20 10:40", email="dup@example.com"),
            # ordered this morning: ship by tomorrow, not on today's list
            line("SO-9", "E-5", 1, at="2026-11-23 08:00"),
        ],
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [
            ["Forwarder", "Email", "Pickup cutoff", "Pickup days", "Account"],
            ["Zip", "pickups@zip.example", "15:00", "Mon-Fri", "ZIP-123"],
        ],
        "Kits": [["Kit SKU", "Component SKU", "Qty"]],
    }


class Shop:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "workbook.xlsx"
        book = OpenpyxlBook()
        book.remove(book.active)
        for title, rows in tabs().items():
            ws = book.create_sheet(title)
            for row in rows:
                ws.append(row)
        book.save(self.path)
        self.settings: Settings = settings_from_dict(
            {
                "timezone": "Europe/London",
                "shop_name": "Harbour & Pine",
                "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
                "mail": {
                    "transport": "outbox",
                    "outbox_dir": "outbox",
                    "sender": "Ops <ops@shop.example>",
                },
                "state": {"path": "state.db"},
                "jobs": {"orders": {"packing_slips_dir": "slips"}},
            },
            base_dir=folder,
        )
        self.slips = folder / "slips"

    def run(self, **kw: Any) -> JobResult:
        wb = XlsxWorkbook(self.path)
        try:
            return run_job("orders", self.settings, NOW, workbook=wb, **kw)
        finally:
            wb.close()

    def rows(self, tab: str) -> list[tuple[Any, ...]]:
        book = load_workbook(self.path, read_only=True)
        try:
            return [tuple(r) for r in book[tab].iter_rows(values_only=True)]
        finally:
            book.close()

    def by_line(self, column: str) -> dict[str, Any]:
        rows = self.rows("Orders")
        head = list(rows[0])
        oid, sku, col = head.index("Order ID"), head.index("SKU"), head.index(column)
        return {f"{r[oid]}/{r[sku]}": r[col] for r in rows[1:]}

    def set_cell(self, order_id: str, sku: str, column: str, value: Any) -> None:
        book = load_workbook(self.path)
        ws = book["Orders"]
        head = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            if row[0].value == order_id and row[head.index("SKU")].value == sku:
                row[head.index(column)].value = value
        book.save(self.path)

    def slip_text(self, name: str) -> str:
        return "\n".join(p.extract_text() for p in PdfReader(self.slips / name).pages)

    def slip_files(self) -> dict[str, tuple[int, bytes]]:
        return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in self.slips.glob("*.pdf")}


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path)


# ---------------------------------------------------------------- holds


def test_a_pending_payment_holds_the_order_and_ready_on_it_is_a_problem(shop: Shop) -> None:
    result = shop.run()
    status = shop.by_line("Ops status")
    assert status["SO-4/A-1"].startswith("HOLD: UNPAID")
    assert "Payment PENDING" in shop.by_line("Problems")["SO-4/A-1"]
    ready = [p for p in result.problems if p.key == "SO-4 / A-1"]
    assert [(p.column, p.problem) for p in ready] == [
        ("Status", "READY but on HOLD: UNPAID: no pickup booked")
    ]
    # SO-3 (READY, paid) is booked; SO-4 is not
    assert status["SO-3/B-2"].startswith("PICKUP REQUESTED")
    (mail,) = shop.settings.resolve("outbox").glob("*.eml")
    assert "SO-3" in mail.read_text() and "SO-4" not in mail.read_text()


def test_a_wrong_postcode_holds_the_line_with_what_to_fix_on_the_problems_tab(
    shop: Shop,
) -> None:
    shop.run()
    assert shop.by_line("Ops status")["SO-5/C-3"] == "HOLD: ADDRESS"
    problems = [r for r in shop.rows("Problems")[1:] if r[3] == "SO-5 / C-3"]
    assert [(r[2], r[4], r[5]) for r in problems] == [
        (
            "Postcode",
            "SW1A 1AAA",
            "Postcode 'SW1A 1AAA' is not a valid United Kingdom postcode",
        )
    ]
    assert "EC1Y 8SY" in problems[0][8]  # how to fix: what a UK postcode looks like
    # a state at the end of City counts: SO-2 (New York, NY) is not held
    assert not str(shop.by_line("Ops status")["SO-2/A-1"] or "").startswith("HOLD")


def test_holds_take_the_whole_order_and_only_its_open_lines() -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["A", "A", "B", "C", "D"],
            "sku": ["X", "Y", "X", "X", "X"],
            "payment": ["PENDING", None, "PAID", None, "REFUNDED"],
            "address": ["1 High St"] * 5,
            "city": ["York"] * 5,
            "postcode": ["YO1 7HH"] * 5,
            "country": ["GB"] * 5,
        }
    )
    open_ = np.array([True, True, True, True, False])  # D has shipped
    h = pk.holds(frame, open_)
    assert h.unpaid.tolist() == [True, True, False, False, False]
    assert not h.address.any()
    assert pk.with_holds(np.array(["", "LATE 1 BUSINESS DAY", "", "", ""], dtype=object), h)[
        :2
    ].tolist() == ["HOLD: UNPAID", "HOLD: UNPAID; LATE 1 BUSINESS DAY"]


def test_a_payment_cell_that_cannot_be_read_holds_rather_than_ships() -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["A"],
            "sku": ["X"],
            "payment": [None],  # "Pendng" was typed: unreadable, not blank
            "address": ["1 High St"],
            "city": ["York"],
            "postcode": ["YO1 7HH"],
            "country": ["GB"],
        }
    )
    h = pk.holds(frame, np.array([True]), unreadable_payment=np.array([True]))
    assert h.unpaid.tolist() == [True] and "cannot be read" in h.why[0][0]


# ---------------------------------------------------------------- double orders


def test_a_probable_double_order_is_a_today_finding_and_never_a_hold(shop: Shop) -> None:
    shop.run()
    today = [r for r in shop.rows("Today")[1:] if "double order" in str(r[2])]
    assert len(today) == 1
    assert "Probable double order: SO-6 and SO-7" in today[0][2]
    status = shop.by_line("Ops status")
    assert not any(str(status[k] or "").startswith("HOLD") for k in ("SO-6/D-4", "SO-7/D-4"))


def test_double_orders_need_the_same_items_within_two_hours_and_neither_shipped() -> None:
    def frame(rows: list[tuple[str, str, str, int, str, str]]) -> pd.DataFrame:
        f = pd.DataFrame(rows, columns=["order_id", "email", "sku", "qty", "order_date", "status"])
        f["order_date"] = pd.to_datetime(f["order_date"]).dt.tz_localize(LONDON)
        f["shipped_at"] = pd.NaT
        return f

    same = frame(
        [
            ("A", "x@e.com", "S", 1, "2026-11-20 10:00", "NEW"),
            ("A", "x@e.com", "T", 2, "2026-11-20 10:00", "NEW"),
            ("B", "X@E.COM", "T", 2, "2026-11-20 11:59", "NEW"),
            ("B", "X@E.COM", "S", 1, "2026-11-20 11:59", "NEW"),
        ]
    )
    (finding,) = pk.double_orders(same)
    assert finding.key == "double-order:A + B"
    assert "119 minute(s) apart" in finding.detail
    other_qty = same.assign(qty=[1, 2, 3, 1])
    assert pk.double_orders(other_qty) == []
    later = same.assign(order_date=same["order_date"] + pd.to_timedelta([0, 0, 2, 2], "h"))
    assert pk.double_orders(later) == []
    shipped = same.assign(status=["NEW", "NEW", "SHIPPED", "SHIPPED"])
    assert pk.double_orders(shipped) == []


# ---------------------------------------------------------------- pick list


def test_the_pick_list_has_one_row_per_sku_due_sorted_by_location_then_sku(shop: Shop) -> None:
    shop.run()
    rows = shop.rows("Pick list")
    assert rows[0] == ("Location", "SKU", "Product", "Qty", "Orders", "Ship by")
    body = [(r[0], r[1], r[2], r[3], r[4], r[5].date() if r[5] else None) for r in rows[1:]]
    mon = date(2026, 11, 23)
    assert body == [
        ("A-2", "B-2", "Tea towel", 4, "SO-1, SO-3", mon),
        ("A-10", "A-1", "Linen apron", 3, "SO-1, SO-2", mon),  # SO-4 unpaid: not picked
        ("B-1", "C-3", "Oven glove", 1, "SO-2", mon),  # SO-5 wrong postcode: not picked
        (None, "D-4", "Bread bin", 2, "SO-6, SO-7", mon),  # no bin: last
    ]  # SO-9 (ship by tomorrow) is not due by today's pickup


def test_bins_sort_as_people_read_them() -> None:
    assert sorted(["A-10", "", "A-2", "B-1"], key=pk.natural_key) == ["A-2", "A-10", "B-1", ""]


# ---------------------------------------------------------------- packing slips


def test_one_slip_per_order_due_with_shop_items_and_address(shop: Shop) -> None:
    shop.run()
    assert sorted(shop.slip_files()) == [f"SO-{i}.pdf" for i in (1, 2, 3, 6, 7)]
    text = shop.slip_text("SO-1.pdf")
    for expected in (
        "Harbour & Pine",
        "order SO-1",
        "Customer SO-1",
        "10 Downing Street",
        "London SW1A 2AA",
        "UNITED KINGDOM",
        "A-1",
        "Linen apron",
        "B-2",
        "Tea towel",
        "Note",
    ):
        assert expected in text, expected
    us = shop.slip_text("SO-2.pdf")
    assert "New York, NY 10118" in us and "UNITED STATES" in us


def test_a_slip_that_cannot_print_a_name_says_so_on_the_problems_tab(shop: Shop) -> None:
    for sku in ("A-1", "B-2"):
        shop.set_cell("SO-1", sku, "Customer", "山田 太郎")  # no such glyphs in the slip font
        shop.set_cell("SO-2", sku, "Customer", "Zoë Łódź")  # accents print
    result = shop.run()
    [row] = [p for p in result.problems if "cannot print" in p.problem]
    assert (row.tab, row.row, row.key, row.value) == ("Orders", 2, "SO-1", "山田太郎")
    assert "the packing slip of SO-1 cannot print 山田太郎" in row.problem
    assert "from this row of the sheet" in row.fix
    assert "Zoë Łódź" in shop.slip_text("SO-2.pdf")
    problems = shop.rows("Problems")
    assert any(r[3] == "SO-1" and "cannot print" in str(r[5]) for r in problems[1:])


def test_slips_are_rewritten_only_for_the_order_that_changed(shop: Shop) -> None:
    shop.run()
    first = shop.slip_files()
    shop.run()
    assert shop.slip_files() == first  # same bytes, same modification time
    shop.set_cell("SO-2", "A-1", "Qty", 4)
    shop.run()
    after = shop.slip_files()
    changed = sorted(n for n in after if after[n] != first[n])
    assert changed == ["SO-2.pdf"]
    assert "4" in shop.slip_text("SO-2.pdf").split("Linen apron", 1)[1][:20]


def test_a_dry_run_writes_no_slip(shop: Shop) -> None:
    result = shop.run(dry_run=True)
    assert not shop.slips.exists()
    assert any("none written (dry run)" in n for n in result.notes)


def test_slip_file_names_are_safe_and_distinct() -> None:
    names = pk.file_names(["SO-1", "#1001", "../etc/passwd", "CON", "a/b", "a_b"])
    assert names["SO-1"] == "SO-1.pdf"
    assert names["#1001"] == "1001.pdf"
    assert names["../etc/passwd"] == "etc_passwd.pdf"
    assert names["CON"] == "_CON.pdf"
    assert names["a/b"] != names["a_b"] and all("/" not in n for n in names.values())


def test_the_slip_of_an_order_cancelled_since_is_removed_and_no_other_file_touched(
    shop: Shop,
) -> None:
    shop.run()
    (shop.slips / "notes.txt").write_text("the team's own file")
    first = shop.slip_files()
    shop.set_cell("SO-1", "A-1", "Status", "CANCELLED")
    shop.set_cell("SO-1", "B-2", "Status", "CANCELLED")
    result = shop.run()
    after = shop.slip_files()
    assert sorted(first) == sorted([*after, "SO-1.pdf"])
    assert all(after[n] == first[n] for n in after)
    assert (shop.slips / "notes.txt").read_text() == "the team's own file"
    assert any("1 removed" in n for n in result.notes)


def test_today_asks_to_chase_the_payment_of_an_unpaid_order_not_to_ship_it(shop: Shop) -> None:
    shop.run()
    shop.run()  # Today reads Ship by as the tab shows it: written by the first run
    today = {r[3]: r[2] for r in shop.rows("Today")[1:]}
    assert today["SO-4"].startswith("Order SO-4 is on HOLD: UNPAID: chase the payment")
    assert today["SO-5"].startswith("Order SO-5 is on HOLD: ADDRESS: correct the delivery")
    assert today["SO-1"].startswith("Ship order SO-1")
