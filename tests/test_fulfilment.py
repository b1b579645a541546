"""The orders rules (domain.fulfilment, domain.calendar) on small typed frames.

Frames are built the way the runner builds them: rows as a person would type
them, parsed by ``parse_table``. `now` is Monday 2026-11-23 09:00 London unless a
test says otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.domain import fulfilment as ff
from ops_sheets.domain.calendar import (
    BusinessCalendar,
    DaysError,
    business_calendar,
    describe_weekmask,
    parse_days,
)
from ops_sheets.domain.validation import validate
from ops_sheets.errors import ConfigError
from ops_sheets.sheet.tables import FORWARDERS, ORDERS, STOCK, Table, parse_table
from ops_sheets.sheet.workbook.base import Grid

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)  # Monday

ORDER_HEADER = [
    "Order ID", "Order date", "Customer", "Email", "Address", "City", "Postcode", "Country",
    "SKU", "Qty", "Unit price", "Forwarder", "Status", "Tracking", "Shipped at", "Delivered at",
]  # fmt: skip
FWD_HEADER = ["Forwarder", "Email", "Pickup cutoff", "Pickup days", "Account"]


def line(
    order_id: str = "SO-1",
    ordered: Any = "2026-11-20 10:00",
    sku: str = "A-1",
    qty: Any = 1,
    status: str = "NEW",
    forwarder: str | None = "Zip",
    shipped: Any = None,
    delivered: Any = None,
    customer: str = "Ann",
    address: str | None = "1 High St",
    city: str | None = "York",
    postcode: str | None = "YO1 1AA",
    country: str | None = "GB",
) -> list[Any]:
    return [
        order_id, ordered, customer, "ann@example.com", address, city, postcode, country,
        sku, qty, 9.5, forwarder, status, None, shipped, delivered,
    ]  # fmt: skip


def settings_with(tz: str = "Europe/London", **orders: Any) -> Settings:
    return settings_from_dict({"timezone": tz, "jobs": {"orders": orders}})


def orders_table(*lines: list[Any], settings: Settings | None = None) -> Table:
    s = settings or settings_with()
    return parse_table(ORDERS, Grid("Orders", [ORDER_HEADER, *lines]), s.tz, s)


def forwarders_table(*rows: list[Any], settings: Settings | None = None) -> Table:
    s = settings or settings_with()
    return parse_table(FORWARDERS, Grid("Forwarders", [FWD_HEADER, *rows]), s.tz, s)


ZIP = ["Zip", "pickups@zip.example", "15:00", "Mon-Fri", "ZIP-123"]


def rules(settings: Settings | None = None, years: tuple[int, ...] = (2026, 2027)) -> ff.Rules:
    return ff.rules_from_settings(settings or settings_with(), years)


def forwarders(*rows: list[Any]) -> dict[str, ff.Forwarder]:
    found, problems = ff.read_forwarders(forwarders_table(*(rows or [ZIP])))
    assert problems == []
    return found


def assess(
    *lines: list[Any],
    now: datetime = NOW,
    settings: Settings | None = None,
    fwd: dict[str, ff.Forwarder] | None = None,
    bookings: tuple[ff.Booking, ...] = (),
) -> list[str]:
    s = settings or settings_with()
    table = orders_table(*lines, settings=s)
    a = ff.assess(table.frame, rules(s), now, fwd if fwd is not None else {}, bookings)
    return list(a.ops_status)


def ship_by(*moments: Any, settings: Settings | None = None) -> list[date | None]:
    s = settings or settings_with()
    table = orders_table(*[line(f"SO-{i}", m) for i, m in enumerate(moments)], settings=s)
    out = ff.ship_by_dates(table.frame["order_date"], rules(s))
    return [None if np.isnat(d) else d.astype(date) for d in out]


# ---------------------------------------------------------------- ship-by deadlines


def test_ship_by_follows_the_contract_examples() -> None:
    # Wed 10:00 → Thu; Wed 15:00 → Fri; Fri 15:00 → Tue (DESIGN.md, Precise rules)
    assert ship_by("2026-11-25 10:00", "2026-11-25 15:00", "2026-11-27 15:00") == [
        date(2026, 11, 26),
        date(2026, 11, 27),
        date(2026, 12, 1),
    ]


def test_an_order_at_the_cutoff_counts_from_that_day_one_minute_later_from_the_next() -> None:
    assert ship_by("2026-11-25 14:00", "2026-11-25 14:01") == [
        date(2026, 11, 26),
        date(2026, 11, 27),
    ]


def test_weekend_orders_count_from_monday() -> None:
    # Sat 10:00 and Sun 23:00: start Monday, ship by Tuesday
    assert ship_by("2026-11-28 10:00", "2026-11-29 23:00") == [date(2026, 12, 1), date(2026, 12, 1)]


def test_order_date_without_time_is_midnight_so_before_the_cutoff() -> None:
    assert ship_by("25/11/2026") == [date(2026, 11, 26)]


def test_ship_within_zero_and_two_business_days() -> None:
    assert ship_by("2026-11-27 10:00", settings=settings_with(ship_within_business_days=0)) == [
        date(2026, 11, 27)
    ]
    assert ship_by("2026-11-27 10:00", settings=settings_with(ship_within_business_days=2)) == [
        date(2026, 12, 1)
    ]


def test_order_cutoff_setting_is_used() -> None:
    s = settings_with(order_cutoff="12:00")
    assert ship_by("2026-11-25 12:30", settings=s) == [date(2026, 11, 27)]


def test_custom_business_days_include_saturday() -> None:
    s = settings_with(business_days="Mon-Sat")
    assert ship_by("2026-11-27 15:00", settings=s) == [date(2026, 11, 30)]  # start Sat, ship Mon
    assert ship_by("2026-11-27 10:00", settings=s) == [date(2026, 11, 28)]  # start Fri, ship Sat


def test_explicit_holidays_are_skipped() -> None:
    s = settings_with(holidays=["2026-11-26"])
    # Wed 10:00 would ship Thu, but Thu is a holiday
    assert ship_by("2026-11-25 10:00", settings=s) == [date(2026, 11, 27)]
    # an order placed on the holiday itself counts from the next business day
    assert ship_by("2026-11-26 09:00", settings=s) == [date(2026, 11, 30)]


def test_public_holidays_of_the_configured_country() -> None:
    s = settings_with(holidays_country="GB", holidays_subdivision="ENG")
    # Thu 24 Dec: Christmas Fri 25, weekend, Boxing Day observed Mon 28 → Tue 29
    assert ship_by("2026-12-24 10:00", settings=s) == [date(2026, 12, 29)]
    # Good Friday 3 Apr and Easter Monday 6 Apr 2026
    assert ship_by("2026-04-02 10:00", settings=s) == [date(2026, 4, 7)]
    # and in the next year, for orders near New Year
    assert ship_by("2026-12-31 10:00", settings=s) == [date(2027, 1, 4)]


def unchecked(**orders: Any) -> Settings:
    """Settings changed after loading, so the loader's checks never saw them."""
    s = settings_with()
    return replace(s, jobs=replace(s.jobs, orders=replace(s.jobs.orders, **orders)))


def test_unknown_holidays_country_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"\[jobs.orders\] holidays_country: \"XX\""):
        settings_with(holidays_country="XX")
    with pytest.raises(ValueError, match="holidays_country"):
        rules(unchecked(holidays_country="XX"))


def test_bad_business_days_and_cutoff_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"\[jobs.orders\] business_days"):
        settings_with(business_days="Mon-Fry")
    with pytest.raises(ConfigError, match=r"\[jobs.orders\] order_cutoff"):
        settings_with(order_cutoff="2pm")
    # the rules still refuse them when settings bypass the loader
    with pytest.raises(ValueError, match="business_days"):
        rules(unchecked(business_days="Mon-Fry"))
    with pytest.raises(ValueError, match="order_cutoff"):
        rules(unchecked(order_cutoff="2pm"))


def test_dates_are_local_dates_in_summer_time() -> None:
    # 00:30 BST on Wed 10 June is 23:30 UTC on Tuesday: the shop's date is Wednesday.
    # 14:30 BST is 13:30 UTC: after the 14:00 cutoff in London, though not in UTC.
    assert ship_by("2026-06-10T00:30:00+01:00", "2026-06-09T23:30:00Z", "2026-06-10 14:30") == [
        date(2026, 6, 11),
        date(2026, 6, 11),
        date(2026, 6, 12),
    ]


def test_ship_by_across_the_clock_changes() -> None:
    # Clocks go forward Sun 29 Mar 2026 and back Sun 25 Oct 2026 in London.
    assert ship_by("2026-03-27 15:00", "2026-03-30 13:59", "2026-10-23 14:30") == [
        date(2026, 3, 31),
        date(2026, 3, 31),
        date(2026, 10, 27),
    ]


def test_ship_by_in_a_zone_whose_clocks_change_at_midnight() -> None:
    # Chile: clocks go from 24:00 Sat 5 Sep 2026 to 01:00 Sunday; 00:30 Sunday does not exist
    # (a time typed in the gap moves forward with the clocks, to 01:30 Sunday).
    s = settings_with(tz="America/Santiago", business_days="daily", ship_within_business_days=0)
    santiago = ZoneInfo("America/Santiago")
    assert ship_by("2026-09-05 13:00", "2026-09-05 23:30", "2026-09-06 00:30", settings=s) == [
        date(2026, 9, 5),
        date(2026, 9, 6),
        date(2026, 9, 6),
    ]
    order = line("SO-1", "2026-09-05 13:00", forwarder=None)
    last_minute = datetime(2026, 9, 5, 23, 59, tzinfo=santiago)
    assert assess(order, settings=s, now=last_minute) == ["AT RISK UNDER 1 HOUR LEFT"]
    sunday = datetime(2026, 9, 6, 1, 0, tzinfo=santiago)  # the first minute of Sunday
    assert assess(order, settings=s, now=sunday) == ["LATE 1 BUSINESS DAY"]


def test_blank_order_date_gives_no_ship_by() -> None:
    s = settings_with()
    table = orders_table(line(ordered=None), settings=s)
    assert np.isnat(ff.ship_by_dates(table.frame["order_date"], rules(s))[0])


# ---------------------------------------------------------------- calendar helpers


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("Mon-Fri", "1111100"),
        ("Mon, Wed, Fri", "1010100"),
        ("mon,wed,fri", "1010100"),
        ("Monday to Friday", "1111100"),
        ("Tue Thu", "0101000"),
        ("Tue & Thu", "0101000"),
        ("Mon–Wed, Fri", "1110100"),
        ("Fri-Mon", "1000111"),
        ("Sat", "0000010"),
        ("weekdays", "1111100"),
        ("daily", "1111111"),
        ("Tues, Thurs", "0101000"),
    ],
)
def test_pickup_days_accept_english_names_and_ranges(text: str, mask: str) -> None:
    assert parse_days(text) == mask


@pytest.mark.parametrize("text", ["", "Mon-Fry", "every other day", "1-5", "Mon;;Funday"])
def test_pickup_days_that_do_not_parse_say_how_to_fix_them(text: str) -> None:
    with pytest.raises(DaysError) as err:
        parse_days(text)
    assert "Mon-Fri" in err.value.fix


def test_weekmask_descriptions_read_like_the_sheet() -> None:
    assert describe_weekmask("1111100") == "Mon-Fri"
    assert describe_weekmask("1010100") == "Mon, Wed, Fri"
    assert describe_weekmask("1100000") == "Mon, Tue"


def test_business_calendar_counts_and_offsets() -> None:
    cal = business_calendar("Mon-Fri", ["2026-11-26"])
    assert cal.add(date(2026, 11, 25), 1) == date(2026, 11, 27)
    assert cal.next_after(date(2026, 11, 27)) == date(2026, 11, 30)
    assert not cal.is_business_day(date(2026, 11, 26))
    assert int(cal.count(np.datetime64("2026-11-25"), np.datetime64("2026-11-30"))) == 2
    assert BusinessCalendar().with_weekmask("0000011").is_business_day(date(2026, 11, 28))


# ---------------------------------------------------------------- Ops status


def test_late_counts_business_days_since_the_deadline() -> None:
    statuses = assess(
        line("SO-1", "2026-11-18 10:00"),  # ship by Thu 19: Thu and Fri have passed
        line("SO-2", "2026-11-19 10:00"),  # ship by Fri 20
        line("SO-3", "2026-11-19 15:00", status="READY", forwarder=None),  # ship by Mon 23: today
    )
    assert statuses == ["LATE 2 BUSINESS DAYS", "LATE 1 BUSINESS DAY", ""]


def test_a_line_is_late_once_its_ship_by_date_has_ended_in_the_business_zone() -> None:
    order = line("SO-1", "2026-11-19 15:00")  # ship by Mon 23
    assert assess(order, now=datetime(2026, 11, 23, 23, 59, tzinfo=LONDON)) != [
        "LATE 1 BUSINESS DAY"
    ]
    assert assess(order, now=datetime(2026, 11, 24, 0, 0, tzinfo=LONDON)) == ["LATE 1 BUSINESS DAY"]
    # 23:30 UTC on Monday is already Tuesday in Helsinki
    s = settings_with(tz="Europe/Helsinki")
    assert assess(
        order, settings=s, now=datetime(2026, 11, 23, 22, 30, tzinfo=ZoneInfo("UTC"))
    ) == ["LATE 1 BUSINESS DAY"]


def test_at_risk_when_the_end_of_the_ship_by_day_is_near() -> None:
    order = line("SO-1", "2026-11-19 15:00", forwarder=None)  # ship by Mon 23, no forwarder
    evening = datetime(2026, 11, 23, 20, 30, tzinfo=LONDON)
    assert assess(order, now=evening) == ["AT RISK 3 HOURS LEFT"]
    assert assess(order, now=datetime(2026, 11, 23, 19, 30, tzinfo=LONDON)) == [""]
    assert assess(order, now=datetime(2026, 11, 23, 23, 30, tzinfo=LONDON)) == [
        "AT RISK UNDER 1 HOUR LEFT"
    ]
    assert assess(order, now=evening, settings=settings_with(at_risk_hours=2)) == [""]


def test_at_risk_counts_to_the_forwarders_last_pickup_before_the_deadline() -> None:
    fwd = forwarders(["Zip", "z@zip.example", "12:00", "Mon-Fri", "Z1"])
    order = line("SO-1", "2026-11-19 15:00", status="PACKED")  # ship by Mon 23
    assert assess(order, fwd=fwd) == ["AT RISK 3 HOURS LEFT"]  # 09:00 → Zip leaves at 12:00
    assert assess(order, fwd=fwd, now=datetime(2026, 11, 23, 7, 59, tzinfo=LONDON)) == [""]
    assert assess(order, fwd=fwd, now=datetime(2026, 11, 23, 12, 30, tzinfo=LONDON)) == [
        "AT RISK LAST PICKUP MISSED"
    ]


def test_a_forwarder_that_does_not_come_before_the_deadline_puts_the_line_at_risk() -> None:
    # picks up Tue and Thu only: for a Monday deadline the last pickup was Thursday
    fwd = forwarders(["Zip", "z@zip.example", "12:00", "Tue, Thu", "Z1"])
    order = line("SO-1", "2026-11-20 10:00", status="PACKED")  # ship by Mon 23
    assert assess(order, fwd=fwd) == ["AT RISK LAST PICKUP MISSED"]


def test_at_risk_across_the_spring_clock_change() -> None:
    # Sun 29 Mar 2026 has 23 hours in London; at 20:30 BST midnight is 3.5 hours away.
    s = settings_with(business_days="daily")
    order = line("SO-1", "2026-03-28 10:00", forwarder=None)  # ship by Sun 29
    assert assess(order, settings=s, now=datetime(2026, 3, 29, 20, 30, tzinfo=LONDON)) == [
        "AT RISK 3 HOURS LEFT"
    ]
    assert assess(order, settings=s, now=datetime(2026, 3, 30, 0, 0, tzinfo=LONDON)) == [
        "LATE 1 BUSINESS DAY"
    ]


def test_shipped_lines_say_on_time_or_how_late() -> None:
    statuses = assess(
        line("SO-1", "2026-11-18 10:00", status="SHIPPED", shipped="2026-11-19 16:00"),
        line("SO-2", "2026-11-18 10:00", status="SHIPPED", shipped="2026-11-20 09:00"),
        line("SO-3", "2026-11-19 10:00", status="DELIVERED", shipped="2026-11-23 08:00",
             delivered="2026-11-23 08:30"),
        line("SO-4", "2026-11-18 10:00", status="READY", shipped="2026-11-24 08:00"),
    )  # fmt: skip
    # Thu deadline; Fri deadline shipped Mon: one business day late (Fri)
    assert statuses == [
        "SHIPPED ON TIME",
        "SHIPPED 1 DAY LATE",
        "SHIPPED 1 DAY LATE",
        "SHIPPED 3 DAYS LATE",  # Shipped at wins over a stale Status
    ]


def test_in_transit_too_long_without_delivered_at() -> None:
    statuses = assess(
        line("SO-1", "2026-11-10 10:00", status="SHIPPED", shipped="2026-11-11 15:00"),
        line("SO-2", "2026-11-15 10:00", status="SHIPPED", shipped="2026-11-16 15:00"),
        line("SO-3", "2026-11-10 10:00", status="SHIPPED", shipped="2026-11-11 15:00",
             delivered="2026-11-13 10:00"),
        line("SO-4", "2026-11-10 10:00", status="DELIVERED", shipped="2026-11-11 15:00"),
    )  # fmt: skip
    assert statuses == [
        "IN TRANSIT 12 DAYS",
        "SHIPPED ON TIME",
        "SHIPPED ON TIME",
        "SHIPPED ON TIME",
    ]
    s = settings_with(transit_alert_days=5)
    assert assess(
        line("SO-2", "2026-11-15 10:00", status="SHIPPED", shipped="2026-11-16 15:00"), settings=s
    ) == ["IN TRANSIT 7 DAYS"]


def test_cancelled_and_on_hold_win_over_late() -> None:
    statuses = assess(
        line("SO-1", "2026-11-10 10:00", status="CANCELLED"),
        line("SO-2", "2026-11-10 10:00", status="ON HOLD"),
    )
    assert statuses == ["CANCELLED", "ON HOLD"]


def test_blank_when_nothing_is_worth_saying() -> None:
    statuses = assess(
        line("SO-1", "2026-11-23 08:00", status="NEW"),  # ship by Tue 24
        line("SO-2", None, status="NEW"),  # no order date: a problem, no status
        line("SO-3", "2026-11-18 10:00", status="SHIPPED"),  # no Shipped at: a problem
    )
    assert statuses == ["", "", ""]


def _booking(delivery: str, *lines: tuple[str, str], day: date = date(2026, 11, 23)) -> ff.Booking:
    return ff.Booking(
        reference="PU-20261123-ZIP",
        email_key="pickup:PU-20261123-ZIP",
        forwarder="Zip",
        pickup_date=day,
        sequence=1,
        lines=tuple(lines) or (("SO-1", "A-1"),),
        delivery=delivery,
        recipients=("pickups@zip.example",),
    )


@pytest.mark.parametrize(
    ("delivery", "text"),
    [
        (ff.REQUESTED, "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"),
        (ff.PENDING, "PICKUP REQUEST PENDING 2026-11-23 PU-20261123-ZIP"),
        (ff.UNCONFIRMED, "PICKUP REQUEST UNCONFIRMED 2026-11-23 PU-20261123-ZIP"),
        (ff.FAILED, "PICKUP REQUEST FAILED 2026-11-23 PU-20261123-ZIP"),
    ],
)
def test_booked_lines_show_their_request(delivery: str, text: str) -> None:
    order = line("SO-1", "2026-11-19 15:00", status="READY")  # ship by today
    assert assess(order, bookings=(_booking(delivery),), fwd=forwarders()) == [text]


def test_late_booked_lines_show_both() -> None:
    order = line("SO-1", "2026-11-18 10:00", status="READY")
    assert assess(order, bookings=(_booking(ff.REQUESTED),)) == [
        "LATE 2 BUSINESS DAYS; PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"
    ]


def test_a_line_booked_for_a_pickup_after_its_ship_by_date_stays_at_risk() -> None:
    order = line("SO-1", "2026-11-20 10:00", status="READY")  # ship by Mon 23
    tuesday = replace(_booking(ff.REQUESTED, day=date(2026, 11, 24)), reference="PU-20261124-ZIP")
    assert assess(order, bookings=(tuesday,)) == [
        "AT RISK PICKUP AFTER SHIP BY; PICKUP REQUESTED 2026-11-24 PU-20261124-ZIP"
    ]


def test_the_plan_changes_the_outlook_and_the_status_written_after_sending() -> None:
    s = settings_with()
    table = orders_table(
        line("SO-1", "2026-11-20 10:00", status="READY"),  # ship by today, Zip comes today
        line("SO-2", "2026-11-20 10:00", status="READY", forwarder="Slow"),  # Slow: Tue, Thu
        line("SO-3", "2026-11-18 10:00", status="READY"),  # late already
        settings=s,
    )
    fwd = forwarders(
        ["Zip", "z@zip.example", "12:00", "Mon-Fri", "Z"],
        ["Slow", "s@slow.example", "12:00", "Tue, Thu", "S"],
    )
    a = ff.assess(table.frame, rules(s), NOW, fwd)
    assert list(a.ops_status) == [
        "AT RISK 3 HOURS LEFT",
        "AT RISK LAST PICKUP MISSED",
        "LATE 2 BUSINESS DAYS",
    ]
    p = ff.plan_pickups(table.frame, rules(s), NOW, fwd)
    outlook = ff.with_plan(a, p)
    assert list(outlook.code) == [ff.BOOKED, ff.PICKUP_TOO_LATE, ff.LATE]
    by_fwd = {r.forwarder.name: r for r in p.requests}
    assert p.status_after_send(a, 0, by_fwd["Zip"]) == "PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"
    assert p.status_after_send(a, 1, by_fwd["Slow"]) == (
        "AT RISK PICKUP AFTER SHIP BY; PICKUP REQUESTED 2026-11-24 PU-20261124-SLOW"
    )
    assert p.status_after_send(a, 2, by_fwd["Zip"]) == (
        "LATE 2 BUSINESS DAYS; PICKUP REQUESTED 2026-11-23 PU-20261123-ZIP"
    )
    assert list(p.pickup_day.astype(str)) == ["2026-11-23", "2026-11-24", "2026-11-23"]


def test_void_and_superseded_requests_do_not_show() -> None:
    order = line("SO-1", "2026-11-20 10:00", status="READY", forwarder=None)
    assert assess(order, bookings=(_booking(ff.VOID), _booking(ff.SUPERSEDED))) == [""]


def test_shipped_booked_lines_say_shipped() -> None:
    order = line("SO-1", "2026-11-19 10:00", status="SHIPPED", shipped="2026-11-20 14:00")
    assert assess(order, bookings=(_booking(ff.REQUESTED),)) == ["SHIPPED ON TIME"]


# ---------------------------------------------------------------- pickups


def plan(
    *lines: list[Any],
    now: datetime = NOW,
    fwd: dict[str, ff.Forwarder] | None = None,
    bookings: tuple[ff.Booking, ...] = (),
    settings: Settings | None = None,
) -> ff.PickupPlan:
    s = settings or settings_with()
    table = orders_table(*lines, settings=s)
    return ff.plan_pickups(
        table.frame, rules(s), now, fwd if fwd is not None else forwarders(), bookings
    )


def test_ready_lines_are_grouped_per_forwarder_and_per_order() -> None:
    fwd = forwarders(ZIP, ["Rapid", "desk@rapid.example", "16:30", "Mon, Wed, Fri", "R-9"])
    p = plan(
        line("SO-1", sku="A-1", qty=2, status="READY"),
        line("SO-1", sku="B-2", qty=1, status="READY"),
        line("SO-2", sku="A-1", qty=3, status="READY", forwarder="Rapid", city="Leeds",
             postcode="LS1 1AA", customer="Bob"),
        line("SO-3", sku="A-1", status="PACKED"),
        line("SO-4", sku="A-1", status="READY", customer="Cy", city="Hull", postcode="HU1 1AA"),
        fwd=fwd,
    )  # fmt: skip
    by_fwd = {r.forwarder.name: r for r in p.requests}
    assert sorted(by_fwd) == ["Rapid", "Zip"]
    zip_req = by_fwd["Zip"]
    assert [(x.order_id, x.lines, x.units, x.skus) for x in zip_req.parcels] == [
        ("SO-1", 2, 3, ("A-1", "B-2")),
        ("SO-4", 1, 1, ("A-1",)),
    ]
    assert zip_req.lines == [("SO-1", "A-1"), ("SO-1", "B-2"), ("SO-4", "A-1")]
    assert (zip_req.pickup_date, zip_req.sequence, zip_req.additional) == (
        date(2026, 11, 23),
        1,
        False,
    )
    assert zip_req.reference == "PU-20261123-ZIP"
    assert zip_req.email_key == "pickup:PU-20261123-ZIP"
    assert by_fwd["Rapid"].reference == "PU-20261123-RAPI"


def test_pickup_context_fills_every_template_variable() -> None:
    from ops_sheets.mail.samples import sample_context

    p = plan(line("SO-1", qty=2, status="READY"), line("SO-1", sku="B-2", status="READY"))
    (req,) = p.requests
    ctx = ff.pickup_context(req, shop_name="Harbour", collection_address="Unit 4\nBristol")
    assert set(ctx) == set(sample_context("pickup_request"))
    assert ctx["forwarder"] == {"name": "Zip", "contact": ""}
    assert ctx["account"] == "ZIP-123"
    assert ctx["pickup_date"] == date(2026, 11, 23)
    assert ctx["cutoff"] == "15:00"
    assert ctx["parcels"] == [
        {"order_id": "SO-1", "city": "York", "postcode": "YO1 1AA", "country": "GB", "lines": 2,
         "units": 3}
    ]  # fmt: skip
    assert (ctx["total_parcels"], ctx["total_units"], ctx["additional"]) == (1, 3, False)


def test_pickup_context_renders_with_the_bundled_template(settings: Settings) -> None:
    from ops_sheets.mail.templates import TemplateRenderer

    (req,) = plan(line("SO-1", status="READY")).requests
    rendered = TemplateRenderer(settings).render(
        "pickup_request", ff.pickup_context(req, shop_name="Harbour", collection_address="Unit 4")
    )
    assert "SO-1" in rendered.text and "ZIP-123" in rendered.subject


def test_manifest_lists_each_parcel_with_its_address() -> None:
    (req,) = plan(line("SO-1", qty=2, status="READY", customer="=HYPERLINK(1)")).requests
    rows = ff.manifest_rows(req)
    assert rows[0][:4] == ["Reference", "Pickup date", "Parcel", "Order ID"]
    assert rows[1] == [
        "PU-20261123-ZIP", "2026-11-23", 1, "SO-1", "=HYPERLINK(1)", "1 High St", "York",
        "YO1 1AA", "GB", 1, 2, "A-1",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("now", "pickup"),
    [
        (datetime(2026, 11, 23, 9, 0, tzinfo=LONDON), date(2026, 11, 23)),  # Mon before cutoff
        (datetime(2026, 11, 23, 14, 59, tzinfo=LONDON), date(2026, 11, 23)),
        (datetime(2026, 11, 23, 15, 0, tzinfo=LONDON), date(2026, 11, 24)),  # at cutoff: next day
        (datetime(2026, 11, 27, 16, 0, tzinfo=LONDON), date(2026, 11, 30)),  # Fri after → Mon
        (datetime(2026, 11, 28, 10, 0, tzinfo=LONDON), date(2026, 11, 30)),  # Saturday → Mon
    ],
)
def test_pickup_day_is_today_before_the_cutoff_else_the_next_pickup_day(
    now: datetime, pickup: date
) -> None:
    (req,) = plan(line("SO-1", status="READY"), now=now).requests
    assert req.pickup_date == pickup


def test_pickup_only_on_the_forwarders_days_and_not_on_holidays() -> None:
    fwd = forwarders(["Zip", "z@zip.example", "12:00", "Tue, Thu", "Z1"])
    (req,) = plan(line("SO-1", status="READY"), fwd=fwd).requests
    assert req.pickup_date == date(2026, 11, 24)  # Monday: next is Tuesday
    s = settings_with(holidays=["2026-11-24"])
    (req,) = plan(line("SO-1", status="READY"), fwd=fwd, settings=s).requests
    assert req.pickup_date == date(2026, 11, 26)
    no_cutoff = forwarders(["Zip", "z@zip.example", None, "Mon", "Z1"])
    late_evening = datetime(2026, 11, 23, 22, 0, tzinfo=LONDON)
    (req,) = plan(line("SO-1", status="READY"), fwd=no_cutoff, now=late_evening).requests
    assert req.pickup_date == date(2026, 11, 23)  # no cutoff: any time that day


def test_a_second_request_the_same_day_is_additional() -> None:
    earlier = _booking(ff.REQUESTED, ("SO-1", "A-1"))
    p = plan(line("SO-1", status="READY"), line("SO-2", status="READY"), bookings=(earlier,))
    (req,) = p.requests
    assert [x.order_id for x in req.parcels] == ["SO-2"]  # SO-1 is booked already
    assert (req.sequence, req.additional, req.reference) == (2, True, "PU-20261123-ZIP-2")
    assert req.email_key == "pickup:PU-20261123-ZIP-2"


def test_after_the_cutoff_later_parcels_go_to_the_next_pickup_day() -> None:
    earlier = _booking(ff.REQUESTED, ("SO-1", "A-1"))
    afternoon = datetime(2026, 11, 23, 15, 30, tzinfo=LONDON)
    (req,) = plan(
        line("SO-1", status="READY"),
        line("SO-2", status="READY"),
        bookings=(earlier,),
        now=afternoon,
    ).requests
    assert (req.pickup_date, req.sequence, req.additional) == (date(2026, 11, 24), 1, False)


def test_a_request_that_never_reached_the_ledger_is_made_again_under_its_key() -> None:
    void = _booking(ff.VOID, ("SO-1", "A-1"))
    (req,) = plan(line("SO-1", status="READY"), bookings=(void,)).requests
    assert (req.sequence, req.additional, req.lines) == (1, False, [("SO-1", "A-1")])


@pytest.mark.parametrize("delivery", [ff.REQUESTED, ff.PENDING, ff.UNCONFIRMED, ff.FAILED])
def test_lines_in_a_request_are_never_booked_again(delivery: str) -> None:
    held = _booking(delivery, ("SO-1", "A-1"), day=date(2026, 11, 20))
    assert plan(line("SO-1", status="READY"), bookings=(held,)).requests == []


def test_a_refused_request_is_rebooked_only_once_the_email_is_corrected() -> None:
    refused = _booking(ff.FAILED, ("SO-1", "A-1"))
    same = ff.settle_bookings([refused], forwarders())
    assert same[0].delivery == ff.FAILED
    fixed = forwarders(["Zip", "new@zip.example", "15:00", "Mon-Fri", "ZIP-123"])
    settled = ff.settle_bookings([refused], fixed)
    assert settled[0].delivery == ff.SUPERSEDED
    (req,) = plan(line("SO-1", status="READY"), fwd=fixed, bookings=tuple(settled)).requests
    assert (req.sequence, req.additional) == (2, True)
    # a display name around the same address is the same address
    named = ff.settle_bookings(
        [replace(refused, recipients=("Zip <PICKUPS@zip.example>",))], forwarders()
    )
    assert named[0].delivery == ff.FAILED


def test_lines_that_cannot_travel_are_not_booked() -> None:
    p = plan(
        line("SO-1", status="READY", address=None),  # incomplete address
        line("SO-2", status="READY", qty=1.5),  # not a whole number
        line("SO-3", status="READY", qty=0),
        line("SO-4", sku="A-1", status="READY"),
        line("SO-4", sku="B-2", status="PACKED", city="Leeds"),  # order disagrees on city
        line("SO-5", status="READY", forwarder="Nobody"),  # unknown forwarder
        line("SO-6", status="READY", forwarder=None),
        line("SO-7", status="READY", shipped="2026-11-22 10:00"),  # already left
        line("SO-8", status="READY"),
        line("SO-8", status="READY"),  # duplicate Order ID + SKU: rows skipped
        line("SO-9", status="READY", city="york "),
        line("SO-9", sku="B-2", status="NEW", city="York"),  # same city, other spelling: fine
    )
    (req,) = p.requests
    assert [x.order_id for x in req.parcels] == ["SO-9"]


def test_forwarders_without_email_or_readable_days_block_their_lines() -> None:
    table = forwarders_table(
        ["Zip", None, "15:00", "Mon-Fri", "Z"],
        ["Rapid", "r@rapid.example", "15:00", "Mon-Fry", "R"],
    )
    fwd, problems = ff.read_forwarders(table)
    assert [(p.tab, p.row, p.column, p.key, p.value) for p in problems] == [
        ("Forwarders", 3, "Pickup days", "Rapid", "Mon-Fry")
    ]
    assert "Mon-Fry" in problems[0].problem and "Rapid" in problems[0].problem
    p = plan(
        line("SO-1", status="READY"),
        line("SO-2", status="READY", forwarder="Rapid"),
        line("SO-3", status="READY", forwarder="Rapid"),
        fwd=fwd,
    )
    assert p.requests == []
    assert p.blocked == {"Zip": 1, "Rapid": 2}


def test_blank_pickup_days_mean_the_shops_business_days() -> None:
    fwd, problems = ff.read_forwarders(forwarders_table(["Zip", "z@zip.example", None, None, "Z"]))
    assert problems == [] and fwd["Zip"].weekmask == "1111100" and fwd["Zip"].cutoff is None


def test_forwarder_codes_are_short_and_distinct() -> None:
    codes = ff.forwarder_codes(["Swiftpost Parcels", "Swift Express", "DHL", "9 Yards"])
    assert codes["DHL"] == "DHL" and codes["9 Yards"] == "9YAR"
    assert codes["Swiftpost Parcels"] != codes["Swift Express"]
    assert all(c.startswith("SWIF") for n, c in codes.items() if n.startswith("Swift"))


def test_ledger_states_map_to_bookings() -> None:
    assert ff.delivery_from_ledger(None) == ff.VOID
    assert ff.delivery_from_ledger("sent") == ff.REQUESTED
    assert ff.delivery_from_ledger("unknown") == ff.UNCONFIRMED
    assert ff.delivery_from_ledger("failed-permanent") == ff.FAILED
    for state in ("planned", "claimed", "sending", "failed"):
        assert ff.delivery_from_ledger(state) == ff.PENDING


def test_booking_index_matches_order_id_and_sku_later_requests_winning() -> None:
    table = orders_table(line("SO-1", sku="A-1"), line("SO-1", sku="B-2"), line("SO-2"))
    first = _booking(ff.REQUESTED, ("SO-1", "A-1"), ("SO-2", "A-1"))
    second = replace(first, reference="PU-2", lines=(("SO-2", "A-1"),))
    ignored = replace(first, reference="PU-3", delivery=ff.VOID, lines=(("SO-1", "B-2"),))
    assert list(ff.booking_index(table.frame, [first, second, ignored])) == [0, -1, 1]


# ---------------------------------------------------------------- findings for the monitor


def test_pickup_findings_name_overdue_pending_and_blocked_pickups() -> None:
    s = settings_with()
    table = orders_table(
        line("SO-5", "2026-11-18 10:00", status="READY"),
        line("SO-6", "2026-11-20 10:00", status="READY"),
        line("SO-7", "2026-11-19 10:00", status="READY"),
        line("SO-8", "2026-11-19 10:00", status="READY"),
        line("SO-9", "2026-11-20 10:00", status="READY", forwarder="Nomail"),
        line("SO-10", "2026-11-18 10:00", status="SHIPPED", shipped="2026-11-20 10:00"),
        settings=s,
    )
    fwd, _ = ff.read_forwarders(
        forwarders_table(ZIP, ["Nomail", None, "15:00", "Mon-Fri", "N"], settings=s)
    )
    friday = date(2026, 11, 20)
    bookings = [
        replace(
            _booking(ff.REQUESTED, ("SO-5", "A-1"), ("SO-10", "A-1"), day=friday), reference="PU-A"
        ),
        replace(_booking(ff.PENDING, ("SO-6", "A-1")), reference="PU-B", detail="421 busy"),
        replace(_booking(ff.PENDING, ("SO-7", "A-1"), day=friday), reference="PU-C"),
        replace(_booking(ff.UNCONFIRMED, ("SO-8", "A-1"), day=friday), reference="PU-D"),
    ]
    a = ff.assess(table.frame, rules(s), NOW, fwd, bookings)
    p = ff.plan_pickups(table.frame, rules(s), NOW, fwd, bookings)
    found = {f.key: f for f in ff.pickup_findings(table.frame, a, bookings, p, fwd, NOW, rules(s))}
    # the unconfirmed request is monitor's own finding (email:<key>, from the ledger)
    assert sorted(found) == [
        "pickup-blocked:Nomail",
        "pickup-overdue:PU-A",
        "pickup-pending:PU-B",
        "pickup-pending:PU-C",
    ]
    overdue = found["pickup-overdue:PU-A"]
    assert (overdue.source, overdue.severity, overdue.metric) == ("orders", "warning", 1.0)
    assert "SO-5" in overdue.detail and "SO-10" not in overdue.detail  # SO-10 has shipped
    assert found["pickup-pending:PU-B"].severity == "warning"
    assert "421 busy" in found["pickup-pending:PU-B"].detail
    assert found["pickup-pending:PU-C"].severity == "critical"  # its pickup has passed
    assert "not sent before its cutoff" in found["pickup-pending:PU-C"].title
    assert "Nomail has no Email" in found["pickup-blocked:Nomail"].detail
    import json

    json.dumps([f.to_dict() for f in found.values()])  # the state stores them as JSON


# ---------------------------------------------------------------- the checks every job runs


STOCK_GRID = [["SKU", "On hand"], ["A-1", 5], ["B-2", 0]]


def checks(
    *lines: list[Any], fwd_rows: tuple[list[Any], ...] = (ZIP,)
) -> list[tuple[int | None, str, str]]:
    s = settings_with()
    tables = {
        "orders": orders_table(*lines, settings=s),
        "stock": parse_table(STOCK, Grid("Stock", STOCK_GRID), s.tz, s),
        "forwarders": forwarders_table(*fwd_rows, settings=s),
    }
    return [(p.row, p.column, p.problem) for p in validate(tables) if p.tab == "Orders"]


def test_check_unknown_sku() -> None:
    assert checks(line(sku="KIT-9999")) == [
        (2, "SKU", "unknown SKU 'KIT-9999': not on the Stock tab")
    ]


def test_check_missing_and_unknown_forwarder_on_a_ready_line() -> None:
    found = checks(
        line("SO-1", status="READY", forwarder=None),
        line("SO-2", status="READY", forwarder="Nobody"),
    )
    assert (2, "Forwarder", "READY but no Forwarder") in found
    assert (3, "Forwarder", "unknown forwarder 'Nobody': not on the Forwarders tab") in found


def test_check_incomplete_address_on_open_orders_only() -> None:
    found = checks(
        line("SO-1", status="NEW", postcode=None, city=None),
        line("SO-2", status="SHIPPED", shipped="2026-11-21 10:00", address=None),
    )
    assert found == [(2, "City", "incomplete address on an open order: City, Postcode blank")]


@pytest.mark.parametrize("qty", [0, -1, 1.5])
def test_check_qty_is_a_positive_whole_number(qty: float) -> None:
    found = checks(line(qty=qty))
    assert any(c == "Qty" and ("positive whole" in p or "below" in p) for _, c, p in found), found


def test_check_qty_text_is_a_cell_problem() -> None:
    table = orders_table(line(qty="two"))
    assert [(p.column, p.problem) for p in table.problems] == [("Qty", "not a number")]


def test_check_dates_in_the_wrong_order_and_shipped_without_date() -> None:
    found = checks(
        line("SO-1", "2026-11-20 10:00", status="SHIPPED", shipped="2026-11-19 10:00"),
        line("SO-2", "2026-11-18 10:00", status="DELIVERED", shipped="2026-11-19 10:00",
             delivered="2026-11-18 12:00"),
        line("SO-3", "2026-11-18 10:00", status="SHIPPED"),
    )  # fmt: skip
    assert found == [
        (2, "Shipped at", "Shipped at is before Order date"),
        (3, "Delivered at", "Delivered at is before Shipped at"),
        (4, "Shipped at", "SHIPPED without Shipped at"),
    ]


def test_check_order_lines_that_disagree_on_customer_or_address() -> None:
    found = checks(
        line("SO-1", sku="A-1", customer="Ann"),
        line("SO-1", sku="B-2", customer="Anne", postcode="YO1 9ZZ"),
        line("SO-2", sku="A-1", city="York"),
        line("SO-2", sku="B-2", city=" york"),  # same city, other spelling
    )
    assert found == [
        (2, "Customer", "order SO-1 lines disagree on Customer (rows 2, 3)"),
        (2, "Postcode", "order SO-1 lines disagree on Postcode (rows 2, 3)"),
    ]
    assert ff.disagreeing_orders(orders_table(
        line("SO-1", sku="A-1", customer="Ann"), line("SO-1", sku="B-2", customer="Anne")
    ).frame) == {"SO-1"}  # fmt: skip


def test_forwarder_fields_are_parsed() -> None:
    fwd = forwarders(["Zip", "z@zip.example", "15:30", "Mon, Wed", "Z-1"])["Zip"]
    assert (fwd.email, fwd.cutoff, fwd.weekmask, fwd.account, fwd.row, fwd.code) == (
        "z@zip.example", time(15, 30), "1010000", "Z-1", 2, "ZIP"
    )  # fmt: skip
    assert fwd.usable
