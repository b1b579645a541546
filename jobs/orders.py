"""`orders`: ship-by deadlines, Ops status per line, pickup requests, findings.

Thin on purpose: the rules live in :mod:`ops_sheets.domain.fulfilment` and
:mod:`ops_sheets.domain.allocation` (BACKORDER, PART SHIPPED) (pure). This
module reads what earlier runs booked from the state and the ledger, writes the
service columns of the Orders tab (only cells whose value changes), queues one
pickup request per forwarder and pickup day, and leaves what the manager must
see to the ``monitor`` job through the state.

State (``ctx.state``), owned by this job:

``orders.pickups`` — one entry per pickup request, key = its reference
(``PU-20261123-SWIF``, ``-2``, ``-3``… for more that day)::

    {"reference", "email_key": "pickup:<reference>", "forwarder", "pickup_date": "YYYY-MM-DD",
     "sequence", "additional", "recipients": [email], "planned_at": ISO,
     "lines": [[order_id, sku], ...], "parcels", "units", "closed": false}

The entry is written when the request is queued; whether it counts as a
booking is decided on every run by the ledger's state of ``email_key`` (see
``fulfilment.delivery_from_ledger``): sent = booked; planned, retrying or being
sent = held; unknown outcome or refused = held and reported until a person
reviews it; absent from the ledger (rejected before sending, or the run died
before sending) = void, and its lines are booked again in a new request.
Sequence numbers come from the state's atomic sequence
``orders.pickups:<forwarder>:<date>``, so no key is ever used twice. A
refused request whose forwarder's Email has since been corrected is superseded
and its lines are booked again under a new key.
Requests whose pickup day is more than two weeks past and whose lines are no
longer waiting are closed (``"closed": true``, lines dropped) to keep this small.

``findings`` / ``orders`` — this run's findings for ``monitor``'s alert,
published with :func:`ops_sheets.domain.findings.publish` (replacing the previous
run's): ``pickup-overdue:<reference>``, ``pickup-pending:<reference>``,
``pickup-blocked:<forwarder>`` (see ``fulfilment.pickup_findings``), and
``backorder:<SKU>`` (issue 16: open lines stock cannot cover, in Order date
order; metric = units short), and ``double-order:<id> + <id>`` (issue 22: the
same email, SKUs and quantities within two hours, neither shipped; never a hold).

Packing day (issue 22, rules in :mod:`ops_sheets.domain.packing`): open lines of
an unpaid order or one whose address fails its country's rules are ``HOLD:
UNPAID`` / ``HOLD: ADDRESS`` (never booked; READY on one is a Problems row); the
``Pick list`` tab is rewritten for the lines due by the next pickup; with
``[jobs.orders] packing_slips_dir`` one PDF per order on it is written
(:mod:`ops_sheets.service.slips`), only when it changed, never on a dry run. Late lines,
parcels stuck in transit and requests awaiting review are found by ``monitor``
itself, with the same rules (``fulfilment.assess``) and the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ops_sheets.domain import allocation as al
from ops_sheets.domain import findings as published
from ops_sheets.domain import fulfilment as ff
from ops_sheets.domain import packing as pk
from ops_sheets.domain.calendar import local_days_and_seconds
from ops_sheets.domain.findings import Finding
from ops_sheets.domain.returns import ReturnRules
from ops_sheets.errors import ConfigError
from ops_sheets.service.runner import JobContext
from ops_sheets.sheet.tables import Problem, Table
from ops_sheets.sheet.workbook.base import Replace

NS_PICKUPS = "orders.pickups"
#: The tabs behind pickup requests (and the findings about them): no pickup for a
#: line on backorder, which only the Stock tab can tell.
PICKUP_TABS = ("orders", "forwarders", "stock")
#: The tabs behind the Orders service columns: Ops status names forwarders'
#: pickups and when a backorder's PO is expected, and Problems cells name SKUs
#: missing from the Stock tab.
ROW_TABS = ("orders", "forwarders", "stock", "purchase_orders")
#: A request's entry is compacted this long after its pickup day (lines no longer waiting).
KEEP_REQUESTS = timedelta(days=14)
#: Kits is not a required tab: a shop without one has no kits.
READS = ("kits",)
#: The tabs behind the backorder findings (the expected date is a PO's).
ALLOCATION_TABS = ("orders", "stock", "purchase_orders")


def run(ctx: JobContext) -> None:
    orders = ctx.tables["orders"]
    if not ctx.requires("Ship by, Ops status, Problems and pickup requests", "orders"):
        return
    # a tab that cannot be read is unknown data: what depends on it is left as it was
    pickups_ok = ctx.requires("pickup requests and their findings", *PICKUP_TABS)
    rows_ok = pickups_ok and ctx.requires("Ship by, Ops status and Problems", *ROW_TABS)
    frame = orders.frame.reset_index(drop=True)
    settings = ctx.settings
    try:
        rules = ff.rules_from_settings(
            settings,
            ff.years_needed(frame["order_date"], ctx.now),
            team_delivery="delivered_at" in orders.headers,
        )
    except ValueError as exc:
        raise ConfigError(f"{settings.source}: [jobs.orders] {exc}") from None
    persist = ctx.state is not None and not ctx.dry_run
    po_ok = not ctx.unavailable("purchase_orders")
    # allocation needs Orders and Stock; without Purchase orders only its dates are unknown
    alloc = _allocate(ctx, frame, po_ok) if not ctx.unavailable("orders", "stock") else None
    backorders = _backorder_findings(frame, alloc) if alloc is not None and po_ok else []
    # packing day (issue 22): probable double orders need the Orders tab alone
    backorders += pk.double_orders(frame)
    if not pickups_ok:
        if persist:  # the findings published before stay: they could not be judged
            published.publish(
                ctx.state, "orders", backorders, ctx.now, unavailable=ctx.unavailable()
            )
        return

    fwd_table = ctx.tables.get("forwarders")
    forwarders: dict[str, ff.Forwarder] = {}
    if fwd_table is not None:
        forwarders, problems = ff.read_forwarders(fwd_table, default_days=rules.calendar.weekmask)
        for p in problems:
            ctx.problem(p)

    records = _load_requests(ctx)
    if ctx.state is None:
        ctx.note(
            "no state available (dry run?): pickup requests of earlier runs are unknown, "
            "so parcels already booked may be listed again"
        )
    bookings = ff.settle_bookings([_booking(ctx, r) for r in records], forwarders)
    idx = ff.booking_index(frame, bookings)
    assessment = ff.assess(frame, rules, ctx.now, forwarders, bookings, booking_idx=idx)
    hold = _holds(orders, frame, assessment)
    plan = ff.plan_pickups(
        frame, rules, ctx.now, forwarders, bookings, booking_idx=idx,
        backorder=None if alloc is None else alloc.backorder, on_hold=hold.held,
    )  # fmt: skip

    line_notes = _forwarder_problems(ctx, fwd_table, forwarders, plan, frame)
    if alloc is not None:
        assessment.ops_status = al.line_statuses(
            assessment.ops_status, assessment.open_, al.part_shipped_texts(frame), alloc
        )
        _ready_on_backorder(ctx, orders, frame, alloc, line_notes)
    assessment.ops_status = pk.with_holds(assessment.ops_status, hold)
    _ready_on_hold(ctx, orders, frame, hold, line_notes)
    _order_holds(ctx, orders, frame, hold)
    if alloc is not None:
        _packing(ctx, frame, assessment, hold, alloc, forwarders, rules)
    if rows_ok:
        _write_service_columns(ctx, orders, frame, assessment, line_notes)
    _queue_requests(ctx, fwd_table, frame, assessment, plan, persist)

    outlook = ff.with_plan(assessment, plan)
    if persist:
        _compact(ctx, records, bookings, frame, assessment, rules)
        found = ff.pickup_findings(frame, assessment, bookings, plan, forwarders, ctx.now, rules)
        found = published.computed_from(found, PICKUP_TABS) + backorders
        published.publish(
            ctx.state,
            "orders",
            found,
            ctx.now,
            unavailable=ctx.unavailable(),
        )
    _summarise(ctx, outlook, bookings, plan)


# ---------------------------------------------------------------- earlier requests


def _load_requests(ctx: JobContext) -> list[dict[str, Any]]:
    if ctx.state is None:
        return []
    items = [v for v in ctx.state.items(NS_PICKUPS).values() if not v.get("closed")]
    # Later requests win when a line appears in two (a superseded one and its rebooking).
    return sorted(items, key=lambda v: (v.get("planned_at", ""), v.get("sequence", 0)))


def _booking(ctx: JobContext, rec: dict[str, Any]) -> ff.Booking:
    key = rec["email_key"]
    row = ctx.deliveries.row(key)
    if not ctx.deliveries.known:
        # Without the ledger nobody can say whether it went out: hold the parcels.
        delivery = ff.PENDING
    else:
        delivery = ff.delivery_from_ledger(row.state if row is not None else None)
    return ff.Booking(
        reference=rec["reference"],
        email_key=key,
        forwarder=rec["forwarder"],
        pickup_date=date.fromisoformat(rec["pickup_date"]),
        sequence=int(rec["sequence"]),
        lines=tuple((str(o), str(s)) for o, s in rec.get("lines", [])),
        delivery=delivery,
        recipients=tuple(row.recipients) if row is not None else tuple(rec.get("recipients", [])),
        detail=row.last_error if row is not None else "",
    )


def _compact(
    ctx: JobContext,
    records: list[dict[str, Any]],
    bookings: list[ff.Booking],
    frame: pd.DataFrame,
    a: ff.Assessment,
    rules: ff.Rules,
) -> None:
    """Close old requests whose lines no longer wait (shipped, cancelled or gone)."""
    today = ctx.now.astimezone(rules.tz).date()
    waiting = {i for i in np.unique(a.booking[a.open_]) if i >= 0}
    for i, (rec, b) in enumerate(zip(records, bookings, strict=True)):
        old = b.pickup_date < today - KEEP_REQUESTS
        if (old and i not in waiting) or (b.delivery == ff.VOID and b.pickup_date < today):
            ctx.state.put(NS_PICKUPS, rec["reference"], {**rec, "lines": [], "closed": True})


# ---------------------------------------------------------------- problems


def _forwarder_problems(
    ctx: JobContext,
    fwd_table: Table | None,
    forwarders: dict[str, ff.Forwarder],
    plan: ff.PickupPlan,
    frame: pd.DataFrame,
) -> dict[int, list[str]]:
    """Problems of forwarders that block READY lines; returns notes per line (frame index)."""
    notes: dict[int, list[str]] = defaultdict(list)
    if fwd_table is None:
        return notes
    for name, count in plan.blocked.items():
        fwd = forwarders[name]
        if fwd.weekmask is None:
            why = f"Pickup days of {name} cannot be read (see the {fwd_table.title} tab)"
        elif "email" not in fwd_table.headers:
            # the column itself is missing (or its header lost to merged cells):
            # the tab's own Problems row says so once, not once per forwarder
            why = f"the {fwd_table.title} tab has no Email column"
        else:
            why = f"{name} has no Email on the {fwd_table.title} tab"
            ctx.problem(
                Problem(
                    fwd_table.title, fwd.row, fwd_table.header("email"), name, "",
                    f"Email is blank: {count} READY order line(s) cannot be booked for pickup",
                    "fill in the address that takes pickup requests",
                )
            )  # fmt: skip
        mask = (frame["status"] == "READY") & (frame["forwarder"] == name)
        for i in np.flatnonzero(mask.to_numpy()):
            notes[int(i)].append(f"not booked for pickup: {why}")
    for req in plan.requests:
        if not req.forwarder.account:
            ctx.problem(
                Problem(
                    fwd_table.title, req.forwarder.row, fwd_table.header("account"),
                    req.forwarder.name, "",
                    "Account is blank: pickup requests cannot quote the shop's account",
                    "fill in the shop's account number with this forwarder",
                )
            )  # fmt: skip
    return notes


def _row_problems(ctx: JobContext, orders: Table) -> dict[int, list[str]]:
    """Every problem found on an Orders row (cells, cross-tab checks), by sheet row."""
    found: dict[int, list[str]] = defaultdict(list)
    checks = [p for p in ctx.checks() if p.tab == orders.title]
    for p in [*orders.problems, *checks]:
        if p.row is None or p.row < 2:
            continue
        text = p.problem
        if p.column and not text.casefold().startswith(p.column.casefold()):
            text = f"{p.column}: {text}"
        if text not in found[p.row]:
            found[p.row].append(text)
    return found


# ---------------------------------------------------------------- sheet writes


def _allocate(ctx: JobContext, frame: pd.DataFrame, po_ok: bool) -> al.Allocation:
    """Open lines allocated to stock (On hand as ``[jobs.stock] on_hand`` has it);
    ``po_ok`` False: the Purchase orders tab could not be read (no expected dates)."""
    stock = ctx.tables["stock"].frame
    stock = stock[stock["sku"].notna() & stock["_key_ok"].astype(bool)]
    skus = pd.Index(stock["sku"].astype(str))
    kits = al.Kits()
    kit_table = ctx.tables.get("kits")
    if kit_table is not None and kit_table.exists and kit_table.available:
        kits = al.read_kits(kit_table.frame, skus, kit_table.title)  # validation reports problems
    returns = ctx.tables.get("returns")
    mode = ctx.settings.jobs.stock.on_hand
    if mode == "computed" and not ctx.requires("computed On hand", "returns"):
        mode = "typed"
    levels = al.stock_levels(
        stock,
        frame,
        ctx.tables["purchase_orders"].frame if po_ok else pd.DataFrame(),
        returns.frame if returns is not None else pd.DataFrame(),
        mode=mode,
        resaleable=ReturnRules.from_settings(ctx.settings).is_resaleable,
        kits=kits,
    )
    po = ctx.tables["purchase_orders"].frame if po_ok else pd.DataFrame()
    alloc = al.allocate(frame, skus, levels.value, po, kits)
    ctx.counts["backorder_lines"] = int(alloc.backorder.sum())
    if alloc.backorder.any():
        ctx.note(
            f"{int(alloc.backorder.sum())} line(s) on BACKORDER, "
            f"{al.fmt(float(alloc.short[alloc.backorder].sum()))} unit(s) short"
        )
    return alloc


def _ready_on_backorder(
    ctx: JobContext,
    orders: Table,
    frame: pd.DataFrame,
    alloc: al.Allocation,
    line_notes: dict[int, list[str]],
) -> None:
    """READY on a line stock cannot cover is a Problems row: no pickup is booked."""
    ready = (frame["status"].to_numpy(dtype=object) == "READY") & alloc.backorder
    for i in np.flatnonzero(ready):
        text = f"READY but {alloc.backorder_text(i)}: no pickup booked"
        line_notes.setdefault(i, []).append(text)
        ctx.problem(
            Problem(
                orders.title, int(frame["_row"].iloc[i]), orders.header("status"),
                f"{frame['order_id'].iloc[i]} / {frame['sku'].iloc[i]}", "READY", text,
                "wait for the stock, or ship what there is and type it in Qty shipped",
            )
        )  # fmt: skip


def _holds(orders: Table, frame: pd.DataFrame, a: ff.Assessment) -> pk.Holds:
    """HOLD: UNPAID and HOLD: ADDRESS per line (``domain.packing``)."""
    payment_header = orders.headers.get("payment")
    unreadable = np.zeros(len(frame), dtype=bool)
    if payment_header:
        bad_rows = {p.row for p in orders.problems if p.column == payment_header}
        if bad_rows:
            unreadable = frame["_row"].isin(bad_rows).to_numpy()
    return pk.holds(
        frame, a.open_, unreadable_payment=unreadable, state_column="state" in orders.headers
    )


def _ready_on_hold(
    ctx: JobContext,
    orders: Table,
    frame: pd.DataFrame,
    hold: pk.Holds,
    line_notes: dict[int, list[str]],
) -> None:
    """The hold's reason in the line's Problems cell; READY on a held line is a
    Problems row (no pickup is booked for it)."""
    status = frame["status"].to_numpy(dtype=object)
    for i in np.flatnonzero(hold.held):
        line_notes.setdefault(int(i), []).extend(hold.why.get(int(i), []))
        if status[i] != "READY":
            continue
        words = hold.words(int(i))
        fix = (
            "wait for the payment (set Payment to PAID once it has come in), or cancel"
            if hold.unpaid[i]
            else "correct the delivery address (see the other Problems of this row)"
        )
        ctx.problem(
            Problem(
                orders.title, int(frame["_row"].iloc[i]), orders.header("status"),
                f"{frame['order_id'].iloc[i]} / {frame['sku'].iloc[i]}", "READY",
                f"READY but on {words}: no pickup booked", fix,
            )
        )  # fmt: skip


def _order_holds(ctx: JobContext, orders: Table, frame: pd.DataFrame, hold: pk.Holds) -> None:
    """One Problems row per held order, at the cell to fix (its Payment, its
    Postcode...): the tab keeps it until an orders run finds the order no longer held."""
    rows = frame["_row"].to_numpy()
    for h in pk.order_holds(frame, hold):
        ctx.problem(
            Problem(
                orders.title, int(rows[h.position]), orders.header(h.column),
                str(h.order_id), h.value, h.problem, h.fix,
                todo=False,  # Today asks to chase the payment / correct the address
            )
        )  # fmt: skip


def _packing(
    ctx: JobContext,
    frame: pd.DataFrame,
    a: ff.Assessment,
    hold: pk.Holds,
    alloc: al.Allocation,
    forwarders: dict[str, ff.Forwarder],
    rules: ff.Rules,
) -> None:
    """The Pick list tab and the packing slips, for the lines due by the next pickup."""
    now_local = ctx.now.astimezone(rules.tz)
    next_pickup = {
        name: f.pickup_date(now_local, rules.calendar)
        for name, f in forwarders.items()
        if f.weekmask is not None
    }
    due = pk.due_for_pickup(
        frame, a.ship_by, a.open_, hold.held | alloc.backorder, next_pickup, now_local.date()
    )
    stock = ctx.tables["stock"].frame
    stock = stock[stock["sku"].notna() & stock["_key_ok"].astype(bool)]
    rows = pk.pick_list(frame, due, a.ship_by, stock)
    spec, title, headers = ctx._spec("pick_list")
    names = {c.header: headers[c.key] for c in spec.columns}
    ctx.changes.replaces.append(Replace(title, [{names[k]: v for k, v in r.items()} for r in rows]))
    ctx.counts["pick_list_rows"] = len(rows)
    orders_due = len({str(o) for o in frame["order_id"].to_numpy(dtype=object)[due]})
    ctx.note(f"pick list: {len(rows)} SKU(s) for {orders_due} order(s) due by the next pickup")
    folder = ctx.settings.jobs.orders.packing_slips_dir
    if not folder:
        return
    made = pk.slips(
        frame, due, a.open_, hold.held, alloc.backorder, a.ship_by, stock,
        shop_name=ctx.settings.shop_name, tz=rules.tz,
    )  # fmt: skip
    from ops_sheets.service.slips import unprintable, write_slips

    _unprintable_slips(ctx, frame, made, unprintable)
    if ctx.dry_run:
        ctx.note(f"packing slips: {len(made)} order(s) due; none written (dry run)")
        return

    packable = pk.packable_orders(frame, a.open_, hold.held)
    report = write_slips(ctx.settings.resolve(folder), made, ctx.now, packable=packable)
    ctx.counts["slips_written"] = len(report.written)
    gone = f", {len(report.removed)} removed (order no longer to pack)" if report.removed else ""
    ctx.note(
        f"packing slips in {folder}: {len(report.written)} written, "
        f"{len(report.unchanged)} unchanged{gone}"
    )


def _unprintable_slips(
    ctx: JobContext,
    frame: pd.DataFrame,
    made: Sequence[pk.Slip],
    unprintable: Callable[[pk.Slip], str],
) -> None:
    """A slip with characters its font cannot draw (they print blank) is a Problems
    row at the order's first line: the packer must take them from the sheet."""
    orders = ctx.tables["orders"]
    first_row: dict[str, int] = {}
    for order_id, row in zip(
        frame["order_id"].to_numpy(dtype=object), frame["_row"].to_numpy(), strict=True
    ):
        first_row.setdefault(str(order_id), int(row))
    for slip in made:
        missing = unprintable(slip)
        if not missing:
            continue
        shown = missing if len(missing) <= 12 else missing[:12] + "…"
        ctx.problem(
            Problem(
                orders.title, first_row.get(slip.order_id), "", slip.order_id, shown,
                f"the packing slip of {slip.order_id} cannot print {shown} (its font has "
                "no such characters): they come out blank on paper",
                "write the name or address on the parcel from this row of the sheet",
            )
        )  # fmt: skip


def _backorder_findings(frame: pd.DataFrame, alloc: al.Allocation) -> list[Finding]:
    """One finding per SKU with backordered lines, for monitor's alert."""
    out: list[Finding] = []
    summary = al.backorder_summary(frame, alloc)
    if not summary:
        return out
    # the backordered lines, in frame order, and their SKUs: each SKU's lines are
    # found among these few, not in a comparison with every line
    backordered = np.flatnonzero(alloc.backorder)
    skus = frame["sku"].to_numpy(dtype=object)[backordered]
    order_ids = frame["order_id"].to_numpy(dtype=object)
    for sku, short in summary.items():
        lines = backordered[skus == sku]
        when = alloc.expected[lines]
        known = when[~np.isnat(when)]
        due = f"PO expected {known.min().astype(date).isoformat()}" if len(known) else "no PO"
        ids = ", ".join(str(x) for x in order_ids[lines[:5]])
        out.append(
            Finding(
                f"backorder:{sku}", "orders", "warning",
                f"Backorder: {sku} is {al.fmt(short)} unit(s) short",
                f"{len(lines)} open line(s) stock cannot cover ({ids}"
                f"{'…' if len(lines) > 5 else ''}); {due}.",
                "Order more (or chase the PO) and tell the customers; ship what there is "
                "and type it in Qty shipped.",
                short, ALLOCATION_TABS,
            )
        )  # fmt: skip
    return out


def _write_service_columns(
    ctx: JobContext,
    orders: Table,
    frame: pd.DataFrame,
    a: ff.Assessment,
    line_notes: dict[int, list[str]],
) -> None:
    """Ship by, Ops status and Problems of every row whose values change."""
    by_row = _row_problems(ctx, orders)
    old_ship_by, _ = local_days_and_seconds(frame["ship_by"], ctx.tz)
    new_ship_by = a.ship_by
    ship_by_changed = ~(
        (old_ship_by == new_ship_by) | (np.isnat(old_ship_by) & np.isnat(new_ship_by))
    )
    old_status = frame["ops_status"].fillna("").astype(str).to_numpy(dtype=object)
    old_problems = frame["problems"].fillna("").astype(str).to_numpy(dtype=object)
    rows = frame["_row"].to_numpy()
    key_ok = frame["_key_ok"].to_numpy(dtype=bool)
    order_ids = frame["order_id"].to_numpy(dtype=object)
    skus = frame["sku"].to_numpy(dtype=object)
    problems_text = np.full(len(frame), "", dtype=object)
    # only the lines with a problem or a note have text: found without a pass over all
    noted = {int(i) for i in line_notes if 0 <= i < len(frame)} | {
        int(i) for i in np.flatnonzero(np.isin(rows, np.fromiter(by_row, dtype=np.int64)))
    }
    for i in sorted(noted):
        texts = by_row.get(int(rows[i]), []) + line_notes.get(i, [])
        if texts:
            problems_text[i] = "; ".join(texts)
    status_changed = old_status != a.ops_status
    problems_changed = old_problems != problems_text
    changed = key_ok & (ship_by_changed | status_changed | problems_changed)
    where = np.flatnonzero(changed)
    # a line's cells as plain Python, a column at a time (NaT: None, a day: its date)
    ship_by = new_ship_by[where].astype(object).tolist()
    status = a.ops_status[where].tolist()
    problems = problems_text[where].tolist()
    flags = zip(
        ship_by_changed[where].tolist(),
        status_changed[where].tolist(),
        problems_changed[where].tolist(),
        strict=True,
    )
    writes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for n, (i, (new_day, new_status, new_problems)) in enumerate(
        zip(where.tolist(), flags, strict=True)
    ):
        values: dict[str, Any] = {}
        if new_day:
            values["ship_by"] = ship_by[n]
        if new_status:
            values["ops_status"] = status[n] or None
        if new_problems:
            values["problems"] = problems[n] or None
        writes.append(({"order_id": order_ids[i], "sku": skus[i]}, values))
    ctx.set_rows("orders", writes)
    ctx.counts["order_rows_updated"] = int(changed.sum())


# ---------------------------------------------------------------- pickup requests


def _queue_requests(
    ctx: JobContext,
    fwd_table: Table | None,
    frame: pd.DataFrame,
    a: ff.Assessment,
    plan: ff.PickupPlan,
    persist: bool,
) -> None:
    """One email per request; the lines show the booking once the ledger says sent."""
    if not plan.requests:
        return
    from ops_sheets.mail.message import Origin, csv_attachment
    from ops_sheets.mail.postman import OutgoingEmail

    s = ctx.settings
    address = s.jobs.orders.collection_address or s.jobs.stock.delivery_address or s.shop_name
    order_ids, skus = frame["order_id"].to_numpy(dtype=object), frame["sku"].to_numpy(dtype=object)
    position = {(str(order_ids[i]), str(skus[i])): int(i) for i in np.flatnonzero(plan.booked)}
    for req in plan.requests:
        fwd = req.forwarder
        if persist:
            req.sequence = _reserve_sequence(ctx, req)
        origin = Origin(
            fwd_table.title if fwd_table is not None else "Forwarders",
            fwd.row,
            fwd_table.header("email") if fwd_table is not None else "Email",
            fwd.name,
        )
        ctx.send(
            OutgoingEmail(
                kind="pickup_request",
                key=req.email_key,
                to=fwd.email or "",
                context=ff.pickup_context(req, shop_name=s.shop_name, collection_address=address),
                origin=origin,
                attachments=[csv_attachment(f"{req.reference}.csv", ff.manifest_rows(req))],
                reference=req.reference,
            )
        )
        for order_id, sku in req.lines:
            text = plan.status_after_send(a, position[(order_id, sku)], req)
            ctx.set_team_cell_after_send(
                req.email_key, "orders", {"order_id": order_id, "sku": sku}, {"ops_status": text}
            )
        if persist:
            ctx.state.put(
                NS_PICKUPS,
                req.reference,
                {
                    "reference": req.reference,
                    "email_key": req.email_key,
                    "forwarder": fwd.name,
                    "pickup_date": req.pickup_date.isoformat(),
                    "sequence": req.sequence,
                    "additional": req.additional,
                    "recipients": [fwd.email],
                    "planned_at": ctx.now.isoformat(),
                    "lines": [list(k) for k in req.lines],
                    "parcels": len(req.parcels),
                    "units": req.total_units,
                    "closed": False,
                },
            )
        kind = "additional pickup" if req.additional else "pickup"
        ctx.note(
            f"{kind} request {req.reference} to {fwd.name} for {req.pickup_date:%a %d %b}: "
            f"{len(req.parcels)} parcel(s), {req.total_units} unit(s)"
        )


def _reserve_sequence(ctx: JobContext, req: ff.PickupRequest) -> int:
    """A sequence number no run has used for this forwarder and day (atomic).

    The plan's number (one more than the requests the state knows) is a lower
    bound; taking it from the state's sequence as well means two runs at the same
    time (``serve`` and a manual ``run``) can never give two different requests
    the same key, and a key is never reused, even for a request that was never
    sent.
    """
    name = f"{NS_PICKUPS}:{req.forwarder.name}:{req.pickup_date.isoformat()}"
    seq = ctx.state.next_in_sequence(name)
    while seq < req.sequence:
        seq = ctx.state.next_in_sequence(name)
    return seq


# ---------------------------------------------------------------- summary


def _summarise(
    ctx: JobContext, a: ff.Assessment, bookings: list[ff.Booking], plan: ff.PickupPlan
) -> None:
    counts = {
        "late_lines": int((a.code == ff.LATE).sum()),
        "at_risk_lines": int(np.isin(a.code, ff.AT_RISK_CODES).sum()),
        "stuck_shipments": int((a.code == ff.IN_TRANSIT).sum()),
        "pickup_requests": len(plan.requests),
        "parcels_requested": sum(len(r.parcels) for r in plan.requests),
    }
    ctx.counts.update(counts)
    ctx.note(
        f"{counts['late_lines']} late line(s), {counts['at_risk_lines']} at risk, "
        f"{counts['stuck_shipments']} in transit too long"
    )
    waiting = [b for b in bookings if b.delivery in (ff.UNCONFIRMED, ff.FAILED)]
    for b in waiting:
        what = "delivery unknown" if b.delivery == ff.UNCONFIRMED else "refused"
        ctx.note(
            f"pickup request {b.reference} to {b.forwarder}: {what}; its {len(b.lines)} line(s) "
            f"are not booked again (ops-sheets review {b.email_key} --sent | --resend)"
        )
