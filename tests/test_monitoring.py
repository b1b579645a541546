"""Every check of ops_sheets.domain.monitoring, and the re-alert rule, on small hand-made data."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from test_kpis import NOW, frames, order, small_shop

from ops_sheets.config import Settings
from ops_sheets.domain import kpis, monitoring, purchasing
from ops_sheets.domain.findings import Finding
from ops_sheets.service.scheduler import parse_schedule
from ops_sheets.sheet.tables import Problem
from ops_sheets.store.state import JobRun

LONDON = ZoneInfo("Europe/London")


def flow(values: dict[date, tuple[float, float]]) -> pd.DataFrame:
    """A daily flow frame with orders and revenue per day (other columns 0)."""
    days = sorted(values)
    index = pd.Index(pd.date_range(days[0], days[-1]).date, name="date")
    out = pd.DataFrame(0.0, index=index, columns=["orders", "revenue"])
    for d, (orders, revenue) in values.items():
        out.loc[d] = [orders, revenue]
    return out


SUNDAY = date(2026, 11, 22)


def sundays(history: list[float], last: float, revenue_per_order: float = 30.0) -> pd.DataFrame:
    """``history`` for the 8 Sundays before SUNDAY (oldest first), ``last`` for SUNDAY."""
    values = {
        SUNDAY - timedelta(weeks=8 - i): (n, n * revenue_per_order) for i, n in enumerate(history)
    }
    values[SUNDAY] = (last, last * revenue_per_order)
    return flow(values)


# ---------------------------------------------------------------- anomalies


def test_the_first_day_with_no_history_is_not_judged() -> None:
    only_today = flow({SUNDAY: (0, 0)})
    assert monitoring.anomaly_findings(only_today, SUNDAY, threshold=3, first_day=SUNDAY) == []
    # three earlier Sundays are not enough either (four are needed)
    short = sundays([40, 41, 39, 42, 40, 38, 41, 40], 3)
    assert (
        monitoring.anomaly_findings(
            short, SUNDAY, threshold=3, first_day=SUNDAY - timedelta(weeks=3)
        )
        == []
    )


def test_a_day_with_no_orders_against_a_busy_usual_is_critical() -> None:
    data = sundays([40, 41, 39, 42, 40, 38, 41, 40], 0)
    found = monitoring.anomaly_findings(data, SUNDAY, threshold=3, first_day=None, currency="GBP")
    by_key = {f.key: f for f in found}
    orders = by_key["anomaly:orders:2026-11-22"]
    assert orders.severity == "critical"
    assert orders.title == "Orders on Sun 22 Nov well below usual: 0 vs 40"
    assert "Expected 40 (the median of the Sundays of the last 8 weeks: " in orders.detail
    assert "40, 41, 39, 42, 40, 38, 41, 40)" in orders.detail
    revenue = by_key["anomaly:revenue:2026-11-22"]
    assert revenue.severity == "warning"  # an amount: a drop, not an outage signal by itself
    assert "0.00 GBP vs 1,200.00 GBP" in revenue.title


def test_a_single_outlier_in_the_history_does_not_skew_the_usual_level() -> None:
    # one Black-Friday-like Sunday of 400 orders: a mean/sd rule would call 15 normal
    data = sundays([40, 41, 39, 400, 40, 38, 41, 40], 15)
    found = monitoring.anomaly_findings(data, SUNDAY, threshold=3, first_day=None)
    assert [f.key for f in found] == ["anomaly:orders:2026-11-22", "anomaly:revenue:2026-11-22"]
    assert "15 vs 40" in found[0].title
    # and an ordinary day against that history raises nothing
    normal = sundays([40, 41, 39, 400, 40, 38, 41, 40], 41)
    assert monitoring.anomaly_findings(normal, SUNDAY, threshold=3, first_day=None) == []


def test_a_day_within_poisson_noise_of_a_steady_history_is_not_alerted() -> None:
    # issue 20: a history this steady (spread 1.3 orders) made 25 vs 40 a robust z of
    # −10; counts of 40 a day vary by √40 ≈ 6.3, and 30 is well within it
    data = sundays([40, 41, 39, 42, 40, 38, 41, 40], 30)
    assert monitoring.anomaly_findings(data, SUNDAY, threshold=3, first_day=None) == []


def test_revenue_moving_with_unusual_orders_is_reported_on_a_lower_bar() -> None:
    # 40 orders of 30 GBP every Sunday; revenue of 657 scores about −2.5 on its own
    values = {SUNDAY - timedelta(weeks=w): (40.0, 1200.0) for w in range(1, 9)}
    alone = flow({**values, SUNDAY: (40.0, 657.0)})
    assert monitoring.anomaly_findings(alone, SUNDAY, threshold=3, first_day=None) == []
    # with orders well below usual the same day, it is reported with them
    both = flow({**values, SUNDAY: (15.0, 657.0)})
    found = monitoring.anomaly_findings(both, SUNDAY, threshold=3, first_day=None)
    assert [f.key for f in found] == ["anomaly:orders:2026-11-22", "anomaly:revenue:2026-11-22"]
    assert "alert beyond ±3)" in found[0].detail
    assert "alert beyond ±2 on a day orders are unusual too" in found[1].detail


def test_a_busy_day_is_reported_as_information() -> None:
    data = sundays([40, 41, 39, 42, 40, 38, 41, 40], 90)
    found = monitoring.anomaly_findings(data, SUNDAY, threshold=3, first_day=None)
    assert {f.severity for f in found} == {"info"}
    assert found[0].title.startswith("Orders on Sun 22 Nov well above usual")


def test_small_counts_within_poisson_noise_are_not_alerted() -> None:
    # 2 orders every Sunday, then 4: a MAD rule called it huge; it is noise
    data = sundays([2, 2, 2, 2, 2, 2, 2, 3], 4, revenue_per_order=0)
    assert monitoring.anomaly_findings(data, SUNDAY, threshold=3, first_day=None) == []


def test_days_before_the_first_order_are_not_history() -> None:
    data = sundays([0, 0, 0, 0, 40, 38, 41, 40], 40)
    first = SUNDAY - timedelta(weeks=4)
    assert monitoring.anomaly_findings(data, SUNDAY, threshold=3, first_day=first) == []


PROFILE = np.array([0.95, 0.9, 0.85, 0.9, 1.0, 1.25, 1.15])  # Mon..Sun
START = date(2026, 7, 27)  # a Monday


def simulated(seed: int, days: int = 120, per_day: float = 30.0, factor: Any = 1.0) -> pd.DataFrame:
    """A shop's daily orders (Poisson, weekly profile) and revenue (lognormal order
    values, mean 45), ``factor`` times the usual rate (a number or one per day)."""
    rng = np.random.default_rng(seed)
    rate = per_day * PROFILE[np.arange(days) % 7] * np.broadcast_to(factor, (days,))
    orders = rng.poisson(rate)
    revenue = [rng.lognormal(math.log(45) - 0.18, 0.6, n).sum() for n in orders]
    index = pd.Index([START + timedelta(days=i) for i in range(days)], name="date")
    return pd.DataFrame({"orders": orders.astype(float), "revenue": revenue}, index=index)


def judged(data: pd.DataFrame, day: date, first_day: date | None = START) -> list[Finding]:
    return monitoring.anomaly_findings(
        data, day, threshold=3, first_day=first_day, currency="GBP"
    ) + monitoring.decline_findings(data, day, first_day=first_day, currency="GBP")


def test_a_drop_to_zero_is_caught_on_the_day_for_orders_and_revenue() -> None:
    data = simulated(1)
    day = START + timedelta(days=90)
    data.loc[day] = [0.0, 0.0]
    keys = {f.key for f in judged(data, day)}
    assert {"anomaly:orders:2026-10-25", "anomaly:revenue:2026-10-25"} <= keys


def test_a_threefold_spike_is_caught_on_the_day_for_orders_and_revenue() -> None:
    factor = np.ones(120)
    factor[90] = 3.0
    data = simulated(2, factor=factor)
    found = judged(data, START + timedelta(days=90))
    assert {f.key for f in found} == {"anomaly:orders:2026-10-25", "anomaly:revenue:2026-10-25"}
    assert {f.severity for f in found} == {"info"}


def test_a_slow_slide_is_flagged_within_ten_days_by_the_decline_check() -> None:
    # from day 80 the rate falls by 3% of the usual a day, to 0.4× on day 100
    factor = np.clip(1 - 0.03 * (np.arange(120) - 80), 0.4, 1.0)
    data = simulated(3, factor=factor)
    clean = simulated(3)
    first = next(k for k in range(21) if judged(data, START + timedelta(days=80 + k)))
    assert first <= 10
    found = judged(data, START + timedelta(days=80 + first))
    assert [f.key for f in found] == ["decline:orders"]
    # the same days without the slide: nothing
    assert all(not judged(clean, START + timedelta(days=80 + k)) for k in range(21))


def test_a_sudden_lasting_drop_is_a_decline_dated_near_its_first_day() -> None:
    # from day 80 the shop sells 35% less, every day: no single day is far enough off
    # for the day check, but a week of them is a decline that began on day 80
    factor = np.where(np.arange(120) >= 80, 0.65, 1.0)
    data = simulated(5, factor=factor)
    day = START + timedelta(days=87)
    found = {f.key: f for f in monitoring.decline_findings(data, day, first_day=START)}
    # when it began is itself judged from noisy days: within a day or two
    near = [START + timedelta(days=80 + k) for k in (-2, -1, 0, 1)]
    title = found["decline:orders"].title
    assert any(title.startswith(f"Orders sliding below usual since {d:%a %d %b}:") for d in near)


def test_a_single_bad_day_is_the_day_checks_business_not_a_decline() -> None:
    data = simulated(6)
    day = START + timedelta(days=90)
    data.loc[day] = [0.0, 0.0]
    assert monitoring.decline_findings(data, day, first_day=START) == []


def test_a_clean_shop_with_four_weeks_of_history_raises_no_alert() -> None:
    data = simulated(4, days=35)
    for i in range(28, 35):
        day = START + timedelta(days=i)
        assert judged(data, day, first_day=day - timedelta(weeks=4)) == []


def test_findings_say_what_was_expected_what_was_seen_and_why_it_matters() -> None:
    data = simulated(1)
    day = START + timedelta(days=90)
    data.loc[day] = [0.0, 0.0]
    for f in judged(data, day):
        assert "Expected " in f.detail and "Seen 0" in f.detail, f.detail
        assert "a normal Sunday lies between" in f.detail
        assert "something may be stopping sales" in f.detail
    factor = np.clip(1 - 0.03 * (np.arange(120) - 80), 0.4, 1.0)
    slide = simulated(3, factor=factor)
    decline = {f.key: f for f in judged(slide, START + timedelta(days=95))}["decline:orders"]
    assert decline.title.startswith("Orders sliding below usual since ")
    assert "Expected " in decline.detail and "; seen " in decline.detail
    assert "a slow slide costs more than a bad day" in decline.detail


# ---------------------------------------------------------------- quiet spells


HOURS = monitoring.BusinessHours(time(9), time(17))


def test_business_hours_count_only_the_open_part_of_each_day() -> None:
    fri_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=LONDON)
    mon_11am = datetime(2026, 11, 23, 11, 0, tzinfo=LONDON)
    assert HOURS.hours_between(fri_4pm, mon_11am, LONDON) == 1 + 8 + 8 + 2
    weekdays = monitoring.BusinessHours(time(9), time(17), "1111100")
    assert weekdays.hours_between(fri_4pm, mon_11am, LONDON) == 1 + 2
    assert monitoring.BusinessHours.parse("08:30-18:00").end == time(18)
    with pytest.raises(ValueError, match="after the start"):
        monitoring.BusinessHours.parse("17:00-09:00")


def _orders(*placed: str | datetime) -> tuple[pd.Series, pd.Series]:
    stamps = pd.DatetimeIndex([pd.Timestamp(p) for p in placed])
    if stamps.tz is None:
        stamps = stamps.tz_localize(LONDON)
    times = pd.Series(stamps.tz_convert(LONDON))
    return times, pd.Series([f"SO-{i}" for i in range(len(placed))], dtype=object)


def history(per_day: float, until: datetime, weeks: int = 8) -> list[datetime]:
    """Orders spread evenly over 09:00–17:00, ``per_day`` a day on average, for
    ``weeks`` before ``until`` (1.5 a day: one order, then two, in turn)."""
    out = []
    day = until.date() - timedelta(weeks=weeks)
    i = 0
    while True:
        n = int(per_day * (i + 1)) - int(per_day * i)
        for k in range(n):
            at = datetime.combine(day, time(9), LONDON) + timedelta(hours=8 * (k + 0.5) / n)
            if at > until:
                return out
            out.append(at)
        day += timedelta(days=1)
        i += 1


def test_a_shop_taking_1_5_orders_a_day_is_not_alerted_at_11_on_a_monday() -> None:
    # issue 20: 5 quiet business hours since Sunday 14:00 is a normal morning here
    monday_11 = datetime(2026, 11, 23, 11, 0, tzinfo=LONDON)
    times, ids = _orders(*history(1.5, datetime(2026, 11, 22, 14, 0, tzinfo=LONDON)))
    assert times.max().hour < 15  # the last order: Sunday afternoon
    assert monitoring.quiet_finding(times, ids, monday_11, LONDON, HOURS, 1) is None
    # nor after a whole quiet business day: no order in 13 hours is 1 chance in 2
    tuesday_14 = datetime(2026, 11, 24, 14, 0, tzinfo=LONDON)
    assert monitoring.quiet_finding(times, ids, tuesday_14, LONDON, HOURS, 1) is None
    # five quiet business days at 1.5 a day is improbable (e^−7.5 ≈ 0.06%)
    friday_17 = datetime(2026, 11, 27, 17, 0, tzinfo=LONDON)
    f = monitoring.quiet_finding(times, ids, friday_17, LONDON, HOURS, 1)
    assert f is not None and f.title.startswith("No new orders for 4")


def test_a_busy_shop_is_alerted_after_an_improbable_quiet_spell() -> None:
    last = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)
    times, ids = _orders(*history(40, last - timedelta(minutes=5)), last)
    # an hour without orders at 5 an hour: e^−5 ≈ 0.7%, not yet improbable
    assert monitoring.quiet_finding(times, ids, last + timedelta(hours=1), LONDON, HOURS, 1) is None
    f = monitoring.quiet_finding(times, ids, last + timedelta(hours=2), LONDON, HOURS, 1)
    assert f is not None and f.key == "quiet-orders"
    assert f.title == "No new orders for 2.0 business hours"
    assert f"order SO-{len(times) - 1} was placed Mon 23 Nov 10:00" in f.detail
    assert "Expected about 10.0 orders in those business hours" in f.detail
    assert "seen none" in f.detail and "something may be stopping orders" in f.detail
    assert f.metric == 1
    # still quiet at 17:00: 7 business hours, 35 orders expected, five times improbable
    later = monitoring.quiet_finding(times, ids, last.replace(hour=17), LONDON, HOURS, 1)
    assert later is not None and later.metric == 5
    # an order of many lines is one order: 10 lines each do not make 10 times the rate
    lines = pd.concat([times.iloc[:-1]] * 10 + [times.iloc[-1:]], ignore_index=True)
    line_ids = pd.concat([ids.iloc[:-1]] * 10 + [ids.iloc[-1:]], ignore_index=True)
    one_hour = last + timedelta(hours=1)
    assert monitoring.quiet_finding(lines, line_ids, one_hour, LONDON, HOURS, 1) is None
    # quiet_hours is the shortest spell alerted, whatever the rate
    assert monitoring.quiet_finding(times, ids, last + timedelta(hours=2), LONDON, HOURS, 3) is None


def test_a_recent_order_a_young_shop_or_an_empty_sheet_is_not_a_quiet_spell() -> None:
    now = datetime(2026, 11, 23, 13, 30, tzinfo=LONDON)
    times, ids = _orders(*history(40, now - timedelta(minutes=20)))
    assert monitoring.quiet_finding(times, ids, now, LONDON, HOURS, 1) is None
    # overnight hours do not count: 16:50 yesterday to 09:30 today is 0.7 business hours
    times, ids = _orders(*history(40, datetime(2026, 11, 22, 16, 50, tzinfo=LONDON)))
    morning = datetime(2026, 11, 23, 9, 30, tzinfo=LONDON)
    assert monitoring.quiet_finding(times, ids, morning, LONDON, HOURS, 1) is None
    # fewer than 7 days of orders: no rate to judge by
    week = history(40, datetime(2026, 11, 23, 9, 0, tzinfo=LONDON))
    young, young_ids = _orders(*[t for t in week if t.date() >= date(2026, 11, 18)])
    assert monitoring.quiet_finding(young, young_ids, now, LONDON, HOURS, 1) is None
    empty, no_ids = _orders()
    assert monitoring.quiet_finding(empty, no_ids, now, LONDON, HOURS, 1) is None


# ---------------------------------------------------------------- orders and stock


@pytest.fixture
def facts(settings: Settings) -> kpis.ShopFacts:
    return kpis.shop_facts(frames(small_shop(), settings), settings, NOW)


def late_shop(settings: Settings, extra_late: int) -> kpis.ShopFacts:
    tabs = small_shop()
    tabs["Orders"] += [
        order(f"SO-L{i}", f"2026-11-1{i % 7 + 0} 09:00", "B-1", 1, 4.0, "NEW")
        for i in range(extra_late)
    ]
    return kpis.shop_facts(frames(tabs, settings), settings, NOW)


def test_late_lines_are_alerted_above_the_configured_count(settings: Settings) -> None:
    facts = late_shop(settings, 5)  # 6 late lines with SO-5
    assert monitoring.late_lines_finding(facts.orders, facts.assessment, 6) is None
    f = monitoring.late_lines_finding(facts.orders, facts.assessment, 5)
    assert f is not None and f.key == "late-lines" and f.metric == 6
    assert f.title == "6 order lines late (6 orders)"
    assert f.detail.startswith("Past their ship-by date and not shipped (alert above 5); oldest: ")
    assert f.severity == "warning"
    assert monitoring.late_lines_finding(facts.orders, facts.assessment, 1).severity == "critical"


def test_stuck_shipments_name_the_orders_with_days_and_tracking(facts: kpis.ShopFacts) -> None:
    f = monitoring.stuck_finding(facts.orders, facts.assessment)
    assert f is not None and f.key == "stuck-shipments" and f.metric == 1
    assert f.title == "1 shipment stuck in transit"
    assert "SO-7 (20 days, Zip ZP123)" in f.detail


def test_best_sellers_out_of_stock_are_critical_and_low_ones_one_finding(
    settings: Settings,
) -> None:
    tabs = small_shop()
    tabs["Stock"][3][3] = 8  # B-1: 8 on hand, reorder point 10
    facts = kpis.shop_facts(frames(tabs, settings), settings, NOW)
    # revenue in the 56 days: A-1 40, B-1 20, A-2 10 → A-1 and B-1 make 80 %: class A
    assert dict(zip(facts.decision["sku"], facts.decision["abc"], strict=True)) == {
        "A-1": "A", "A-2": "B", "B-1": "A", "C-1": "C",
    }  # fmt: skip
    found = {f.key: f for f in monitoring.best_seller_findings(facts.decision)}
    assert set(found) == {"best-seller:A-1", "best-sellers-low"}  # A-2 is low but class B
    oos = found["best-seller:A-1"]
    assert oos.severity == "critical" and oos.title == "Best seller out of stock: A-1 Mug"
    assert oos.detail.startswith("On hand 0 (reorder point 5), 0 on order; it sells about")
    low = found["best-sellers-low"]
    assert (low.severity, low.metric) == ("warning", 1)
    assert low.title == "1 best seller at or below the reorder point"
    assert low.detail == (
        "B-1 Bowl: 8 on hand, reorder point 10, 0 on order; 1 has nothing on order yet."
    )


def test_low_best_sellers_with_stock_on_order_are_information(settings: Settings) -> None:
    decision = pd.DataFrame(
        {
            "sku": ["A-1", "A-2", "C-9"],
            "product": ["Mug", "Plate", "Spoon"],
            "active": [True, True, True],
            "abc": ["A", "A", "C"],
            "on_hand": [4.0, 2.0, 0.0],
            "reorder_point": [5.0, 5.0, 5.0],
            "on_order": [10.0, 6.0, 0.0],
            "daily_demand": [1.0, 1.0, 0.1],
        }
    )
    [low] = monitoring.best_seller_findings(decision)  # C-9 is not a best seller
    assert low.key == "best-sellers-low" and low.severity == "info" and low.metric == 2
    assert low.title == "2 best sellers at or below the reorder point"
    assert low.detail.startswith("A-2 Plate")  # 2 days of cover before A-1's 4
    assert low.detail.endswith("all have stock on order.")


def test_overdue_purchase_orders_come_from_the_reminder_plan(settings: Settings) -> None:
    po = frames(
        {
            **small_shop(),
            "Purchase orders": [
                [
                    "PO number",
                    "Supplier",
                    "SKU",
                    "Qty",
                    "Unit cost",
                    "Created at",
                    "Expected by",
                    "Status",
                ],
                [
                    "PO-20261020-ACME",
                    "Acme",
                    "A-1",
                    10,
                    4.0,
                    "2026-10-20 10:00",
                    "2026-11-03",
                    "SENT",
                ],
                [
                    "PO-20261020-ACME",
                    "Acme",
                    "A-2",
                    5,
                    2.0,
                    "2026-10-20 10:00",
                    "2026-11-03",
                    "CONFIRMED",
                ],
                [
                    "PO-20261118-ACME",
                    "Acme",
                    "B-1",
                    5,
                    1.5,
                    "2026-11-18 10:00",
                    "2026-11-30",
                    "SENT",
                ],
            ],
        },
        settings,
    )["purchase_orders"]
    reminders = purchasing.plan_reminders(po, NOW, 3, {}, {})
    [f] = monitoring.overdue_po_findings(reminders, "GBP")
    assert f.key == "po-overdue:PO-20261020-ACME"
    assert f.title == "Purchase order PO-20261020-ACME (Acme) 20 days overdue"
    assert f.detail == "Expected by Tue 03 Nov; 2 lines worth 50.00 GBP not received."
    assert f.severity == "critical" and f.metric == 20


def test_faulty_products_use_the_returns_rule_in_either_shape() -> None:
    published = Finding("returns:faulty:A-1", "returns", "critical", "t", "d", "a", 25)
    assert monitoring.faulty_product_findings([published]) == [published]
    older = {
        "faulty:A-1": {"severity": "high", "title": "t", "detail": "d", "action": "a",
                       "rate": 0.254, "resolved": False},
        "faulty:A-2": {"severity": "medium", "title": "t", "rate": 0.2, "resolved": True},
    }  # fmt: skip
    [f] = monitoring.faulty_product_findings(older)
    assert (f.key, f.severity, f.metric, f.source) == ("faulty:A-1", "critical", 25, "returns")


def test_mail_findings_keep_the_wording_and_map_severities() -> None:
    shape = {
        "severity": "high",
        "title": "Purchase order PO-1 to a@b.example: delivery unknown",
        "detail": "timeout (since 2026-11-23 08:00).",
        "action": "Ask the recipient.",
        "resolved": False,
    }
    [f] = monitoring.mail_findings([("email:po:PO-1", shape)])
    assert (f.key, f.severity, f.title, f.action) == (
        "email:po:PO-1",
        "critical",
        shape["title"],
        "Ask the recipient.",
    )


# ---------------------------------------------------------------- jobs


def run(job: str, at: datetime, result: str, error: str = "") -> JobRun:
    return JobRun(0, job, at.isoformat(), at, at, result, {}, error)


def test_a_job_whose_last_run_failed_is_critical_with_the_error() -> None:
    runs = {
        "stock": [
            run("stock", NOW - timedelta(hours=2), "failed", "SheetAccessError: 403"),
            run("stock", NOW - timedelta(days=1), "failed", "SheetAccessError: 403"),
            run("stock", NOW - timedelta(days=2), "ok"),
        ],
        "orders": [run("orders", NOW - timedelta(hours=1), "problems")],
    }
    [f] = monitoring.job_findings(runs, {}, NOW)
    assert f.key == "job-failed:stock" and f.severity == "critical"
    assert f.title == "Job stock failed (2 runs in a row)"
    assert f.detail == "Last run Mon 23 Nov 07:00: SheetAccessError: 403"


def test_a_job_is_late_after_two_of_its_slots_without_a_completed_run() -> None:
    daily = parse_schedule("every day at 07:00", LONDON)
    runs = {"stock": [run("stock", datetime(2026, 11, 21, 7, 0, tzinfo=LONDON), "ok")]}
    # slots after the last success: Sun 07:00 and Mon 07:00; Monday 09:00 is after both
    [f] = monitoring.job_findings(runs, {"stock": daily}, NOW)
    assert f.key == "job-late:stock"
    assert f.title == "Job stock has not completed a run since Sat 21 Nov 07:00"
    assert "Sun 22 Nov 07:00 and Mon 23 Nov 07:00" in f.detail
    # one slot missed is not late yet, nor is a run still within its timeout
    runs = {"stock": [run("stock", datetime(2026, 11, 22, 7, 0, tzinfo=LONDON), "ok")]}
    assert monitoring.job_findings(runs, {"stock": daily}, NOW) == []
    runs = {"stock": [run("stock", datetime(2026, 11, 21, 7, 0, tzinfo=LONDON), "ok")]}
    grace = {"stock": timedelta(hours=3)}
    assert monitoring.job_findings(runs, {"stock": daily}, NOW, grace=grace) == []


def test_a_job_that_never_ran_is_measured_from_when_the_service_began() -> None:
    weekly = parse_schedule("monday at 08:00", LONDON)
    fresh = monitoring.job_findings({}, {"weekly": weekly}, NOW, started=NOW - timedelta(hours=1))
    assert fresh == []
    old = monitoring.job_findings({}, {"weekly": weekly}, NOW, started=NOW - timedelta(days=15))
    assert [f.key for f in old] == ["job-late:weekly"]
    assert monitoring.job_findings({}, {"weekly": weekly}, NOW, started=None) == []


# ---------------------------------------------------------------- sheet problems


def problem(row: int, value: str = "abc") -> Problem:
    return Problem("Stock", row, "On hand", "A-1", value, "not a number", "type a number")


def test_new_problems_are_the_ones_the_previous_run_did_not_see() -> None:
    first, seen = monitoring.new_problem_findings([problem(5)], None)
    assert len(first) == 1 and first[0].title == "1 new problem in the sheet"
    assert first[0].detail == "Stock row 5 On hand: not a number."
    # the same problem on another row (someone sorted) is not new
    again, seen = monitoring.new_problem_findings([problem(9)], seen)
    assert again == []
    # a different value in the same cell is
    changed, _ = monitoring.new_problem_findings([problem(9, "x y")], seen)
    assert len(changed) == 1 and changed[0].key.startswith("new-problems:")
    assert changed[0].key != first[0].key


# ---------------------------------------------------------------- merging and alerts


def finding(
    key: str, severity: str = "warning", metric: float = 1, source: str = "monitor"
) -> Finding:
    return Finding(key, source, severity, f"title {key}", f"detail {key}", f"do {key}", metric)  # type: ignore[arg-type]


def test_a_published_finding_replaces_monitors_own_of_the_same_key() -> None:
    own = [finding("po-overdue:PO-1"), finding("late-lines", "info")]
    theirs = [
        finding("po-overdue:PO-1", source="stock"),
        finding("held:Acme", "critical", source="stock"),
    ]
    merged = monitoring.merge(own, theirs)
    assert [(f.key, f.source) for f in merged] == [
        ("held:Acme", "stock"),
        ("po-overdue:PO-1", "stock"),
        ("late-lines", "monitor"),
    ]


def remember(plan: monitoring.AlertPlan) -> dict[str, Any]:
    return plan.memory


def test_new_findings_are_alerted_once_and_not_repeated_within_realert_hours() -> None:
    current = [finding("late-lines", metric=6), finding("stuck-shipments")]
    first = monitoring.plan_alert(current, {}, NOW, realert_hours=24)
    assert first.send and [i.status for i in first.items] == ["new", "new"]
    assert first.key.startswith("alert:2026-11-23:")
    later = monitoring.plan_alert(current, first.memory, NOW + timedelta(hours=3), realert_hours=24)
    assert not later.send and later.key == "" and later.still_open == 2


def test_a_finding_that_got_worse_is_alerted_again_and_says_how() -> None:
    first = monitoring.plan_alert([finding("late-lines", metric=6)], {}, NOW, realert_hours=24)
    worse = monitoring.plan_alert(
        [finding("late-lines", metric=9)], first.memory, NOW + timedelta(hours=1), realert_hours=24
    )
    assert [(i.status, i.note) for i in worse.items] == [("worse", "worse (was 6)")]
    graver = monitoring.plan_alert(
        [finding("late-lines", "critical", metric=9)],
        worse.memory,
        NOW + timedelta(hours=2),
        realert_hours=24,
    )
    assert [i.status for i in graver.items] == ["worse"]
    better = monitoring.plan_alert(
        [finding("late-lines", "critical", metric=7)],
        graver.memory,
        NOW + timedelta(hours=3),
        realert_hours=24,
    )
    assert not better.send


def test_an_unchanged_finding_is_repeated_after_realert_hours() -> None:
    first = monitoring.plan_alert([finding("stuck-shipments")], {}, NOW, realert_hours=24)
    again = monitoring.plan_alert(
        [finding("stuck-shipments")], first.memory, NOW + timedelta(hours=24), realert_hours=24
    )
    assert [(i.status, i.note) for i in again.items] == [
        ("reminder", "still open since Mon 23 Nov 09:00")
    ]


def test_a_finding_that_went_away_is_listed_once_as_resolved() -> None:
    first = monitoring.plan_alert(
        [finding("stuck-shipments"), finding("late-lines")], {}, NOW, realert_hours=24
    )
    gone = monitoring.plan_alert(
        [finding("late-lines")], first.memory, NOW + timedelta(hours=1), realert_hours=24
    )
    assert [(i.finding.key, i.status) for i in gone.items] == [("stuck-shipments", "resolved")]
    context = monitoring.alert_context(gone, "Shop", NOW)
    assert context["findings"][0]["resolved"] is True and context["findings"][0]["action"] == ""
    assert context["counts"] == {"high": 0, "medium": 0, "low": 0, "resolved": 1}
    assert context["still_open"] == 1
    after = monitoring.plan_alert(
        [finding("late-lines")], gone.memory, NOW + timedelta(hours=2), realert_hours=24
    )
    assert not after.send


def test_events_are_reported_once_and_never_resolved() -> None:
    event = finding("anomaly:orders:2026-11-22", "critical", metric=5.1)
    first = monitoring.plan_alert([event], {}, NOW, realert_hours=24)
    assert first.send
    next_day = NOW + timedelta(days=1)
    assert not monitoring.plan_alert([], first.memory, next_day, realert_hours=24).send
    # still remembered for a while, so the same day's anomaly computed again is not news
    later = monitoring.plan_alert([], first.memory, next_day, realert_hours=24)
    assert "anomaly:orders:2026-11-22" in later.memory
    forgotten = monitoring.plan_alert([], first.memory, NOW + timedelta(days=11), realert_hours=24)
    assert forgotten.memory == {}


def test_a_report_whose_alert_never_reached_the_ledger_does_not_count() -> None:
    first = monitoring.plan_alert([finding("late-lines")], {}, NOW, realert_hours=24)
    retry = monitoring.plan_alert(
        [finding("late-lines")],
        first.memory,
        NOW + timedelta(hours=1),
        realert_hours=24,
        delivered=lambda key: False,
    )
    assert [i.status for i in retry.items] == ["new"]


def test_the_alert_key_changes_with_anything_the_body_shows() -> None:
    a = monitoring.plan_alert([finding("late-lines", metric=6)], {}, NOW, realert_hours=24)
    same = monitoring.plan_alert([finding("late-lines", metric=6)], {}, NOW, realert_hours=24)
    assert a.key == same.key  # a re-run of the same moment: the ledger sends it once
    other = Finding("late-lines", "monitor", "warning", "title late-lines", "other detail", "do", 6)
    b = monitoring.plan_alert([other], {}, NOW, realert_hours=24)
    c = monitoring.plan_alert(
        [finding("late-lines", metric=6)], {}, NOW + timedelta(minutes=1), realert_hours=24
    )
    assert len({a.key, b.key, c.key}) == 3


def test_the_alert_context_is_most_severe_first_in_the_templates_words() -> None:
    current = [finding("b", "info"), finding("a", "critical"), finding("c", "warning")]
    plan = monitoring.plan_alert(current, {}, NOW, realert_hours=24)
    context = monitoring.alert_context(plan, "Kitchen & Co", NOW)
    assert [f["severity"] for f in context["findings"]] == ["high", "medium", "low"]
    assert context["counts"] == {"high": 1, "medium": 1, "low": 1, "resolved": 0}
    assert context["findings"][0] == {
        "severity": "high",
        "title": "title a",
        "detail": "detail a",
        "action": "do a",
        "resolved": False,
        "note": "new",
    }
    assert context["generated_at"] == NOW and context["shop_name"] == "Kitchen & Co"
