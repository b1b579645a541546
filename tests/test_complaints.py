"""Complaint deadlines in business hours and days, and the Ops status words (issue 18).

The clock is the shop's calendar (the one ship-by uses): weekends and public
holidays do not count, and an hour is a real hour, so the night the clocks go
back is 25 hours long.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.domain.complaints import ComplaintRules, complaint_kpis, plan_complaints
from ops_sheets.domain.findings import Finding, current, publish
from ops_sheets.store.state import State

LONDON = ZoneInfo("Europe/London")


def settings(**complaints: Any) -> Settings:
    orders = complaints.pop("orders", {})
    return settings_from_dict(
        {"timezone": "Europe/London", "jobs": {"complaints": complaints, "orders": orders}}
    )


def rules(s: Settings, years: tuple[int, ...] = (2026, 2027)) -> ComplaintRules:
    return ComplaintRules.from_settings(s, years)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "complaint_id": None,
        "received_at": None,
        "customer": "Ann",
        "email": "ann@example.com",
        "order_id": None,
        "sku": None,
        "category": "DAMAGED",
        "description": "",
        "owner": "Sam",
        "status": "NEW",
        "first_response_at": None,
        "resolved_at": None,
        "respond_by": None,
        "resolve_by": None,
        "ops_status": None,
        "problems": None,
    }
    data = [{**base, **r, "_row": i + 2, "_key_ok": True} for i, r in enumerate(rows)]
    return pd.DataFrame(data)


# ---------------------------------------------------------------- business hours


def test_respond_by_skips_the_weekend() -> None:
    r = rules(settings(first_response_hours=24))
    # Friday 15:00 + 24 business hours: 9 h of Friday, none at the weekend, 15 h of Monday
    assert r.hours.add(t("2026-11-20 15:00"), 24) == t("2026-11-23 15:00")
    opening = rules(settings(first_response_hours=8, business_hours="09:00-17:00"))
    assert opening.hours.add(t("2026-11-20 15:00"), 8) == t("2026-11-23 15:00")
    assert opening.hours.add(t("2026-11-21 11:00"), 8) == t("2026-11-23 17:00")  # Saturday


def test_respond_by_skips_bank_holidays_of_the_shops_calendar() -> None:
    s = settings(orders={"holidays_country": "GB", "holidays_subdivision": "ENG"})
    r = rules(s)
    # Thu 24 Dec 12:00: 12 h that day; Christmas, the weekend and Boxing Day (observed
    # Mon 28) do not count; the other 12 h on Tue 29
    assert r.hours.add(t("2026-12-24 12:00"), 24) == t("2026-12-29 12:00")
    # a typed holiday counts as well
    typed = rules(settings(orders={"holidays": ["2026-11-23"]}))
    assert typed.hours.add(t("2026-11-20 15:00"), 24) == t("2026-11-24 15:00")


def test_an_hour_is_a_real_hour_across_a_clock_change() -> None:
    every_day = rules(settings(orders={"business_days": "Mon-Sun"}))
    # clocks go back at 02:00 on Sun 25 Oct 2026: that day has 25 hours
    assert every_day.hours.add(t("2026-10-24 12:00"), 24) == t("2026-10-25 11:00")
    # clocks go forward at 01:00 on Sun 29 Mar 2026: that day has 23 hours
    assert every_day.hours.add(t("2026-03-28 12:00"), 24) == t("2026-03-29 13:00")
    assert every_day.hours.between(t("2026-10-24 12:00"), t("2026-10-25 11:00")) == 24
    # opening hours are wall-clock hours on each side of the change
    opening = rules(settings(business_hours="09:00-17:00"))
    assert opening.hours.add(t("2026-10-23 16:00"), 8) == t("2026-10-26 16:00")


# ---------------------------------------------------------------- Ops status


def test_ops_status_words_are_the_designs() -> None:
    r = rules(settings(first_response_hours=24, resolve_days=5))
    now = t("2026-11-23 12:00")  # Monday
    plan = plan_complaints(
        frame(
            {"complaint_id": "CMP-2026-0001", "received_at": t("2026-11-20 15:00")},  # by Mon 15:00
            {"complaint_id": "CMP-2026-0002", "received_at": t("2026-11-19 07:00")},  # Fri 07:00
            {
                "complaint_id": "CMP-2026-0003",
                "received_at": t("2026-11-23 08:00"),
                "first_response_at": t("2026-11-23 10:00"),
                "status": "IN PROGRESS",
            },
            {
                "complaint_id": "CMP-2026-0004",
                "received_at": t("2026-11-13 10:00"),  # resolve by Fri 20
                "first_response_at": t("2026-11-13 11:00"),
                "status": "IN PROGRESS",
            },
            {
                "complaint_id": "CMP-2026-0005",
                "received_at": t("2026-11-16 10:00"),
                "first_response_at": t("2026-11-16 11:00"),
                "resolved_at": t("2026-11-19 16:00"),
                "status": "RESOLVED",
            },
        ),
        r,
        now,
    )
    status = {row.complaint_id: row.ops_status for row in plan.rows}
    assert status == {
        "CMP-2026-0001": "RESPOND WITHIN 3 H",
        # due Fri 07:00: 17 h of Friday and 12 h of Monday since, not the weekend
        "CMP-2026-0002": "RESPONSE OVERDUE 29 H",
        "CMP-2026-0003": "RESOLVE BY MON 30 NOV",
        "CMP-2026-0004": "RESOLUTION OVERDUE 1 DAY",
        "CMP-2026-0005": "RESOLVED IN 3 DAYS",
    }


def test_overdue_words_count_business_time_only() -> None:
    r = rules(settings(first_response_hours=24, resolve_days=5))
    received = t("2026-11-19 19:00")  # Thu 19:00 + 24 h: Fri 19:00
    plan = plan_complaints(
        frame(
            {"complaint_id": "CMP-2026-0001", "received_at": received},
            {
                "complaint_id": "CMP-2026-0002",
                "received_at": t("2026-11-12 10:00"),  # resolve by Thu 19 Nov
                "first_response_at": t("2026-11-12 11:00"),
                "status": "WAITING ON CUSTOMER",
            },
        ),
        r,
        t("2026-11-23 00:00"),  # Monday, first moment: Friday had 5 h left after 19:00
    )
    assert [row.ops_status for row in plan.rows] == [
        "RESPONSE OVERDUE 5 H",
        "RESOLUTION OVERDUE 2 DAYS",  # Friday and Monday: the weekend does not count
    ]
    assert [f.severity for f in plan.findings] == ["critical", "critical"]


# ---------------------------------------------------------------- findings


def test_a_repeat_complainer_and_a_sku_with_several_complaints_are_findings() -> None:
    r = rules(settings())
    now = t("2026-11-23 12:00")
    rows = [
        {"received_at": t(f"2026-11-{d} 10:00"), "sku": sku, "status": "CLOSED",
         "resolved_at": t(f"2026-11-{d} 12:00")}
        for d, sku in (("02", "A-1"), ("09", "A-1"), ("16", "B-2"))
    ]  # fmt: skip
    plan = plan_complaints(frame(*rows), r, now, products={"A-1": "Mug"})
    keys = {f.key: f for f in plan.findings}
    assert "complaints:repeat:ann@example.com" in keys
    assert keys["returns:faulty:A-1"].title == (
        "Possible faulty product: A-1 Mug, 2 complaints in 90 days"
    )
    assert "returns:faulty:B-2" not in keys


def test_the_sku_finding_joins_the_returns_faulty_product_finding(tmp_path: Any) -> None:
    state = State(tmp_path / "state.db")
    now = t("2026-11-23 12:00")
    returns = Finding(
        "returns:faulty:A-1", "returns", "warning",
        "Possible faulty product: A-1 Mug, 14.3% returned in 90 days",
        "6 of 42 units shipped were returned.", "Inspect the returned units.", 14.0, ("returns",),
    )  # fmt: skip
    complaints = Finding(
        "returns:faulty:A-1", "complaints", "warning",
        "Possible faulty product: A-1 Mug, 2 complaints in 90 days",
        "2 complaints about A-1 (DAMAGED 2).", "Read the complaints together.", 2.0,
        ("complaints",),
    )  # fmt: skip
    publish(state, "returns", [returns], now)
    publish(state, "complaints", [complaints], now)
    found = [f for f in current(state) if f.key == "returns:faulty:A-1"]
    assert len(found) == 1
    one = found[0]
    assert one.title == (
        "Possible faulty product: A-1 Mug, 14.3% returned in 90 days and 2 complaints in 90 days"
    )
    assert "6 of 42" in one.detail and "DAMAGED 2" in one.detail
    assert one.metric == 16.0 and set(one.tabs) == {"returns", "complaints"}
    state.close()


# ---------------------------------------------------------------- KPIs


def test_kpis_median_hours_and_share_answered_within_the_sla() -> None:
    r = rules(settings(first_response_hours=24))
    f = frame(
        {"received_at": t("2026-11-16 10:00"), "first_response_at": t("2026-11-16 12:00")},  # 2 h
        {"received_at": t("2026-11-17 10:00"), "first_response_at": t("2026-11-18 12:00")},  # 26 h
        {"received_at": t("2026-11-20 15:00"), "first_response_at": t("2026-11-23 09:00")},  # 18 h
        {"received_at": t("2026-11-18 10:00")},  # unanswered, overdue by the end
        {"received_at": t("2026-11-22 23:00")},  # unanswered, not due yet: not judged
    )
    k = complaint_kpis(f, r, t("2026-11-16 00:00"), t("2026-11-23 12:00"))
    assert k.opened == 5
    assert k.median_hours_to_response == 18.0
    assert k.answered_within_sla_pct == 50.0  # 2 of the 4 judged


def test_settings_refuse_a_bad_business_hours_range() -> None:
    from ops_sheets.errors import ConfigError

    with pytest.raises(ConfigError, match="business_hours"):
        settings(business_hours="17:00-09:00")
    assert dataclasses.is_dataclass(settings().jobs.complaints)
    assert settings().jobs.complaints.first_response_hours == 24
    assert settings().jobs.customers.review_request_days == 0


def test_a_complaint_resolved_within_its_first_business_day_is_resolved_same_day() -> None:
    r = rules(settings())
    plan = plan_complaints(
        frame(
            {
                "complaint_id": "CMP-2026-0001",
                "received_at": t("2026-11-21 10:00"),  # Saturday
                "first_response_at": t("2026-11-23 09:30"),
                "resolved_at": t("2026-11-23 16:00"),  # Monday, the first business day
                "status": "CLOSED",
            }
        ),
        r,
        t("2026-11-24 09:00"),
    )
    assert plan.rows[0].ops_status == "RESOLVED IN 0 DAYS"
