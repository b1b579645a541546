"""`customers`: shipping confirmations, delay notices and review requests to customers.

Thin on purpose: the rules live in :mod:`ops_sheets.domain.customers`. This module
gives them the Orders lines with the ship-by dates and the allocation the orders
job uses (so a BACKORDER here is a BACKORDER there), sends what they plan through
the ledger (at most once per key; a bad address is a Problems row and nothing is
sent) and remembers the date each delay notice promised (``customers.promised``),
so a second notice goes only when that date slips.

What each output needs: every email needs the Orders tab; delay notices need the
Stock and Purchase orders tabs too (a backorder and its PO date); review
requests need the Returns tab (and the Complaints tab when the shop has one).
An output whose tabs cannot be read is not made, and the run says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ops_sheets.domain import allocation as al
from ops_sheets.domain import fulfilment as ff
from ops_sheets.domain.customers import (
    PROMISED_NAMESPACE,
    CustomerRules,
    CustomersPlan,
    plan_customers,
    summary_counts,
)
from ops_sheets.domain.returns import ReturnRules
from ops_sheets.errors import JobError
from ops_sheets.mail.message import Origin
from ops_sheets.mail.postman import OutgoingEmail
from ops_sheets.service.runner import JobContext

#: not required tabs: read on request (a shop without them has no kits or complaints)
READS = ("kits", "complaints")


def run(ctx: JobContext) -> None:
    s = ctx.settings.jobs.customers
    rules = CustomerRules(
        shipping_confirmation=s.shipping_confirmation,
        order_delayed=s.order_delayed,
        review_request_days=s.review_request_days,
        recent_days=s.recent_days,
        shop_name=ctx.settings.shop_name,
        review_url=s.review_url,
    )
    if not ctx.requires("customer emails", "orders"):
        return
    orders = ctx.tables["orders"]
    frame = orders.frame.reset_index(drop=True)
    try:
        order_rules = ff.rules_from_settings(
            ctx.settings, ff.years_needed(frame["order_date"], ctx.now)
        )
    except ValueError as exc:
        raise JobError(f"[jobs.orders] {exc}") from None
    ship_by = (
        ff.ship_by_dates(frame["order_date"], order_rules)
        if len(frame)
        else np.array([], dtype="datetime64[D]")
    )
    allocation = None
    if rules.order_delayed:
        if ctx.requires("delay notices", "stock", "purchase_orders"):
            allocation = _allocate(ctx, frame)
        else:
            rules = CustomerRules(**{**rules.__dict__, "order_delayed": False})
    returns, complaints = _review_tabs(ctx, rules)
    fwd = ctx.tables.get("forwarders")
    forwarders = fwd.frame if fwd is not None and fwd.available else pd.DataFrame()
    stock = ctx.tables["stock"].frame if ctx.tables["stock"].available else pd.DataFrame()
    products = (
        {
            str(k): str(v)
            for k, v in zip(stock["sku"], stock["product"], strict=True)
            if isinstance(v, str) and v
        }
        if "product" in stock.columns
        else {}
    )
    promised = ctx.state.items(PROMISED_NAMESPACE) if ctx.state is not None else {}
    plan = plan_customers(
        frame,
        ship_by=ship_by,
        allocation=allocation,
        forwarders=forwarders,
        products=products,
        returns=returns,
        complaints=complaints,
        promised=promised,
        rules=rules,
        order_rules=order_rules,
        now=ctx.now,
    )
    queued = _send(ctx, plan)
    _remember(ctx, plan, queued)
    _summarise(ctx, plan, queued)


def _allocate(ctx: JobContext, frame: pd.DataFrame) -> al.Allocation:
    """The orders job's allocation: open lines take stock in order-date order."""
    stock = ctx.tables["stock"].frame
    stock = stock[stock["sku"].notna() & stock["_key_ok"].astype(bool)]
    skus = pd.Index(stock["sku"].astype(str))
    kits = al.Kits()
    kit_table = ctx.tables.get("kits")
    if kit_table is not None and kit_table.exists and kit_table.available:
        kits = al.read_kits(kit_table.frame, skus, kit_table.title)
    returns = ctx.tables.get("returns")
    mode = ctx.settings.jobs.stock.on_hand
    if mode == "computed" and (returns is None or not returns.available):
        mode = "typed"
    po = ctx.tables["purchase_orders"].frame
    levels = al.stock_levels(
        stock,
        frame,
        po,
        returns.frame if returns is not None and returns.available else pd.DataFrame(),
        mode=mode,
        resaleable=ReturnRules.from_settings(ctx.settings).is_resaleable,
        kits=kits,
    )
    return al.allocate(frame, skus, levels.value, po, kits)


def _review_tabs(
    ctx: JobContext, rules: CustomerRules
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The Returns and Complaints frames review requests check (None: unreadable)."""
    if rules.review_request_days <= 0:
        return pd.DataFrame(), pd.DataFrame()
    returns = ctx.tables.get("returns")
    r = returns.frame if returns is not None and returns.available else None
    complaints = ctx.tables.get("complaints")
    if complaints is None or not complaints.exists:
        c: pd.DataFrame | None = pd.DataFrame()  # a shop without a Complaints tab
    else:
        c = complaints.all_rows if complaints.available else None
    if r is None or c is None:
        ctx.requires("review requests", "returns", *(["complaints"] if c is None else []))
    return r, c


def _send(ctx: JobContext, plan: CustomersPlan) -> list[str]:
    """Queue each planned email not delivered before; the keys queued."""
    orders = ctx.tables["orders"]
    queued: list[str] = []
    for e in plan.emails:
        if ctx.deliveries.delivered(e.key):
            continue
        ctx.send(
            OutgoingEmail(
                kind=e.kind,
                key=e.key,
                to=e.to,
                context=e.context,
                origin=Origin(orders.title, e.row, orders.header("email"), e.order_id),
                reference=e.reference,
            )
        )
        queued.append(e.key)
    return queued


def _remember(ctx: JobContext, plan: CustomersPlan, queued: list[str]) -> None:
    """The date each queued delay notice promised (a dry run remembers nothing)."""
    if ctx.state is None or ctx.dry_run:
        return
    sent = set(queued) | {e.key for e in plan.emails if ctx.deliveries.delivered(e.key)}
    for e in plan.emails:
        if e.kind == "order_delayed" and e.key in sent and e.order_id in plan.promised:
            ctx.state.put(PROMISED_NAMESPACE, e.order_id, plan.promised[e.order_id])


def _summarise(ctx: JobContext, plan: CustomersPlan, queued: list[str]) -> None:
    by_kind = summary_counts([e for e in plan.emails if e.key in set(queued)])
    words = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(by_kind.items()))
    ctx.note(f"customer emails queued: {words or 'none'}")
    if plan.opted_out:
        ctx.note("Notify = no, nothing sent about: " + ", ".join(plan.opted_out))
    if plan.no_tracking:
        ctx.note(
            "shipped without a tracking number, no confirmation: " + ", ".join(plan.no_tracking)
        )
    for order, why in plan.reviews_skipped:
        ctx.note(f"no review request for {order}: {why}")
    ctx.counts.update({f"emails_{k}": n for k, n in by_kind.items()})
    ctx.counts["customer_emails"] = len(queued)
    ctx.counts["opted_out_orders"] = len(plan.opted_out)
