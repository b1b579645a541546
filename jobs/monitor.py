"""`monitor`: today's Daily KPIs row, and one manager alert with what went wrong.

Thin on purpose: the figures are :mod:`ops_sheets.domain.kpis`, the checks and the
re-alert rule :mod:`ops_sheets.domain.monitoring` (both pure). This module gathers their
inputs from the tables, the state and the ledger, writes the row and queues the
alert.

Written: the Daily KPIs row of today (local date, found by its Date and rewritten
on every run; a finished day's row is never touched again). Sent: at most one
``manager_alert`` per run, only when there is something new to say.

The Date key is written as ISO text (``2026-11-23``). Both backends read that
back exactly as written, so today's row is found again on the next run; a date
*object* reads back from the xlsx backend's write-time snapshot as a datetime at
midnight (``2026-11-23 00:00:00``), which would append a second row for the day.

State (``ctx.state``; none in a dry run, where every finding counts as new):

* ``monitor`` / ``reported`` → per finding key, what the last alert said
  (:func:`ops_sheets.domain.monitoring.plan_alert`'s memory);
* ``monitor`` / ``problems`` → fingerprints of the sheet problems this run saw,
  so the next run can tell new problems from known ones;
* ``monitor`` / ``last_run`` → this run's ``now`` (messages changed after sending
  since then are reported).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from ops_sheets.domain import findings as published
from ops_sheets.domain import kpis, monitoring, purchasing
from ops_sheets.domain.calendar import DaysError, parse_days
from ops_sheets.domain.inventory import demand_window, stockout_frame
from ops_sheets.domain.returns import ReturnRules, faulty_findings, return_rates
from ops_sheets.errors import ConfigError
from ops_sheets.mail import OutgoingEmail
from ops_sheets.service.customer_figures import customer_figures
from ops_sheets.service.runner import JobContext, missing_tab_problems
from ops_sheets.service.scheduler import job_settings, parse_schedule
from ops_sheets.sheet.tables import DAILY_KPIS, TEAM_TABS, Problem

READS = ("daily_kpis", "kits", "complaints")
NAMESPACE = "monitor"
#: The stock job's daily snapshot of SKUs out of stock (``jobs/stock.py``), which
#: its demand, and so the reorder points here, leave out.
STOCKOUTS = "stock.stockouts"
#: Days of history behind the anomaly checks: 8 weeks before the slow-decline
#: check's 14 days (the day check needs 8 weeks and the day judged).
HISTORY_DAYS = monitoring.MAX_WEEKS * 7 + monitoring.DECLINE_DAYS


def run(ctx: JobContext) -> None:
    settings = ctx.settings
    ms = settings.jobs.monitor
    now = ctx.now.astimezone(ctx.tz)
    today = now.date()
    facts = gather(ctx)
    frames = {k: t.frame for k, t in ctx.tables.items()}
    returns = frames["returns"]
    # tabs that could not be read: what depends on them is unknown, never zero
    unavailable = ctx.unavailable(*TEAM_TABS)

    # ------------------------------------------------------------ Daily KPIs
    flow = kpis.daily_flow(
        facts.lines, returns, ctx.tz, today - timedelta(days=HISTORY_DAYS), today + timedelta(1)
    )
    problems = sheet_problems(ctx)
    counts = mail_counts(ctx, today)
    levels = {
        **kpis.order_levels(facts.orders, facts.assessment),
        **kpis.stock_levels(facts.decision),
    }
    row = kpis.daily_row(
        today,
        flow,
        levels,
        return_rate=kpis.return_rate_pct(
            returns, facts.orders, frames["stock"], ReturnRules.from_settings(settings), now
        ),
        open_problems=len(problems),
        emails_sent=counts["sent"],
        emails_awaiting_review=counts["awaiting_review"],
    )
    # issue 18: customers and complaints; one unknown (no ledger, an unreadable
    # Complaints tab) is left as it was
    day_start = datetime.combine(today, time(0), tzinfo=ctx.tz)
    day_end = datetime.combine(today + timedelta(1), time(0), tzinfo=ctx.tz)
    figures = customer_figures(ctx, day_start, day_end)
    row.update({k: v for k, v in figures.items() if v is not None})
    unknown = kpis.unknown_measures(unavailable)
    if unknown:
        tabs = sorted({t for k in unknown for t in kpis.KPI_INPUTS[k]} & set(unavailable))
        ctx.requires(f"Daily KPIs {', '.join(_headers(unknown))}", *tabs)
        row = {k: v for k, v in row.items() if k not in unknown}
    # found by its date as text (how both backends read a date key back), written
    # as a real date so the tab sorts and charts by date
    ctx.upsert("daily_kpis", {"date": today}, {**row, "date": today})

    # ------------------------------------------------------------ findings
    state = ctx.state
    memory = state.get(NAMESPACE, "reported", {}) if state is not None else {}
    seen = state.get(NAMESPACE, "problems") if state is not None else None
    own = checks(ctx, facts, flow, now)
    news, fingerprints = monitoring.new_problem_findings(problems, seen)
    own += news + monitoring.unreadable_tab_findings(ctx.tables)
    others = (
        [f for f in published.current(state) if f.source != NAMESPACE] if state is not None else []
    )
    current = monitoring.merge(own, others)

    plan = monitoring.plan_alert(
        current,
        memory,
        now,
        realert_hours=ms.realert_hours,
        delivered=_delivered(ctx),
        unavailable=unavailable,
    )
    if plan.send:
        ctx.send(
            OutgoingEmail(
                kind="manager_alert",
                key=plan.key,
                to=settings.mail.manager,
                context=monitoring.alert_context(plan, settings.shop_name, now),
                reference=f"{len(plan.items)} finding(s)",
            )
        )
    if state is not None:
        state.put(NAMESPACE, "reported", plan.memory)
        state.put(NAMESPACE, "problems", fingerprints)
        state.put(NAMESPACE, "last_run", now.isoformat())
    _summarise(ctx, row, current, plan)


# ---------------------------------------------------------------- gathering


def gather(ctx: JobContext) -> kpis.ShopFacts:
    """The orders assessment and the stock decision, as the orders and stock jobs
    reach them (shared with ``weekly``)."""
    frames = {k: t.frame for k, t in ctx.tables.items()}
    stockouts = None
    if ctx.state is not None:
        start, today = demand_window(ctx.now, ctx.settings.jobs.stock.lookback_days)
        history = ctx.state.items(STOCKOUTS)
        stockouts = stockout_frame(
            {d: s for d, s in history.items() if start.isoformat() <= d < today.isoformat()}
        )
    try:
        orders = ctx.tables.get("orders")
        return kpis.shop_facts(
            frames,
            ctx.settings,
            ctx.now,
            stockouts=stockouts,
            team_delivery=orders is not None and "delivered_at" in orders.headers,
        )
    except ValueError as exc:
        raise ConfigError(f"{ctx.settings.source}: [jobs.orders] {exc}") from None


def sheet_problems(ctx: JobContext) -> list[Problem]:
    """The problems this run puts on the Problems tab (the runner's own list, less
    the mail problems it finds after the job)."""
    problems = missing_tab_problems(ctx.tables)
    for table in ctx.tables.values():
        problems += table.problems
    return problems + ctx.checks() + ctx.problems


def mail_counts(ctx: JobContext, day: date) -> dict[str, int | None]:
    """Messages sent on ``day`` and awaiting review now (blank in a dry run)."""
    start = datetime.combine(day, time(0), tzinfo=ctx.tz)
    counts = ctx.deliveries.counts(start, datetime.combine(day + timedelta(1), time(0), ctx.tz))
    if counts is None:
        return {"sent": None, "awaiting_review": None}
    return {"sent": counts.sent, "awaiting_review": counts.awaiting_review}


#: The team tabs each group of checks reads (see ops_sheets.domain.findings: a finding
#: whose tab cannot be read is not judged, and stays as it was).
ORDER_TABS = ("orders",)
PO_TABS = ("purchase_orders", "stock")
RETURN_TABS = ("returns", "orders", "stock")


def checks(ctx: JobContext, facts: kpis.ShopFacts, flow: pd.DataFrame, now: datetime) -> list[Any]:
    """Every check of :mod:`ops_sheets.domain.monitoring` on this run's data; a check
    whose tabs could not be read is left out (its earlier findings stay open)."""
    settings = ctx.settings
    orders = facts.orders
    out: list[Any] = []
    skipped = sorted(set(ctx.unavailable(*TEAM_TABS)))
    if skipped:
        ctx.note(
            "findings that depend on "
            + ", ".join(ctx.tables[k].title for k in skipped)
            + " not checked: the ones reported before stay open"
        )

    def judged(tabs: tuple[str, ...]) -> bool:
        return not ctx.unavailable(*tabs)

    if judged(ORDER_TABS):
        out += _order_checks(ctx, facts, flow, now)
    if judged(kpis.DECISION_TABS):
        out += published.computed_from(
            monitoring.best_seller_findings(facts.decision), kpis.DECISION_TABS
        )
    if judged(PO_TABS):
        out += published.computed_from(_po_checks(ctx, now), PO_TABS)
    if judged(RETURN_TABS):
        rules = ReturnRules.from_settings(settings)
        rates = return_rates(
            ctx.tables["returns"].frame, orders, ctx.tables["stock"].frame, rules, now
        )
        out += published.computed_from(
            monitoring.faulty_product_findings(faulty_findings(rates, rules)), RETURN_TABS
        )
    out += _job_checks(ctx, now)
    out += _mail_checks(ctx, now)
    return out


def _order_checks(
    ctx: JobContext, facts: kpis.ShopFacts, flow: pd.DataFrame, now: datetime
) -> list[Any]:
    """Anomalies, a quiet spell, late lines, stuck shipments (the Orders tab; revenue
    also takes Stock prices)."""
    settings = ctx.settings
    ms = settings.jobs.monitor
    orders = facts.orders
    out: list[Any] = []
    ordered = facts.lines["ordered"].dropna()
    first_day = ordered.min().date() if len(ordered) else None
    yesterday = now.date() - timedelta(days=1)
    anomalies = monitoring.anomaly_findings(
        flow,
        yesterday,
        threshold=ms.anomaly_threshold,
        first_day=first_day,
        currency=settings.currency,
    )
    anomalies += monitoring.decline_findings(
        flow, yesterday, first_day=first_day, currency=settings.currency
    )
    # "anomaly:<measure>:<day>", "decline:<measure>": the measure's own tabs
    for finding in anomalies:
        tabs = kpis.KPI_INPUTS.get(finding.key.split(":")[1], ORDER_TABS)
        if not ctx.unavailable(*tabs):
            out += published.computed_from([finding], tabs)
    try:
        weekmask = parse_days(ms.quiet_days)
    except DaysError as err:
        raise ConfigError(
            f'{settings.source}: [jobs.monitor] quiet_days "{ms.quiet_days}": '
            f"{err.problem}; {err.fix}"
        ) from None
    try:
        hours = monitoring.BusinessHours.parse(ms.business_hours, weekmask)
    except ValueError as exc:
        raise ConfigError(f"{settings.source}: [jobs.monitor] {exc}") from None
    quiet = monitoring.quiet_finding(
        orders["order_date"], orders["order_id"], now, ctx.tz, hours, ms.quiet_hours
    )
    late = monitoring.late_lines_finding(orders, facts.assessment, ms.late_alert_count)
    stuck = monitoring.stuck_finding(orders, facts.assessment)
    return out + published.computed_from([f for f in (quiet, late, stuck) if f], ORDER_TABS)


def _po_checks(ctx: JobContext, now: datetime) -> list[Any]:
    """Purchase orders past their Expected by."""
    settings = ctx.settings
    stock = ctx.tables["stock"].frame
    sku_supplier = {
        str(k): str(v)
        for k, v in zip(stock["sku"], stock["supplier"], strict=True)
        if isinstance(k, str) and isinstance(v, str)
    }
    reminders = purchasing.plan_reminders(
        ctx.tables["purchase_orders"].frame,
        now,
        settings.jobs.stock.reminder_every_days,
        {},
        sku_supplier,
    )
    return monitoring.overdue_po_findings(reminders, settings.currency)


def _job_checks(ctx: JobContext, now: datetime) -> list[Any]:
    """Failed and late jobs, from the state's run history and the schedules."""
    if ctx.state is None:
        return []
    from ops_sheets.service.runner import available_jobs

    runs: dict[str, list[Any]] = {}
    schedules: dict[str, Any] = {}
    grace: dict[str, timedelta] = {}
    for job in available_jobs(ctx.settings):
        if job == ctx.job:
            continue  # this very run is the proof that monitor runs
        runs[job] = ctx.state.runs(job, limit=20)
        js = job_settings(ctx.settings, job)
        if js is None or not js.enabled or not js.schedule.strip():
            continue
        with contextlib.suppress(ConfigError):  # `check` reports a bad schedule
            schedules[job] = parse_schedule(js.schedule, ctx.tz)
            grace[job] = timedelta(minutes=js.timeout_minutes)
    started = ctx.state.first_run_at()  # when the service began
    return monitoring.job_findings(runs, schedules, now, grace=grace, started=started)


def _mail_checks(ctx: JobContext, now: datetime) -> list[Any]:
    """Messages awaiting review (delivery unknown or refused), and messages that a
    later run wanted to change after they were sent, since the previous run."""
    if not ctx.deliveries.known:
        return []
    last = ctx.state.get(NAMESPACE, "last_run") if ctx.state is not None else None
    since = datetime.fromisoformat(last) if last else now - timedelta(days=1)
    return monitoring.mail_findings(ctx.deliveries.review_findings(since, ctx.settings))


def _delivered(ctx: JobContext) -> Any:
    """Whether an earlier alert reached the ledger (a rejected one did not)."""
    deliveries = ctx.deliveries
    if not deliveries.known:
        return lambda _key: True
    return deliveries.reached_ledger


def _headers(keys: list[str]) -> list[str]:
    """Daily KPIs column headers of these measure keys, as the contract names them."""
    return [DAILY_KPIS.column(k).header for k in keys]  # type: ignore[union-attr]


# ---------------------------------------------------------------- summary


def _summarise(ctx: JobContext, row: Mapping[str, Any], current: list[Any], plan: Any) -> None:
    # a measure left out of the row could not be computed: "unknown", never 0
    def shown(key: str, text: str, unknown: str) -> str:
        return text.format(row.get(key) or 0) if key in row else unknown

    ctx.note(
        f"today so far: {shown('orders', '{} orders', 'orders unknown')}, "
        f"{shown('revenue', '{:,.2f} ' + ctx.settings.currency, 'revenue unknown')}; "
        f"{shown('late_open_lines', '{} late lines', 'late lines unknown')}, "
        f"{shown('skus_out_of_stock', '{} SKUs out of stock', 'SKUs out of stock unknown')}"
    )
    if plan.send:
        parts = {}
        for item in plan.items:
            parts[item.status] = parts.get(item.status, 0) + 1
        said = ", ".join(f"{n} {status}" for status, n in parts.items())
        ctx.note(f"manager alert: {said} ({len(current)} open finding(s) in all)")
    else:
        ctx.note(f"no manager alert: nothing new ({len(current)} open finding(s) already reported)")
    for item in plan.items[:8]:
        # the words the manager's email uses (HIGH / MEDIUM / LOW)
        severity = monitoring.TEMPLATE_SEVERITY.get(item.finding.severity, "low").upper()
        ctx.note(f"  [{severity}] {item.finding.title} ({item.note})")
    ctx.counts.update(
        findings=len(current),
        alert_items=len(plan.items),
        alerts_queued=int(plan.send),
    )
