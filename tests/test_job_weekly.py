"""`ops-sheets run weekly` end to end: the Weekly summary row, native charts on the
xlsx workbook, and the manager's weekly email with inline chart images."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from backends import Harness, google_harness, xlsx_harness
from ops_sheets.jobs.weekly import ON_TIME_CHART, ORDERS_CHART, metrics
from test_job_monitor import outbox, text
from test_kpis import NOW, order, small_shop

from ops_sheets.config import Settings
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.state import State


@pytest.fixture(params=["xlsx", "google"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "xlsx":
        h = xlsx_harness(tmp_path)
    else:
        h = google_harness(tmp_path, request.getfixturevalue("sheets_emulator"))
    h.seed(small_shop())
    return h


def run(h: Harness, job: str, now: datetime) -> Any:
    wb = h.open()
    try:
        result = run_job(job, h.settings, now, workbook=wb)
    finally:
        wb.close()
    assert result.error == ""
    return result


def weekly_rows(h: Harness) -> list[dict[str, Any]]:
    header, *rows = h.values("Weekly summary")
    return [dict(zip(header, r, strict=False)) for r in rows if r and r[0] not in (None, "")]


def day_text(value: Any) -> str:
    return value.isoformat()[:10] if hasattr(value, "isoformat") else str(value)


# ---------------------------------------------------------------- both backends


def test_the_row_holds_the_last_complete_week_and_its_change_on_the_week_before(
    harness: Harness,
) -> None:
    run(harness, "weekly", NOW)
    row = weekly_rows(harness)[-1]
    assert row["Week"] == "2026-W47"
    assert (day_text(row["From"]), day_text(row["To"])) == ("2026-11-16", "2026-11-22")
    # hand-computed in tests/test_kpis.py: 5 orders, 60.00 revenue, 2 of 3 lines on time
    assert (row["Orders"], row["Revenue"], row["Average order value"]) == (5, 60, 12)
    assert row["Shipped on time %"] == 66.67 and row["Returns requested"] == 3
    # the week before (9-15 Nov) had no orders at all
    assert (row["Orders change"], row["Revenue change"]) == (5, 60)
    assert row["Average order value change"] in (None, "")  # no orders, no average
    assert row["Late open lines"] in (None, "")  # monitor recorded no day of that week


def test_a_rerun_rewrites_the_row_and_does_not_send_the_email_again(harness: Harness) -> None:
    run(harness, "weekly", NOW)
    again = run(harness, "weekly", NOW + timedelta(hours=3))
    assert len(weekly_rows(harness)) == 12  # 11 back-filled weeks and this one, once
    assert len(outbox(harness.settings, "weekly_")) == 1
    assert any("the email went out already (sent)" in n for n in again.notes)
    assert again.delivery is None or again.delivery.ok


def test_requests_per_run_stay_constant_in_the_number_of_rows(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    counts = []
    for extra in (0, 400):
        h = google_harness(tmp_path / f"g{extra}", sheets_emulator)
        tabs = small_shop()
        tabs["Orders"] += [
            order(f"SO-X{i}", f"2026-11-{10 + i % 12} 10:00", "B-1", 1, 4.0, "DELIVERED",
                  f"2026-11-{10 + i % 12} 15:00", f"2026-11-{11 + i % 12} 12:00")
            for i in range(extra)
        ]  # fmt: skip
        h.seed(tabs)
        init_workbook(h.settings)  # steady state: every tab exists (Daily KPIs too)
        run(h, "weekly", NOW)  # sends the email
        h.reset_requests()
        run(h, "weekly", NOW + timedelta(hours=1))
        counts.append(h.requests())
    assert counts[0] == counts[1]
    reads, writes = counts[0]  # type: ignore[misc]
    assert reads + writes <= 4 and writes <= 2


# ---------------------------------------------------------------- back-fill


def test_the_first_run_back_fills_twelve_weeks_with_the_emails_chart_numbers(
    harness: Harness,
) -> None:
    run(harness, "weekly", NOW)
    rows = weekly_rows(harness)
    assert [r["Week"] for r in rows] == [f"2026-W{n}" for n in range(36, 48)]
    by_week = {r["Week"]: r for r in rows}
    first = by_week["2026-W36"]
    assert (day_text(first["From"]), day_text(first["To"])) == ("2026-08-31", "2026-09-06")
    # SO-7 (2 Nov, one mug at 10.00, shipped the next day) is week 45's only order
    w45 = by_week["2026-W45"]
    assert (w45["Orders"], w45["Revenue"], w45["Shipped on time %"]) == (1, 10, 100)
    assert (w45["Orders change"], by_week["2026-W46"]["Orders change"]) == (1, -1)
    # the same figures as the email's charts (their alt text lists every week)
    [message] = outbox(harness.settings, "weekly_")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    alt = re.search(r'alt="Orders per week 2026-W36 to 2026-W47: ([^;]*); revenue', html)
    assert alt is not None
    assert alt.group(1).split(", ") == [f"{r['Orders'] or 0:g}" for r in rows]


@pytest.mark.parametrize("backend", ["xlsx", "google"])
def test_a_week_that_appears_before_the_write_is_kept_and_a_rerun_adds_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "xlsx":
        h = xlsx_harness(tmp_path)
    else:
        h = google_harness(tmp_path, request.getfixturevalue("sheets_emulator"))
    shop = small_shop()
    shop["Weekly summary"] = [["Week", "From", "To", "Orders"]]
    h.seed(shop)
    # a person types week 45 between the job's read and its write: left as typed
    h.edit_before_write(
        "Weekly summary", lambda rows: [*rows, ["2026-W45", "2026-11-02", "2026-11-08", 7]]
    )
    run(h, "weekly", NOW)
    again = run(h, "weekly", NOW + timedelta(hours=2))
    rows = weekly_rows(h)
    assert [r["Week"] for r in rows].count("2026-W45") == 1 and len(rows) == 12
    assert next(r for r in rows if r["Week"] == "2026-W45")["Orders"] == 7
    assert not any("back-filled" in n for n in again.notes)


def test_back_fill_adds_only_the_weeks_the_tab_lacks(tmp_path: Path) -> None:
    h = xlsx_harness(tmp_path)
    shop = small_shop()
    header = ["Week", "From", "To", "Orders"]
    shop["Weekly summary"] = [header, ["2026-W40", "2026-09-28", "2026-10-04", 99]]
    h.seed(shop)
    result = run(h, "weekly", NOW)
    weeks = [r["Week"] for r in weekly_rows(h)]
    assert weeks[0] == "2026-W40" and weeks.count("2026-W40") == 1 and len(weeks) == 12
    assert weekly_rows(h)[0]["Orders"] == 99
    assert any("10 past weeks back-filled (2026-W36 to 2026-W46)" in n for n in result.notes)


# ---------------------------------------------------------------- xlsx charts


def test_the_xlsx_tab_gets_two_native_charts_that_survive_the_next_weeks(tmp_path: Path) -> None:
    h = xlsx_harness(tmp_path)
    h.seed(small_shop())
    for week in range(3):
        run(h, "weekly", NOW + timedelta(weeks=week))
    weeks = [r["Week"] for r in weekly_rows(h)]
    assert weeks == [f"2026-W{n}" for n in range(36, 50)]  # back-filled on the first run
    book = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    charts = book["Weekly summary"]._charts
    titles = sorted("".join(r.t for p in c.title.tx.rich.p for r in p.r) for c in charts)
    assert titles == sorted([ORDERS_CHART, ON_TIME_CHART])  # replaced, never added twice
    combo = next(c for c in charts if "Orders" in c.title.tx.rich.p[0].r[0].t)
    refs = [s.val.numRef.f for s in combo.series] + [
        s.val.numRef.f for s in combo._charts[1].series
    ]
    # the last 12 of the 14 rows (rows 4 to 15)
    assert refs == ["'Weekly summary'!$D$4:$D$15", "'Weekly summary'!$J$4:$J$15"]


def test_a_chart_replaced_by_the_job_keeps_a_chart_of_another_title(tmp_path: Path) -> None:
    h = xlsx_harness(tmp_path)
    h.seed(small_shop())
    run(h, "weekly", NOW)
    path = tmp_path / "workbook.xlsx"
    book = openpyxl.load_workbook(path)
    ws = book["Weekly summary"]
    mine = openpyxl.chart.PieChart()
    mine.title = "My own chart"
    mine.add_data(openpyxl.chart.Reference(ws, min_col=4, min_row=1, max_row=2))
    ws.add_chart(mine, "A20")
    book.save(path)
    run(h, "weekly", NOW + timedelta(weeks=1))
    assert len(openpyxl.load_workbook(path)["Weekly summary"]._charts) == 3


# ---------------------------------------------------------------- the email


@pytest.fixture
def state(settings: Settings) -> Any:
    s = State(settings.resolve(settings.state.path))
    yield s
    s.close()


def weekly_email(settings: Settings, state: State, tabs: Any = None) -> EmailMessage:
    wb = MemoryWorkbook(tabs or small_shop())
    result = run_job("weekly", settings, NOW, workbook=wb, state=state)
    assert result.error == ""
    [message] = outbox(settings, "weekly_")
    return message


def test_the_email_shows_its_charts_inline_by_content_id(settings: Settings, state: State) -> None:
    message = weekly_email(settings, state)
    assert message["Subject"] == "Our shop weekly summary 2026-W47 (16 Nov – 22 Nov 2026)"
    assert message["To"] == "manager@example.com"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert cids == ["orders-revenue", "on-time"]
    images = {
        str(p["Content-ID"]).strip("<>"): p.get_payload(decode=True)
        for p in message.walk()
        if p.get_content_type() == "image/png"
    }
    assert set(images) == set(cids)
    assert all(data.startswith(b"\x89PNG") and len(data) < 150_000 for data in images.values())
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # nothing remote
    assert 'alt="Orders per week 2026-W36 to 2026-W47: ' in html


def test_the_email_lists_headlines_sellers_watch_list_late_orders_reasons_and_health(
    settings: Settings, state: State
) -> None:
    run_id = state.start_run("stock", NOW - timedelta(days=1), NOW)
    state.finish_run(run_id, "failed", NOW, error="boom")
    body = text(weekly_email(settings, state))
    assert re.search(r"Revenue\s+£60\.00\s+£0\.00\s+\^ new", body)
    assert re.search(r"Orders\s+5\s+0\s+\^ new", body)
    assert re.search(r"Shipped on time\s+66\.7%\s+–\s+= –", body)  # nothing shipped before
    assert "1. Mug (A-1): 3 units, £30.00" in body
    assert "- Mug (A-1): out of stock (a best seller)" in body
    assert "- SO-5 B-1: ship by Fri 20 Nov 2026, 1 business day late" in body
    assert "- Damaged: 2 units (67%)" in body
    assert "The assistant's last 7 days: 1 job runs, 1 failed" in body


def test_levels_are_the_average_of_the_weeks_daily_kpis_rows(
    settings: Settings, state: State
) -> None:
    wb = MemoryWorkbook(small_shop())
    for day in (18, 20):  # monitor ran on Wednesday and Friday of that week
        run_job("monitor", settings, NOW.replace(day=day, hour=12), workbook=wb, state=state)
    run_job("weekly", settings, NOW, workbook=wb, state=state)
    header, *rows = wb.tabs["Weekly summary"]
    row = dict(zip(header, rows[-1], strict=False))
    assert row["Week"] == "2026-W47"
    # SO-5 is due Fri 20, so late only from Saturday; A-1 is out of stock on both days
    assert row["Late open lines"] == 0 and row["SKUs out of stock"] == 1
    [message] = outbox(settings, "weekly_")
    assert "SKUs out of stock (daily average)" in text(message)


def test_metrics_show_the_arrow_and_whether_the_change_is_good() -> None:
    this = {"revenue": 120.0, "orders": 10, "avg_hours_to_ship": 30.0, "late_open_lines": 2.5}
    before = {"revenue": 100.0, "orders": 10, "avg_hours_to_ship": 24.0, "late_open_lines": 3}
    shown = {m["name"]: m for m in metrics(this, before, "GBP")}
    assert shown["Revenue"] == {
        "name": "Revenue",
        "value": "£120.00",
        "previous": "£100.00",
        "change": "+20.0%",
        "direction": "up",
        "good": True,
    }
    assert (shown["Orders"]["direction"], shown["Orders"]["good"]) == ("flat", None)
    hours = shown["Order to shipping"]
    assert (hours["change"], hours["direction"], hours["good"]) == ("+6.0 h", "up", False)
    late = shown["Late open lines (daily average)"]
    assert (late["value"], late["change"], late["good"]) == ("2.5", "-0.5", True)
    assert "Units sold" not in shown  # unknown this week: left out


def test_dry_run_describes_the_email_and_changes_nothing(settings: Settings) -> None:
    wb = MemoryWorkbook(small_shop())
    result = run_job("weekly", settings, NOW, workbook=wb, dry_run=True)
    assert "Weekly summary" not in wb.tabs
    assert any(n.startswith("email weekly:2026-W47: to manager@example.com") for n in result.notes)
    lines = result.dry_run_lines
    assert any("'Weekly summary'!A2: (blank) → '2026-W36'" in line for line in lines)
    assert any("'Weekly summary'!A13: (blank) → '2026-W47'" in line for line in lines)


def test_the_weekly_email_has_a_line_on_backorders(tmp_path: Path) -> None:
    h = xlsx_harness(tmp_path)
    shop = small_shop()
    # A-1 has 0 on hand: a new order for 2 is a backorder
    shop["Orders"].append(order("SO-9", "2026-11-22 10:00", "A-1", 2, 10.0, "NEW"))
    h.seed(shop)
    run(h, "weekly", NOW)
    (mail,) = outbox(h.settings, "weekly")
    assert "Backorders: 1 open line stock cannot cover, 2 units short (A-1 2 short)." in text(mail)
