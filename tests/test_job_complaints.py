"""`ops-sheets run complaints` end to end on xlsx and Google (the in-repo emulator
through real gspread), mail to a real aiosmtpd server (issue 18)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from backends import Harness, google_harness, xlsx_harness
from mailfixtures import SmtpServer, smtp_server
from test_job_customers import ORDERS_HEADER, at, line, shop

from ops_sheets.config import Settings
from ops_sheets.domain.findings import current
from ops_sheets.service.runner import run_job
from ops_sheets.store.state import State

LONDON = ZoneInfo("Europe/London")
MON = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
HEADER = [
    "Complaint ID",
    "Received at",
    "Customer",
    "Email",
    "Order ID",
    "SKU",
    "Category",
    "Description",
    "Owner",
    "Status",
    "First response at",
    "Resolved at",
    "Ref",
]


def complaints() -> list[list[Any]]:
    return [
        HEADER,
        # new this morning: a number, an acknowledgement, 24 business hours to answer
        [None, at(23, "08:00"), "Ann Lee", "ann@example.com", "SO-1", "A-1", "DAMAGED",
         "Mug <b>chipped</b> & box wet", "", "NEW", None, None, "r1"],
        # overdue: received Thursday morning, no answer yet
        ["CMP-2026-0007", at(19, "08:00"), "Bo", "bo@example.com", "SO-2", "A-1", "QUALITY",
         "Handle came off", "Sam", "IN PROGRESS", None, None, "r2"],
        # answered and resolved
        ["CMP-2026-0003", at(16, "10:00"), "Cy", "cy@example.com", "SO-3", "B-2", "LATE",
         "", "Sam", "RESOLVED", at(16, "11:00"), at(19, "16:00"), "r3"],
        # about an order whose customer opted out: no acknowledgement
        [None, at(23, "08:30"), "Di", "di@example.com", "SO-4", "B-2", "SERVICE",
         "", "", "NEW", None, None, "r4"],
    ]  # fmt: skip


def tabs() -> dict[str, list[list[Any]]]:
    out = shop([line("SO-4", "B-2", "SHIPPED", tracking="T", shipped=at(10), notify="no")])
    out["Complaints"] = complaints()
    return out


def over_smtp(settings: Settings, port: int) -> Settings:
    smtp = dataclasses.replace(settings.mail.smtp, host="127.0.0.1", port=port, security="none")
    return dataclasses.replace(
        settings,
        mail=dataclasses.replace(
            settings.mail, transport="smtp", smtp=smtp, sender="Shop <shop@example.com>"
        ),
    )


@pytest.fixture(params=["xlsx", "google"])
def env(
    request: pytest.FixtureRequest, tmp_path: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Harness, SmtpServer, Settings]]:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host_port)
    with smtp_server() as server:
        harness = (
            xlsx_harness(tmp_path)
            if request.param == "xlsx"
            else google_harness(tmp_path, emulator)
        )
        harness.seed(tabs())
        yield harness, server, over_smtp(harness.settings, server.port)


def by_ref(rows: list[list[Any]]) -> dict[str, dict[str, Any]]:
    header, *body = rows
    return {r[header.index("Ref")]: dict(zip(header, r, strict=False)) for r in body if r}


def test_complaints_get_numbers_deadlines_status_and_one_acknowledgement(
    env: tuple[Harness, SmtpServer, Settings],
) -> None:
    harness, server, settings = env
    result = run_job("complaints", settings, MON)
    assert result.error == ""
    rows = by_ref(harness.values("Complaints"))
    assert rows["r1"]["Complaint ID"] == "CMP-2026-0008"  # above the highest on the sheet
    assert rows["r4"]["Complaint ID"] == "CMP-2026-0009"
    assert rows["r2"]["Complaint ID"] == "CMP-2026-0007"  # typed: kept
    assert rows["r1"]["Ops status"] == "RESPOND WITHIN 23 H"
    assert rows["r2"]["Ops status"] == "RESPONSE OVERDUE 25 H"
    assert rows["r3"]["Ops status"] == "RESOLVED IN 3 DAYS"
    assert str(rows["r1"]["Resolve by"])[:10] == "2026-11-30"
    assert str(rows["r1"]["Respond by"])[:16].replace("T", " ") == "2026-11-24 08:00"
    assert rows["r1"]["Description"] == "Mug <b>chipped</b> & box wet"  # team cells untouched

    # one acknowledgement: r4's order says Notify = no, r2 and r3 are not new
    msgs = server.handler.parsed()
    assert [str(m["X-Ops-Key"]) for m in msgs] == ["complaint:CMP-2026-0008"]
    html = next(
        p.get_payload(decode=True).decode()
        for p in msgs[0].walk()
        if p.get_content_type() == "text/html"
    )
    assert "Mug &lt;b&gt;chipped&lt;/b&gt; &amp; box wet" in html  # escaped
    assert "Tue 24 Nov 2026 08:00" in html

    # the overdue one is escalated to the manager's alert and on the Today tab
    state = State(settings.resolve(settings.state.path))
    keys = {f.key: f for f in current(state)}
    assert keys["complaints:overdue:CMP-2026-0007"].severity == "critical"
    state.close()
    today = harness.values("Today")
    assert any("CMP-2026-0007" in str(r) for r in today[1:])
    assert not any("CMP-2026-0008" in str(r) for r in today[1:])  # due tomorrow

    # a second run: no new number, no second email, nothing to rewrite
    again = run_job("complaints", settings, MON + timedelta(minutes=10))
    assert len(server.handler.parsed()) == 1
    assert again.counts["complaint_ids_assigned"] == 0
    assert by_ref(harness.values("Complaints"))["r1"]["Complaint ID"] == "CMP-2026-0008"


def test_monitor_escalates_an_overdue_complaint(env: tuple[Harness, SmtpServer, Settings]) -> None:
    _harness, server, settings = env
    run_job("complaints", settings, MON)
    run_job("monitor", settings, MON)
    alerts = [m for m in server.handler.parsed() if str(m["X-Ops-Key"]).startswith("alert")]
    assert alerts, [str(m["X-Ops-Key"]) for m in server.handler.parsed()]
    text = alerts[0].as_string()
    assert "CMP-2026-0007" in text


def test_without_a_complaints_tab_the_job_says_so_and_writes_nothing(tmp_path: Any) -> None:
    harness = xlsx_harness(tmp_path)
    harness.seed(shop([]))
    result = run_job("complaints", harness.settings, MON)
    assert any("no Complaints tab" in n for n in result.notes)
    assert (
        "Complaints"
        not in __import__("openpyxl").load_workbook(tmp_path / "workbook.xlsx").sheetnames
    )
    assert ORDERS_HEADER  # the shop is the customers tests' shop


def test_daily_kpis_weekly_row_and_email_show_complaints_and_customer_emails(
    env: tuple[Harness, SmtpServer, Settings],
) -> None:
    harness, server, settings = env
    run_job("complaints", settings, MON)
    run_job("monitor", settings, MON)
    header, *rows = harness.values("Daily KPIs")
    today = dict(zip(header, rows[-1], strict=False))
    assert today["Complaints opened"] == 2  # r1 and r4 came in on Monday morning
    assert today["Complaint acknowledgements sent"] == 1
    assert today["Shipping confirmations sent"] == 0
    assert today["Emails sent"] >= 1  # the existing columns are still there

    run_job("weekly", settings, MON)
    header, *rows = harness.values("Weekly summary")
    week = dict(zip(header, rows[-1], strict=False))
    assert week["Week"] == "2026-W47"
    assert week["Complaints opened"] == 2  # r3 (Mon 16) and r2 (Thu 19)
    assert week["Median hours to first response"] == 1  # r3 answered in an hour
    assert week["Answered within SLA %"] == 50  # r2 is past its deadline unanswered
    assert "Complaints opened change" in header
    mail = [m for m in server.handler.parsed() if str(m["X-Ops-Key"]).startswith("weekly")]
    body = next(
        p.get_payload(decode=True).decode()
        for p in mail[0].walk()
        if p.get_content_type() == "text/plain"
    )
    assert "Complaints opened" in body and "Complaints answered within SLA" in body
