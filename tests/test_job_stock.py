"""`ops-sheets run stock` end to end on memory, xlsx and Google (through the emulator).

A small shop with typed min/max SKUs (so quantities are easy to check), one SKU
without a supplier, one inactive, and a Linen Co PO that is a week overdue. The
job runs through `run_job` with its real state, ledger and outbox; between runs
the team approves lines by editing the sheet, as a person would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import NOW

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.emulator import SheetsEmulator
from ops_sheets.service.runner import JobResult, run_job
from ops_sheets.sheet.tables import ACTIVITY_LOG, KITS, PROBLEMS, STOCK, TODAY, layout_headers
from ops_sheets.sheet.workbook.base import Cell, Workbook
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.state import State

Rows = list[list[Any]]

STOCK_HEADER = ["SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock",
                "Pack size", "Unit cost", "Price", "Active"]  # fmt: skip
PO_HEADER = ["PO number", "Supplier", "SKU", "Qty", "Unit cost", "Created at", "Expected by",
             "Status", "Received at"]  # fmt: skip


def shop_tabs(extra_skus: int = 0, *, steady: bool = False) -> dict[str, Rows]:
    """The shop; ``extra_skus`` more Acme SKUs that need ordering; ``steady`` = the
    service's columns and tabs already exist (as after `ops-sheets init`)."""
    stock: Rows = [
        STOCK_HEADER,
        ["MUG-1", "Mug, sea green", "Acme Ceramics", 4, 10, 50, 6, 3.2, 9, "yes"],
        ["BWL-2", "Bowl", "Acme Ceramics", 100, 10, 50, None, 5, 12, "yes"],
        ["PLT-3", "Plate", "Acme Ceramics", 0, 5, 20, None, 4, 10, "yes"],
        ["TWL-4", "Tea towel", "Linen Co", 2, 5, 30, None, 2.5, 6, "yes"],
        ["JUG-5", "Jug", None, 1, 5, 10, None, 7, 15, "yes"],
        ["OLD-6", "Old mug", "Acme Ceramics", 0, 5, 10, None, 3, 8, "no"],
        ["NAP-8", "Napkin", "Linen Co", 50, 5, 30, None, 1, 3, "yes"],
    ]
    stock += [
        [f"X-{i:03d}", f"Extra {i}", "Acme Ceramics", 1, 5, 20, None, 1, 2, "yes"]
        for i in range(extra_skus)
    ]
    made = datetime(2026, 11, 2, 10, 0)
    tabs: dict[str, Rows] = {
        "Stock": stock,
        "Suppliers": [
            ["Supplier", "Email", "Contact", "Lead time days", "Min order value"],
            ["Acme Ceramics", "orders@acme.example", "Jo Baker", 10, None],
            ["Linen Co", "linen@linen.example", None, 7, None],
        ],
        "Purchase orders": [
            PO_HEADER,
            [
                "PO-20261102-LINE",
                "Linen Co",
                "NAP-8",
                30,
                1,
                made,
                date(2026, 11, 16),
                "SENT",
                None,
            ],
        ],
        "Orders": [
            ["Order ID", "Order date", "SKU", "Qty", "Unit price", "Status"],
            ["SO-1", datetime(2026, 11, 20, 10), "BWL-2", 2, 12, "SHIPPED"],
        ],
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [["Forwarder", "Email"]],
    }
    if steady:
        tabs["Stock"][0] = (
            layout_headers(STOCK, None)[:1]
            + STOCK_HEADER[1:]
            + [c.header for c in STOCK.service_columns]
        )
        tabs["Problems"] = [layout_headers(PROBLEMS, None)]
        tabs["Activity log"] = [layout_headers(ACTIVITY_LOG, None)]
        tabs["Today"] = [layout_headers(TODAY, None)]
        # `init` makes the Kits tab too: the job reads it (on Google, a tab that is
        # not there costs a failed read and a metadata request)
        tabs["Kits"] = [layout_headers(KITS, None)]
    return tabs


# ---------------------------------------------------------------- backends


@dataclass
class Shop:
    """One backend holding the shop, and what a test does with it."""

    name: str
    settings: Settings
    open: Callable[[], Workbook]
    values: Callable[[str], Rows]
    put: Callable[[str, int, int, Cell], None]  # tab, row, column (1-based), value
    requests: Callable[[], tuple[int, int]] = lambda: (0, 0)
    reset_requests: Callable[[], None] = lambda: None

    def run(self, now: datetime = NOW, **stock: Any) -> JobResult:
        settings = self.settings
        if stock:
            jobs = dataclasses.replace(
                settings.jobs, stock=dataclasses.replace(settings.jobs.stock, **stock)
            )
            settings = dataclasses.replace(settings, jobs=jobs)
        wb = self.open()
        try:
            return run_job("stock", settings, now, workbook=wb)
        finally:
            wb.close()

    def rows(self, tab: str) -> list[dict[str, Any]]:
        header, *rows = self.values(tab)
        return [
            {
                str(h): (r[i] if i < len(r) and r[i] != "" else None)
                for i, h in enumerate(header)
                if h
            }
            for r in rows
            if any(v not in (None, "") for v in r)
        ]

    def by_sku(self) -> dict[str, dict[str, Any]]:
        return {r["SKU"]: r for r in self.rows("Stock")}

    def po_lines(self) -> list[tuple[str, str, float, str]]:
        return [
            (r["PO number"], r["SKU"], float(r["Qty"]), r["Status"])
            for r in self.rows("Purchase orders")
        ]

    def set(self, tab: str, where: dict[str, Any], values: dict[str, Any]) -> None:
        header, *rows = self.values(tab)
        col = {h: i + 1 for i, h in enumerate(header)}
        for n, r in enumerate(rows, start=2):
            if all(r[col[k] - 1] == v for k, v in where.items()):
                for k, v in values.items():
                    self.put(tab, n, col[k], v)
                return
        raise AssertionError(f"no {tab} row with {where}")

    def outbox(self) -> dict[str, EmailMessage]:
        folder = self.settings.resolve(self.settings.mail.outbox_dir)
        parser = BytesParser(policy=policy.default)
        mails = [parser.parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
        return {str(m["X-Ops-Key"]): m for m in mails}  # type: ignore[misc]

    def state(self) -> State:
        return State(self.settings.resolve(self.settings.state.path))


def _settings(directory: Path, **workbook: Any) -> Settings:
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "shop_name": "Kitchen & Co",
            "workbook": {"backend": "xlsx", "path": "workbook.xlsx", **workbook},
            "mail": {
                "transport": "outbox",
                "outbox_dir": "outbox",
                "sender": "ops@kitchen.example",
            },
            "state": {"path": "state.db"},
            "jobs": {"stock": {"delivery_address": "Unit 4, Quay Street\nBristol BS1 4DJ"}},
        },
        base_dir=directory,
        source="test-config.toml",
    )


def memory_shop(tabs: dict[str, Rows], directory: Path) -> Shop:
    wb = MemoryWorkbook(tabs)

    def put(tab: str, row: int, col: int, value: Cell) -> None:
        wb.tabs[tab][row - 1][col - 1] = value

    def reset() -> None:
        wb.reads = wb.writes = 0

    return Shop(
        "memory", _settings(directory), lambda: wb, wb.values, put,
        requests=lambda: (wb.reads + wb.writes, wb.writes), reset_requests=reset,
    )  # fmt: skip


def xlsx_shop(tabs: dict[str, Rows], directory: Path) -> Shop:
    from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

    path = directory / "workbook.xlsx"
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in tabs.items():
        ws = book.create_sheet(title)
        for r in rows:
            ws.append(r)
    book.save(path)

    def values(tab: str) -> Rows:
        return [list(r) for r in openpyxl.load_workbook(path)[tab].iter_rows(values_only=True)]

    def put(tab: str, row: int, col: int, value: Cell) -> None:
        book = openpyxl.load_workbook(path)
        book[tab].cell(row, col).value = value
        book.save(path)

    return Shop("xlsx", _settings(directory), lambda: XlsxWorkbook(path), values, put)


def google_shop(tabs: dict[str, Rows], directory: Path, emulator: SheetsEmulator) -> Shop:
    from ops_sheets.sheet.workbook.google import GoogleWorkbook

    sid = emulator.create_spreadsheet(sheets=tabs)
    ss = emulator.spreadsheet(sid)
    settings = _settings(directory, backend="google", spreadsheet_id=sid)

    def put(tab: str, row: int, col: int, value: Cell) -> None:
        letters, n = "", col
        while n:
            n, rem = divmod(n - 1, 26)
            letters = chr(65 + rem) + letters
        ss.set_values(tab, f"{letters}{row}", [[value]])

    return Shop(
        "google",
        settings,
        lambda: GoogleWorkbook.from_settings(settings, emulator=emulator.host_port),
        lambda tab: ss.get_values(tab),
        put,
        requests=lambda: (emulator.count(), emulator.count("write")),
        reset_requests=emulator.reset_counts,
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emu:
        yield emu


MakeShop = Callable[..., Shop]


@pytest.fixture(params=["memory", "xlsx", "google"])
def make_shop(request: pytest.FixtureRequest, tmp_path: Path) -> MakeShop:
    def make(tabs: dict[str, Rows] | None = None, name: str = "shop") -> Shop:
        tabs = tabs if tabs is not None else shop_tabs()
        directory = tmp_path / name
        directory.mkdir()
        if request.param == "memory":
            return memory_shop(tabs, directory)
        if request.param == "xlsx":
            return xlsx_shop(tabs, directory)
        return google_shop(tabs, directory, request.getfixturevalue("emulator"))

    return make


def later(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


# ---------------------------------------------------------------- the flow


def test_first_run_drafts_one_po_per_supplier_and_explains_every_sku(make_shop: MakeShop) -> None:
    shop = make_shop()
    result = shop.run()
    assert shop.po_lines()[1:] == [
        ("PO-20261123-ACME", "MUG-1", 48.0, "DRAFT"),  # 50 − 4 = 46 → packs of 6
        ("PO-20261123-ACME", "PLT-3", 20.0, "DRAFT"),
        ("PO-20261123-LINE", "TWL-4", 28.0, "DRAFT"),
    ]
    stock = shop.by_sku()
    assert {k: v["Stock status"] for k, v in stock.items()} == {
        "MUG-1": "REORDER", "BWL-2": "OK", "PLT-3": "OUT OF STOCK", "TWL-4": "REORDER",
        "JUG-5": "LOW", "OLD-6": "INACTIVE", "NAP-8": "OK",
    }  # fmt: skip
    mug = stock["MUG-1"]
    assert mug["Why"] == (
        "reorder point 10 (typed); 4 on hand + 0 on order ≤ 10 → order 48 (up to max stock 50, "
        "packs of 6); on PO-20261123-ACME (DRAFT, waiting for approval)"
    )
    assert (mug["Suggested order"], mug["On order"], mug["Days of cover"]) == (48, 0, None)
    # first sold 3 days ago: divided by the 7-day minimum, not the 56-day window
    assert stock["BWL-2"]["Daily demand"] == pytest.approx(2 / 7, abs=0.01)
    assert stock["BWL-2"]["Why"].endswith("; only 3 days of history, counted as 7")
    assert stock["NAP-8"]["On order"] == 30
    # JUG-5 has no supplier: a problem on its row, no PO
    jug = [p for p in result.problems if p.key == "JUG-5"]
    assert [(p.tab, p.row, p.column) for p in jug] == [("Stock", 6, "Supplier")]
    # the only email is the reminder for Linen Co's overdue PO
    (key,) = shop.outbox()
    assert key == "po-reminder:PO-20261102-LINE:1"
    assert "7 days overdue" in shop.outbox()[key].get_body(("plain",)).get_content()


def test_rerunning_the_same_day_places_and_sends_nothing_more(make_shop: MakeShop) -> None:
    shop = make_shop()
    shop.run()
    assert shop.by_sku()["MUG-1"]["Stock status"] == "REORDER"
    lines, mails = shop.po_lines(), set(shop.outbox())
    for hours in (1, 2, 8, 24):
        result = shop.run(later(hours))
        assert result.delivery is None or result.delivery.sent == []
        assert shop.po_lines() == lines
        assert set(shop.outbox()) == mails
        # the DRAFT line placed by the first run counts as on order (DESIGN.md)
        mug = shop.by_sku()["MUG-1"]
        assert (mug["Stock status"], mug["On order"], mug["Suggested order"]) == (
            "ON ORDER",
            48,
            0,
        )


def test_approved_lines_are_emailed_by_the_next_run_and_become_sent(make_shop: MakeShop) -> None:
    shop = make_shop()
    shop.run()
    shop.set("Purchase orders", {"SKU": "MUG-1"}, {"Status": "APPROVED", "Qty": 54})
    shop.run(later(1))
    assert shop.po_lines()[1:] == [
        ("PO-20261123-ACME", "MUG-1", 54.0, "SENT"),
        ("PO-20261123-ACME", "PLT-3", 20.0, "DRAFT"),
        ("PO-20261123-LINE", "TWL-4", 28.0, "DRAFT"),
    ]
    mail = shop.outbox()["po:PO-20261123-ACME"]
    assert mail["To"] == "orders@acme.example"
    assert mail["Subject"] == "Purchase order PO-20261123-ACME from Kitchen & Co"
    text = mail.get_body(("plain",)).get_content()
    assert "Dear Jo Baker" in text and "Quantity 54 x £3.20 = £172.80" in text
    assert "Required by: Thu 03 Dec 2026" in text  # today + Acme's 10 days
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "PO-20261123-ACME.csv"
    csv_text = attachment.get_content()
    csv_text = csv_text.decode("utf-8-sig") if isinstance(csv_text, bytes) else csv_text
    assert (
        '"PO-20261123-ACME","MUG-1","Mug, sea green","54","3.2","172.8","GBP","2026-12-03"'
        in csv_text
    )

    # PLT-3 approved later the same day: the PO went out already → a new PO number
    shop.set("Purchase orders", {"SKU": "PLT-3"}, {"Status": "APPROVED"})
    shop.run(later(3))
    assert shop.po_lines()[2] == ("PO-20261123-ACME-2", "PLT-3", 20.0, "SENT")
    assert set(shop.outbox()) == {
        "po-reminder:PO-20261102-LINE:1", "po:PO-20261123-ACME", "po:PO-20261123-ACME-2"
    }  # fmt: skip
    body = shop.outbox()["po:PO-20261123-ACME-2"].get_body(("plain",)).get_content()
    assert "Plate (SKU PLT-3)" in body and "Mug" not in body

    shop.run(later(4))  # and nothing more
    assert len(shop.outbox()) == 3 and len(shop.po_lines()) == 4


def test_auto_approval_emails_new_lines_at_once(make_shop: MakeShop) -> None:
    shop = make_shop()
    shop.run(approval="auto")
    assert [line[3] for line in shop.po_lines()[1:]] == ["SENT", "SENT", "SENT"]
    assert {"po:PO-20261123-ACME", "po:PO-20261123-LINE"} <= set(shop.outbox())
    shop.run(later(1), approval="auto")
    assert len(shop.po_lines()) == 4 and len(shop.outbox()) == 3


def test_a_supplier_minimum_holds_the_order_and_says_by_how_much(make_shop: MakeShop) -> None:
    tabs = shop_tabs()
    tabs["Suppliers"][1][4] = 300  # Acme's minimum; MUG 48 × 3.2 + PLT 20 × 4 = 233.60
    shop = make_shop(tabs)
    shop.run()
    assert [line[1] for line in shop.po_lines()[1:]] == ["TWL-4"]
    mug = shop.by_sku()["MUG-1"]
    assert mug["Stock status"] == "LOW"
    assert mug["Why"].endswith(
        "held: Acme Ceramics order 233.60 GBP is 66.40 GBP below its minimum order value 300.00 GBP"
    )
    published = shop.state().get("findings", "stock")["findings"]
    held = [(f["key"], f["metric"]) for f in published if f["key"].startswith("held:")]
    assert held == [("held:Acme Ceramics", 66.4)]


def test_overdue_reminders_repeat_every_few_days_and_are_reported_to_monitor(
    make_shop: MakeShop,
) -> None:
    shop = make_shop()
    shop.run()
    shop.run(later(24))  # one day later: not yet
    shop.run(later(72))  # three days later: reminder 2
    assert sorted(k for k in shop.outbox() if k.startswith("po-reminder")) == [
        "po-reminder:PO-20261102-LINE:1", "po-reminder:PO-20261102-LINE:2",
    ]  # fmt: skip
    published = shop.state().get("findings", "stock")
    (overdue,) = published["findings"]
    assert (overdue["key"], overdue["source"], overdue["metric"]) == (
        "po-overdue:PO-20261102-LINE", "stock", 10,
    )  # fmt: skip
    assert overdue["detail"].endswith("Reminder 2 emailed to the supplier.")


def test_a_reminder_refused_for_a_bad_address_goes_out_once_it_is_fixed(
    make_shop: MakeShop,
) -> None:
    tabs = shop_tabs()
    tabs["Suppliers"][2][1] = "linen at linen.example"
    shop = make_shop(tabs)
    result = shop.run()
    assert not [k for k in shop.outbox() if k.startswith("po-reminder")]
    assert ("Suppliers", 3, "Email") in {(p.tab, p.row, p.column) for p in result.problems}
    shop.set("Suppliers", {"Supplier": "Linen Co"}, {"Email": "linen@linen.example"})
    shop.run(later(24))  # the next day, not three days later
    assert [k for k in shop.outbox() if k.startswith("po-reminder")] == [
        "po-reminder:PO-20261102-LINE:1"
    ]


def test_stockout_days_are_snapshotted_for_demand(make_shop: MakeShop) -> None:
    shop = make_shop()
    shop.run()
    assert shop.state().get("stock.stockouts", "2026-11-23") == ["PLT-3"]


def test_a_dry_run_changes_nothing_and_sends_nothing(make_shop: MakeShop) -> None:
    shop = make_shop()
    before = {t: shop.values(t) for t in ("Stock", "Purchase orders")}
    wb = shop.open()
    try:
        result = run_job("stock", shop.settings, NOW, workbook=wb, dry_run=True)
    finally:
        wb.close()
    assert {t: shop.values(t) for t in before} == before
    assert not list(shop.settings.resolve("outbox").glob("*.eml"))
    assert any("'Purchase orders'!A3: (blank) → 'PO-20261123-ACME'" in x
               for x in result.dry_run_lines)  # fmt: skip


def test_api_requests_per_run_do_not_grow_with_the_rows(make_shop: MakeShop) -> None:
    small = make_shop(shop_tabs(0, steady=True), "small")
    large = make_shop(shop_tabs(80, steady=True), "large")
    counts = []
    for shop in (small, large):
        shop.reset_requests()
        # the busiest run: lines appended, two POs and a reminder emailed, lines set SENT
        result = shop.run(approval="auto")
        assert result.delivery is not None and len(result.delivery.sent) == 3
        counts.append(shop.requests())
        assert len(shop.po_lines()) > 3
    assert counts[0] == counts[1]
    if small.name == "google":
        total, writes = counts[0]
        assert total <= 4 and writes <= 2


def test_a_line_whose_qty_a_person_changes_while_its_po_goes_out_is_not_marked_sent(
    tmp_path: Path,
) -> None:
    shop = memory_shop(shop_tabs(), tmp_path)
    shop.run()
    shop.set("Purchase orders", {"SKU": "MUG-1"}, {"Status": "APPROVED"})
    wb = shop.open()

    def person_edits_qty(book: MemoryWorkbook) -> None:  # after the read, before the write
        rows = book.tabs["Purchase orders"]
        qty = rows[0].index("Qty")
        for row in rows[1:]:
            if row[2] == "MUG-1":
                row[qty] = 999

    wb.before_write = person_edits_qty  # type: ignore[attr-defined]
    result = shop.run(later(1))
    assert "po:PO-20261123-ACME" in shop.outbox()  # the PO (for 48) went out
    line = next(r for r in shop.po_lines() if r[1] == "MUG-1")
    assert line[2:] == (999.0, "APPROVED")  # not claimed SENT for a Qty it never carried
    assert result.write is not None
    assert any(s.tab == "Purchase orders" for s in result.write.skipped)
