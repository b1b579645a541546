"""`complaints`: Complaint IDs, Respond by / Resolve by, Ops status, acknowledgements.

Thin on purpose: the rules live in :mod:`ops_sheets.domain.complaints`. This module
feeds them the Complaints tab, takes CMP numbers from the state's sequence (as
the returns job takes RMA numbers), and records what to write, send and remember:

* a blank ``Complaint ID`` gets its ``CMP-<yyyy>-<nnnn>`` (with the row's service
  columns) in the same write, found by Received at + Email since it has no key
  yet; other rows get Respond by, Resolve by, Ops status, Problems where changed;
* one ``complaint_acknowledgement`` per Complaint ID (key ``complaint:<id>``),
  never twice, never for an order whose ``Notify`` says no;
* overdue complaints, repeat complainers and SKUs with several complaints go to
  ``findings.complaints`` for ``monitor`` (the SKU one joins the returns job's
  faulty-product finding); complaints due today go to the Today tab.

The Complaints tab is not required of every shop: without one, the job says so
and does nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

from ops_sheets.domain.complaints import (
    CMP_NAMESPACE,
    RAW_RECEIVED_AT,
    TABS,
    ComplaintRow,
    ComplaintRules,
    ack_due,
    acknowledgement_context,
    acknowledgement_key,
    format_cmp,
    highest_cmp,
    plan_complaints,
    years_for,
)
from ops_sheets.domain.customers import opted_out
from ops_sheets.domain.findings import publish
from ops_sheets.errors import JobError
from ops_sheets.mail.message import Origin
from ops_sheets.mail.postman import OutgoingEmail
from ops_sheets.service.runner import JobContext

KIND = "complaint_acknowledgement"
#: not a required tab: read on request, and looked for on every run of this job
#: (other jobs look for a missing one once a day, see runner.OPTIONAL_TABS)
READS = ("complaints",)
ALWAYS_READS = ("complaints",)


def run(ctx: JobContext) -> None:
    table = ctx.tables.get("complaints")
    if table is None or not table.exists:
        ctx.note("no Complaints tab: nothing to do (run `ops-sheets init` to add one)")
        return
    if not ctx.requires("Complaint IDs, deadlines, Ops status, acknowledgements", *TABS):
        publish(ctx.state, "complaints", [], ctx.now, unavailable=ctx.unavailable(*TABS))
        return
    frame = table.frame
    try:
        rules = ComplaintRules.from_settings(ctx.settings, years_for(frame, ctx.now))
    except ValueError as exc:
        raise JobError(f"[jobs.orders] / [jobs.complaints]: {exc}") from None
    by_row: dict[int, list[str]] = {}
    for p in table.problems:
        if p.row is not None:
            by_row.setdefault(p.row, []).append(p.problem)
    stock = ctx.tables.get("stock")
    products = {}
    if stock is not None and stock.available and "product" in stock.frame.columns:
        products = {
            str(s): str(p)
            for s, p in zip(stock.frame["sku"], stock.frame["product"], strict=True)
            if isinstance(p, str) and p
        }
    plan = plan_complaints(frame, rules, ctx.now, products=products, row_problems=by_row)
    ids = _assign_ids(ctx, plan.needing_id, table.all_rows["complaint_id"].dropna().tolist())
    columns = _key_columns(frame)
    ctx.locate_by("complaints", columns)
    written = 0
    for r in plan.rows:
        number = r.complaint_id or ids.get(r.identity)
        if r.complaint_id is None:
            if number is None:
                continue
            ctx.set_team_cells(
                "complaints", r.write_key(columns), {"complaint_id": number, **r.values()}
            )
            ctx.log("Complaint ID", subject=f"{r.customer or r.email or ''} (row {r.row})",
                    reference=number, result="assigned")  # fmt: skip
            written += 1
        elif r.key_ok:
            changed = r.changed_values()
            if changed:
                ctx.set("complaints", r.write_key(columns), changed)
                written += 1
    sent = _acknowledge(ctx, plan.rows, ids, rules)
    publish(ctx.state, "complaints", plan.findings, ctx.now)
    ctx.todos["due"] = plan.todos
    _summarise(ctx, plan.rows, ids, sent, written, len(plan.findings))


def _key_columns(frame: Any) -> tuple[str, ...]:
    """Complaint ID alone cannot find a row whose ID is blank: Received at (as typed)
    and Email can, so every Complaints write uses the three (one index of the tab)."""
    if RAW_RECEIVED_AT in frame.columns:
        return ("complaint_id", "received_at", "email")
    return ("complaint_id", "email")


def _assign_ids(
    ctx: JobContext, waiting: list[ComplaintRow], sheet_ids: list[object]
) -> dict[str, str]:
    """identity → CMP number for each row that needs one (state: ``complaints.cmp``)."""
    if not waiting:
        return {}
    year = ctx.now.year
    floor = highest_cmp(sheet_ids, year)
    in_sheet = {str(i).strip().upper() for i in sheet_ids}
    state = ctx.state
    out: dict[str, str] = {}
    if state is None:
        counter = itertools.count(floor + 1)
        for r in waiting:
            out.setdefault(r.identity, format_cmp(year, next(counter)))
        ctx.note("Complaint IDs shown are provisional: no state database in this run")
        return out
    remembered = state.items(CMP_NAMESPACE)
    stamp = ctx.now.isoformat()
    for r in waiting:
        if r.identity in out:
            continue
        known = (remembered.get(r.identity) or {}).get("cmp")
        if known and str(known).upper() not in in_sheet:
            out[r.identity] = str(known)  # taken before, the write did not land
            continue
        number = format_cmp(year, state.next_in_sequence(f"cmp-{year}", above=floor))
        while number.upper() in in_sheet:
            number = format_cmp(year, state.next_in_sequence(f"cmp-{year}", above=floor))
        out[r.identity] = number
        if not ctx.dry_run:
            state.put(CMP_NAMESPACE, r.identity, {"cmp": number, "assigned_at": stamp})
    if ctx.dry_run:
        ctx.note("Complaint IDs shown are provisional: a dry run takes none")
    return out


def _acknowledge(
    ctx: JobContext, rows: list[ComplaintRow], ids: dict[str, str], rules: ComplaintRules
) -> list[str]:
    if not rules.notify:
        return []
    table = ctx.tables["complaints"]
    quiet = _opted_out_orders(ctx)
    queued: list[str] = []
    for r in rows:
        if not ack_due(r, ctx.now):
            continue
        number = r.complaint_id or ids.get(r.identity)
        if number is None or ctx.deliveries.delivered(acknowledgement_key(number)):
            continue
        if r.order_id and r.order_id in quiet:
            ctx.note(f"complaint {number}: no acknowledgement, order {r.order_id} says Notify = no")
            continue
        ctx.send(
            OutgoingEmail(
                kind=KIND,
                key=acknowledgement_key(number),
                to=r.email or "",
                context=acknowledgement_context(r, number, rules),
                origin=Origin(table.title, r.row, table.header("email"), number),
                reference=number,
            )
        )
        queued.append(number)
    return queued


def _opted_out_orders(ctx: JobContext) -> set[str]:
    orders = ctx.tables.get("orders")
    if orders is None or "notify" not in orders.frame.columns:
        return set()
    f = orders.frame
    return {str(o) for o, n in zip(f["order_id"], f["notify"], strict=True) if opted_out(n)}


def _summarise(
    ctx: JobContext,
    rows: list[ComplaintRow],
    ids: dict[str, str],
    sent: list[str],
    written: int,
    findings: int,
) -> None:
    open_rows = [r for r in rows if r.open]
    overdue = [r for r in open_rows if r.response_overdue_hours or r.resolution_overdue_days]
    ctx.note(
        f"{len(rows)} complaint(s): {len(open_rows)} open, {len(overdue)} overdue, "
        f"{len(ids)} new Complaint ID(s)"
    )
    if ids:
        ctx.note("Complaint IDs: " + ", ".join(sorted(ids.values())))
    if sent:
        ctx.note("acknowledgements queued: " + ", ".join(sent))
    for r in overdue:
        ctx.note(f"overdue: {r.reference} {r.ops_status}")
    ctx.counts.update(
        {
            "complaint_rows": len(rows),
            "complaints_open": len(open_rows),
            "complaints_overdue": len(overdue),
            "complaint_ids_assigned": len(ids),
            "complaint_acknowledgements": len(sent),
            "complaint_findings": findings,
            "complaint_rows_written": written,
        }
    )
