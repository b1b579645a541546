"""`ops-sheets run monitor` end to end: the Daily KPIs row and the manager alert.

On xlsx files and on Google Sheets through the local emulator (the two real
backends, tests/backends.py), plus the memory backend for the quick cases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from backends import Harness, google_harness, xlsx_harness
from test_kpis import NOW, order, small_shop

from ops_sheets.config import Settings
from ops_sheets.domain import findings
from ops_sheets.domain.findings import Finding
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.ledger import Ledger, PlanEntry
from ops_sheets.store.state import State


@pytest.fixture(params=["xlsx", "google"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "xlsx":
        h = xlsx_harness(tmp_path)
    else:
        emulator = request.getfixturevalue("sheets_emulator")
        h = google_harness(tmp_path, emulator)
    h.seed(small_shop())
    return h


def monitor(h: Harness, now: datetime) -> Any:
    wb = h.open()
    try:
        return run_job("monitor", h.settings, now, workbook=wb)
    finally:
        wb.close()


def outbox(settings: Settings, prefix: str = "alert_") -> list[EmailMessage]:
    folder = settings.resolve(settings.mail.outbox_dir)
    files = sorted(folder.glob(f"{prefix}*.eml"), key=lambda p: p.stat().st_mtime_ns)
    return [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes())  # type: ignore[misc]
        for p in files
    ]


def text(message: EmailMessage) -> str:
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return body.replace("\r\n", "\n")


def kpi_rows(h: Harness) -> list[dict[str, Any]]:
    header, *rows = h.values("Daily KPIs")
    return [dict(zip(header, r, strict=False)) for r in rows if any(v not in (None, "") for v in r)]


def day_text(value: Any) -> str:
    return value.isoformat()[:10] if hasattr(value, "isoformat") else str(value)


# ---------------------------------------------------------------- on both backends


def test_rerunning_the_same_day_rewrites_todays_row_and_sends_no_second_alert(
    harness: Harness,
) -> None:
    first = monitor(harness, NOW)
    assert first.error == ""
    rows = kpi_rows(harness)
    assert [day_text(r["Date"]) for r in rows] == ["2026-11-23"]
    assert rows[0]["Lines shipped"] == 1  # SO-4 left at 08:00
    assert rows[0]["SKUs out of stock"] == 1 and rows[0]["Inventory value"] == 91
    [alert] = outbox(harness.settings)
    assert "Best seller out of stock: A-1 Mug (new)" in text(alert)

    # an hour later the team corrects a unit cost: today's row changes, the findings do not
    tabs = small_shop()
    tabs["Stock"][3][5] = 2.0  # B-1: 50 on hand at 2.00 instead of 1.50
    harness.seed(tabs)
    again = monitor(harness, NOW + timedelta(hours=1))
    rows = kpi_rows(harness)
    assert [day_text(r["Date"]) for r in rows] == ["2026-11-23"]
    assert rows[0]["Inventory value"] == 91 + 25
    assert len(outbox(harness.settings)) == 1
    assert "no manager alert: nothing new" in " ".join(again.notes)


def test_a_new_finding_sends_one_alert_with_only_what_is_new(harness: Harness) -> None:
    monitor(harness, NOW)
    tabs = small_shop()
    # B-1 runs out: a second best seller out of stock
    tabs["Stock"][3][3] = 0
    harness.seed(tabs)
    result = monitor(harness, NOW + timedelta(hours=2))
    alerts = outbox(harness.settings)
    assert len(alerts) == 2
    body = text(alerts[-1])
    assert "Best seller out of stock: B-1 Bowl (new)" in body
    assert "A-1 Mug" not in body  # already reported two hours ago
    assert "reported in an earlier alert and have not changed" in body
    assert result.counts["alerts_queued"] == 1


def test_a_new_day_appends_a_row_and_leaves_the_finished_day_alone(harness: Harness) -> None:
    monitor(harness, datetime.fromisoformat("2026-11-23T23:50:00+00:00"))
    before = kpi_rows(harness)
    monitor(harness, datetime.fromisoformat("2026-11-24T00:10:00+00:00"))
    rows = kpi_rows(harness)
    assert [day_text(r["Date"]) for r in rows] == ["2026-11-23", "2026-11-24"]
    assert rows[0] == before[0]


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
        # the Kits tab `init` makes: a tab monitor reads that is not there costs a
        # failed read and a metadata request on Google
        tabs["Kits"] = [["Kit SKU", "Component SKU", "Qty"]]
        h.seed(tabs)
        monitor(h, NOW)  # creates the service tabs and columns: not the steady state
        h.reset_requests()
        monitor(h, NOW + timedelta(hours=1))
        counts.append(h.requests())
    assert counts[0] == counts[1]
    reads, writes = counts[0]  # type: ignore[misc]
    assert reads + writes <= 4 and writes <= 2


# ---------------------------------------------------------------- memory backend


@pytest.fixture
def state(settings: Settings) -> Iterator[State]:
    s = State(settings.resolve(settings.state.path))
    yield s
    s.close()


def test_the_alert_lists_every_finding_most_severe_first_with_what_to_do(
    settings: Settings, state: State
) -> None:
    wb = MemoryWorkbook(small_shop())
    run_job("monitor", settings, NOW, workbook=wb, state=state)
    [alert] = outbox(settings)
    assert alert["To"] == "manager@example.com"
    assert alert["Subject"].startswith("[Our shop] 3 things need attention (1 urgent)")
    # 14 quiet business hours since Sat 11:00 are normal for a shop of a few orders a
    # week: no quiet-spell alert (issue 20; it used to fire after 4 hours, any shop)
    assert "No new orders" not in text(alert)
    body = text(alert)
    assert body.index("[HIGH] Best seller out of stock: A-1 Mug") < body.index(
        "[MEDIUM] 1 shipment stuck in transit"
    )
    assert body.index("[MEDIUM] 1 shipment stuck in transit") < body.index("[LOW]")
    assert "What to do: Ask the forwarder to trace them" in body
    assert "[LOW] 2 new problems in the sheet (new)" in body  # first run: all are new
    html = alert.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Best seller out of stock: A-1 Mug" in html
    header, row = wb.tabs["Daily KPIs"]
    kpi = dict(zip(header, row, strict=False))
    assert (kpi["Open problems"], kpi["Emails sent"], kpi["Emails awaiting review"]) == (2, 0, 0)
    # the alert went out after the row was written: the next run counts it
    run_job("monitor", settings, NOW + timedelta(minutes=5), workbook=wb, state=state)
    header, row = wb.tabs["Daily KPIs"]
    assert dict(zip(header, row, strict=False))["Emails sent"] == 1


def test_findings_published_by_other_jobs_join_the_alert_and_resolve_when_withdrawn(
    settings: Settings, state: State
) -> None:
    wb = MemoryWorkbook(small_shop())
    held = Finding(
        "held:Acme", "stock", "warning", "Order for Acme held", "40 short", "Add to it", 40
    )
    findings.publish(state, "stock", [held], NOW)
    run_job("monitor", settings, NOW, workbook=wb, state=state)
    assert "[MEDIUM] Order for Acme held (new)" in text(outbox(settings)[-1])
    findings.publish(state, "stock", [], NOW + timedelta(hours=1))
    run_job("monitor", settings, NOW + timedelta(hours=1), workbook=wb, state=state)
    alerts = outbox(settings)
    assert len(alerts) == 2
    assert "Resolved since the last alert:\n  - Order for Acme held" in text(alerts[-1])


def test_a_failed_job_and_a_message_awaiting_review_are_reported(
    settings: Settings, state: State
) -> None:
    run_id = state.start_run("stock", NOW - timedelta(hours=2), NOW)
    state.finish_run(run_id, "failed", NOW, error="SheetAccessError: 403 forbidden")
    with Ledger.from_settings(settings) as ledger:
        entry = PlanEntry(
            key="po:PO-20261120-ACME", kind="purchase_order", job="stock",
            recipients=("orders@acme.example",), subject="PO", reference="PO-20261120-ACME",
            message_id="<m@x>", body_hash="h", message=b"x",
        )  # fmt: skip
        ledger.plan([entry], NOW)
        token = ledger.start_run()
        ledger.claim(entry.key, token, NOW)
        ledger.mark_sending(entry.key, token, NOW)
        ledger.mark_unknown(entry.key, token, NOW, "connection lost", ledger.retry)
    wb = MemoryWorkbook(small_shop())
    run_job("monitor", settings, NOW, workbook=wb, state=state)
    body = text(outbox(settings)[-1])
    assert "[HIGH] Job stock failed (new)" in body
    assert "SheetAccessError: 403 forbidden" in body
    assert "[HIGH] Purchase order PO-20261120-ACME to orders@acme.example: delivery unknown" in body
    header, row = wb.tabs["Daily KPIs"]
    assert dict(zip(header, row, strict=False))["Emails awaiting review"] == 1


def test_an_anomalous_yesterday_is_alerted_once(settings: Settings, state: State) -> None:
    tabs = small_shop()
    # 20 orders every Sunday for 8 weeks, none last Sunday (22 Nov)
    for week in range(1, 9):
        sunday = datetime(2026, 11, 22) - timedelta(weeks=week)
        tabs["Orders"] += [
            order(f"SO-S{week}-{i}", f"{sunday:%Y-%m-%d} 1{i % 8}:00", "B-1", 1, 4.0,
                  "DELIVERED", f"{sunday:%Y-%m-%d} 18:00", f"{sunday:%Y-%m-%d} 20:00")
            for i in range(20)
        ]  # fmt: skip
    wb = MemoryWorkbook(tabs)
    run_job("monitor", settings, NOW, workbook=wb, state=state)
    body = text(outbox(settings)[-1])
    assert "[HIGH] Orders on Sun 22 Nov well below usual: 0 vs 20 (new)" in body
    later = run_job("monitor", settings, NOW + timedelta(minutes=30), workbook=wb, state=state)
    assert len(outbox(settings)) == 1, later.notes


def test_a_slow_slide_reaches_the_alert_as_a_decline(settings: Settings, state: State) -> None:
    tabs = small_shop()
    # 10 orders a day for ten weeks, 5 a day in the last 7 days: no single day is far
    # enough off for the day check, but a week of them is (issue 20)
    for back in range(1, 71):
        day = datetime(2026, 11, 23) - timedelta(days=back)
        tabs["Orders"] += [
            order(f"SO-D{back}-{i}", f"{day:%Y-%m-%d} 1{i % 8}:00", "B-1", 1, 4.0,
                  "DELIVERED", f"{day:%Y-%m-%d} 18:00", f"{day:%Y-%m-%d} 20:00")
            for i in range(5 if back <= 7 else 10)
        ]  # fmt: skip
    wb = MemoryWorkbook(tabs)
    run_job("monitor", settings, NOW, workbook=wb, state=state)
    body = text(outbox(settings)[-1])
    assert "[MEDIUM] Orders sliding below usual since" in body
    assert "Orders on Sun 22 Nov" not in body  # the day check sees nothing


def test_dry_run_describes_the_alert_and_changes_nothing(settings: Settings) -> None:
    wb = MemoryWorkbook(small_shop())
    result = run_job("monitor", settings, NOW, workbook=wb, dry_run=True)
    assert "Daily KPIs" not in wb.tabs
    assert any(line.startswith("email alert:2026-11-23:") for line in result.notes)
    assert any("'Daily KPIs'!A2" in line for line in result.dry_run_lines)
    assert not settings.resolve(settings.state.path).exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("business_hours", "17:00-09:00", 'business_hours "17:00-09:00": the end must be after'),
        ("business_hours", "9-5", "business_hours \"9-5\": '9' is not a 24-hour time"),
        ("quiet_days", "Funday", "quiet_days \"Funday\": 'funday' is not a day name"),
    ],
)
def test_a_bad_monitor_setting_is_a_config_error_naming_the_key(
    settings: Settings, key: str, value: str, message: str
) -> None:
    from ops_sheets.errors import ConfigError

    monitor_settings = dataclasses.replace(settings.jobs.monitor, **{key: value})
    jobs = dataclasses.replace(settings.jobs, monitor=monitor_settings)
    bad = dataclasses.replace(settings, jobs=jobs)
    with pytest.raises(ConfigError) as info:
        run_job("monitor", bad, NOW, workbook=MemoryWorkbook(small_shop()), dry_run=True)
    assert f"[jobs.monitor] {message}" in str(info.value)
