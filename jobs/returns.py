"""`returns`: RMA numbers, the return window, acknowledgements, restock hints, return rates.

Thin on purpose: the rules live in :mod:`ops_sheets.domain.returns`. This module feeds
them the tables, takes RMA numbers from the state's sequence, and records what
to write, send and remember:

* a blank ``Return ID`` gets its RMA number (with the row's Ops status and
  Problems) in the same write, found by Order ID + SKU (+ Requested at) because
  it has no key yet; other rows get Ops status / Problems where they changed;
* one ``return_acknowledgement`` per RMA (key ``rma:<RMA>``), skipped when the
  ledger already has it as sent, so a changed row never makes a second body;
* return rates go to the run summary and to the state (``returns.rates``);
  possible faulty products to ``findings.returns`` for ``monitor``.

The state namespaces and their shapes are documented in :mod:`ops_sheets.domain.returns`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from ops_sheets.domain.findings import Finding, computed_from, publish
from ops_sheets.domain.returns import (
    RATES_NAMESPACE,
    RMA_NAMESPACE,
    Assignment,
    ReturnRates,
    ReturnRules,
    ReturnsPlan,
    acknowledgement,
    acknowledgement_key,
    assign_rmas,
    faulty_findings,
    format_rma,
    highest_rma,
    plan_returns,
    return_rates,
)
from ops_sheets.domain.validation import unknown_references
from ops_sheets.mail.message import Origin
from ops_sheets.mail.postman import OutgoingEmail
from ops_sheets.service.runner import JobContext

KIND = "return_acknowledgement"
#: The tabs every output of the job is computed from.
TABS = ("returns", "orders", "stock")


def run(ctx: JobContext) -> None:
    rules = ReturnRules.from_settings(ctx.settings)
    returns, orders, stock = ctx.tables["returns"], ctx.tables["orders"], ctx.tables["stock"]
    # every output reads all three: the window and the customer from Orders, restock
    # hints and unknown SKUs from Stock. A tab that cannot be read is unknown data,
    # so nothing is written or sent and the findings published before stay.
    if not ctx.requires("RMA numbers, Ops status, acknowledgements, return rates", *TABS):
        publish(ctx.state, "returns", [], ctx.now, unavailable=ctx.unavailable())
        return
    # the parser's and the cross-tab problems of a row belong in its Problems cell too
    row_problems = [*returns.problems, *unknown_references(ctx.tables)]
    plan = plan_returns(returns, orders, stock, rules, ctx.now, row_problems=row_problems)
    for p in plan.problems:
        ctx.problem(p)

    assignments = _assign_rmas(ctx, plan)
    _write_rows(ctx, plan, assignments)
    sent = _acknowledge(ctx, plan, assignments, rules)
    rates = return_rates(returns.frame, orders.frame, stock.frame, rules, ctx.now)
    findings = faulty_findings(rates, rules)
    _remember(ctx, rates, findings)
    _summarise(ctx, plan, assignments, sent, rates)


# ---------------------------------------------------------------- RMA numbers


def _assign_rmas(ctx: JobContext, plan: ReturnsPlan) -> dict[str, Assignment]:
    waiting = plan.needing_rma
    if not waiting:
        return {}
    year = ctx.now.year
    # every number on the sheet is taken, duplicated ones too (they are not in .frame)
    sheet_ids = ctx.tables["returns"].all_rows["return_id"].dropna().tolist()
    floor = highest_rma(sheet_ids, year)
    state = ctx.state
    if state is None:
        # dry run or a unit test: show the numbers it would take, take none
        counter = itertools.count(floor + 1)
        assignments = assign_rmas(waiting, sheet_ids, {}, lambda: format_rma(year, next(counter)))
        ctx.note("RMA numbers shown are provisional: no state database in this run")
        return assignments
    remembered = state.items(RMA_NAMESPACE)
    assignments = assign_rmas(waiting, sheet_ids, remembered, _taker(state, year, floor))
    if ctx.dry_run:
        ctx.note("RMA numbers shown are provisional: a dry run takes none")
    stamp = ctx.now.isoformat()
    for r in waiting:
        a = assignments.get(r.identity or "")
        if a is None:
            continue
        # remembered before the write, so a skipped or failed write reuses the number
        state.put(
            RMA_NAMESPACE,
            a.identity,
            {
                "rma": a.rma,
                "order_id": r.order_id,
                "sku": r.sku,
                "requested_at": None if r.requested_at is None else str(r.requested_at),
                "assigned_at": (remembered.get(a.identity) or {}).get("assigned_at", stamp),
            },
        )
    return assignments


def _taker(state: Any, year: int, floor: int) -> Callable[[], str]:
    """New numbers from the state's ``rma-<year>`` sequence, above ``floor`` (the sheet's)."""
    return lambda: format_rma(year, state.next_in_sequence(f"rma-{year}", above=floor))


# ---------------------------------------------------------------- writes


def _write_rows(ctx: JobContext, plan: ReturnsPlan, assignments: Mapping[str, Assignment]) -> None:
    columns = plan.key_columns
    declared = False
    for r in plan.rows:
        values = {"ops_status": r.ops_status, "problems": r.problem_text}
        if r.return_id is None:
            a = assignments.get(r.identity or "")
            if a is None:
                continue
            if not declared:
                _locate_by(ctx, columns)
                declared = True
            # the new row has no key yet: its Ops status rides with the Return ID
            ctx.set_team_cells("returns", r.write_key(columns), {"return_id": a.rma, **values})
            subject = f"order {r.order_id} {r.sku} (row {r.row})"
            result = "reused: the earlier write did not land" if a.reused else "assigned"
            ctx.log("RMA number", subject=subject, reference=a.rma, result=result)
        elif r.key_ok and r.changed:
            if not declared:
                _locate_by(ctx, columns)
                declared = True
            ctx.set("returns", r.write_key(columns), values)


def _locate_by(ctx: JobContext, columns: tuple[str, ...]) -> None:
    """Make every Returns write find its row by ``columns``, not by Return ID alone:
    a blank Return ID cannot find its row, so all Returns writes use Order ID +
    SKU as well (the Google backend then re-reads those columns too)."""
    ctx.locate_by("returns", columns)


# ---------------------------------------------------------------- acknowledgements


def _acknowledge(
    ctx: JobContext, plan: ReturnsPlan, assignments: Mapping[str, Assignment], rules: ReturnRules
) -> list[str]:
    orders = ctx.tables["orders"]
    queued: list[str] = []
    for r in plan.rows:
        if not r.ack_due:
            continue
        rma = r.return_id
        if rma is None:
            a = assignments.get(r.identity or "")
            rma = a.rma if a is not None else None
        if rma is None or ctx.deliveries.delivered(acknowledgement_key(rma)):
            continue
        ack = acknowledgement(r, rma, rules, ctx.now.date(), orders)
        ctx.send(
            OutgoingEmail(
                kind=KIND,
                key=ack.key,
                to=ack.to,
                context=ack.context,
                origin=Origin(ack.origin_tab, ack.origin_row, ack.origin_column, ack.origin_key),
                reference=rma,
            )
        )
        queued.append(rma)
    return queued


# ---------------------------------------------------------------- memory and summary


def _remember(ctx: JobContext, rates: ReturnRates, faulty: list[Finding]) -> None:
    publish(ctx.state, "returns", computed_from(faulty, TABS), ctx.now)
    if ctx.state is not None:
        ctx.state.put(RATES_NAMESPACE, "latest", rates.as_state())


def _summarise(
    ctx: JobContext,
    plan: ReturnsPlan,
    assignments: Mapping[str, Assignment],
    sent: list[str],
    rates: ReturnRates,
) -> None:
    rows = plan.rows
    outside = [r for r in rows if r.ops_status.startswith("OUTSIDE WINDOW")]
    undecided = [r for r in outside if r.ops_status.endswith("decision needed")]
    restock = [r for r in rows if r.restock_units]
    new = sorted(a.rma for a in assignments.values())
    ctx.note(
        f"{len(rows)} return rows: {len(new)} new RMA number(s), {len(undecided)} outside "
        f"the window awaiting a decision, {len(restock)} to restock "
        f"(+{sum(r.restock_units for r in restock)} units)"
    )
    if new:
        ctx.note("RMA numbers: " + ", ".join(new))
    if sent:
        ctx.note(f"acknowledgements queued: {', '.join(sent)}")
    for r in rates.alerts:
        ctx.note(
            f"possible faulty product: {r.name} {r.product} returned {r.describe()} "
            f"in {rates.window_days} days"
        )
    worst = [s for s in rates.suppliers if s.rate is not None][:3]
    if worst:
        ctx.note(
            f"return rates by supplier ({rates.window_days} days): "
            + "; ".join(f"{s.name} {s.describe()}" for s in worst)
        )
    ctx.counts.update(
        {
            "return_rows": len(rows),
            "rma_assigned": len(new),
            "acknowledgements": len(sent),
            "outside_window": len(outside),
            "restock_rows": len(restock),
            "faulty_products": len(rates.alerts),
        }
    )
