"""The returns rules (ops_sheets.domain.returns) on parsed tables, with `now` passed in."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from ops_sheets.config import Settings
from ops_sheets.domain.returns import (
    RAW_REQUESTED_AT,
    ReturnRow,
    ReturnRules,
    ReturnsPlan,
    acknowledgement,
    assign_rmas,
    faulty_findings,
    format_rma,
    highest_rma,
    identity,
    parse_rma,
    plan_returns,
    return_rates,
)
from ops_sheets.mail.samples import sample_context
from ops_sheets.mail.templates import TemplateRenderer
from ops_sheets.service.runner import parse_tables
from ops_sheets.sheet.tables import Table
from ops_sheets.sheet.workbook.base import Grid

RETURNS_HEADER = [
    "Return ID",
    "Order ID",
    "SKU",
    "Qty",
    "Requested at",
    "Reason",
    "Condition",
    "Status",
    "Refund amount",
]
ORDERS_HEADER = [
    "Order ID",
    "Order date",
    "Customer",
    "Email",
    "SKU",
    "Qty",
    "Unit price",
    "Status",
    "Shipped at",
    "Delivered at",
]


def order(
    order_id: str,
    sku: str,
    qty: float = 1,
    *,
    ordered: str = "2026-11-10 10:00",
    shipped: str | None = None,
    delivered: str | None = None,
    price: float | None = 10.0,
    status: str = "DELIVERED",
    email: str | None = "ann@example.com",
    customer: str = "Ann Lee",
) -> list[Any]:
    return [order_id, ordered, customer, email, sku, qty, price, status, shipped, delivered]


def ret(
    order_id: str,
    sku: str,
    qty: float | None = 1,
    *,
    rid: str | None = None,
    requested: str | None = "2026-11-22 10:00",
    reason: str = "broken",
    condition: str | None = None,
    status: str = "REQUESTED",
    refund: float | None = None,
) -> list[Any]:
    return [rid, order_id, sku, qty, requested, reason, condition, status, refund]


def build(
    settings: Settings,
    returns: Sequence[list[Any]],
    orders: Sequence[list[Any]] = (),
    stock: Sequence[list[Any]] = (),
) -> dict[str, Table]:
    grids = {
        "Returns": Grid("Returns", [RETURNS_HEADER, *map(list, returns)]),
        "Orders": Grid("Orders", [ORDERS_HEADER, *map(list, orders)]),
        "Stock": Grid(
            "Stock",
            [["SKU", "Product", "Supplier", "On hand"], *map(list, stock)],
        ),
    }
    return parse_tables(grids, ["returns", "orders", "stock"], settings)


def plan(
    settings: Settings,
    now: datetime,
    returns: Sequence[list[Any]],
    orders: Sequence[list[Any]] = (),
    stock: Sequence[list[Any]] = (),
    **rules: Any,
) -> ReturnsPlan:
    t = build(settings, returns, orders, stock)
    r = dataclasses.replace(ReturnRules.from_settings(settings), **rules)
    return plan_returns(
        t["returns"], t["orders"], t["stock"], r, now, row_problems=t["returns"].problems
    )


def problems_of(p: ReturnsPlan, row: int) -> list[str]:
    return [x.problem for x in p.rows[row - 2].problems]


DELIVERED_20 = order("SO-1", "A-1", 2, delivered="2026-11-20 12:00", shipped="2026-11-19 16:00")


# ---------------------------------------------------------------- RMA numbers


def test_rma_numbers_have_year_and_four_digit_sequence() -> None:
    assert format_rma(2026, 7) == "RMA-2026-0007"
    assert format_rma(2026, 12345) == "RMA-2026-12345"
    assert parse_rma(" rma-2026-0042 ") == (2026, 42)
    assert parse_rma("R-17") is None and parse_rma(None) is None


def test_highest_existing_number_counts_only_that_year() -> None:
    ids = ["RMA-2026-0001", "RMA-2026-0040", "RMA-2025-0900", "R-77", None]
    assert highest_rma(ids, 2026) == 40
    assert highest_rma(ids, 2027) == 0


def _waiting(*identities: tuple[str, str, str]) -> list[ReturnRow]:
    return [
        ReturnRow(
            row=i + 2,
            return_id=None,
            order_id=o,
            sku=s,
            product="",
            units=1,
            requested_at=pd.Timestamp(t) if t else None,
            reason=None,
            condition=None,
            status="REQUESTED",
            key_ok=True,
        )
        for i, (o, s, t) in enumerate(identities)
    ]


def _counter(year: int, start: int) -> Any:
    numbers = iter(range(start, 10_000))
    return lambda: format_rma(year, next(numbers))


def test_new_numbers_never_repeat_one_already_in_the_sheet() -> None:
    rows = _waiting(("SO-1", "A-1", "2026-11-22 10:00"), ("SO-2", "B-2", "2026-11-22 11:00"))
    # a sequence that lags behind what the team typed still never issues 0002
    got = assign_rmas(rows, ["RMA-2026-0002"], {}, _counter(2026, 1))
    assert sorted(a.rma for a in got.values()) == ["RMA-2026-0001", "RMA-2026-0003"]
    assert not any(a.reused for a in got.values())


def test_a_number_whose_write_did_not_land_is_reused_for_the_same_row() -> None:
    rows = _waiting(("SO-1", "A-1", "2026-11-22 10:00"))
    ident = rows[0].identity or ""
    remembered = {ident: {"rma": "RMA-2026-0042", "order_id": "SO-1", "sku": "A-1"}}
    got = assign_rmas(rows, ["RMA-2026-0041"], remembered, _counter(2026, 43))
    assert got[ident].rma == "RMA-2026-0042" and got[ident].reused


def test_a_remembered_number_already_in_the_sheet_belongs_to_another_row() -> None:
    # the first request of this line got RMA-2026-0042 and it landed; this is a new,
    # identical-looking request (Requested at blank both times): it needs its own number
    rows = _waiting(("SO-1", "A-1", ""))
    ident = rows[0].identity or ""
    remembered = {ident: {"rma": "RMA-2026-0042", "order_id": "SO-1", "sku": "A-1"}}
    got = assign_rmas(rows, ["RMA-2026-0042"], remembered, _counter(2026, 43))
    assert got[ident].rma == "RMA-2026-0043" and not got[ident].reused


def test_a_corrected_requested_at_keeps_the_number_of_its_order_line() -> None:
    rows = _waiting(("SO-1", "A-1", "2026-11-22 10:30"))
    old = identity("SO-1", "A-1", pd.Timestamp("2026-11-22 10:00"))
    remembered = {old: {"rma": "RMA-2026-0042", "order_id": "SO-1", "sku": "A-1"}}
    got = assign_rmas(rows, [], remembered, _counter(2026, 43))
    assert got[rows[0].identity or ""].rma == "RMA-2026-0042"


def test_blank_return_ids_that_cannot_be_told_apart_get_no_number(
    settings: Settings, now: datetime
) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", requested="2026-11-22 10:00"),
            ret("SO-1", "A-1", requested="2026-11-22 10:00"),
        ],
        [DELIVERED_20],
    )
    assert p.needing_rma == []
    problem = next(x for x in p.problems if "cannot tell them apart" in x.problem)
    assert problem.column == "Return ID" and "rows 2, 3" in problem.problem
    assert "Return ID" in problem.fix


def test_blank_return_ids_of_one_line_are_told_apart_by_requested_at_when_it_is_known(
    settings: Settings, now: datetime
) -> None:
    t = build(
        settings,
        [
            ret("SO-1", "A-1", requested="2026-11-21 10:00"),
            ret("SO-1", "A-1", requested="2026-11-22 10:00"),
            ret("SO-1", "A-1", requested="2026-11-22 10:00"),
        ],
        [DELIVERED_20],
    )
    f = t["returns"].frame
    f[RAW_REQUESTED_AT] = ["2026-11-21 10:00", "2026-11-22 10:00", "2026-11-22 10:00"]
    p = plan_returns(t["returns"], t["orders"], t["stock"], ReturnRules(), now)
    assert p.key_columns == ("return_id", "order_id", "sku", "requested_at")
    assert [r.row for r in p.needing_rma] == [2]
    assert p.rows[0].write_key(p.key_columns) == {
        "return_id": "",
        "order_id": "SO-1",
        "sku": "A-1",
        "requested_at": "2026-11-21 10:00",
    }
    assert [r.ambiguous for r in p.rows] == [False, True, True]


def test_two_blank_ids_on_one_order_line_are_told_apart_by_requested_at(
    settings: Settings, now: datetime
) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", requested="2026-11-21 10:00"),
            ret("SO-1", "A-1", requested="2026-11-22 10:00"),
        ],
        [DELIVERED_20],
    )
    # found by Order ID + SKU + Requested at (as typed) at write time
    assert p.key_columns == ("return_id", "order_id", "sku", "requested_at")
    assert len(p.needing_rma) == 2
    assert p.problems == []


def test_rows_with_a_return_id_are_keyed_by_it_and_their_order_line(
    settings: Settings, now: datetime
) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1", rid="RMA-2026-0001")], [DELIVERED_20])
    r = p.rows[0]
    assert not r.needs_rma
    key = r.write_key(p.key_columns)
    assert {k: key[k] for k in ("return_id", "order_id", "sku")} == {
        "return_id": "RMA-2026-0001",
        "order_id": "SO-1",
        "sku": "A-1",
    }


# ---------------------------------------------------------------- checks


def test_order_not_found(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-404", "A-1", rid="RMA-2026-0001")], [DELIVERED_20])
    (problem,) = p.problems
    assert (problem.tab, problem.row, problem.column, problem.key) == (
        "Returns",
        2,
        "Order ID",
        "RMA-2026-0001",
    )
    assert problem.problem == "order SO-404 is not on the Orders tab"
    assert p.rows[0].ops_status == "WINDOW UNKNOWN — order not found"


def test_a_missing_orders_tab_is_not_reported_once_per_return(
    settings: Settings, now: datetime
) -> None:
    grids = {"Returns": Grid("Returns", [RETURNS_HEADER, ret("SO-1", "A-1")])}
    t = parse_tables(grids, ["returns", "orders", "stock"], settings)
    p = plan_returns(t["returns"], t["orders"], t["stock"], ReturnRules(), now)
    assert p.problems == [] and not p.rows[0].ack_due
    assert p.rows[0].ops_status == "WINDOW UNKNOWN — order not found"


def test_sku_not_on_that_order(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-1", "B-2")], [DELIVERED_20, order("SO-2", "B-2")])
    assert problems_of(p, 2) == ["SKU B-2 is not on order SO-1 (it has A-1)"]
    assert p.problems[0].column == "SKU"


def test_qty_above_ordered_minus_earlier_returns(settings: Settings, now: datetime) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", 1, rid="RMA-2026-0002", requested="2026-11-22 10:00"),
            ret("SO-1", "A-1", 1, rid="RMA-2026-0001", requested="2026-11-21 10:00"),
            ret(
                "SO-1",
                "A-1",
                2,
                rid="RMA-2026-0003",
                requested="2026-11-20 10:00",
                status="REJECTED",
            ),
            ret("SO-1", "A-1", 1, rid="RMA-2026-0004", requested="2026-11-22 12:00"),
        ],
        [DELIVERED_20],  # 2 ordered
    )
    # the rejected return does not count; the first two use up the line; the third is one too many
    assert problems_of(p, 2) == [] and problems_of(p, 3) == [] and problems_of(p, 4) == []
    assert problems_of(p, 5) == [
        "Qty 1 is more than can be returned: 2 ordered, 2 already returned (rows 3, 2)"
    ]


def test_qty_of_a_single_return_above_the_line(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1", 3)], [DELIVERED_20])
    assert problems_of(p, 2) == ["Qty 3 is more than can be returned: 2 ordered"]


def test_qty_blank_counts_as_one_and_is_reported(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1", None)], [DELIVERED_20])
    assert problems_of(p, 2) == ["Qty is blank; counted as 1 unit"]
    assert p.rows[0].units == 1


def test_refund_above_the_line_value(settings: Settings, now: datetime) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", 1, rid="RMA-2026-0001", refund=20.004),  # 2 × 10.00, typed loosely
            ret("SO-1", "A-1", 1, rid="RMA-2026-0002", refund=25),
        ],
        [DELIVERED_20],
    )
    assert problems_of(p, 2) == []
    assert problems_of(p, 3) == ["Refund amount 25.00 is above the line's value 20.00"]
    assert p.problems[0].column == "Refund amount" and p.problems[0].value == "25.00"


def test_unknown_status_comes_from_the_parser_and_shows_on_the_row(
    settings: Settings, now: datetime
) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1", status="LOST")], [DELIVERED_20])
    assert problems_of(p, 2) == ["not a known status"]
    assert p.problems == []  # the parser's problem is already on the Problems tab
    assert p.rows[0].problem_text == "not a known status"


# ---------------------------------------------------------------- the window


def test_window_counts_from_delivery(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1", requested="2026-11-22 10:00")], [DELIVERED_20])
    w = p.rows[0].window
    assert w is not None and (w.start, w.basis, w.day) == (date(2026, 11, 20), "delivered", 2)
    assert p.rows[0].ops_status == "IN WINDOW (day 2 of 30)"


def test_window_counts_from_shipping_plus_transit_without_delivery(
    settings: Settings, now: datetime
) -> None:
    line = order("SO-1", "A-1", 2, shipped="2026-10-01 16:00", status="SHIPPED")
    p = plan(settings, now, [ret("SO-1", "A-1", requested="2026-11-05 10:00")], [line])
    w = p.rows[0].window
    assert w is not None and (w.start, w.basis) == (date(2026, 10, 4), "shipped + 3 days")
    assert p.rows[0].ops_status == "OUTSIDE WINDOW by 2 days — decision needed"


def test_window_counts_from_the_order_date_when_not_shipped(
    settings: Settings, now: datetime
) -> None:
    line = order("SO-1", "A-1", 2, ordered="2026-11-01 09:00", status="NEW")
    p = plan(settings, now, [ret("SO-1", "A-1", requested="2026-11-22 10:00")], [line])
    assert p.rows[0].window is not None and p.rows[0].window.basis == "order date"
    assert p.rows[0].ops_status == "IN WINDOW (day 21 of 30)"


def test_window_length_and_transit_are_settings(settings: Settings, now: datetime) -> None:
    line = order("SO-1", "A-1", 2, shipped="2026-11-01 16:00", status="SHIPPED")
    p = plan(
        settings,
        now,
        [ret("SO-1", "A-1", requested="2026-11-22 10:00")],
        [line],
        window_days=14,
        transit_days=5,
    )
    assert p.rows[0].ops_status == "OUTSIDE WINDOW by 2 days — decision needed"


def test_last_day_of_the_window_is_in_and_the_next_is_out(
    settings: Settings, now: datetime
) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", rid="RMA-2026-0001", requested="2026-12-20 10:00"),
            ret("SO-1", "A-1", rid="RMA-2026-0002", requested="2026-12-21 10:00"),
        ],
        [DELIVERED_20],
    )
    assert [r.ops_status for r in p.rows] == [
        "IN WINDOW (day 30 of 30)",
        "OUTSIDE WINDOW by 1 day — decision needed",
    ]


def test_outside_the_window_once_approved_needs_no_decision(
    settings: Settings, now: datetime
) -> None:
    old = order("SO-1", "A-1", 1, delivered="2026-09-01 12:00")
    p = plan(settings, now, [ret("SO-1", "A-1", status="APPROVED")], [old])
    assert p.rows[0].ops_status == "OUTSIDE WINDOW by 52 days — approved"


def test_blank_requested_at_counts_to_today(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1", requested=None)], [DELIVERED_20])
    assert p.rows[0].ops_status == "IN WINDOW (day 3 of 30)"


# ---------------------------------------------------------------- restock and done


def test_received_in_resaleable_condition_is_a_restock_hint(
    settings: Settings, now: datetime
) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", 2, rid="RMA-2026-0001", status="RECEIVED", condition="As New"),
            ret("SO-3", "A-1", 1, rid="RMA-2026-0002", status="RECEIVED", condition="damaged"),
            ret("SO-4", "A-1", 1, rid="RMA-2026-0003", status="RECEIVED", condition=None),
        ],
        [DELIVERED_20, order("SO-3", "A-1"), order("SO-4", "A-1")],
    )
    assert [r.ops_status for r in p.rows] == [
        "RESTOCK +2 — update On hand",
        "RECEIVED — damaged: not resaleable, refund or write off",
        "RECEIVED — fill in Condition to see whether it can be restocked",
    ]
    assert [r.restock_units for r in p.rows] == [2, 0, 0]


def test_resaleable_conditions_are_configurable(settings: Settings, now: datetime) -> None:
    rows = [ret("SO-1", "A-1", 1, status="RECEIVED", condition="opened")]
    assert plan(settings, now, rows, [DELIVERED_20]).rows[0].restock_units == 0
    more = plan(settings, now, rows, [DELIVERED_20], resaleable=frozenset({"opened"}))
    assert more.rows[0].ops_status == "RESTOCK +1 — update On hand"


def test_refunded_ends_the_restock_hint(settings: Settings, now: datetime) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", 1, rid="RMA-2026-0001", status="REFUNDED", condition="as new"),
            ret("SO-1", "A-1", 1, rid="RMA-2026-0002", status="REJECTED"),
        ],
        [DELIVERED_20],
    )
    assert [r.ops_status for r in p.rows] == ["DONE (refunded)", "DONE (rejected)"]
    assert [r.restock_units for r in p.rows] == [0, 0]


# ---------------------------------------------------------------- acknowledgement


def test_acknowledgement_due_while_requested_or_approved_in_the_window(
    settings: Settings, now: datetime
) -> None:
    statuses = ["REQUESTED", "APPROVED", "RECEIVED", "REFUNDED", "REJECTED"]
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", 0.0 + 1, rid=f"RMA-2026-000{i}", status=s)
            for i, s in enumerate(statuses, 1)
        ],
        [order("SO-1", "A-1", 9, delivered="2026-11-20 12:00")],
    )
    assert [r.ack_due for r in p.rows] == [True, True, False, False, False]


def test_no_acknowledgement_when_notify_customer_is_off(settings: Settings, now: datetime) -> None:
    p = plan(settings, now, [ret("SO-1", "A-1")], [DELIVERED_20], notify_customer=False)
    assert not p.rows[0].ack_due


def test_acknowledgement_waits_for_a_decision_outside_the_window(
    settings: Settings, now: datetime
) -> None:
    old = order("SO-1", "A-1", 1, delivered="2026-09-01 12:00")
    requested = plan(settings, now, [ret("SO-1", "A-1")], [old])
    approved = plan(settings, now, [ret("SO-1", "A-1", status="APPROVED")], [old])
    assert not requested.rows[0].ack_due and approved.rows[0].ack_due


def test_acknowledgement_waits_while_items_are_wrong_but_not_for_the_refund(
    settings: Settings, now: datetime
) -> None:
    p = plan(
        settings,
        now,
        [
            ret("SO-1", "A-1", 5, rid="RMA-2026-0001"),
            ret("SO-1", "A-1", 1, rid="RMA-2026-0002", refund=99),
        ],
        [order("SO-1", "A-1", 5, delivered="2026-11-20 12:00")],
    )
    assert p.rows[0].problems == [] and p.rows[0].ack_due
    assert p.rows[1].problems and not p.rows[1].ack_due  # 5 + 1 > 5 units
    refund_only = plan(
        settings, now, [ret("SO-1", "A-1", 1, rid="RMA-2026-0002", refund=99)], [DELIVERED_20]
    )
    assert refund_only.rows[0].problems and refund_only.rows[0].ack_due


def test_missing_customer_email_is_a_problem_on_the_orders_tab(
    settings: Settings, now: datetime
) -> None:
    line = order("SO-1", "A-1", 2, delivered="2026-11-20 12:00", email=None)
    p = plan(settings, now, [ret("SO-1", "A-1")], [line])
    (problem,) = p.problems
    assert (problem.tab, problem.row, problem.column) == ("Orders", 2, "Email")
    assert "cannot be told about the return" in problem.problem
    assert not p.rows[0].ack_due


def test_acknowledgement_context_fills_the_template_contract(
    settings: Settings, now: datetime
) -> None:
    p = plan(
        settings,
        now,
        [ret("SO-1", "A-1", 1, reason="chipped rim")],
        [DELIVERED_20],
        [["A-1", "Stoneware mug", "Acme", 5]],
    )
    t = build(settings, [], [DELIVERED_20])
    rules = dataclasses.replace(
        ReturnRules.from_settings(settings), return_address="Unit 4\nBristol"
    )
    ack = acknowledgement(p.rows[0], "RMA-2026-0042", rules, now.date(), t["orders"])
    assert ack.key == "rma:RMA-2026-0042" and ack.to == "ann@example.com"
    assert set(ack.context) == set(sample_context("return_acknowledgement"))
    assert ack.context["items"] == [
        {"sku": "A-1", "product": "Stoneware mug", "qty": 1, "reason": "chipped rim"}
    ]
    assert ack.context["customer_name"] == "Ann Lee" and ack.context["order_id"] == "SO-1"
    assert ack.context["next_steps"] == settings.jobs.returns.next_steps
    # the window ends 30 days after delivery, later than 14 days from today
    assert ack.context["return_by"] == date(2026, 12, 20)
    assert (ack.origin_tab, ack.origin_row, ack.origin_column) == ("Orders", 2, "Email")
    rendered = TemplateRenderer(settings).render("return_acknowledgement", ack.context)
    assert "RMA-2026-0042" in rendered.subject and "Stoneware mug" in rendered.text
    assert "Sun 20 Dec 2026" in rendered.text and "Unit 4" in rendered.html


def test_return_by_gives_at_least_the_sending_days_when_the_window_is_nearly_over(
    settings: Settings, now: datetime
) -> None:
    line = order("SO-1", "A-1", 2, delivered="2026-10-27 12:00")
    p = plan(settings, now, [ret("SO-1", "A-1", requested="2026-11-22 10:00")], [line])
    t = build(settings, [], [line])
    ack = acknowledgement(p.rows[0], "RMA-2026-0001", ReturnRules(), now.date(), t["orders"])
    assert ack.context["return_by"] == now.date() + timedelta(days=14)


def test_return_address_falls_back_to_the_delivery_address(tmp_path: Any) -> None:
    from ops_sheets.config import settings_from_dict

    s = settings_from_dict(
        {"jobs": {"stock": {"delivery_address": "Unit 4, Quay St"}}}, base_dir=tmp_path
    )
    assert ReturnRules.from_settings(s).return_address == "Unit 4, Quay St"
    s = settings_from_dict({"shop_name": "Harbour"}, base_dir=tmp_path)
    assert ReturnRules.from_settings(s).return_address == "Harbour"


# ---------------------------------------------------------------- rates


def _rates_case(settings: Settings, now: datetime, **rules: Any) -> Any:
    shipped = "2026-11-01 10:00"
    orders = [
        order(f"SO-{i}", "C-3", 1, shipped=shipped, delivered="2026-11-03 10:00") for i in range(25)
    ]
    orders += [order(f"SA-{i}", "A-1", 2, shipped=shipped) for i in range(20)]
    orders.append(order("OLD-1", "C-3", 50, shipped="2026-07-01 10:00"))  # before the 90 days
    orders.append(order("CAN-1", "C-3", 50, shipped=shipped, status="CANCELLED"))
    returns = [ret(f"SO-{i}", "C-3", 1, reason="Faulty", status="REFUNDED") for i in range(3)]
    returns += [ret("SO-3", "C-3", 1, reason="damaged", status="RECEIVED", condition="damaged")]
    returns += [ret("SO-4", "C-3", 1, reason="faulty", status="REJECTED")]  # does not count
    returns += [ret("SA-1", "A-1", 1, reason="changed mind", status="REFUNDED")]
    returns += [ret("SA-2", "A-1", 1, reason="faulty", requested="2026-07-01 10:00")]  # too old
    t = build(
        settings,
        returns,
        orders,
        [["C-3", "Milk frother", "Brewco", 4], ["A-1", "Mug", "Acme", 9]],
    )
    r = dataclasses.replace(ReturnRules(), **rules)
    return return_rates(t["returns"].frame, t["orders"].frame, t["stock"].frame, r, now), r


def test_return_rates_per_sku_and_supplier_with_top_reasons(
    settings: Settings, now: datetime
) -> None:
    rates, _ = _rates_case(settings, now)
    by_sku = {r.name: r for r in rates.skus}
    assert (by_sku["C-3"].shipped_units, by_sku["C-3"].returned_units) == (25, 4)
    assert by_sku["C-3"].rate == pytest.approx(0.16)
    assert by_sku["C-3"].top_reasons == (("faulty", 3.0), ("damaged", 1.0))
    assert (by_sku["A-1"].shipped_units, by_sku["A-1"].returned_units) == (40, 1)
    by_supplier = {s.name: s for s in rates.suppliers}
    assert by_supplier["Brewco"].rate == pytest.approx(0.16)
    assert by_supplier["Acme"].rate == pytest.approx(1 / 40)
    assert rates.skus[0].name == "C-3"  # highest rate first


def test_skus_over_the_alert_rate_with_enough_units_are_possible_faulty_products(
    settings: Settings, now: datetime
) -> None:
    rates, _ = _rates_case(settings, now)
    assert [r.name for r in rates.alerts] == ["C-3"]
    rates, _ = _rates_case(settings, now, min_units_shipped=30)
    assert rates.alerts == ()
    rates, _ = _rates_case(settings, now, alert_rate=0.20)
    assert rates.alerts == ()


def test_faulty_findings_have_what_monitor_needs(settings: Settings, now: datetime) -> None:
    rates, rules = _rates_case(settings, now)
    (f,) = faulty_findings(rates, rules)
    assert f.severity == "warning" and f.source == "returns"
    assert f.title == "Possible faulty product: C-3 Milk frother, 16.0% returned in 90 days"
    assert "4 of 25 units" in f.detail and "faulty (3)" in f.detail
    assert "Brewco" in f.detail and "Brewco" in f.action
    assert f.key == "returns:faulty:C-3" and f.metric == 16.0
