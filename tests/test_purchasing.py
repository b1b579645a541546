"""PO planning (ops_sheets.domain.purchasing): numbering, one PO per supplier, minimum order
value hold and top-up, approval and renumbering, reminders, email context."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from conftest import LONDON, NOW

from ops_sheets.config import Settings
from ops_sheets.domain import purchasing
from ops_sheets.domain.inventory import ReorderPolicy, decide
from ops_sheets.domain.purchasing import PoLine, PoNumbers, Supplier, plan_new_lines, plan_sends
from ops_sheets.mail.samples import sample_context
from ops_sheets.mail.templates import TemplateRenderer
from ops_sheets.sheet.tables import TAB_SPECS, parse_table
from ops_sheets.sheet.workbook.base import Grid

TODAY = NOW.date()
STOCK_HEADER = ["SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock",
                "Lead time days", "Pack size", "Min order qty", "Unit cost"]  # fmt: skip
PO_HEADER = ["PO number", "Supplier", "SKU", "Qty", "Unit cost", "Created at", "Expected by",
             "Status", "Received at"]  # fmt: skip
SUPPLIERS = {
    "Acme": Supplier("Acme", "orders@acme.example", "Jo", math.nan, 2),
    "Bolt & Nut": Supplier("Bolt & Nut", "sales@bolt.example", "", math.nan, 3),
    "Quiet": Supplier("Quiet", "", "", math.nan, 4),
}


def frame(tab: str, rows: list[list[Any]]) -> pd.DataFrame:
    spec = TAB_SPECS[tab]
    return parse_table(spec, Grid(spec.title, rows), LONDON).frame


def po_frame(*rows: list[Any]) -> pd.DataFrame:
    return frame("purchase_orders", [PO_HEADER, *rows])


def line(number: str, sku: str, qty: float, status: str, *, supplier: str = "Acme",
         cost: float = 2.0, created: datetime | None = None,
         expected: date | None = None) -> list[Any]:  # fmt: skip
    return [number, supplier, sku, qty, cost, created, expected, status, None]


def decision(*rows: dict[str, Any], po: pd.DataFrame | None = None,
             orders: list[list[Any]] | None = None) -> pd.DataFrame:  # fmt: skip
    """Stock rows → the inventory decision (demand from ``orders`` rows if given)."""
    keys = [h.lower().replace(" ", "_") for h in STOCK_HEADER]
    stock = frame("stock", [STOCK_HEADER, *[[r.get(k) for k in keys] for r in rows]])
    o = frame("orders", [["Order ID", "Order date", "SKU", "Qty", "Status"], *(orders or [])])
    sup = frame("suppliers", [["Supplier", "Email"]])
    po = po if po is not None else po_frame()
    return decide(stock, sup, po, o, ReorderPolicy(lookback_days=10), NOW)


def minmax(sku: str, on_hand: float, supplier: str = "Acme", **kw: Any) -> dict[str, Any]:
    """A typed min/max SKU: s = 10, S = 50, lead time 5 days, cost 2."""
    return {"sku": sku, "supplier": supplier, "on_hand": on_hand, "reorder_point": 10,
            "max_stock": 50, "lead_time_days": 5, "unit_cost": 2, **kw}  # fmt: skip


def numbers(po: pd.DataFrame | None = None, **kw: Any) -> PoNumbers:
    return PoNumbers(TODAY, po if po is not None else po_frame(), **kw)


# ---------------------------------------------------------------- numbering


@pytest.mark.parametrize(
    ("name", "code"),
    [("Acme Ceramics Ltd", "ACME"), ("Café Nord", "CAFE"), ("3M", "3M"), ("a-b c.d/e", "ABCD")],
)
def test_supplier_code_is_the_first_four_letters_or_digits(name: str, code: str) -> None:
    assert purchasing.supplier_code(name) == code


def test_suppliers_sharing_four_letters_get_distinct_stable_codes() -> None:
    codes = purchasing.supplier_codes(["Acme Glass", "Acme Steel", "Bolt"])
    assert codes["Bolt"] == "BOLT"
    assert codes["Acme Glass"] != codes["Acme Steel"]
    assert all(c.startswith("ACME") and len(c) == 6 for n, c in codes.items() if "Acme" in n)
    assert purchasing.supplier_codes(["Acme Steel", "Acme Glass"]) == {
        k: v for k, v in codes.items() if k != "Bolt"
    }
    assert purchasing.supplier_code("日本").startswith("S")


def test_po_numbers_are_dated_and_numbered_per_supplier_and_day() -> None:
    assert purchasing.po_number(TODAY, "ACME") == "PO-20261123-ACME"
    assert purchasing.po_number(TODAY, "ACME", 3) == "PO-20261123-ACME-3"
    assert purchasing.po_date("PO-20261123-ACME-3") == TODAY
    assert purchasing.po_date("my own PO") is None


def test_new_draft_lines_join_todays_unsent_po_but_never_a_sealed_one() -> None:
    po = po_frame(line("PO-20261123-ACME", "A", 5, "DRAFT"))
    assert numbers(po).joinable("ACME", ["B"]) == "PO-20261123-ACME"
    # the same SKU already on it: the key (PO number, SKU) must stay unique
    assert numbers(po).joinable("ACME", ["A"]) == "PO-20261123-ACME-2"
    sent = po_frame(line("PO-20261123-ACME", "A", 5, "SENT"))
    assert numbers(sent).joinable("ACME", ["B"]) == "PO-20261123-ACME-2"
    approved = po_frame(line("PO-20261123-ACME", "A", 5, "APPROVED"))
    assert numbers(approved).joinable("ACME", ["B"]) == "PO-20261123-ACME-2"
    emailed = numbers(po, ledger_state=lambda n: "sent" if n == "PO-20261123-ACME" else None)
    assert emailed.joinable("ACME", ["B"]) == "PO-20261123-ACME-2"
    assert numbers(po, recorded=["PO-20261123-ACME"]).joinable("ACME", ["B"]).endswith("-2")


def test_fresh_numbers_skip_every_number_in_use_or_known_to_the_ledger() -> None:
    po = po_frame(line("PO-20261123-ACME", "A", 5, "DRAFT"))
    n = numbers(po, ledger_state=lambda x: "sent" if x.endswith("-2") else None)
    assert n.fresh("ACME") == "PO-20261123-ACME-3"
    assert n.fresh("ACME") == "PO-20261123-ACME-4"


# ---------------------------------------------------------------- new lines


def test_one_draft_po_per_supplier_with_lead_time_dated_lines() -> None:
    d = decision(minmax("A", 5), minmax("B", 0, pack_size=6), minmax("C", 8, "Bolt & Nut"),
                 minmax("D", 40))  # fmt: skip
    plan = plan_new_lines(d, po_frame(), SUPPLIERS, numbers(), NOW)
    got = [(ln.po_number, ln.sku, ln.qty, ln.status, ln.expected_by) for ln in plan.lines]
    assert got == [
        ("PO-20261123-ACME", "A", 45.0, "DRAFT", date(2026, 11, 28)),
        ("PO-20261123-ACME", "B", 54.0, "DRAFT", date(2026, 11, 28)),  # 50 → packs of 6
        ("PO-20261123-BOLT", "C", 42.0, "DRAFT", date(2026, 11, 28)),
    ]
    assert plan.placed == {"A": 45.0, "B": 54.0, "C": 42.0}
    assert plan.notes["A"] == "on PO-20261123-ACME (DRAFT, waiting for approval)"


def test_auto_approval_appends_approved_lines_under_a_fresh_number() -> None:
    po = po_frame(line("PO-20261123-ACME", "X", 5, "DRAFT", created=NOW))
    d = decision(minmax("A", 5), po=po)
    n = numbers(po)
    plan = plan_new_lines(d, po, SUPPLIERS, n, NOW, approval="auto")
    assert [(ln.po_number, ln.status) for ln in plan.lines] == [("PO-20261123-ACME-2", "APPROVED")]
    assert n.sealed("PO-20261123-ACME-2")


def test_todays_lines_count_as_on_order_and_nothing_more_is_placed() -> None:
    po = po_frame(
        line("PO-20261123-ACME", "A", 5, "CANCELLED", created=NOW - timedelta(hours=2)),
        line("PO-20261120-ACME", "B", 5, "DRAFT", created=NOW - timedelta(days=3)),
        line("PO-20261123-ACME", "C", 48, "DRAFT", created=NOW - timedelta(hours=1)),
    )
    d = decision(minmax("A", 5), minmax("B", 0), minmax("C", 4), po=po)
    plan = plan_new_lines(d, po, SUPPLIERS, numbers(po), NOW)
    assert plan.lines == []
    # C: its DRAFT line of this morning is on order (DESIGN.md), so no new order
    assert d.set_index("sku").loc["C", "on_order"] == 48
    # A: the team cancelled today's line: not ordered again today
    assert plan.notes["A"] == "ordered today on PO-20261123-ACME, CANCELLED"
    # B: an earlier DRAFT waits for the team
    assert plan.notes["B"] == "PO-20261120-ACME (DRAFT) waits for the team: approve or cancel it"
    assert set(plan.not_ordered) == {"A", "B"}


def test_missing_supplier_or_email_is_a_problem_on_the_sku_row_and_no_po() -> None:
    d = decision(minmax("A", 5, None), minmax("B", 5, "Quiet"), minmax("C", 5, "Nobody"))
    plan = plan_new_lines(d, po_frame(), SUPPLIERS, numbers(), NOW)
    assert plan.lines == []
    # (an unknown supplier is already reported by the cross-tab checks)
    assert [(i.tab, i.row, i.column, i.key) for i in plan.issues] == [
        ("stock", 2, "supplier", "A"), ("stock", 3, "supplier", "B"),
    ]  # fmt: skip
    assert "has no Email" in plan.issues[1].problem
    assert plan.notes["C"] == "cannot order: Nobody is not on the Suppliers tab"


def test_blocked_orders_are_reported_and_not_placed() -> None:
    d = decision({"sku": "A", "supplier": "Acme", "on_hand": 0, "reorder_point": 5})
    plan = plan_new_lines(d, po_frame(), SUPPLIERS, numbers(), NOW)
    assert plan.lines == [] and "no sales" in plan.not_ordered["A"]
    assert [(i.column, i.key) for i in plan.issues] == [("max_stock", "A")]


MIN_200 = {**SUPPLIERS, "Acme": Supplier("Acme", "orders@acme.example", "", 200.0, 2)}


def test_an_order_below_the_suppliers_minimum_is_held_with_the_shortfall() -> None:
    # A: 50 − 5 = 45 units × 2 = 90; B: 50 − 10 = 40 × 2 = 80 → 170, 30 short of 200.
    d = decision(minmax("A", 5), minmax("B", 10))
    plan = plan_new_lines(d, po_frame(), MIN_200, numbers(), NOW, currency="GBP")
    assert plan.lines == []
    assert [(h.supplier, h.value, h.short) for h in plan.holds] == [("Acme", 170.0, 30.0)]
    assert plan.notes["A"] == (
        "held: Acme order 170.00 GBP is 30.00 GBP below its minimum order value 200.00 GBP"
    )


def test_top_up_pulls_forward_the_skus_closest_to_their_reorder_point() -> None:
    # A needs 45 × 2 = 90. Candidates (d = 1/day from 10 units in 10 days):
    # C at 12 is 2 days above s = 10, D at 15 is 5 days above, E at 30 is 20 above.
    # C: 50 − 12 = 38 × 2 = 76 → 166; D: 35 × 2 = 70 → 236 ≥ 200; E is not needed.
    sold = [[f"SO-{s}", "2026-11-20 10:00", s, 10, "SHIPPED"] for s in "ACDE"]
    d = decision(minmax("A", 5), minmax("C", 12), minmax("D", 15), minmax("E", 30), orders=sold)
    plan = plan_new_lines(d, po_frame(), MIN_200, numbers(), NOW, top_up=True, currency="GBP")
    assert [(ln.sku, ln.qty) for ln in plan.lines] == [("A", 45.0), ("C", 38.0), ("D", 35.0)]
    assert plan.pulled == {"C": 38.0, "D": 35.0}
    assert plan.holds == []
    assert "to reach Acme's minimum order value 200.00 GBP" in plan.notes["C"]


def test_top_up_that_cannot_reach_the_minimum_holds_the_order() -> None:
    sold = [["SO-C", "2026-11-20 10:00", "C", 10, "SHIPPED"]]
    d = decision(minmax("A", 5), minmax("C", 45), orders=sold)  # C adds only 5 × 2
    plan = plan_new_lines(d, po_frame(), MIN_200, numbers(), NOW, top_up=True)
    assert plan.lines == [] and plan.holds[0].value == 100.0
    assert "even with every SKU that could be pulled forward" in plan.notes["A"]


def test_lines_already_waiting_on_the_po_count_toward_the_minimum() -> None:
    po = po_frame(line("PO-20261123-ACME", "X", 60, "DRAFT", created=NOW))  # 120
    d = decision(minmax("A", 5), po=po)  # 90 more → 210
    plan = plan_new_lines(d, po, MIN_200, numbers(po), NOW)
    assert [(ln.po_number, ln.sku) for ln in plan.lines] == [("PO-20261123-ACME", "A")]


# ---------------------------------------------------------------- sending


def sends(po: pd.DataFrame, *, ledger: dict[str, str] | None = None,
          records: dict[str, dict[str, float]] | None = None,
          now: datetime = NOW) -> purchasing.SendPlan:  # fmt: skip
    ledger = ledger or {}
    return plan_sends(
        po, now, numbers(po, ledger_state=ledger.get, recorded=records or {}), SUPPLIERS,
        ledger_state=ledger.get, records=records or {}, lead_days={"A": 5, "B": 5, "C": 5},
        sku_supplier={},
    )  # fmt: skip


def test_approved_lines_are_emailed_under_their_po_number_drafts_wait() -> None:
    po = po_frame(
        line("PO-20261123-ACME", "A", 10, "APPROVED", expected=date(2026, 12, 1)),
        line("PO-20261123-ACME", "B", 20, "DRAFT"),
        line("PO-20261123-BOLT", "C", 5, "approved", supplier="Bolt & Nut"),
    )
    plan = sends(po)
    assert [(s.po_number, [ln.sku for ln in s.lines]) for s in plan.sends] == [
        ("PO-20261123-ACME", ["A"]), ("PO-20261123-BOLT", ["C"]),
    ]  # fmt: skip
    assert plan.sends[0].key == "po:PO-20261123-ACME"
    assert plan.sends[0].requested_by == date(2026, 12, 1)
    # no Expected by: the lead time from today
    assert plan.sends[1].requested_by == date(2026, 11, 28)


def test_a_line_approved_after_its_po_was_emailed_goes_out_under_a_new_number() -> None:
    po = po_frame(
        line("PO-20261123-ACME", "A", 10, "SENT"),
        line("PO-20261123-ACME", "B", 20, "APPROVED", expected=date(2026, 11, 25)),
    )
    plan = sends(po, ledger={"PO-20261123-ACME": "sent"}, records={"PO-20261123-ACME": {"A": 10}})
    (send,) = plan.sends
    assert send.po_number == "PO-20261123-ACME-2"
    assert [(ln.sku, ln.old_po_number) for ln in send.lines] == [("B", "PO-20261123-ACME")]
    assert plan.renumbered == send.lines
    # approved days after it was proposed: never sooner than the lead time from today
    assert send.requested_by == date(2026, 11, 28)


def test_lines_already_emailed_are_marked_sent_not_emailed_again() -> None:
    # the email went out but the write that sets SENT was lost
    po = po_frame(line("PO-20261123-ACME", "A", 10, "APPROVED"))
    plan = sends(po, ledger={"PO-20261123-ACME": "sent"}, records={"PO-20261123-ACME": {"A": 10}})
    assert plan.sends == [] and plan.mark_sent == [("PO-20261123-ACME", "A")]


def test_a_qty_changed_after_sending_is_a_problem_never_a_second_po() -> None:
    po = po_frame(line("PO-20261123-ACME", "A", 12, "APPROVED"))
    plan = sends(po, ledger={"PO-20261123-ACME": "sent"}, records={"PO-20261123-ACME": {"A": 10}})
    assert plan.sends == [] and plan.mark_sent == []
    assert "Qty changed after PO-20261123-ACME was emailed with 10" in plan.issues[0].problem
    unknown = sends(po, ledger={"PO-20261123-ACME": "sent"})
    assert unknown.sends == [] and "no record" in unknown.issues[0].problem


def test_an_unsent_po_is_queued_again_with_its_current_lines() -> None:
    po = po_frame(line("PO-20261123-ACME", "A", 12, "APPROVED"))
    plan = sends(po, ledger={"PO-20261123-ACME": "unsent"}, records={"PO-20261123-ACME": {"A": 10}})
    assert [(s.po_number, s.lines[0].qty) for s in plan.sends] == [("PO-20261123-ACME", 12.0)]
    assert sends(po, ledger={"PO-20261123-ACME": "busy"}).sends == []


def test_approved_lines_without_a_positive_qty_are_not_sent() -> None:
    po = po_frame(
        line("PO-20261123-ACME", "A", None, "APPROVED"),
        line("PO-20261123-ACME", "B", 4, "APPROVED"),
    )
    plan = sends(po)
    assert plan.sends == []
    assert [(i.column, i.key) for i in plan.issues] == [("qty", "PO-20261123-ACME / A")]


def test_a_po_the_team_marked_sent_gets_no_more_lines() -> None:
    po = po_frame(line("PO-1", "A", 1, "CONFIRMED"), line("PO-1", "B", 1, "APPROVED"))
    (send,) = sends(po).sends
    assert send.po_number == "PO-20261123-ACME" and send.lines[0].old_po_number == "PO-1"


def test_approved_lines_of_a_supplier_without_email_are_a_problem() -> None:
    po = po_frame(line("PO-1", "A", 1, "APPROVED", supplier="Quiet"))
    plan = sends(po)
    assert plan.sends == [] and "has no Email" in plan.issues[0].problem


# ---------------------------------------------------------------- reminders


def overdue_po() -> pd.DataFrame:
    made = datetime(2026, 11, 2, 10, 0)
    return po_frame(
        line("PO-20261102-ACME", "A", 10, "SENT", created=made, expected=date(2026, 11, 16)),
        line("PO-20261102-ACME", "B", 5, "CONFIRMED", created=made, expected=date(2026, 11, 18)),
        line("PO-20261102-ACME", "C", 5, "RECEIVED", created=made, expected=date(2026, 11, 16)),
        line("PO-20261119-ACME", "D", 5, "SENT", created=made, expected=date(2026, 11, 23)),
    )


def reminders(records: dict[str, Any], now: datetime = NOW) -> list[purchasing.Reminder]:
    return purchasing.plan_reminders(overdue_po(), now, 3, records, {})


def test_an_overdue_po_gets_its_first_reminder() -> None:
    (r,) = reminders({})  # due today is not overdue; RECEIVED lines are not chased
    assert (r.po_number, r.number, r.due, r.days_overdue) == ("PO-20261102-ACME", 1, True, 7)
    assert [ln.sku for ln in r.lines] == ["A", "B"]
    assert r.key == "po-reminder:PO-20261102-ACME:1"
    assert r.order_date == date(2026, 11, 2) and r.value == 30.0


@pytest.mark.parametrize(
    ("last_on", "number", "due"),
    [
        ("2026-11-23", 1, True),  # a re-run the same day: same key, the ledger sends it once
        ("2026-11-21", 1, False),  # 2 days ago, every 3 days: not yet
        ("2026-11-20", 2, True),  # 3 days ago: the next one
    ],
)
def test_reminders_repeat_every_n_days(last_on: str, number: int, due: bool) -> None:
    (r,) = reminders({"PO-20261102-ACME": {"n": 1, "on": last_on}})
    assert (r.number, r.due) == (number, due)


# ---------------------------------------------------------------- email context


def test_purchase_order_context_has_exactly_the_templates_variables(settings: Settings) -> None:
    send = purchasing.PoSend(
        "PO-20261123-ACME", "Acme",
        [PoLine("PO-20261123-ACME", "Acme", "A", 48, 3.2, date(2026, 12, 7)),
         PoLine("PO-20261123-ACME", "Acme", "B", 12, math.nan, date(2026, 12, 7))],
        date(2026, 12, 7),
    )  # fmt: skip
    ctx = purchasing.purchase_order_context(
        send, SUPPLIERS["Acme"], {"A": "Mug =HYPERLINK(1)"}, order_date=TODAY,
        shop_name="Shop", currency="GBP", delivery_address="1 Quay St\nBristol",
    )  # fmt: skip
    assert set(ctx) == set(sample_context("purchase_order"))
    assert ctx["lines"][0] == {"sku": "A", "product": "Mug =HYPERLINK(1)", "qty": 48,
                               "unit_cost": 3.2, "line_value": 153.6}  # fmt: skip
    assert ctx["lines"][1]["product"] == "B" and ctx["total"] == 153.6
    rendered = TemplateRenderer(settings).render("purchase_order", ctx)
    assert rendered.subject == "Purchase order PO-20261123-ACME from Shop"
    assert "Quantity 48 x £3.20 = £153.60" in rendered.text
    rows = purchasing.purchase_order_csv_rows(ctx)
    assert rows[1] == ["PO-20261123-ACME", "A", "Mug =HYPERLINK(1)", 48, 3.2, 153.6, "GBP",
                       "2026-12-07"]  # fmt: skip


def test_reminder_context_has_exactly_the_templates_variables(settings: Settings) -> None:
    (r,) = reminders({})
    ctx = purchasing.reminder_context(r, SUPPLIERS["Acme"], {}, shop_name="Shop", currency="GBP")
    assert set(ctx) == set(sample_context("po_reminder"))
    assert (ctx["days_overdue"], ctx["reminder_number"], ctx["total"]) == (7, 1, 30.0)
    rendered = TemplateRenderer(settings).render("po_reminder", ctx)
    assert "7 days overdue" in rendered.text
