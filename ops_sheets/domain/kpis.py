"""The shop's key figures per day and per ISO week, from the typed tables (pure).

Nothing here reads a clock, a sheet, the state or the mailer: ``jobs/monitor.py``
and ``jobs/weekly.py`` pass frames, the orders assessment of
:mod:`ops_sheets.domain.fulfilment`, the reorder decision of :mod:`ops_sheets.domain.inventory`
and numbers from the ledger, and write what comes back.

Definitions (the Daily KPIs columns of DESIGN.md; "day" is a local calendar day
in the configured time zone, so an order at 23:30 on the night the clocks change
counts on the day the shop saw it):

* **Orders**: distinct Order IDs placed that day with at least one line that is
  not CANCELLED. **Order lines**, **Units** (Qty, negative or blank as 0) and
  **Revenue** (Qty × the line's Unit price, else the SKU's Price on the Stock
  tab, as the ABC classes of the stock job count it) of those lines.
  **Average order value** = Revenue ÷ Orders (blank without orders).
* **Lines shipped**: lines (not CANCELLED) whose ``Shipped at`` falls on the day.
  **Shipped on time %**: of those with a Ship by date, the share shipped on or
  before it (the orders job's rule). **Avg hours to ship**: mean of Shipped at −
  Order date over those lines (negative spans, i.e. typing mistakes, left out).
* **Late open lines** and **Stuck shipments** (distinct orders with a line in
  transit too long) as the orders job judges them at ``now``.
* **SKUs out of stock**: active SKUs with On hand ≤ 0. **SKUs at reorder point**:
  active SKUs with On hand at or below their reorder point (typed, else the stock
  job's computed one), out-of-stock ones included. **Inventory value**: Σ On hand
  × Unit cost over every usable Stock row (negative On hand counts as 0).
* **Returns requested**: Returns rows whose ``Requested at`` falls on the day.
  **Return rate 30d %**: units returned ÷ units shipped over the 30 days up to
  ``now``, with the returns job's rules (:func:`ops_sheets.domain.returns.return_rates`).
* **Open problems**, **Emails sent**, **Emails awaiting review**: given by the job
  (the Problems tab of this run, the ledger).

A week sums the counts (:data:`FLOW`), recomputes the ratios from the sums
(:data:`RATIOS`), takes the return rate as of the week's end, and averages the
levels (:data:`LEVELS`) over the week's Daily KPIs rows: a level such as "late
open lines" cannot be rebuilt for a past moment from the sheet, which has no
history of statuses, so it comes from what ``monitor`` recorded that week.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.domain import allocation
from ops_sheets.domain.calendar import local_days_and_seconds
from ops_sheets.domain.fulfilment import (
    IN_TRANSIT,
    LATE,
    Assessment,
    assess,
    rules_from_settings,
    years_needed,
)
from ops_sheets.domain.inventory import ReorderPolicy, decide
from ops_sheets.domain.returns import ReturnRules, return_rates
from ops_sheets.sheet.tables import DAILY_KPIS

if TYPE_CHECKING:
    from ops_sheets.config import Settings

#: Every Daily KPIs measure, in column order (the contract's order).
KPI_KEYS: tuple[str, ...] = tuple(c.key for c in DAILY_KPIS.columns if c.key != "date")
#: Counts of what happened in a period: a week is their sum.
FLOW: tuple[str, ...] = (
    "orders",
    "order_lines",
    "units",
    "revenue",
    "lines_shipped",
    "returns_requested",
    "emails_sent",
)
#: Ratios: a week recomputes them from its sums, never averages the days'.
RATIOS: tuple[str, ...] = ("average_order_value", "shipped_on_time_pct", "avg_hours_to_ship")
#: Levels seen at a moment: a week shows the mean of its Daily KPIs rows.
LEVELS: tuple[str, ...] = (
    "late_open_lines",
    "stuck_shipments",
    "skus_out_of_stock",
    "skus_at_reorder_point",
    "inventory_value",
    "open_problems",
    "emails_awaiting_review",
)
#: The flows counted from the tables (emails come from the ledger).
TABLE_FLOW: tuple[str, ...] = tuple(k for k in FLOW if k != "emails_sent")
#: The team tabs behind the reorder decision (:func:`ops_sheets.domain.inventory.decide`).
DECISION_TABS: tuple[str, ...] = ("stock", "orders", "purchase_orders", "suppliers")
#: The team tabs each measure is computed from. While one of them cannot be read
#: the measure is unknown: its cell is left as it was, never written as 0.
KPI_INPUTS: dict[str, tuple[str, ...]] = {
    "orders": ("orders",),
    "order_lines": ("orders",),
    "units": ("orders",),
    "revenue": ("orders", "stock"),  # a line without Unit price takes the SKU's Price
    "average_order_value": ("orders", "stock"),
    "lines_shipped": ("orders",),
    "shipped_on_time_pct": ("orders",),
    "avg_hours_to_ship": ("orders",),
    "late_open_lines": ("orders",),
    "stuck_shipments": ("orders",),
    "skus_out_of_stock": ("stock",),
    "skus_at_reorder_point": DECISION_TABS,
    "inventory_value": ("stock",),
    "returns_requested": ("returns",),
    "return_rate_30d_pct": ("returns", "orders", "stock"),
    "open_problems": (),
    "emails_sent": (),
    "emails_awaiting_review": (),
    # issue 18: given by the jobs (ops_sheets.domain.customer_kpis); the Complaints
    # tab is not required of every shop, so they are blank, not 0, without it
    "complaints_opened": (),
    "median_hours_to_first_response": (),
    "answered_within_sla_pct": (),
    "shipping_confirmations_sent": (),
    "delay_notices_sent": (),
    "review_requests_sent": (),
    "complaint_acknowledgements_sent": (),
}
RETURN_RATE_DAYS = 30

#: Sums behind the ratios, kept per day so that weeks can add them up.
_SUMS = ("on_time_lines", "judged_lines", "hours_total", "hours_lines")
_DAY = np.timedelta64(1, "D")


# ---------------------------------------------------------------- order lines


def line_facts(
    orders: pd.DataFrame,
    assessment: Assessment,
    tz: ZoneInfo,
    prices: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """One row per order line with what the KPIs count, aligned with ``orders``.

    Columns: order_id, sku, ordered (datetime64[D], local), shipped (datetime64[D]
    or NaT), counted (not cancelled), units, revenue, on_time (1/0, NaN when not
    judged), hours (order → ship, NaN when unknown).
    """
    n = len(orders)
    if n == 0:
        return pd.DataFrame(
            {
                "order_id": pd.Series([], dtype=object),
                "sku": pd.Series([], dtype=object),
                "ordered": np.array([], dtype="datetime64[D]"),
                "shipped": np.array([], dtype="datetime64[D]"),
                "counted": np.array([], dtype=bool),
                "units": np.array([], dtype=float),
                "revenue": np.array([], dtype=float),
                "on_time": np.array([], dtype=float),
                "hours": np.array([], dtype=float),
            }
        )
    ordered, _ = local_days_and_seconds(orders["order_date"], tz)
    shipped_day, _ = local_days_and_seconds(orders["shipped_at"], tz)
    counted = orders["status"].to_numpy(dtype=object) != "CANCELLED"
    qty = orders["qty"].to_numpy(dtype=float, na_value=np.nan)
    units = np.where(np.isfinite(qty) & (qty > 0), qty, 0.0)
    price = orders["unit_price"].to_numpy(dtype=float, na_value=np.nan)
    if prices is not None:
        fallback = (
            orders["sku"].map(pd.Series(prices, dtype=float)).to_numpy(dtype=float, na_value=np.nan)
        )
        price = np.where(np.isfinite(price), price, fallback)
    revenue = units * np.nan_to_num(price)

    # shipped: the parcel left (the orders job's rule) and we know the day it did
    left = assessment.shipped & ~np.isnat(shipped_day) & counted
    shipped = np.where(left, shipped_day, np.datetime64("NaT"))
    judged = left & ~np.isnat(assessment.ship_by)
    on_time = np.where(judged, (shipped_day <= assessment.ship_by).astype(float), np.nan)
    span = ((orders["shipped_at"] - orders["order_date"]) / pd.Timedelta(hours=1)).to_numpy(
        dtype=float, na_value=np.nan
    )
    hours = np.where(left & np.isfinite(span) & (span >= 0), span, np.nan)
    return pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(dtype=object),
            "sku": orders["sku"].to_numpy(dtype=object),
            "ordered": ordered,
            "shipped": shipped.astype("datetime64[D]"),
            "counted": counted,
            "units": units,
            "revenue": revenue,
            "on_time": on_time,
            "hours": hours,
        }
    )


def sku_prices(stock: pd.DataFrame) -> pd.Series:
    """SKU → Price of the Stock tab (first row of a SKU), for lines without Unit price."""
    if stock.empty:
        return pd.Series(dtype=float)
    rows = stock[stock["sku"].notna()].drop_duplicates("sku")
    return pd.Series(rows["price"].to_numpy(dtype=float), index=rows["sku"].astype(str))


# ---------------------------------------------------------------- flows per day


def daily_flow(
    lines: pd.DataFrame, returns: pd.DataFrame, tz: ZoneInfo, start: date, end: date
) -> pd.DataFrame:
    """Counts per local day in [start, end): the :data:`FLOW` measures (without
    emails) plus the sums behind the ratios. Days without activity are rows of 0."""
    days = pd.date_range(start, end - timedelta(days=1), freq="D").date
    index = pd.Index(days, name="date")
    out = pd.DataFrame(0.0, index=index, columns=[*TABLE_FLOW, *_SUMS])
    if len(index) == 0:
        return out
    first = np.datetime64(start, "D")

    def offsets(values: Any) -> np.ndarray:
        days64 = np.asarray(values, dtype="datetime64[D]")
        blank = np.isnat(days64)
        off = np.where(blank, -1, (np.where(blank, first, days64) - first) // _DAY)
        off = off.astype(np.int64)
        return np.where((off >= 0) & (off < len(index)), off, -1)

    def add(column: str, off: np.ndarray, weights: np.ndarray | None = None) -> None:
        keep = off >= 0
        w = None if weights is None else weights[keep]
        out[column] += np.bincount(off[keep], weights=w, minlength=len(index))

    if len(lines):
        placed = np.where(lines["counted"].to_numpy(dtype=bool), offsets(lines["ordered"]), -1)
        add("order_lines", placed)
        add("units", placed, lines["units"].to_numpy(dtype=float))
        add("revenue", placed, lines["revenue"].to_numpy(dtype=float))
        # an order is counted once per day it has lines on (normally one day)
        ids = pd.DataFrame({"off": placed, "id": lines["order_id"].to_numpy(dtype=object)})
        ids = ids[(ids["off"] >= 0) & ids["id"].notna()].drop_duplicates()
        add("orders", ids["off"].to_numpy(dtype=np.int64))

        shipped = offsets(lines["shipped"].to_numpy(dtype="datetime64[D]"))
        add("lines_shipped", shipped)
        on_time = lines["on_time"].to_numpy(dtype=float)
        judged = np.where(np.isfinite(on_time), shipped, -1)
        add("judged_lines", judged)
        add("on_time_lines", judged, np.nan_to_num(on_time))
        hours = lines["hours"].to_numpy(dtype=float)
        timed = np.where(np.isfinite(hours), shipped, -1)
        add("hours_lines", timed)
        add("hours_total", timed, np.nan_to_num(hours))
    if len(returns):
        requested, _ = local_days_and_seconds(returns["requested_at"], tz)
        add("returns_requested", offsets(requested))
    return out


def with_ratios(flow: pd.DataFrame) -> pd.DataFrame:
    """The :data:`RATIOS` from the sums (NaN where there is nothing to divide)."""
    out = flow.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["average_order_value"] = _ratio(flow["revenue"], flow["orders"])
        out["shipped_on_time_pct"] = 100.0 * _ratio(flow["on_time_lines"], flow["judged_lines"])
        out["avg_hours_to_ship"] = _ratio(flow["hours_total"], flow["hours_lines"])
    return out.drop(columns=list(_SUMS))


def _ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a / b.where(b > 0)).astype(float)


# ---------------------------------------------------------------- ISO weeks


def iso_week(day: date) -> str:
    """``2026-W47``: the ISO year and week of a day."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def last_complete_week(now: datetime) -> tuple[date, date]:
    """(Monday, Sunday) of the last ISO week that has ended at ``now`` (local)."""
    monday = week_monday(now.date()) - timedelta(days=7)
    return monday, monday + timedelta(days=6)


def weekly_flow(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily flows (as :func:`daily_flow` makes them) summed per ISO week, with ratios;
    indexed by the week's Monday. Only whole weeks should be passed in."""
    if daily.empty:
        return with_ratios(daily)
    mondays = [week_monday(d) for d in daily.index]
    sums = daily.groupby(pd.Index(mondays, name="monday")).sum()
    return with_ratios(sums)


def week_levels(daily_rows: pd.DataFrame, monday: date) -> dict[str, float | None]:
    """Mean of each :data:`LEVELS` measure over the Daily KPIs rows of a week.

    ``daily_rows`` is the parsed Daily KPIs tab (``date`` a local timestamp). A
    measure no row of the week has is None.
    """
    out: dict[str, float | None] = dict.fromkeys(LEVELS)
    if daily_rows.empty:
        return out
    days = daily_rows["date"].dt.date
    week = daily_rows[(days >= monday) & (days < monday + timedelta(days=7))]
    for key in LEVELS:
        if key in week.columns:
            values = week[key].to_numpy(dtype=float, na_value=np.nan)
            values = values[np.isfinite(values)]
            out[key] = float(values.mean()) if len(values) else None
    return out


def changes(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, float | None]:
    """``<key>_change`` = this week − the week before, where both are known."""
    out: dict[str, float | None] = {}
    for key in KPI_KEYS:
        a, b = _finite(current.get(key)), _finite(previous.get(key))
        out[f"{key}_change"] = None if a is None or b is None else _rounded(a - b)
    return out


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def unknown_measures(
    unavailable: Iterable[str], inputs: Mapping[str, Sequence[str]] = KPI_INPUTS
) -> list[str]:
    """The measures (:data:`KPI_KEYS` order) computed from a tab that cannot be read."""
    missing = set(unavailable)
    return [k for k in KPI_KEYS if missing & set(inputs.get(k, ()))]


# ---------------------------------------------------------------- levels at `now`


def order_levels(orders: pd.DataFrame, assessment: Assessment) -> dict[str, int]:
    """Late open lines, and stuck shipments (orders with a line in transit too long)."""
    stuck = assessment.code == IN_TRANSIT
    stuck_orders = pd.Series(orders["order_id"].to_numpy(dtype=object)[stuck]).dropna().nunique()
    return {
        "late_open_lines": int((assessment.code == LATE).sum()),
        "stuck_shipments": int(stuck_orders),
    }


def stock_levels(decision: pd.DataFrame) -> dict[str, float]:
    """SKUs out of stock / at or below reorder point (active ones), inventory value.

    ``decision`` is :func:`ops_sheets.domain.inventory.decide`'s frame (usable rows only).
    """
    if decision.empty:
        return {"skus_out_of_stock": 0, "skus_at_reorder_point": 0, "inventory_value": 0.0}
    on_hand = decision["on_hand"].to_numpy(dtype=float)
    active = decision["active"].to_numpy(dtype=bool) & np.isfinite(on_hand)
    rop = decision["reorder_point"].to_numpy(dtype=float)
    cost = decision["unit_cost"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        out_of_stock = active & (on_hand <= 0)
        at_rop = active & (on_hand <= rop + 1e-9)
        valued = np.isfinite(on_hand) & np.isfinite(cost)
        if "is_kit" in decision.columns:  # a kit's units are its components' units
            valued &= ~decision["is_kit"].to_numpy(dtype=bool)
        value = float(np.sum(np.clip(on_hand[valued], 0, None) * cost[valued]))
    return {
        "skus_out_of_stock": int(out_of_stock.sum()),
        "skus_at_reorder_point": int(at_rop.sum()),
        "inventory_value": round(value, 2),
    }


def return_rate_pct(
    returns: pd.DataFrame,
    orders: pd.DataFrame,
    stock: pd.DataFrame,
    rules: ReturnRules,
    now: datetime,
    days: int = RETURN_RATE_DAYS,
) -> float | None:
    """Units returned ÷ units shipped × 100 over the ``days`` before ``now``."""
    rates = return_rates(returns, orders, stock, replace(rules, rate_window_days=days), now)
    shipped = sum(r.shipped_units for r in rates.skus)
    returned = sum(r.returned_units for r in rates.skus)
    return 100.0 * returned / shipped if shipped > 0 else None


# ---------------------------------------------------------------- one day's row


def daily_row(
    day: date,
    flow: pd.DataFrame,
    levels: Mapping[str, Any],
    *,
    return_rate: float | None,
    open_problems: int,
    emails_sent: int | None,
    emails_awaiting_review: int | None,
) -> dict[str, Any]:
    """The Daily KPIs values of ``day`` (every :data:`KPI_KEYS` measure, None = blank).

    ``flow`` is :func:`daily_flow` over a range that holds ``day``; ``levels`` the
    :func:`order_levels` and :func:`stock_levels` at ``now``.
    """
    today = with_ratios(flow.loc[[day]]).iloc[0]
    row: dict[str, Any] = {k: _finite(today[k]) for k in (*TABLE_FLOW, *RATIOS)}
    row.update({k: levels.get(k) for k in LEVELS if k in levels})
    row.update(
        return_rate_30d_pct=return_rate,
        open_problems=open_problems,
        emails_sent=emails_sent,
        emails_awaiting_review=emails_awaiting_review,
    )
    return {k: _rounded(row.get(k)) for k in KPI_KEYS}


def _rounded(value: Any) -> Any:
    """Two decimals for money, ratios and averages: what a person reads in a cell."""
    v = _finite(value)
    if v is None:
        return None
    return int(v) if float(v).is_integer() else round(v, 2)


def week_row(
    weekly: pd.DataFrame,
    monday: date,
    levels: Mapping[str, Any],
    *,
    return_rate: float | None,
    emails_sent: int | None,
) -> dict[str, Any]:
    """The Weekly summary measures of the week starting ``monday``.

    ``weekly`` is :func:`weekly_flow`; ``levels`` :func:`week_levels`; the return
    rate is the one as of the week's end.
    """
    w = weekly.loc[monday] if monday in weekly.index else None
    row: dict[str, Any] = {
        k: _finite(w[k]) if w is not None else None for k in (*TABLE_FLOW, *RATIOS)
    }
    row.update({k: levels.get(k) for k in LEVELS})
    row.update(return_rate_30d_pct=return_rate, emails_sent=emails_sent)
    return {k: _rounded(row.get(k)) for k in KPI_KEYS}


# ---------------------------------------------------------------- weekly lists


def top_skus(
    lines: pd.DataFrame, monday: date, products: Mapping[str, str], n: int = 5
) -> list[dict[str, Any]]:
    """The week's best sellers by revenue: sku, product, units, revenue."""
    week = _in_week(lines["ordered"], monday) & lines["counted"].to_numpy(dtype=bool)
    sel = lines[week & lines["sku"].notna().to_numpy()]
    if sel.empty:
        return []
    g = sel.groupby(sel["sku"].astype(str))[["units", "revenue"]].sum()
    g = g.reset_index().sort_values(["revenue", "units", "sku"], ascending=[False, False, True])
    return [
        {
            "sku": sku,
            "product": products.get(sku, "") or sku,
            "units": _rounded(units),
            "revenue": round(float(revenue), 2),
        }
        for sku, units, revenue in g.head(n).itertuples(index=False)
    ]


def return_reasons(
    returns: pd.DataFrame, monday: date, tz: ZoneInfo, n: int = 6
) -> list[dict[str, Any]]:
    """Why customers returned things in the week: reason, units, returns (rows),
    share of the week's returned units (text); the most returned first."""
    if returns.empty:
        return []
    requested, _ = local_days_and_seconds(returns["requested_at"], tz)
    sel = returns[_in_week(requested, monday)]
    if sel.empty:
        return []
    reason = sel["reason"].astype(object).where(sel["reason"].notna(), "(no reason given)")
    reason = reason.map(lambda r: str(r).strip() or "(no reason given)")
    units = sel["qty"].fillna(1.0).clip(lower=0).to_numpy(dtype=float)
    frame = pd.DataFrame({"key": reason.str.casefold(), "reason": reason, "units": units})
    g = frame.groupby("key").agg(
        reason=("reason", "first"), units=("units", "sum"), rows=("units", "size")
    )
    g = g.sort_values(["units", "reason"], ascending=[False, True])
    total = float(g["units"].sum()) or 1.0
    return [
        {
            "reason": r.reason,
            "units": _rounded(r.units),
            "returns": int(r.rows),
            "share": f"{100 * r.units / total:.0f}%",
        }
        for r in g.head(n).itertuples(index=False)
    ]


def _in_week(days: Any, monday: date) -> np.ndarray:
    d = np.asarray(days, dtype="datetime64[D]")
    start = np.datetime64(monday, "D")
    with np.errstate(invalid="ignore"):
        return ~np.isnat(d) & (d >= start) & (d < start + 7 * _DAY)


def late_lines(
    orders: pd.DataFrame, assessment: Assessment, n: int = 10
) -> tuple[list[dict[str, Any]], int]:
    """The oldest late open lines (order_id, sku, ship_by, days_late) and how many."""
    idx = np.flatnonzero(assessment.code == LATE)
    total = len(idx)
    order = np.argsort(assessment.ship_by[idx], kind="stable")
    out = []
    for i in idx[order][:n]:
        out.append(
            {
                "order_id": str(orders["order_id"].iat[i]),
                "sku": str(orders["sku"].iat[i]),
                "ship_by": assessment.ship_by[i].astype(date),
                "days_late": int(assessment.days[i]),
                "status": str(orders["status"].iat[i] or ""),
            }
        )
    return out, total


def watch_list(
    decision: pd.DataFrame, excess_days: float, lookback_days: int, n: int = 20
) -> list[dict[str, Any]]:
    """SKUs to watch: out of stock (best sellers first), excess cover, no sales.

    Active SKUs only; each with one reason, in that order of importance.
    """
    if decision.empty:
        return []
    f = decision[decision["active"].to_numpy(dtype=bool)]
    on_hand = f["on_hand"].to_numpy(dtype=float)
    cover = f["days_of_cover"].to_numpy(dtype=float)
    demand = f["daily_demand"].to_numpy(dtype=float)
    rank = {"A": 0, "B": 1, "C": 2}
    items: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for i, (sku, product, abc) in enumerate(zip(f["sku"], f["product"], f["abc"], strict=True)):
        label = product if isinstance(product, str) and product else sku
        with np.errstate(invalid="ignore"):
            if on_hand[i] <= 0:
                best = " (a best seller)" if abc == "A" else ""
                reason = f"out of stock{best}"
                key: tuple[Any, ...] = (0, rank.get(abc, 3), -demand[i])
            elif np.isfinite(cover[i]) and cover[i] > excess_days:
                reason = f"{cover[i]:,.0f} days of cover (more than {excess_days:g}): excess stock"
                key = (1, -cover[i])
            elif demand[i] == 0 and on_hand[i] > 0:
                reason = f"no sales in the last {lookback_days} days; {on_hand[i]:g} on hand"
                key = (2, -on_hand[i])
            else:
                continue
        items.append((key, {"sku": str(sku), "product": str(label), "reason": reason}))
    items.sort(key=lambda t: (*t[0], t[1]["sku"]))
    return [item for _, item in items[:n]]


def run_counts(runs: Sequence[Any], start: datetime, end: datetime) -> dict[str, Any]:
    """Finished job runs whose business time falls in [start, end], per job and in all.

    ``runs`` are :class:`ops_sheets.store.state.JobRun`; "problems" means the run
    worked and found data problems in the sheet, "failed" that it did not finish
    (failed or interrupted). Runs still going are left out.
    """
    jobs: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.result == "running":
            continue
        try:
            at = datetime.fromisoformat(run.business_now)
        except ValueError:
            continue
        if not start <= at <= end:
            continue
        entry = jobs.setdefault(
            run.job, {"job": run.job, "runs": 0, "ok": 0, "problems": 0, "failed": 0}
        )
        entry["runs"] += 1
        if run.result in ("ok", "problems"):
            entry[run.result] += 1
        else:
            entry["failed"] += 1
    ordered = sorted(jobs.values(), key=lambda e: e["job"])
    return {
        "runs": sum(e["runs"] for e in ordered),
        "failed": sum(e["failed"] for e in ordered),
        "jobs": ordered,
    }


# ---------------------------------------------------------------- what both jobs need


@dataclass
class ShopFacts:
    """The tables seen through the other jobs' rules, once per run."""

    orders: pd.DataFrame  # the Orders frame, index 0..n-1
    assessment: Assessment  # the orders job's judgement of every line at `now`
    decision: pd.DataFrame  # the stock job's reorder numbers per SKU at `now`
    lines: pd.DataFrame  # :func:`line_facts`
    products: dict[str, str]  # SKU → Product


def shop_facts(
    frames: Mapping[str, pd.DataFrame],
    settings: Settings,
    now: datetime,
    *,
    stockouts: pd.DataFrame | None = None,
    team_delivery: bool = False,
) -> ShopFacts:
    """Assess the orders (:func:`ops_sheets.domain.fulfilment.assess`) and decide the stock
    (:func:`ops_sheets.domain.inventory.decide`) exactly as those jobs do, without their
    side effects. Raises ValueError naming a bad ``[jobs.orders]`` setting.
    ``team_delivery``: the Orders tab has a ``Delivered at`` column (see
    :func:`~ops_sheets.domain.fulfilment.rules_from_settings`)."""
    orders = frames["orders"].reset_index(drop=True)
    rules = rules_from_settings(
        settings, years_needed(orders["order_date"], now), team_delivery=team_delivery
    )
    assessment = assess(orders, rules, now)
    stock = frames["stock"]
    kits = None
    if frames.get("kits") is not None and len(frames["kits"]):
        skus = pd.Index(stock["sku"].dropna().astype(str).unique())
        kits = allocation.read_kits(frames["kits"], skus)  # stock reports its problems
    decision = decide(
        stock,
        frames["suppliers"],
        frames["purchase_orders"],
        orders,
        ReorderPolicy.from_settings(settings.jobs.stock),
        now,
        stockouts=stockouts,
        kits=kits,
    )
    lines = line_facts(orders, assessment, settings.tz, sku_prices(stock))
    products = {
        str(s): str(p)
        for s, p in zip(stock["sku"], stock["product"], strict=True)
        if isinstance(s, str) and isinstance(p, str) and p
    }
    return ShopFacts(orders, assessment, decision, lines, products)
