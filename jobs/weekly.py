"""`weekly`: the Weekly summary row of the last complete ISO week, and the manager's
weekly email with charts.

The week is the last ISO week (Monday to Sunday, local dates) that has ended at
``now``; run on a Monday morning, that is the week just gone. Thin on purpose:
the figures and lists are :mod:`ops_sheets.domain.kpis`, the pictures
:mod:`ops_sheets.mail.charts`.

Written: one Weekly summary row, found by its Week (``2026-W47``) and rewritten
if the job runs again that week, with every Daily KPIs measure for the week and
its change against the week before (this week − the week before, in the
measure's own unit), and, on the xlsx backend, two native charts on that tab
(orders and revenue, and shipped on time %, over the tab's last 12 rows; the
chart fills up as the weeks pass). Sent: one ``weekly_summary`` email per week
(key ``weekly:<ISO week>``) with the same charts over the last 12 weeks, drawn
from the Orders tab, as inline PNG images. A re-run after the email was sent
does not queue it again (the ledger already holds that key), so a later change
to the data does not turn into a "changed after sending" conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from ops_sheets.jobs.monitor import gather

from ops_sheets.domain import allocation, content, customer_kpis, kpis, listings
from ops_sheets.domain.returns import ReturnRules
from ops_sheets.mail import OutgoingEmail, charts
from ops_sheets.mail.templates import _money as money  # the templates' own |money format
from ops_sheets.service.customer_figures import customer_figures
from ops_sheets.service.runner import JobContext
from ops_sheets.sheet.looks import looks_for
from ops_sheets.sheet.tables import TEAM_TABS, WEEKLY_SUMMARY
from ops_sheets.sheet.workbook.base import ChartSpec

READS = ("daily_kpis", "weekly_summary", "kits", "complaints", "content_plan")
#: The team tabs behind each Weekly summary measure: the Daily KPIs' own, except
#: the levels, which are averages of what monitor wrote on the Daily KPIs tab.
ROW_INPUTS: dict[str, tuple[str, ...]] = {
    k: () if k in kpis.LEVELS else tabs for k, tabs in kpis.KPI_INPUTS.items()
}
#: The email shows every team tab's figures (top SKUs, watch list, late orders...).
EMAIL_TABS = ("orders", "stock", "returns", "purchase_orders", "suppliers")
CHART_WEEKS = 12
ORDERS_CHART = "Orders and revenue, last 12 weeks"
ON_TIME_CHART = "Shipped on time %, last 12 weeks"

#: Headline figures of the email: key, name, how to show it, whether up is good.
HEADLINES: tuple[tuple[str, str, str, bool | None], ...] = (
    ("revenue", "Revenue", "money", True),
    ("orders", "Orders", "count", True),
    ("average_order_value", "Average order value", "money", True),
    ("units", "Units sold", "count", True),
    ("lines_shipped", "Lines shipped", "count", True),
    ("shipped_on_time_pct", "Shipped on time", "pct", True),
    ("avg_hours_to_ship", "Order to shipping", "hours", False),
    ("returns_requested", "Returns requested", "count", False),
    ("return_rate_30d_pct", "Return rate (30 days)", "pct", False),
    ("late_open_lines", "Late open lines (daily average)", "level", False),
    ("stuck_shipments", "Stuck shipments (daily average)", "level", False),
    ("skus_out_of_stock", "SKUs out of stock (daily average)", "level", False),
    ("inventory_value", "Inventory value (daily average)", "money", None),
    # issue 18: customers and complaints (shown when the shop has them)
    ("complaints_opened", "Complaints opened", "count", False),
    ("median_hours_to_first_response", "First response to a complaint (median)", "hours", False),
    ("answered_within_sla_pct", "Complaints answered within SLA", "pct", True),
    ("shipping_confirmations_sent", "Shipping confirmations sent", "count", None),
    ("delay_notices_sent", "Delay notices sent", "count", False),
    ("review_requests_sent", "Review requests sent", "count", None),
    ("complaint_acknowledgements_sent", "Complaint acknowledgements sent", "count", None),
)
#: headlines left out of the email while they are 0 this week and the week before
QUIET_WHEN_ZERO = frozenset(customer_kpis.KEYS)


def run(ctx: JobContext) -> None:
    settings = ctx.settings
    tz = ctx.tz
    now = ctx.now.astimezone(tz)
    monday, sunday = kpis.last_complete_week(now)
    week = kpis.iso_week(monday)
    facts = gather(ctx)
    returns = ctx.tables["returns"].frame

    # one week more than the charts show: the oldest week's change needs its week before
    first = monday - timedelta(weeks=CHART_WEEKS)
    daily = kpis.daily_flow(facts.lines, returns, tz, first, sunday + timedelta(days=1))
    history = kpis.weekly_flow(daily)
    weekly = history.iloc[-CHART_WEEKS:]  # the email's charts: the last 12 weeks
    this = _week(ctx, facts, history, monday)
    before = _week(ctx, facts, history, monday - timedelta(weeks=1))
    values = {**this, **kpis.changes(this, before)}
    # a measure computed from a tab that cannot be read is unknown: left as it was
    unknown = kpis.unknown_measures(ctx.unavailable(*TEAM_TABS), ROW_INPUTS)
    if unknown:
        tabs = sorted({t for k in unknown for t in ROW_INPUTS[k]})
        names = ", ".join(WEEKLY_SUMMARY.column(k).header for k in unknown)  # type: ignore[union-attr]
        ctx.requires(f"Weekly summary {week}: {names}", *tabs)
        values = {k: v for k, v in values.items() if k.removesuffix("_change") not in unknown}
    backfilled = _back_fill(ctx, facts, history, monday, before, unknown)
    ctx.upsert("weekly_summary", {"week": week}, {"from": monday, "to": sunday, **values})
    _native_charts(ctx, backfilled)

    key = f"weekly:{week}"
    if ctx.deliveries.reached_ledger(key):
        state = ctx.deliveries.state(key)
        ctx.note(f"weekly summary {week}: row rewritten; the email went out already ({state})")
    elif not ctx.requires(f"weekly summary email {week}", *EMAIL_TABS):
        pass  # sent once per week: never with figures that could not be read
    else:
        labels = [kpis.iso_week(d) for d in weekly.index]
        images = [
            (
                "orders-revenue",
                charts.orders_and_revenue_png(
                    labels,
                    list(weekly["orders"]),
                    list(weekly["revenue"]),
                    settings.currency,
                ),
            ),
            ("on-time", charts.on_time_png(labels, list(weekly["shipped_on_time_pct"]))),
        ]
        context = _context(ctx, facts, week, monday, sunday, this, before, weekly)
        ctx.send(
            OutgoingEmail(
                kind="weekly_summary",
                key=key,
                to=settings.mail.manager,
                context=context,
                inline_images=images,
                reference=week,
            )
        )
        ctx.note(f"weekly summary {week} ({monday:%d %b} – {sunday:%d %b}) queued for the manager")
    if "orders" not in unknown:
        revenue = (
            "revenue unknown"
            if "revenue" in unknown
            else f"{this['revenue'] or 0:,.2f} {settings.currency}"
        )
        ctx.note(
            f"{week}: {this['orders'] or 0:g} orders, {revenue}, "
            f"on time {_show(this['shipped_on_time_pct'], 'pct')}"
        )
    ctx.counts.update(weekly_rows=1 + backfilled, weekly_emails=len(ctx.emails))


# ---------------------------------------------------------------- the week's figures


def _week(ctx: JobContext, facts: kpis.ShopFacts, weekly: Any, monday: date) -> dict[str, Any]:
    start = datetime.combine(monday, time(0), tzinfo=ctx.tz)
    end = datetime.combine(monday + timedelta(weeks=1), time(0), tzinfo=ctx.tz)
    counts = ctx.deliveries.counts(start, end)
    sent = counts.sent if counts is not None else None
    rate = kpis.return_rate_pct(
        ctx.tables["returns"].frame,
        facts.orders,
        ctx.tables["stock"].frame,
        ReturnRules.from_settings(ctx.settings),
        end,
    )
    levels = kpis.week_levels(ctx.tables["daily_kpis"].frame, monday)
    row = kpis.week_row(weekly, monday, levels, return_rate=rate, emails_sent=sent)
    return {**row, **customer_figures(ctx, start, end)}  # issue 18


def _back_fill(
    ctx: JobContext,
    facts: kpis.ShopFacts,
    history: Any,
    monday: date,
    before: Mapping[str, Any],
    unknown: list[str],
) -> int:
    """On the first runs (the tab holds fewer than :data:`CHART_WEEKS` weeks up to
    this one), add the rows of the complete weeks before this one, oldest first,
    from the order history: the tab's charts then show 12 weeks, with the numbers
    the email's charts show. A week the tab already has is never rewritten (not
    even when it appeared since the read); nothing is back-filled while a tab the
    figures come from cannot be read. Returns the number of rows added."""
    table = ctx.tables.get("weekly_summary")
    if unknown or table is None or not table.readable:  # a missing tab is created empty
        return 0
    week = kpis.iso_week(monday)
    rows = table.all_rows
    column = rows["week"] if "week" in rows.columns else []
    have = {str(w).strip() for w in column if w is not None and w == w}
    if len({w for w in have if w <= week}) >= CHART_WEEKS:
        return 0  # steady state: nothing to add, nothing computed
    mondays = [monday - timedelta(weeks=n) for n in range(CHART_WEEKS - 1, 0, -1)]
    todo = [m for m in mondays if kpis.iso_week(m) not in have]
    # each row's change is against the week before it, as the weekly row's own
    rows: dict[date, Mapping[str, Any]] = {monday - timedelta(weeks=1): before}
    for m in todo:
        earlier = m - timedelta(weeks=1)
        if earlier not in rows:
            rows[earlier] = _week(ctx, facts, history, earlier)
        if m not in rows:
            rows[m] = _week(ctx, facts, history, m)
        values = {**rows[m], **kpis.changes(rows[m], rows[earlier])}
        ctx.add_if_missing(
            "weekly_summary",
            {"week": kpis.iso_week(m)},
            {"from": m, "to": m + timedelta(days=6), **values},
        )
    if todo:
        first, last = kpis.iso_week(todo[0]), kpis.iso_week(todo[-1])
        ctx.note(f"Weekly summary: {len(todo)} past weeks back-filled ({first} to {last})")
    return len(todo)


def _native_charts(ctx: JobContext, backfilled: int = 0) -> None:
    """Two charts on the Weekly summary tab, side by side just below its rows, so
    they sit under Week, Orders and Revenue on the first screen, not past the
    last of its 39 columns (xlsx only). Each run redraws them below the rows."""
    table = ctx.tables["weekly_summary"]
    # the header, the back-filled weeks and this run's new week, a blank row
    top = len(table.all_rows) + backfilled + 4
    column = "A"
    beside = _column_after(table, CHART_WIDTH_CHARS)
    ctx.chart(
        ChartSpec(
            table.title,
            ORDERS_CHART,
            "bar",
            table.header("week"),
            (table.header("orders"),),
            anchor=f"{column}{top}",
            secondary=(table.header("revenue"),),
            last_rows=CHART_WEEKS,
            y_title="Orders",
            secondary_title=f"Revenue ({ctx.settings.currency})",
        )
    )
    ctx.chart(
        ChartSpec(
            table.title,
            ON_TIME_CHART,
            "line",
            table.header("week"),
            (table.header("shipped_on_time_pct"),),
            anchor=f"{beside}{top}",
            last_rows=CHART_WEEKS,
            y_title="%",
        )
    )


#: a chart's width (15 cm) in column-width characters, and a little room after it
CHART_WIDTH_CHARS = 84.0


def _column_after(table: Any, width: float) -> str:
    """The letter of the first column that starts at least ``width`` characters from
    the left edge, by the widths the service gives this tab's columns: the second
    chart then sits just right of the first, whatever the columns are."""
    headers = [table.header(c.key) for c in WEEKLY_SUMMARY.columns]
    looks = looks_for(
        WEEKLY_SUMMARY, dict(zip([c.key for c in WEEKLY_SUMMARY.columns], headers, strict=True)), ""
    )
    edge, n = 0.0, 0
    for header in headers:
        if edge >= width:
            break
        edge += looks[header].width or 8.43
        n += 1
    letters = ""
    n += 1  # 1-based: the column after the last one counted
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# ---------------------------------------------------------------- the email


def _context(
    ctx: JobContext,
    facts: kpis.ShopFacts,
    week: str,
    monday: date,
    sunday: date,
    this: Mapping[str, Any],
    before: Mapping[str, Any],
    weekly: Any,
) -> dict[str, Any]:
    settings = ctx.settings
    currency = settings.currency
    late, late_total = kpis.late_lines(facts.orders, facts.assessment)
    labels = [kpis.iso_week(d) for d in weekly.index]
    return {
        "shop_name": settings.shop_name,
        "week": week,
        "date_from": monday,
        "date_to": sunday,
        "currency": currency,
        "metrics": metrics(this, before, currency),
        "top_skus": kpis.top_skus(facts.lines, monday, facts.products),
        "watch_list": kpis.watch_list(
            facts.decision, settings.jobs.weekly.excess_days, settings.jobs.stock.lookback_days
        ),
        "late_orders": late,
        "late_total": late_total,
        "backorders": _backorders(ctx, facts),
        "return_reasons": kpis.return_reasons(ctx.tables["returns"].frame, monday, ctx.tz),
        "health": _health(ctx),
        **_store_health(ctx, monday, sunday),  # issue 19
        "charts": [
            {
                "cid": "orders-revenue",
                "title": ORDERS_CHART,
                "alt": f"Orders per week {labels[0]} to {labels[-1]}: "
                + ", ".join(f"{v:g}" for v in weekly["orders"])
                + f"; revenue ({currency}): "
                + ", ".join(f"{v:,.0f}" for v in weekly["revenue"]),
            },
            {
                "cid": "on-time",
                "title": ON_TIME_CHART,
                "alt": "Share of lines shipped on time per week: "
                + ", ".join(_show(v, "pct") for v in weekly["shipped_on_time_pct"]),
            },
        ],
    }


def _backorders(ctx: JobContext, facts: kpis.ShopFacts) -> dict[str, Any]:
    """Open lines stock cannot cover at ``now`` (:mod:`ops_sheets.domain.allocation`),
    over the On hand the stock decision used."""
    decision = facts.decision
    alloc = allocation.allocate(
        facts.orders,
        pd.Index(decision["sku"]),
        decision["on_hand"].to_numpy(dtype=float),
        ctx.tables["purchase_orders"].frame,
    )
    short = allocation.backorder_summary(facts.orders, alloc)
    return {
        "lines": int(alloc.backorder.sum()),
        "units": sum(short.values()),
        "skus": [{"sku": k, "short": v} for k, v in sorted(short.items())],
    }


def _health(ctx: JobContext) -> dict[str, Any]:
    """The service's own last 7 days up to now: runs per job and failures, emails
    sent, messages awaiting review (the service's week, not the shop's)."""
    end = ctx.now
    start = end - timedelta(days=7)
    runs = ctx.state.runs(limit=100_000) if ctx.state is not None else []
    counts = kpis.run_counts(runs, start, end)
    mail = ctx.deliveries.counts(start)
    sent = mail.sent if mail is not None else 0
    pending = len(ctx.deliveries.awaiting_review())
    return {**counts, "emails_sent": sent, "reviews_pending": pending}


def metrics(
    this: Mapping[str, Any], before: Mapping[str, Any], currency: str
) -> list[dict[str, Any]]:
    """The headline figures with their change against the week before (the
    template's ``metrics``); a measure not known this week is left out."""
    out = []
    for key, name, how, up_is_good in HEADLINES:
        a, b = this.get(key), before.get(key)
        if a is None or (key in QUIET_WHEN_ZERO and not a and not b):
            continue
        diff = None if b is None else a - b
        if diff is None:
            change, direction = "–", "flat"
        else:
            change = _change(a, b, diff, how)
            direction = "up" if diff > 1e-9 else "down" if diff < -1e-9 else "flat"
        good = (
            None if direction == "flat" or up_is_good is None else (direction == "up") == up_is_good
        )
        out.append(
            {
                "name": name,
                "value": _show(a, how, currency),
                "previous": _show(b, how, currency),
                "change": change,
                "direction": direction,
                "good": good,
            }
        )
    return out


def _change(a: float, b: float, diff: float, how: str) -> str:
    if how == "pct":
        return f"{diff:+.1f} pts"
    if how == "hours":
        return f"{diff:+.1f} h"
    if how == "level":
        return f"{diff:+,.1f}"
    if b == 0:
        return "new" if a else "0.0%"
    return f"{100 * diff / abs(b):+.1f}%"


def _show(value: Any, how: str, currency: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if how == "money":
        return money(round(float(value), 2), currency)
    if how == "pct":
        return f"{value:.1f}%"
    if how == "hours":
        return f"{value:.1f} h"
    if how == "level":
        return f"{value:,.1f}".removesuffix(".0")
    return f"{value:,.0f}"


# ---------------------------------------------------------------- issue 19


def _store_health(ctx: JobContext, monday: date, sunday: date) -> dict[str, Any]:
    """The product pages (the last ``listings`` run) and the week's content plan;
    a section whose data is not there (no run yet, no Content plan tab) is left out."""
    out: dict[str, Any] = {}
    if ctx.state is not None:
        latest = ctx.state.get(listings.SUMMARY_NAMESPACE, "latest")
        if latest and latest.get("pages"):
            out["listings"] = latest
    table = ctx.tables.get("content_plan")
    if table is not None and table.available:
        memory = ctx.state.items(content.POSTS_NAMESPACE) if ctx.state is not None else {}
        today = ctx.now.astimezone(ctx.tz).date()
        summary = content.week_summary(
            content.read_posts(table.frame), monday, sunday, today, memory
        )
        if summary["planned"]:
            out["content_plan"] = summary
    return out
