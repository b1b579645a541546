"""The reorder decision per SKU: demand, lead time, safety stock, reorder point, quantity.

Pure and vectorised: typed frames (as :func:`ops_sheets.sheet.tables.parse_table` makes
them), a :class:`ReorderPolicy` and ``now`` in; one frame with a row per SKU out.
Nothing here reads a clock, a sheet, the state or the mailer. The job
(``jobs/stock.py``) feeds it and :mod:`ops_sheets.domain.purchasing` turns its
"order this" rows into purchase-order lines.

The rules, and the choices made where the issue leaves room:

* **Demand window.** The ``lookback_days`` whole days before today (today is a
  partial day and would drag the average down). Units of order lines not
  CANCELLED (a blank status counts as a sale), per day, days without sales
  counting as zero. ``d`` is the mean, ``σd`` the sample standard deviation
  (n − 1) of the daily units.
* **Short history** (DESIGN.md wave 2, contract). A SKU first sold inside the
  window is divided by the days since its first order line (that day included),
  at least ``MIN_HISTORY_DAYS`` (7), not by the whole window: a shop 21 days old
  selling 14 units has 0.67/day, not 0.25/day, and would otherwise order a third
  of what it needs. Any order line counts as the first (a cancelled one too: the
  SKU was on sale). A SKU with an order line before the window has been sold for
  longer than the window, so the whole window applies; taking only its first
  line *in* the window would inflate a slow seller's rate (one sale 60 days ago,
  one 10 days ago is not a sale every 10 days). ``Why`` says "only 21 days of
  history" (and "counted as 7" below 7).
* **Stockouts.** The job snapshots, each day it runs, which SKUs have On hand
  ≤ 0. A day on which a SKU was seen stocked out is left out of its demand
  entirely (its sales and the day itself), so a week at zero stock does not
  look like a week of zero demand. Days without a snapshot count as in stock.
  If every day of the window was a stockout day, the whole window is used.
* **ABC classes** by revenue (Qty × the line's Unit price, else the SKU's
  Price) of the active SKUs over the window, best first: a SKU is A while the
  revenue of the SKUs ranked above it is under 80 % of the total (so the top
  seller is always A), B under 95 %, else C; SKUs without revenue are C.
  Service level per class → z = Φ⁻¹(level).
* **Lead time** L: measured when the supplier has at least 3 received PO lines
  (Created at → Received at, in days; σL their sample standard deviation); the
  measurement replaces every typed value because it is what actually happened.
  Otherwise the SKU's Lead time days, else the supplier's, else
  ``default_lead_time_days``, with σL = 0.
* **Safety stock** = the SKU's Safety stock, else z·√(L·σd² + d²·σL²).
  **Reorder point** s = the SKU's Reorder point, else d·L + safety stock.
  **Order-up-to** S = the SKU's Max stock, else s + d·``review_days``. Computed
  values are rounded to whole units (half up) so that the ``Why`` column can be
  checked with a calculator; typed values are used exactly as typed.
* **Position** = On hand + On order (Qty of PO lines DRAFT, APPROVED, SENT or
  CONFIRMED, as DESIGN.md says, including lines this job appended earlier
  today). So the run that places an order shows REORDER, and later runs show ON
  ORDER with On order filled in; the purchasing guard (one order per SKU per
  day) makes sure a re-run places nothing more. An order is needed when position
  ≤ s and S − position > 0; then q = max(S − position, Min order qty), rounded
  up to a multiple of Pack size (the contract's rule; with Reorder point and Max
  stock typed it is the min/max rule of ERP systems, exactly). When S − position
  ≤ 0 (a typed Max stock below the reorder point, or no demand at all) nothing
  is ordered: padding a zero order up to the Min order qty would buy stock
  nobody asked for.
* **Guards.** A quantity that is not a finite number ≥ 0, or a computed one
  (S not typed as Max stock) above ``max_order_days`` of demand, is *blocked*:
  not ordered, reported. With no demand at all any computed quantity is above
  that limit: a person has to type a Max stock to order such a SKU.

Stock status (first that applies): INACTIVE; OUT OF STOCK (On hand ≤ 0);
REORDER (a PO line is placed now); ON ORDER (On hand ≤ s and open PO lines
exist); LOW (days of cover < L + review days, or an order was needed but could
not be placed: held, blocked, no supplier…); else OK. A row whose On hand cannot
be read gets no status and a ``Why`` that says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ops_sheets.domain import allocation
from ops_sheets.domain.allocation import Kits

if TYPE_CHECKING:
    from ops_sheets.config import StockSettings

#: Revenue shares that close classes A and B.
ABC_CUTS = (0.80, 0.95)
#: The fewest days a new SKU's demand is divided by: a first week's sales say
#: little per day, and three sales on its first day are not 3/day.
MIN_HISTORY_DAYS = 7
#: Float noise allowance for rounding and comparisons of unit counts.
_EPS = 1e-9


@dataclass(frozen=True)
class ReorderPolicy:
    """The numbers behind the decision (``[jobs.stock]`` settings)."""

    lookback_days: int = 56
    default_lead_time_days: float = 14.0
    review_days: float = 7.0
    service_level_a: float = 0.98
    service_level_b: float = 0.95
    service_level_c: float = 0.90
    max_order_days: float = 120.0
    min_lead_time_samples: int = 3

    @classmethod
    def from_settings(cls, s: StockSettings) -> ReorderPolicy:
        return cls(
            lookback_days=s.lookback_days,
            default_lead_time_days=s.default_lead_time_days,
            review_days=s.review_days,
            service_level_a=s.service_level_a,
            service_level_b=s.service_level_b,
            service_level_c=s.service_level_c,
            max_order_days=s.max_order_days,
        )

    def z(self, abc: str) -> float:
        level = {"A": self.service_level_a, "B": self.service_level_b}.get(
            abc, self.service_level_c
        )
        return z_score(level)


def z_score(level: float) -> float:
    """Φ⁻¹(level): 0.95 → 1.645. Levels outside (0, 1) are clipped to sane bounds."""
    level = min(max(level, 0.5), 0.9999)
    return NormalDist().inv_cdf(level)


def demand_window(now: datetime, lookback_days: int) -> tuple[date, date]:
    """(first day, today): the whole days counted are first ≤ day < today."""
    today = now.date()
    return today - timedelta(days=lookback_days), today


def round_units(x: Any) -> Any:
    """Half-up rounding to whole units, tolerant of float noise (89.5 → 90)."""
    return np.floor(np.asarray(x, dtype=float) + 0.5 + _EPS)


def order_quantity(raw: Any, min_order_qty: Any, pack_size: Any) -> np.ndarray:
    """q = max(raw, Min order qty), rounded up to a multiple of Pack size (≥ 1 unit)."""
    raw = np.asarray(raw, dtype=float)
    moq = np.nan_to_num(np.asarray(min_order_qty, dtype=float), nan=0.0)
    pack = np.asarray(pack_size, dtype=float)
    pack = np.where(np.isfinite(pack) & (pack > 0), pack, 1.0)
    q = np.maximum(raw, moq)
    return np.ceil(q / pack - _EPS) * pack


# ---------------------------------------------------------------- demand


@dataclass(frozen=True)
class Demand:
    """Per SKU (aligned with the ``skus`` given): daily demand and what it rests on."""

    daily: np.ndarray  # d
    sd: np.ndarray  # σd
    units: np.ndarray  # units in the days counted
    days_counted: np.ndarray
    stockout_days: np.ndarray  # days left out
    revenue: np.ndarray  # over the whole window (stockout days included)
    #: days since the SKU's first order line, at most the window (the window when
    #: it has none): fewer than the window is a short history
    history_days: np.ndarray
    #: the days its demand is divided over before stockouts are left out: the
    #: history, at least MIN_HISTORY_DAYS, at most the window
    window_days: np.ndarray


def day_offsets(dates: pd.Series, start: date, tz: Any) -> np.ndarray:
    """Whole days since ``start`` in the business time zone (−1 for blanks; ``tz``
    None keeps the series' own zone)."""
    s = pd.Series(dates)
    if s.empty:
        return np.zeros(0, dtype=np.int64)
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    if tz is not None:
        s = s.dt.tz_convert(tz)
    local = s.dt.tz_localize(None)
    days = local.to_numpy().astype("datetime64[D]")
    out = (days - np.datetime64(start, "D")).astype(np.int64)
    return np.where(np.isnat(days), -1, out)


def stockout_frame(history: Mapping[str, Iterable[str]]) -> pd.DataFrame:
    """{ISO date: [SKUs seen with On hand ≤ 0]} (the job's state) → frame sku, day."""
    skus: list[str] = []
    days: list[date] = []
    for day, seen in history.items():
        d = date.fromisoformat(day)
        for sku in seen:
            skus.append(str(sku))
            days.append(d)
    return pd.DataFrame({"sku": pd.Series(skus, dtype=object), "day": days})


def demand(
    orders: pd.DataFrame,
    skus: Sequence[str] | pd.Index,
    start: date,
    days: int,
    tz: Any,
    *,
    stockouts: pd.DataFrame | None = None,
    prices: np.ndarray | None = None,
) -> Demand:
    """Daily demand d and σd per SKU over ``days`` days from ``start``, or over the
    SKU's shorter history (see the module docstring).

    Vectorised: order lines are binned per (SKU, day) once; sums and sums of
    squares per SKU give mean and spread, and stocked-out (SKU, day) bins are
    subtracted from both.
    """
    index = pd.Index(skus)
    n, w = len(index), int(days)
    zeros = np.zeros(n)
    if n == 0 or w <= 0:
        return Demand(zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros)

    # the day of each SKU's first order line (w: none before today)
    first = np.full(n, w, dtype=np.int64)
    if len(orders):
        codes = index.get_indexer(orders["sku"])
        qty = orders["qty"].to_numpy(dtype=float, na_value=np.nan)
        cancelled = orders["status"].eq("CANCELLED").fillna(False).to_numpy(dtype=bool)
        off = day_offsets(orders["order_date"], start, tz)
        dated = (codes >= 0) & orders["order_date"].notna().to_numpy(dtype=bool) & (off < w)
        np.minimum.at(first, codes[dated], off[dated])
        keep = (codes >= 0) & (off >= 0) & (off < w) & ~cancelled & np.isfinite(qty) & (qty > 0)
    else:
        codes = off = np.zeros(0, dtype=np.int64)
        qty = np.zeros(0)
        keep = np.zeros(0, dtype=bool)
    c, o, q = codes[keep], off[keep], qty[keep]
    history = np.where(first >= w, w, np.clip(w - first, 0, w))
    span = np.clip(history, min(MIN_HISTORY_DAYS, w), w)
    # each SKU's own first counted day: sales never fall before it
    lo = w - span

    # revenue over the whole window: the line's unit price, else the SKU's price
    revenue = zeros.copy()
    if len(c):
        price = orders["unit_price"].to_numpy(dtype=float, na_value=np.nan)[keep]
        if prices is not None:
            fallback = np.asarray(prices, dtype=float)[c]
            price = np.where(np.isfinite(price), price, fallback)
        revenue = np.bincount(c, weights=q * np.nan_to_num(price), minlength=n)

    # one bin per (SKU, day) that had sales
    bins, inverse = np.unique(c * w + o, return_inverse=True)
    day_units = np.bincount(inverse, weights=q) if len(bins) else np.zeros(0)
    bin_sku = bins // w

    out_days = zeros.copy()
    out_bin = np.zeros(len(bins), dtype=bool)
    if stockouts is not None and len(stockouts):
        s_codes = index.get_indexer(stockouts["sku"])
        s_off = day_offsets(pd.to_datetime(stockouts["day"]).dt.tz_localize(tz), start, tz)
        ok = (s_codes >= 0) & (s_off >= 0) & (s_off < w)
        ok[ok] &= s_off[ok] >= lo[s_codes[ok]]  # a day before its history is not counted
        s_bins = np.unique(s_codes[ok] * w + s_off[ok])
        out_days = np.bincount(s_bins // w, minlength=n).astype(float)
        out_bin = np.isin(bins, s_bins, assume_unique=True)

    def sums(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.where(mask, day_units, 0.0)
        return (
            np.bincount(bin_sku, weights=x, minlength=n),
            np.bincount(bin_sku, weights=x * x, minlength=n),
        )

    sum_all, sq_all = sums(np.ones(len(bins), dtype=bool))
    sum_in, sq_in = sums(~out_bin)
    n_in = span - out_days
    all_out = n_in <= 0  # every day a stockout: nothing better than the whole span
    n_eff = np.where(all_out, span, n_in)
    total = np.where(all_out, sum_all, sum_in)
    squares = np.where(all_out, sq_all, sq_in)
    mean = total / n_eff
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n_eff > 1, (squares - n_eff * mean * mean) / (n_eff - 1), 0.0)
    sd = np.sqrt(np.clip(var, 0.0, None))
    return Demand(
        mean,
        sd,
        total,
        n_eff.astype(float),
        np.where(all_out, 0.0, out_days),
        revenue,
        history.astype(float),
        span.astype(float),
    )


def abc_classes(revenue: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """'A', 'B' or 'C' per SKU by its rank in revenue (see module docstring)."""
    revenue = np.nan_to_num(np.asarray(revenue, dtype=float))
    n = len(revenue)
    eligible = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    r = np.where(eligible, np.clip(revenue, 0.0, None), 0.0)
    out = np.full(n, "C", dtype=object)
    total = r.sum()
    if total <= 0:
        return out
    order = np.argsort(-r, kind="stable")  # ties keep sheet order
    ranked = r[order]
    before = np.cumsum(ranked) - ranked
    cls = np.where(
        before < ABC_CUTS[0] * total * (1 - _EPS),
        "A",
        np.where(before < ABC_CUTS[1] * total * (1 - _EPS), "B", "C"),
    )
    cls = np.where(ranked > 0, cls, "C")
    out[order] = cls
    return out


# ---------------------------------------------------------------- lead times


def measured_lead_times(
    purchase_orders: pd.DataFrame,
    sku_supplier: Mapping[str, str] | pd.Series | None = None,
    *,
    min_samples: int = 3,
) -> pd.DataFrame:
    """Per supplier with ≥ ``min_samples`` received lines: mean, sd (days), n.

    A line counts when it has Created at and Received at (not before it) and is
    not CANCELLED; its supplier is the line's Supplier, else the SKU's.
    """
    cols = ["mean", "sd", "n"]
    po = purchase_orders
    if po.empty:
        return pd.DataFrame(columns=cols, dtype=float)
    created, received = po["created_at"], po["received_at"]
    ok = created.notna() & received.notna() & ~po["status"].eq("CANCELLED").fillna(False)
    ok &= received >= created
    supplier = po["supplier"]
    if sku_supplier is not None:
        supplier = supplier.where(supplier.notna(), po["sku"].map(sku_supplier))
    ok &= supplier.notna()
    if not ok.any():
        return pd.DataFrame(columns=cols, dtype=float)
    days = (received[ok] - created[ok]).dt.total_seconds() / 86400.0
    g = days.groupby(supplier[ok].astype(str))
    stats = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0), "n": g.size()})
    return stats[stats["n"] >= min_samples]


# ---------------------------------------------------------------- the decision


def _col(frame: pd.DataFrame, key: str, default: Any = np.nan) -> pd.Series:
    if key in frame.columns:
        return frame[key]
    return pd.Series(default, index=frame.index)


def _num(frame: pd.DataFrame, key: str) -> np.ndarray:
    return pd.to_numeric(_col(frame, key), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def usable_stock_rows(stock: pd.DataFrame) -> pd.DataFrame:
    """Rows whose SKU can be written back (unique, not blank)."""
    ok = stock["sku"].notna()
    if "_key_ok" in stock.columns:
        ok &= stock["_key_ok"].astype(bool)
    return stock[ok]


def on_order_by_sku(
    purchase_orders: pd.DataFrame, skus: pd.Index, today: date | None = None, tz: Any = None
) -> np.ndarray:
    """Units on open PO lines (DRAFT, APPROVED, SENT, CONFIRMED) per SKU, leaving out
    lines created on ``today`` (the day's own order, see the module docstring)."""
    po = purchase_orders
    if po.empty:
        return np.zeros(len(skus))
    # the rest of a partly received line stays on order (Qty received, wave 2)
    qty = allocation.to_come_units(po)
    keep = qty > 0
    if today is not None:
        keep = keep & (day_offsets(po["created_at"], today, tz) != 0)
    codes = skus.get_indexer(po["sku"])
    keep = keep & (codes >= 0)
    return np.bincount(codes[keep], weights=qty[keep], minlength=len(skus))


def decide(
    stock: pd.DataFrame,
    suppliers: pd.DataFrame,
    purchase_orders: pd.DataFrame,
    orders: pd.DataFrame,
    policy: ReorderPolicy,
    now: datetime,
    *,
    stockouts: pd.DataFrame | None = None,
    kits: Kits | None = None,
) -> pd.DataFrame:
    """One row per usable Stock row: every number of the decision, unrounded for display.

    Wave 2 (issue 16): open order lines are allocated (:mod:`allocation`) and the
    position is Available + on order; Days of cover is Available ÷ demand; a
    typed ``Forecast per day`` replaces the measured demand; kit rows (``kits``)
    are never reordered, their sales are demand for their components.

    Columns: sku, row, product, supplier, active, on_hand, unit_cost, pack_size,
    min_order_qty, daily_demand, demand_sd, days_counted, history_days, window_days,
    short_history, stockout_days, revenue,
    abc, service_level, z, lead_time, lead_time_sd, lead_time_source ('measured',
    'sku', 'supplier', 'default'), lead_time_samples, typed_lead_time,
    safety_stock, safety_typed, reorder_point, reorder_typed, order_up_to,
    max_typed, on_order, position, needs_order, order_qty, blocked (reason or ""),
    days_of_cover, committed, available, is_kit, forecast_typed, measured_demand.
    """
    tz = now.tzinfo
    stock = usable_stock_rows(stock)
    skus = pd.Index(stock["sku"].astype(str))
    n = len(skus)
    start, _ = demand_window(now, policy.lookback_days)

    active = _col(stock, "active", True).fillna(True).astype(bool).to_numpy()
    on_hand = _num(stock, "on_hand")
    price = _num(stock, "price")
    kits = kits or Kits()
    sold = allocation.kit_order_lines(orders, kits)  # a kit sold is demand for its parts
    dem = demand(sold, skus, start, policy.lookback_days, tz, stockouts=stockouts, prices=price)
    forecast = _num(stock, "forecast_per_day")
    forecast_typed = np.isfinite(forecast)
    d = np.where(forecast_typed, forecast, dem.daily)
    sd = dem.sd
    is_kit = skus.isin(list(kits.components))
    alloc = allocation.allocate(orders, skus, on_hand, purchase_orders, kits)
    committed, available = alloc.committed, alloc.available

    abc = abc_classes(dem.revenue, active)
    is_a, is_b = abc == "A", abc == "B"
    levels = np.select([is_a, is_b], [policy.service_level_a, policy.service_level_b],
                       policy.service_level_c)  # fmt: skip
    zs = np.select([is_a, is_b], [policy.z("A"), policy.z("B")], policy.z("C"))

    # lead time: measured > SKU typed > supplier typed > default
    supplier = _col(stock, "supplier", None)
    sup = suppliers[suppliers["supplier"].notna()] if not suppliers.empty else suppliers
    if "_key_ok" in sup.columns:
        sup = sup[sup["_key_ok"].astype(bool)]
    sup = sup.drop_duplicates("supplier").set_index("supplier") if not sup.empty else None
    sku_lt = _num(stock, "lead_time_days")
    sup_lt = (
        supplier.map(sup["lead_time_days"]).to_numpy(dtype=float, na_value=np.nan)
        if sup is not None
        else np.full(n, np.nan)
    )
    measured = measured_lead_times(
        purchase_orders,
        pd.Series(stock["supplier"].to_numpy(), index=skus),
        min_samples=policy.min_lead_time_samples,
    )
    m_mean = supplier.map(measured["mean"]).to_numpy(dtype=float, na_value=np.nan)
    m_sd = supplier.map(measured["sd"]).to_numpy(dtype=float, na_value=np.nan)
    m_n = np.nan_to_num(supplier.map(measured["n"]).to_numpy(dtype=float, na_value=np.nan))
    typed_lt = np.where(np.isfinite(sku_lt), sku_lt, sup_lt)
    is_measured = np.isfinite(m_mean)
    source = np.select(
        [is_measured, np.isfinite(sku_lt), np.isfinite(sup_lt)],
        ["measured", "sku", "supplier"],
        "default",
    )
    lead = np.where(
        is_measured,
        m_mean,
        np.where(np.isfinite(typed_lt), typed_lt, policy.default_lead_time_days),
    )
    lead_sd = np.where(is_measured, m_sd, 0.0)

    ss_typed_v = _num(stock, "safety_stock")
    rop_typed_v = _num(stock, "reorder_point")
    max_typed_v = _num(stock, "max_stock")
    ss_typed, rop_typed, max_typed = (
        np.isfinite(ss_typed_v),
        np.isfinite(rop_typed_v),
        np.isfinite(max_typed_v),
    )
    ss = np.where(
        ss_typed,
        ss_typed_v,
        round_units(zs * np.sqrt(lead * sd * sd + d * d * lead_sd * lead_sd)),
    )
    s = np.where(rop_typed, rop_typed_v, round_units(d * lead + ss))
    big_s = np.where(max_typed, max_typed_v, round_units(s + d * policy.review_days))

    on_order = on_order_by_sku(purchase_orders, skus)
    position = available + on_order
    known = np.isfinite(on_hand)
    raw = big_s - position
    needs = active & known & ~is_kit & (position <= s + _EPS) & (raw > _EPS)
    pack = _num(stock, "pack_size")
    moq = _num(stock, "min_order_qty")
    qty = np.where(needs, order_quantity(raw, moq, pack), 0.0)

    with np.errstate(invalid="ignore"):
        too_much = ~max_typed & (qty > policy.max_order_days * d + _EPS)
    bad = ~np.isfinite(qty) | (qty < 0)
    blocked = np.full(n, "", dtype=object)
    for i in np.flatnonzero(needs & (bad | too_much)):
        if bad[i]:
            blocked[i] = f"the quantity {qty[i]} is not a positive number"
        elif d[i] > 0:
            blocked[i] = (
                f"{fmt(qty[i])} is more than {fmt(policy.max_order_days)} days of demand "
                f"({fmt(policy.max_order_days * d[i])} at {fmt(d[i])}/day); "
                "type a Max stock to order it anyway"
            )
        else:
            blocked[i] = "no sales in the lookback; type a Max stock to order it anyway"

    with np.errstate(invalid="ignore", divide="ignore"):
        # what is promised to customers already is not cover
        cover = np.where(d > 0, np.clip(available, 0.0, None) / np.where(d > 0, d, 1.0), np.nan)

    # a kit's stock is what its components' On hand allows: every reader of the
    # decision (statuses, KPIs, the monitor's checks) sees that, not a typed On hand
    on_hand = allocation.kit_levels(kits, skus, on_hand)
    return pd.DataFrame(
        {
            "sku": skus.to_numpy(dtype=object),
            "row": _col(stock, "_row", 0).to_numpy(),
            "product": _col(stock, "product", None).to_numpy(dtype=object),
            "supplier": supplier.to_numpy(dtype=object),
            "active": active,
            "on_hand": on_hand,
            "unit_cost": _num(stock, "unit_cost"),
            "pack_size": pack,
            "min_order_qty": moq,
            "daily_demand": d,
            "demand_sd": sd,
            "days_counted": dem.days_counted,
            "history_days": dem.history_days,
            "window_days": dem.window_days,
            "short_history": dem.history_days < policy.lookback_days,
            "stockout_days": dem.stockout_days,
            "revenue": dem.revenue,
            "abc": abc,
            "service_level": levels,
            "z": zs,
            "lead_time": lead,
            "lead_time_sd": lead_sd,
            "lead_time_source": source,
            "lead_time_samples": m_n,
            "typed_lead_time": typed_lt,
            "safety_stock": ss,
            "safety_typed": ss_typed,
            "reorder_point": s,
            "reorder_typed": rop_typed,
            "order_up_to": big_s,
            "max_typed": max_typed,
            "on_order": on_order,
            "position": position,
            "needs_order": needs,
            "order_qty": qty,
            "blocked": blocked,
            "days_of_cover": cover,
            "committed": committed,
            "available": available,
            "is_kit": is_kit,
            "forecast_typed": forecast_typed,
            "measured_demand": dem.daily,
        }
    )


# ---------------------------------------------------------------- status and Why


def fmt(x: float) -> str:
    """A number for the Why column: whole numbers bare, else up to 2 decimals."""
    if x is None or not math.isfinite(x):
        return "?"
    if abs(x - round(x)) < 0.005:
        return f"{round(x):,}"
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def statuses(decision: pd.DataFrame, placed: np.ndarray, review_days: float) -> np.ndarray:
    """Stock status per SKU, the first that applies (see module docstring)."""
    f = decision
    on_hand = f["on_hand"].to_numpy(dtype=float)
    s = f["reorder_point"].to_numpy(dtype=float)
    cover = f["days_of_cover"].to_numpy(dtype=float)
    lead = f["lead_time"].to_numpy(dtype=float)
    needs = f["needs_order"].to_numpy(dtype=bool)
    if "is_kit" in f.columns:
        # a kit: what its components allow (its own On hand is not what ships)
        kit = f["is_kit"].to_numpy(dtype=bool)
        on_hand = np.where(kit, f["available"].to_numpy(dtype=float), on_hand)
    with np.errstate(invalid="ignore"):
        low = (np.isfinite(cover) & (cover < lead + review_days)) | (needs & ~placed)
        return np.select(
            [
                ~f["active"].to_numpy(dtype=bool),
                ~np.isfinite(on_hand),
                on_hand <= 0,
                placed,
                (on_hand <= s + _EPS) & (f["on_order"].to_numpy(dtype=float) > 0),
                low,
            ],
            ["INACTIVE", "", "OUT OF STOCK", "REORDER", "ON ORDER", "LOW"],
            "OK",
        )


def explain(
    decision: pd.DataFrame,
    *,
    placed_qty: Mapping[str, float] | None = None,
    notes: Mapping[str, str] | None = None,
    kit_notes: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``Why`` line per SKU: the arithmetic first, then what became of it.

    ``placed_qty`` holds SKUs ordered by top-up (their quantity differs from
    the rule's); ``notes`` what purchasing says (held, no supplier, …).
    """
    placed_qty = placed_qty or {}
    notes = notes or {}
    kit_notes = kit_notes or {}
    f = decision
    committed = _col(f, "committed", 0.0).to_numpy(dtype=float)
    is_kit = _col(f, "is_kit", False).to_numpy(dtype=bool)
    forecast_typed = _col(f, "forecast_typed", False).to_numpy(dtype=bool)
    measured = _col(f, "measured_demand", np.nan).to_numpy(dtype=float)
    out: list[str] = []
    for i, (
        sku, active, oh, oo, d, lead, src, lsd, ln, typed_lt, ss, ss_t, s, s_t, big_s, max_t,
        needs, q, moq, pack, blocked, so_days, short, history, window,
    ) in enumerate(zip(
        f["sku"], f["active"], f["on_hand"], f["on_order"], f["daily_demand"],
        f["lead_time"], f["lead_time_source"], f["lead_time_sd"], f["lead_time_samples"],
        f["typed_lead_time"], f["safety_stock"], f["safety_typed"], f["reorder_point"],
        f["reorder_typed"], f["order_up_to"], f["max_typed"], f["needs_order"],
        f["order_qty"], f["min_order_qty"], f["pack_size"], f["blocked"], f["stockout_days"],
        _col(f, "short_history", False), _col(f, "history_days", np.nan),
        _col(f, "window_days", np.nan),
        strict=True,
    )):  # fmt: skip
        note = notes.get(sku, "")
        if not active:
            out.append("inactive: not reordered" + (f"; {note}" if note else ""))
            continue
        if is_kit[i]:
            out.append(kit_notes.get(sku, "kit: never reordered, its components are"))
            continue
        if not math.isfinite(oh):
            out.append("On hand is blank or not a number: no decision")
            continue
        if s_t:
            calc = f"reorder point {fmt(s)} (typed)"
        else:
            safety = f"{fmt(ss)} safety" + (" (typed)" if ss_t else "")
            calc = f"{fmt(d)}/day × {fmt(lead)} d + {safety} = {fmt(s)}"
        pos = f"{fmt(oh)} on hand + {fmt(oo)} on order"
        if committed[i] > _EPS:  # promised to customers: not there to sell again
            pos = f"{fmt(oh)} on hand − {fmt(committed[i])} committed + {fmt(oo)} on order"
            oh = oh - committed[i]
        upto = f"up to {'max stock ' if max_t else ''}{fmt(big_s)}"
        if needs:
            extras = [upto]
            if math.isfinite(moq) and moq > 0 and moq >= big_s - oh - oo - _EPS:
                extras.append(f"min {fmt(moq)}")
            if math.isfinite(pack) and pack > 1:
                extras.append(f"packs of {fmt(pack)}")
            verdict = f"{pos} ≤ {fmt(s)} → order {fmt(q)} ({', '.join(extras)})"
            if blocked:
                verdict += f"; not ordered: {blocked}"
        elif oh + oo <= s + _EPS:
            verdict = f"{pos} ≤ {fmt(s)} but {upto} leaves nothing to order"
        elif sku in placed_qty:
            verdict = f"{pos} > {fmt(s)}; pulled forward: order {fmt(placed_qty[sku])} ({upto})"
        else:
            verdict = f"{pos} > {fmt(s)} → no order"
        parts = [calc, verdict]
        if forecast_typed[i]:
            parts.insert(0, f"Forecast per day {fmt(d)} typed (measured {fmt(measured[i])}/day)")
        if note:
            parts.append(note)
        if src == "measured":
            typed = f", typed {fmt(typed_lt)}" if math.isfinite(typed_lt) else ""
            parts.append(
                f"lead time {fmt(lead)} ± {fmt(lsd)} d measured over {int(ln)} received "
                f"PO lines{typed}"
            )
        if short:
            parts.append(history_note(history, window))
        if so_days > 0:
            parts.append(f"{int(so_days)} stockout day{'s' if so_days != 1 else ''} left out")
        out.append("; ".join(parts))
    return out


def history_note(history_days: float, window_days: float) -> str:
    """``Why``'s word on a short history: "only 21 days of history" (", counted as
    7" when demand is divided by more days than the SKU has sold)."""
    days = int(history_days)
    note = f"only {days} day{'s' if days != 1 else ''} of history"
    if math.isfinite(window_days) and window_days > days:
        note += f", counted as {int(window_days)}"
    return note
