"""`stock`: keep best sellers in stock without tying cash up in slow movers.

Per active SKU: demand from the Orders tab, lead time, safety stock, reorder
point and order-up-to level (:mod:`ops_sheets.domain.inventory`); PO lines appended to
the Purchase orders tab, approved lines emailed, overdue POs reminded
(:mod:`ops_sheets.domain.purchasing`, whose docstring explains PO numbering, the
approval flow and why re-runs are idempotent). This module only moves data
between the sheet, the state and those two.

Written per Stock row (service columns): Daily demand, Days of cover, On order,
Suggested order, Stock status, Why, Checked at, Committed, Available (issue 16:
open order lines allocated by :mod:`ops_sheets.domain.allocation`; kits from the
``Kits`` tab when there is one). With ``[jobs.stock] on_hand = "computed"`` also
On hand, from the last stock take (Counted, Counted at) and the movements since,
with the arithmetic at the start of Why. Appended: Purchase orders lines.
Team cells written: ``PO number`` of APPROVED lines that move to a new PO, and,
once the ledger says an email was delivered, ``Status`` SENT and ``Expected by``
(the delivery date asked for) of its lines.

What the job keeps in the state (``ctx.state``; nothing in a dry run):

* ``stock.stockouts`` / ``<ISO date>`` → sorted SKUs seen with On hand ≤ 0 on
  that day (union of the day's runs). Demand leaves those days out.
* ``stock.po`` / ``<PO number>`` → ``{"supplier", "to", "lines": {SKU: qty},
  "queued_on"}`` for every PO email queued: which lines went out under a number.
* ``stock.reminders`` / ``<PO number>`` → ``{"n", "on"}``: the last reminder
  queued and the day it was queued.
* ``findings`` / ``stock``: this run's findings for ``monitor``'s alert, published
  with :func:`ops_sheets.domain.findings.publish` (replacing the previous run's):
  ``held:<supplier>`` (an order held below the supplier's Min order value; metric
  = the shortfall), ``po-overdue:<PO number>`` (monitor's own finding, plus which
  reminder was emailed), ``orders-blocked`` (reorders the guards refused; metric =
  how many). Backorders are the ``orders`` job's findings (it books pickups).
  Everything else the team must fix is on the Problems tab.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ops_sheets.domain import allocation, findings, inventory, monitoring, purchasing
from ops_sheets.domain.findings import Finding
from ops_sheets.domain.purchasing import Issue, PoNumbers, PoSend, Reminder, Supplier
from ops_sheets.domain.returns import ReturnRules
from ops_sheets.service.deliveries import (
    CLAIMED,
    FAILED_PERMANENT,
    SENDING,
    SENT,
    UNKNOWN,
    Deliveries,
)
from ops_sheets.service.runner import JobContext
from ops_sheets.sheet.tables import Problem

STOCKOUTS = "stock.stockouts"
#: The tabs behind the reorder decision: demand (Orders), on order (Purchase
#: orders), lead times and minimum order values (Suppliers).
FIGURE_TABS = ("stock", "orders", "purchase_orders", "suppliers")
#: The tabs behind purchase order emails and reminders of lines already there.
PO_MAIL_TABS = ("stock", "purchase_orders", "suppliers")
PO_RECORDS = "stock.po"
#: Kits is not a required tab: a shop without one has no kits.
READS = ("kits",)
REMINDERS = "stock.reminders"


def run(ctx: JobContext) -> None:
    settings = ctx.settings.jobs.stock
    policy = inventory.ReorderPolicy.from_settings(settings)
    now = ctx.now.astimezone(ctx.tz)
    today = now.date()
    stock_t = ctx.tables["stock"]
    if not ctx.requires("Stock figures, purchase orders and reminders", "stock"):
        return
    if stock_t.frame.empty:
        ctx.note("Stock tab empty: nothing to decide")
        return
    # what may be computed: a tab that cannot be read is unknown data, never zero rows
    figures = ctx.requires("Stock figures and new purchase order lines", *FIGURE_TABS)
    po_mail = ctx.requires("purchase order emails and reminders", *PO_MAIL_TABS)
    po_t = ctx.tables["purchase_orders"]
    po = po_t.frame
    state = ctx.state
    stock_rows = inventory.usable_stock_rows(stock_t.frame)
    kits = _kits(ctx, stock_rows)
    computed = settings.on_hand == "computed"
    if computed and figures:
        figures = ctx.requires("computed On hand", "returns")
    levels = allocation.stock_levels(
        stock_rows,
        ctx.tables["orders"].frame,
        po,
        ctx.tables["returns"].frame,
        mode=settings.on_hand if figures else "typed",
        resaleable=ReturnRules.from_settings(ctx.settings).is_resaleable,
        kits=kits,
    )
    if computed:
        stock_rows = stock_rows.assign(on_hand=levels.value)

    start, _ = inventory.demand_window(now, policy.lookback_days)
    history = state.items(STOCKOUTS) if state is not None else {}
    stockouts = inventory.stockout_frame(
        {day: skus for day, skus in history.items() if start.isoformat() <= day < today.isoformat()}
    )
    decision = inventory.decide(
        stock_rows,
        ctx.tables["suppliers"].frame,
        po,
        ctx.tables["orders"].frame,
        policy,
        now,
        stockouts=stockouts,
        kits=kits,
    )
    suppliers = purchasing.suppliers_by_name(ctx.tables["suppliers"].frame)
    sku_supplier = _text_map(decision["sku"], decision["supplier"])
    lead_days = dict(zip(decision["sku"], decision["lead_time"], strict=True))
    products = _text_map(decision["sku"], decision["product"])

    po_records: dict[str, Any] = state.items(PO_RECORDS) if state is not None else {}
    ledger_state = _ledger_state(ctx.deliveries)
    numbers = PoNumbers(today, po, ledger_state=ledger_state, recorded=po_records)
    send_plan = purchasing.SendPlan()
    if po_mail:
        send_plan = purchasing.plan_sends(
            po,
            now,
            numbers,
            suppliers,
            ledger_state=ledger_state,
            records={n: r.get("lines", {}) for n, r in po_records.items()},
            lead_days=lead_days,
            sku_supplier=sku_supplier,
            default_lead_days=policy.default_lead_time_days,
        )
    line_plan = purchasing.LinePlan()
    if figures:
        line_plan = purchasing.plan_new_lines(
            decision,
            po,
            suppliers,
            numbers,
            now,
            approval=settings.approval,
            top_up=settings.top_up_to_min_order_value,
            max_order_days=settings.max_order_days,
            currency=ctx.settings.currency,
        )
    if settings.approval == "auto" and line_plan.lines and po_mail:
        auto = purchasing.plan_sends(
            po.iloc[0:0],
            now,
            numbers,
            suppliers,
            ledger_state=ledger_state,
            records={},
            lead_days=lead_days,
            sku_supplier=sku_supplier,
            extra=line_plan.lines,
            default_lead_days=policy.default_lead_time_days,
        )
        send_plan.sends += auto.sends
        send_plan.issues += auto.issues

    # ------------------------------------------------------------ Stock rows
    placed = decision["sku"].isin(line_plan.placed).to_numpy(dtype=bool)
    status = inventory.statuses(decision, placed, policy.review_days)
    skus = pd.Index(decision["sku"])
    available = decision["available"].to_numpy(dtype=float)
    why = inventory.explain(
        decision,
        placed_qty=line_plan.pulled,
        notes=line_plan.notes,
        kit_notes={k: allocation.kit_why(k, kits, skus, available) for k in kits.components},
    )
    if computed:  # the arithmetic of On hand first
        why = [f"{a}; {b}" if a else b for a, b in zip(levels.why, why, strict=True)]
    committed = decision["committed"].to_numpy(dtype=float)
    suggested = np.where(
        placed,
        decision["sku"].map(line_plan.placed).to_numpy(dtype=float, na_value=0.0),
        np.where(decision["needs_order"], decision["order_qty"], 0.0),
    )
    d = decision["daily_demand"].to_numpy(dtype=float)
    cover = decision["days_of_cover"].to_numpy(dtype=float)
    on_order = decision["on_order"].to_numpy(dtype=float)
    for i, sku in enumerate(decision["sku"] if figures else ()):
        ctx.set(
            "stock",
            {"sku": sku},
            {
                "daily_demand": round(float(d[i]), 2),
                "days_of_cover": round(float(cover[i]), 1) if math.isfinite(cover[i]) else None,
                "on_order": _units(on_order[i]),
                "suggested_order": _units(suggested[i]),
                "stock_status": str(status[i]) or None,
                "why": why[i],
                "checked_at": now,
                "committed": _units(committed[i]),
                "available": _units(available[i]),
            },
        )
        if computed and levels.computed[i]:
            # On hand is the service's when computed (DESIGN.md wave 2)
            ctx.set_team_cells("stock", {"sku": sku}, {"on_hand": _units(levels.value[i])})

    # ------------------------------------------------------------ PO lines
    by_po: dict[str, list[purchasing.PoLine]] = {}
    for ln in line_plan.lines:
        ctx.append(
            "purchase_orders",
            {
                "po_number": ln.po_number,
                "supplier": ln.supplier,
                "sku": ln.sku,
                "qty": _units(ln.qty),
                "unit_cost": ln.unit_cost if math.isfinite(ln.unit_cost) else None,
                "created_at": now,
                "expected_by": ln.expected_by,
                "status": ln.status,
            },
            before_send=True,  # in the sheet before any PO email can mention it
        )
        by_po.setdefault(ln.po_number, []).append(ln)
    for number, lines in by_po.items():
        value = sum(ln.qty * np.nan_to_num(ln.unit_cost) for ln in lines)
        ctx.log(
            "PO lines added",
            subject=f"{len(lines)} line{'s' if len(lines) != 1 else ''}, "
            f"{value:,.2f} {ctx.settings.currency}",
            to=lines[0].supplier,
            reference=number,
            result=lines[0].status,
        )
        if settings.approval != "auto":  # (auto: the email's own note follows)
            ctx.note(
                f"{number}: {len(lines)} line(s) for {lines[0].supplier}, "
                "DRAFT: set Status to APPROVED to send"
            )
    for ln in send_plan.renumbered:
        ctx.set_team_cells(
            "purchase_orders",
            {"po_number": ln.old_po_number, "sku": ln.sku},
            {"po_number": ln.po_number},
        )
        ctx.log("PO line moved", subject=ln.sku, to=ln.supplier, reference=ln.po_number,
                result=f"from {ln.old_po_number}, which was already emailed")  # fmt: skip
    for number, sku in send_plan.mark_sent:
        ctx.set_team_cells("purchase_orders", {"po_number": number, "sku": sku}, {"status": "SENT"})

    # ------------------------------------------------------------ emails
    for send in send_plan.sends:
        _send_po(ctx, send, suppliers[send.supplier], products, today)
    reminders = (
        purchasing.plan_reminders(
            po,
            now,
            settings.reminder_every_days,
            _reminders_made(state, ctx.deliveries),
            sku_supplier,
        )
        if po_mail
        else []
    )
    for rem in reminders:
        # a re-run the same day queues the day's reminder again unless the ledger
        # already has it delivered (the ledger would send it once anyway)
        if rem.due and not ctx.deliveries.delivered(rem.key):
            _send_reminder(ctx, rem, suppliers.get(rem.supplier), products, today)

    # ------------------------------------------------------------ problems, state, summary
    for issue in [*line_plan.issues, *send_plan.issues]:
        ctx.problem(_problem(ctx, issue))
    for note in send_plan.notes:
        ctx.note(note)
    if state is not None:
        _snapshot_stockouts(state, decision, today)
        found = _findings(ctx, decision if figures else decision.iloc[0:0], line_plan, reminders)
        # findings of tabs that could not be read stay as published before
        findings.publish(state, "stock", found, now, unavailable=ctx.unavailable())
    if figures:
        _summarise(ctx, decision, status, line_plan, send_plan, reminders)


# ---------------------------------------------------------------- helpers


def _kits(ctx: JobContext, stock_rows: pd.DataFrame) -> allocation.Kits:
    """The usable kits of the Kits tab (none without one); its problems are reported by
    the cross-tab checks (``validation.kit_checks``) of every job that reads it."""
    table = ctx.tables.get("kits")
    if table is None or not table.exists or not table.available:
        return allocation.Kits()
    return allocation.read_kits(table.frame, pd.Index(stock_rows["sku"].astype(str)), table.title)


def _units(x: float) -> float | int:
    """Whole numbers of units as integers, so the sheet shows 48, not 48.0."""
    x = float(x)
    return int(x) if math.isfinite(x) and x.is_integer() else x


def _text_map(keys: pd.Series, values: pd.Series) -> dict[str, str]:
    return {str(k): v for k, v in zip(keys, values, strict=True) if isinstance(v, str) and v}


def _origin(ctx: JobContext, supplier: Supplier) -> Any:
    from ops_sheets.mail.message import Origin

    table = ctx.tables["suppliers"]
    return Origin(table.title, supplier.row, table.header("email"), supplier.name)


def _ledger_state(deliveries: Deliveries) -> Callable[[str], str | None]:
    """PO number → what became of its email (see ops_sheets.domain.purchasing)."""
    names = {
        SENT: "sent",
        UNKNOWN: "review",
        FAILED_PERMANENT: "review",
        CLAIMED: "busy",
        SENDING: "busy",
    }

    def state(number: str) -> str | None:
        known = deliveries.state(purchasing.email_key(number))
        return None if known is None else names.get(known, "unsent")

    return state


def _reminders_made(state: Any, deliveries: Deliveries) -> dict[str, Any]:
    """The state's reminder records, less those that never reached the ledger (the
    message was rejected, e.g. a bad address): that reminder is still owed."""
    if state is None:
        return {}
    records = state.items(REMINDERS)
    if not deliveries.known:
        return records
    out: dict[str, Any] = {}
    for number, rec in records.items():
        n = int(rec.get("n", 0))
        if deliveries.recorded(f"po-reminder:{number}:{n}"):
            out[number] = rec
        elif n > 1:  # owed: plan_reminders makes it due again under the same number
            out[number] = {"n": n - 1, "on": "1970-01-01"}
    return out


def _send_po(
    ctx: JobContext, send: PoSend, supplier: Supplier, products: dict[str, str], today: date
) -> None:
    from ops_sheets.mail.message import csv_attachment
    from ops_sheets.mail.postman import OutgoingEmail

    settings = ctx.settings
    context = purchasing.purchase_order_context(
        send,
        supplier,
        products,
        order_date=today,
        shop_name=settings.shop_name,
        currency=settings.currency,
        delivery_address=settings.jobs.stock.delivery_address,
    )
    csv_rows = purchasing.purchase_order_csv_rows(context)
    ctx.send(
        OutgoingEmail(
            kind="purchase_order",
            key=send.key,
            to=supplier.email,
            context=context,
            origin=_origin(ctx, supplier),
            attachments=[csv_attachment(context["attachment_name"], csv_rows)],
            reference=send.po_number,
        )
    )
    # Found by PO number, SKU *and the Qty the email carried*: a line whose Qty a
    # person changed while the email went out is not marked SENT (the next run
    # reports the difference instead).
    ctx.locate_by("purchase_orders", ("po_number", "sku", "qty"))
    for ln in send.lines:
        ctx.set_team_cell_after_send(
            send.key,
            "purchase_orders",
            {"po_number": send.po_number, "sku": ln.sku, "qty": _units(ln.qty)},
            {"status": "SENT", "expected_by": ln.expected_by},
        )
    if ctx.state is not None:
        ctx.state.put(
            PO_RECORDS,
            send.po_number,
            {
                "supplier": send.supplier,
                "to": supplier.email,
                "lines": {ln.sku: ln.qty for ln in send.lines},
                "queued_on": today.isoformat(),
            },
        )
    ctx.note(f"{send.po_number}: emailing {len(send.lines)} approved line(s) to {supplier.name}")
    ctx.counts["pos_emailed"] = ctx.counts.get("pos_emailed", 0) + 1


def _send_reminder(
    ctx: JobContext,
    rem: Reminder,
    supplier: Supplier | None,
    products: dict[str, str],
    today: date,
) -> None:
    from ops_sheets.mail.postman import OutgoingEmail

    if supplier is None or not supplier.email:
        ln = rem.lines[0]
        ctx.problem(
            _problem(
                ctx,
                Issue("purchase_orders", ln.row, "supplier", f"{rem.po_number} / {ln.sku}",
                      rem.supplier, f"{rem.po_number} is overdue but its supplier has no Email "
                      "on the Suppliers tab; no reminder sent",
                      "add the supplier and its Email to the Suppliers tab"),
            )
        )  # fmt: skip
        return
    context = purchasing.reminder_context(
        rem, supplier, products, shop_name=ctx.settings.shop_name, currency=ctx.settings.currency
    )
    ctx.send(
        OutgoingEmail(
            kind="po_reminder",
            key=rem.key,
            to=supplier.email,
            context=context,
            origin=_origin(ctx, supplier),
            reference=rem.po_number,
        )
    )
    if ctx.state is not None:
        ctx.state.put(REMINDERS, rem.po_number, {"n": rem.number, "on": today.isoformat()})
    ctx.counts["reminders"] = ctx.counts.get("reminders", 0) + 1


def _problem(ctx: JobContext, issue: Issue) -> Problem:
    table = ctx.tables[issue.tab]
    return Problem(
        table.title, issue.row, table.header(issue.column), issue.key, issue.value,
        issue.problem, issue.fix,
    )  # fmt: skip


def _snapshot_stockouts(state: Any, decision: pd.DataFrame, today: date) -> None:
    """Remember which SKUs are out of stock today, so demand can leave the day out."""
    on_hand = decision["on_hand"].to_numpy(dtype=float)
    out = decision["sku"][decision["active"].to_numpy(dtype=bool) & (on_hand <= 0)]
    key = today.isoformat()
    seen = set(state.get(STOCKOUTS, key, []) or [])
    state.put(STOCKOUTS, key, sorted(seen | {str(s) for s in out}))


def _findings(
    ctx: JobContext,
    decision: pd.DataFrame,
    lines: purchasing.LinePlan,
    reminders: list[Reminder],
) -> list[Finding]:
    """What the manager must hear about, for ``monitor``'s alert (ops_sheets.domain.findings)."""
    currency = ctx.settings.currency
    out: list[Finding] = []
    for h in lines.holds:
        out.append(
            Finding(
                f"held:{h.supplier}", "stock", "warning",
                f"Order for {h.supplier} held: below its minimum order value",
                f"{_plural(len(h.skus), 'SKU')} need ordering ({', '.join(h.skus[:5])}"
                f"{'…' if len(h.skus) > 5 else ''}); the order is {_money(h.value, currency)}, "
                f"{_money(h.short, currency)} short of the minimum {_money(h.minimum, currency)}.",
                "Add to the order to reach the minimum, ask the supplier to waive it, or set "
                "[jobs.stock] top_up_to_min_order_value = true.",
                round(h.short, 2), FIGURE_TABS,
            )
        )  # fmt: skip
    # monitor finds overdue POs too; ours replace its own because they know the reminder
    for finding, r in zip(
        monitoring.overdue_po_findings(reminders, currency), reminders, strict=True
    ):
        told = f" Reminder {r.number} emailed to the supplier." if r.due else ""
        out.append(
            dataclasses.replace(
                finding, source="stock", detail=finding.detail + told, tabs=PO_MAIL_TABS
            )
        )
    blocked = decision[(decision["blocked"] != "") & decision["needs_order"]]
    if len(blocked):
        examples = "; ".join(
            f"{s}: {r}" for s, r in zip(blocked["sku"][:3], blocked["blocked"][:3], strict=True)
        )
        out.append(
            Finding(
                "orders-blocked", "stock", "warning",
                f"{_plural(len(blocked), 'reorder')} not placed by the safety guards",
                examples + ("; …" if len(blocked) > 3 else ""),
                "Check the demand behind them; type a Max stock on the SKU to order anyway.",
                float(len(blocked)), FIGURE_TABS,
            )
        )  # fmt: skip
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _money(x: float, currency: str) -> str:
    return f"{x:,.2f} {currency}".strip()


def _summarise(
    ctx: JobContext,
    decision: pd.DataFrame,
    status: np.ndarray,
    lines: purchasing.LinePlan,
    sends: purchasing.SendPlan,
    reminders: list[Reminder],
) -> None:
    counts = Counter(s for s in status if s)
    order = ["REORDER", "OUT OF STOCK", "ON ORDER", "LOW", "OK", "INACTIVE"]
    ctx.note(f"{len(decision)} SKUs: " + ", ".join(f"{counts[k]} {k}" for k in order if counts[k]))
    for h in lines.holds:
        ctx.note(
            f"held for {h.supplier}: order {h.value:,.2f} is {h.short:,.2f} below its "
            f"minimum {h.minimum:,.2f} ({len(h.skus)} SKU(s))"
        )
    blocked = int(((decision["blocked"] != "") & decision["needs_order"]).sum())
    if blocked:
        ctx.note(f"{blocked} order(s) blocked by the guards (see Why and the Problems tab)")
    for r in reminders:
        what = f"reminder {r.number} to the supplier today" if r.due else "reminded already"
        ctx.note(f"{r.po_number} overdue by {r.days_overdue} day(s): {what}")
    ctx.counts.update(
        skus=len(decision),
        reorder=counts["REORDER"],
        out_of_stock=counts["OUT OF STOCK"],
        low=counts["LOW"],
        po_lines_added=len(lines.lines),
        overdue_pos=len(reminders),
        held=len(lines.holds),
        blocked=blocked,
    )
