"""`ops-sheets run customers` end to end: shipping confirmations, delay notices, Notify,
review requests (issue 18's acceptance list).

Mail goes to a real aiosmtpd server; the sheet is a real xlsx file and, for the
first scenario, the in-repo Sheets emulator through real gspread. The team's
edits between runs are made in the sheet itself, as a person would make them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from backends import Harness, google_harness, xlsx_harness
from mailfixtures import SmtpServer, smtp_server

from ops_sheets.config import Settings
from ops_sheets.service.runner import JobResult, run_job

LONDON = ZoneInfo("Europe/London")
MON = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)  # the demo's now

ORDERS_HEADER = [
    "Order ID",
    "Order date",
    "Customer",
    "Email",
    "SKU",
    "Qty",
    "Unit price",
    "Forwarder",
    "Status",
    "Tracking",
    "Shipped at",
    "Delivered at",
    "Notify",
]
Row = list[Any]


def at(day: int, hhmm: str = "10:00") -> datetime:
    """A November 2026 moment, naive (as a sheet holds it)."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, day, h, m)


def line(order: str, sku: str, status: str = "NEW", **kw: Any) -> Row:
    values = {
        "Order ID": order,
        "Order date": kw.pop("date", at(20)),
        "Customer": kw.pop("customer", "Ann Lee"),
        "Email": kw.pop("email", "ann@example.com"),
        "SKU": sku,
        "Qty": kw.pop("qty", 1),
        "Unit price": 10,
        "Forwarder": "Zip",
        "Status": status,
        "Tracking": kw.pop("tracking", None),
        "Shipped at": kw.pop("shipped", None),
        "Delivered at": kw.pop("delivered", None),
        "Notify": kw.pop("notify", None),
    }
    assert not kw, kw
    return [values[h] for h in ORDERS_HEADER]


def shop(orders: list[Row], returns: list[Row] | None = None) -> dict[str, list[Row]]:
    return {
        "Stock": [
            ["SKU", "Product", "On hand"],
            ["A-1", "Mug", 50],
            ["B-2", "Bowl", 50],
            ["C-3", "Vase", 0],
        ],
        "Suppliers": [["Supplier", "Email"], ["Acme", "orders@acme.example"]],
        "Purchase orders": [
            ["PO number", "Supplier", "SKU", "Qty", "Expected by", "Status"],
            ["PO-1", "Acme", "C-3", 10, datetime(2026, 11, 27), "SENT"],
        ],
        "Orders": [ORDERS_HEADER, *orders],
        "Returns": [
            ["Return ID", "Order ID", "SKU", "Qty", "Requested at", "Status"],
            *(returns or []),
        ],
        "Forwarders": [
            ["Forwarder", "Email", "Pickup cutoff", "Pickup days", "Tracking URL"],
            ["Zip", "z@zip.example", "15:00", "Mon-Fri", "https://zip.example/t?n={tracking}"],
        ],
    }


@dataclasses.dataclass
class Shop:
    harness: Harness
    smtp: SmtpServer
    settings: Settings

    def seed(self, tabs: dict[str, list[Row]]) -> None:
        self.harness.seed(tabs)

    def run(self, now: datetime = MON, *, dry_run: bool = False) -> JobResult:
        return run_job("customers", self.settings, now, dry_run=dry_run)

    def mail(self) -> list[Message]:
        return self.smtp.handler.parsed()

    def keys(self) -> list[str]:
        return [str(m["X-Ops-Key"]) for m in self.mail()]

    def set_orders(self, orders: list[Row]) -> None:
        """The team retypes the Orders tab (only Orders: the rest stays as it is)."""
        rows = [ORDERS_HEADER, *orders]
        if self.harness.name != "xlsx":
            self.harness.seed({"Orders": rows})
            return
        path = self.harness.directory / "workbook.xlsx"
        book = openpyxl.load_workbook(path)
        ws = book["Orders"]
        ws.delete_rows(1, ws.max_row)
        for r in rows:
            ws.append(r)
        book.save(path)


def _make(kind: str, tmp_path: Any, emulator: Any, **customers: Any) -> Callable[[], Harness]:
    if kind == "xlsx":
        return lambda: xlsx_harness(tmp_path)
    return lambda: google_harness(tmp_path, emulator)


def over_smtp(settings: Settings, port: int, **customers: Any) -> Settings:
    smtp = dataclasses.replace(settings.mail.smtp, host="127.0.0.1", port=port, security="none")
    jobs = dataclasses.replace(
        settings.jobs, customers=dataclasses.replace(settings.jobs.customers, **customers)
    )
    return dataclasses.replace(
        settings,
        mail=dataclasses.replace(
            settings.mail, transport="smtp", smtp=smtp, sender="Shop <shop@example.com>"
        ),
        jobs=jobs,
    )


@pytest.fixture
def xlsx_shop(tmp_path: Any) -> Iterator[Shop]:
    with smtp_server() as server:
        harness = xlsx_harness(tmp_path)
        yield Shop(harness, server, over_smtp(harness.settings, server.port))


def _part(msg: Message, subtype: str) -> str:
    for part in msg.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


def text_of(msg: Message) -> str:
    return _part(msg, "plain")


def html_of(msg: Message) -> str:
    return _part(msg, "html")


# ---------------------------------------------------------------- shipping confirmations


@pytest.mark.parametrize("kind", ["xlsx", "google"])
def test_lines_shipped_under_one_tracking_number_are_one_email_and_a_later_parcel_another(
    kind: str, tmp_path: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host_port)
    with smtp_server() as server:
        harness = xlsx_harness(tmp_path) if kind == "xlsx" else google_harness(tmp_path, emulator)
        s = Shop(harness, server, over_smtp(harness.settings, server.port))
        shipped = {"tracking": "TRK 1/A", "shipped": at(23, "08:00")}
        two_lines = [
            line("SO-1", "A-1", "SHIPPED", **shipped),
            line("SO-1", "B-2", "SHIPPED", qty=2, **shipped),
        ]
        first_only = [
            line("SO-2", "A-1", "SHIPPED", tracking="T-2A", shipped=at(23, "08:30")),
            line("SO-2", "B-2", "PACKED"),
        ]
        s.seed(shop(two_lines + first_only))

        result = s.run()
        assert result.delivery is not None and result.delivery.ok
        assert sorted(s.keys()) == ["shipped:SO-1:TRK 1/A", "shipped:SO-2:T-2A"]
        by_key = {str(m["X-Ops-Key"]): m for m in s.mail()}
        one = text_of(by_key["shipped:SO-1:TRK 1/A"])
        assert "1 x Mug" in one and "2 x Bowl" in one
        assert "https://zip.example/t?n=TRK%201%2FA" in one  # the number URL-encoded
        assert by_key["shipped:SO-1:TRK 1/A"]["To"] == "ann@example.com"
        part = text_of(by_key["shipped:SO-2:T-2A"])
        assert "1 x Mug" in part and "Still to follow" in part and "1 x Bowl" in part

        s.run()  # nothing new: nothing sent
        assert len(s.mail()) == 2

        later = [
            first_only[0],
            line("SO-2", "B-2", "SHIPPED", tracking="T-2B", shipped=at(23, "11:00")),
        ]
        s.set_orders(two_lines + later)
        s.run(MON + timedelta(hours=3))
        assert s.keys()[2:] == ["shipped:SO-2:T-2B"]
        second = text_of(s.mail()[2])
        assert "1 x Bowl" in second and "Mug" not in second and "Still to follow" not in second
        s.run(MON + timedelta(hours=4))
        assert len(s.mail()) == 3


# ---------------------------------------------------------------- delay notices


def test_a_delay_notice_then_a_second_when_the_date_slips_then_the_shipping_confirmation(
    xlsx_shop: Shop,
) -> None:
    s = xlsx_shop
    late = line("SO-3", "A-1", date=at(18))  # ship by Thu 19 Nov: late on Monday
    backordered = line("SO-4", "C-3", qty=2, date=at(20), customer="Bo", email="bo@example.com")
    s.seed(shop([late, backordered]))

    s.run()
    assert sorted(s.keys()) == [
        # placed now (Mon 09:00, before the 14:00 cutoff), it would ship by Tuesday
        "delayed:SO-3:late:2026-11-24",
        # the PO is expected Fri 27 Nov: one business day later, Mon 30 Nov
        "delayed:SO-4:backorder:2026-11-30",
    ]
    first = {str(m["X-Ops-Key"]): text_of(m) for m in s.mail()}
    assert "Tue 24 Nov 2026" in first["delayed:SO-3:late:2026-11-24"]
    assert "out of stock" in first["delayed:SO-4:backorder:2026-11-30"]

    s.run(MON + timedelta(hours=2))  # same day, same dates: nothing
    assert len(s.mail()) == 2

    wed = MON + timedelta(days=2)  # still not shipped on Wednesday: the date slipped
    s.run(wed)
    assert s.keys()[2:] == ["delayed:SO-3:late:2026-11-26"]
    again = text_of(s.mail()[2])
    assert "slipped again" in again and "Tue 24 Nov 2026" in again and "Thu 26 Nov 2026" in again
    s.run(wed + timedelta(hours=1))
    assert len(s.mail()) == 3

    shipped = line("SO-3", "A-1", "SHIPPED", date=at(18), tracking="T-3", shipped=at(25, "11:00"))
    s.set_orders([shipped, backordered])
    s.run(wed + timedelta(hours=3))
    assert s.keys()[3:] == ["shipped:SO-3:T-3"]


def test_notify_no_sends_nothing_about_the_order(xlsx_shop: Shop) -> None:
    s = xlsx_shop
    s.seed(
        shop(
            [
                line(
                    "SO-5", "A-1", "SHIPPED", tracking="T-5", shipped=at(23, "08:00"), notify="No"
                ),
                line("SO-5", "B-2", date=at(18)),  # late too: still nothing
                line(
                    "SO-6", "A-1", "SHIPPED", tracking="T-6", shipped=at(23, "08:00"), notify="yes"
                ),
            ]
        )
    )
    result = s.run()
    assert s.keys() == ["shipped:SO-6:T-6"]
    assert any("Notify = no" in n and "SO-5" in n for n in result.notes)


def test_a_bad_customer_address_is_a_problem_and_nothing_is_sent(xlsx_shop: Shop) -> None:
    s = xlsx_shop
    s.seed(shop([line("SO-7", "A-1", "SHIPPED", tracking="T-7", shipped=at(23), email="ann@")]))
    result = s.run()
    assert s.mail() == []
    bad = [p for p in result.problems if p.tab == "Orders" and p.column == "Email"]
    assert bad and all(p.row == 2 for p in bad)
    problems = s.harness.values("Problems")
    assert any(r[0] == "Orders" and r[1] == 2 for r in problems[1:])


def test_dry_run_sends_nothing_and_remembers_no_promise(xlsx_shop: Shop) -> None:
    s = xlsx_shop
    s.seed(shop([line("SO-3", "A-1", date=at(18))]))
    result = s.run(dry_run=True)
    assert s.mail() == []
    assert any("delayed:SO-3:late:2026-11-24" in n for n in result.notes)
    s.run()
    assert s.keys() == ["delayed:SO-3:late:2026-11-24"]


# ---------------------------------------------------------------- review requests


def test_review_request_is_skipped_for_an_order_with_an_open_return(tmp_path: Any) -> None:
    with smtp_server() as server:
        harness = xlsx_harness(tmp_path)
        s = Shop(harness, server, over_smtp(harness.settings, server.port, review_request_days=3))
        delivered = {"shipped": at(17), "delivered": at(19), "tracking": None}
        s.seed(
            shop(
                [
                    line("SO-8", "A-1", "DELIVERED", date=at(16), **delivered),
                    line(
                        "SO-9", "B-2", "DELIVERED", date=at(16), email="cy@example.com", **delivered
                    ),
                ],
                returns=[["", "SO-9", "B-2", 1, at(22), "REQUESTED"]],
            )
        )
        result = s.run()
        assert s.keys() == ["review:SO-8"]
        assert "no review request for SO-9: it has a return" in result.notes
        s.run(MON + timedelta(hours=1))
        assert len(s.mail()) == 1


def test_review_requests_are_off_by_default(xlsx_shop: Shop) -> None:
    s = xlsx_shop
    s.seed(shop([line("SO-8", "A-1", "DELIVERED", date=at(16), shipped=at(17), delivered=at(19))]))
    s.run()
    assert s.mail() == []


# ---------------------------------------------------------------- honest dates


def outbox_keys(settings: Settings) -> list[str]:
    folder = settings.resolve(settings.mail.outbox_dir)
    return sorted(p.stem for p in folder.glob("*.eml")) if folder.is_dir() else []


def test_an_overdue_po_gives_no_date_and_a_known_date_later_is_a_second_notice(
    tmp_path: Any,
) -> None:
    harness = xlsx_harness(tmp_path)
    tabs = shop([line("SO-4", "C-3", qty=2, date=at(20))])
    tabs["Purchase orders"][1][4] = datetime(2026, 11, 20)  # expected Friday: overdue now
    harness.seed(tabs)
    run_job("customers", harness.settings, MON)
    assert outbox_keys(harness.settings) == ["delayed_SO-4_backorder_unknown"]
    text = (tmp_path / "outbox" / "delayed_SO-4_backorder_unknown.eml").read_text()
    assert "do not have a firm date yet" in text

    # the supplier confirms a new date: the customer hears it, once
    book = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    book["Purchase orders"]["E2"] = datetime(2026, 12, 1)
    book.save(tmp_path / "workbook.xlsx")
    run_job("customers", harness.settings, MON + timedelta(hours=1))
    run_job("customers", harness.settings, MON + timedelta(hours=2))
    assert outbox_keys(harness.settings) == [
        "delayed_SO-4_backorder_2026-12-02",
        "delayed_SO-4_backorder_unknown",
    ]


def test_a_date_that_holds_or_improves_sends_nothing_more(tmp_path: Any) -> None:
    harness = xlsx_harness(tmp_path)
    harness.seed(shop([line("SO-4", "C-3", qty=2, date=at(20))]))  # PO expected Fri 27
    run_job("customers", harness.settings, MON)
    book = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    book["Purchase orders"]["E2"] = datetime(2026, 11, 25)  # arrives sooner
    book.save(tmp_path / "workbook.xlsx")
    run_job("customers", harness.settings, MON + timedelta(hours=1))
    assert outbox_keys(harness.settings) == ["delayed_SO-4_backorder_2026-11-30"]


def test_no_shipping_confirmation_for_a_parcel_already_delivered_or_old(tmp_path: Any) -> None:
    harness = xlsx_harness(tmp_path)
    harness.seed(
        shop(
            [
                line(
                    "SO-1",
                    "A-1",
                    "DELIVERED",
                    tracking="T1",
                    shipped=at(22),
                    delivered=at(23, "08:00"),
                ),
                line("SO-2", "A-1", "SHIPPED", tracking="T2", shipped=at(12)),
                line("SO-3", "A-1", "SHIPPED", tracking="T3", shipped=at(20, "15:00")),
                line("SO-4", "A-1", "SHIPPED", shipped=at(23, "08:00")),  # no tracking number
            ]
        )
    )
    result = run_job("customers", harness.settings, MON)
    assert outbox_keys(harness.settings) == ["shipped_SO-3_T3"]  # Friday's, still on its way
    assert any("no confirmation: SO-4" in n for n in result.notes)


def test_a_line_waiting_for_payment_gets_no_delay_notice(tmp_path: Any) -> None:
    harness = xlsx_harness(tmp_path)
    tabs = shop([line("SO-3", "A-1", date=at(18)), line("SO-5", "A-1", date=at(18))])
    tabs["Orders"][0] = [*ORDERS_HEADER, "Payment"]
    tabs["Orders"][1] = [*tabs["Orders"][1], "PENDING"]
    tabs["Orders"][2] = [*tabs["Orders"][2], "PAID"]
    harness.seed(tabs)
    run_job("customers", harness.settings, MON)
    assert outbox_keys(harness.settings) == ["delayed_SO-5_late_2026-11-24"]
