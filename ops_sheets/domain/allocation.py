"""Stock that stays true: committed, available, allocation, backorders, kits, computed On hand.

Pure and vectorised: typed frames (as :func:`ops_sheets.sheet.tables.parse_table`
makes them) in, arrays aligned with the given SKUs or order lines out. Both the
``stock`` job (Committed, Available, the reorder position, computed On hand) and
the ``orders`` job (BACKORDER, PART SHIPPED, no pickup for a backordered line)
call it, so the two never disagree.

The rules (DESIGN.md wave 2, contract where it says so):

* **Shipped units** of a line: its ``Qty shipped`` when typed (at most Qty), else
  all of Qty once the line is SHIPPED or DELIVERED or has a ``Shipped at``,
  else none. CANCELLED lines ship nothing and hold nothing.
* **Outstanding units** of a line: Qty − shipped units, for lines not CANCELLED.
  ``PART SHIPPED n OF m`` is a line with 0 < n < m: its rest stays committed.
* **Committed** (per SKU): the outstanding units of its lines, plus, for a SKU
  that is a component of kits, the outstanding kit units × the component's Qty.
  **Available** = On hand − Committed (negative when more is promised than held).
* **Allocation** (contract): outstanding lines take stock in order of Order
  date, then row order (lines without an Order date come last). A line is
  covered when the units of its SKU taken by it and every line before it fit in
  On hand; a line that cannot be covered whole is ``BACKORDER``, with the units
  it is short. A later, smaller line never jumps the queue: the customer who
  ordered first is served first, and the units a backordered line could partly
  take stay reserved for it. That is one cumulative sum per SKU, which is what
  keeps a million lines fast. A kit line takes its components' units; it is
  short by the most kits any one component is short of. A SKU that is not on the
  Stock tab, or whose On hand is blank, is not judged (nothing is known).
* **Expected date** of a backordered SKU: the earliest ``Expected by`` of its
  open PO lines that still have units to come (a kit: the latest of its short
  components' dates, none if one of them has none).
* **Partial receipts**: a PO line's received units are its ``Qty received`` when
  typed (at most Qty), else all of Qty once RECEIVED. The rest of a line that is
  open or RECEIVED stays on order; a CANCELLED line has nothing on order.
* **Kits** (``Kits`` tab, one row per component): selling a kit is demand for
  each component × Qty; a kit's Available is the fewest whole kits its
  components' Available allow; kits are never reordered, their components are.
  A kit whose components lead back to itself, a component that is not on the
  Stock tab, or a Qty that is not a positive number makes the kit unusable: a
  Problems row, and its lines are judged against the kit's own Stock row.
* **Computed On hand** (``[jobs.stock] on_hand = "computed"``, contract):
  ``Counted`` + Σ received units of PO lines received after ``Counted at`` −
  Σ shipped units of order lines shipped after it + Σ Qty of returns marked
  RECEIVED in a resaleable condition after it. Moments are ``Received at``,
  ``Shipped at`` and, for returns (the Returns tab has no received date),
  ``Requested at``. A movement at or before the count is in the count already;
  a movement without a date cannot be placed after the count, so it is not
  counted either, and ``Why`` lists those (they are the ones that may change
  the result once dated). A SKU without ``Counted`` or ``Counted at`` keeps
  On hand as typed, and ``Why`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ops_sheets.sheet.tables import OPEN_PO_STATUSES, Problem

SHIPPED_STATUSES = ("SHIPPED", "DELIVERED")
_EPS = 1e-9


def _column(frame: pd.DataFrame, key: str, default: object = np.nan) -> pd.Series:
    if key in frame.columns:
        return frame[key]
    return pd.Series(default, index=frame.index, dtype=object if default is None else None)


def _numbers(frame: pd.DataFrame, key: str) -> np.ndarray:
    return pd.to_numeric(_column(frame, key), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )


def _status(frame: pd.DataFrame) -> np.ndarray:
    return _column(frame, "status", None).to_numpy(dtype=object)


def fmt(x: float) -> str:
    """Units for people: whole numbers bare, else up to 2 decimals."""
    if not math.isfinite(x):
        return "?"
    return f"{round(x):,}" if abs(x - round(x)) < 0.005 else f"{x:,.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- order lines


def shipped_units(orders: pd.DataFrame) -> np.ndarray:
    """Units that left per order line (see the module docstring)."""
    qty = np.nan_to_num(_numbers(orders, "qty"), nan=0.0)
    typed = _numbers(orders, "qty_shipped")
    status = _status(orders)
    cancelled = status == "CANCELLED"
    left = np.isin(status, SHIPPED_STATUSES) | _column(orders, "shipped_at").notna().to_numpy()
    whole = np.where(left, qty, 0.0)
    out = np.where(np.isfinite(typed), np.minimum(np.nan_to_num(typed), qty), whole)
    return np.where(cancelled, 0.0, np.clip(out, 0.0, None))


def outstanding_units(orders: pd.DataFrame) -> np.ndarray:
    """Units still to ship per order line: Qty − shipped units, 0 when CANCELLED."""
    qty = np.nan_to_num(_numbers(orders, "qty"), nan=0.0)
    cancelled = _status(orders) == "CANCELLED"
    rest = np.clip(qty - shipped_units(orders), 0.0, None)
    return np.where(cancelled, 0.0, rest)


def part_shipped_texts(orders: pd.DataFrame) -> np.ndarray:
    """``PART SHIPPED n OF m`` per line shipped in part, "" for the others."""
    qty = np.nan_to_num(_numbers(orders, "qty"), nan=0.0)
    shipped = shipped_units(orders)
    part = (shipped > _EPS) & (shipped < qty - _EPS)
    out = np.full(len(orders), "", dtype=object)
    for i in np.flatnonzero(part):
        out[i] = f"PART SHIPPED {fmt(shipped[i])} OF {fmt(qty[i])}"
    return out


# ---------------------------------------------------------------- purchase orders


def received_units(purchase_orders: pd.DataFrame) -> np.ndarray:
    """Units that arrived per PO line (see the module docstring)."""
    qty = np.nan_to_num(_numbers(purchase_orders, "qty"), nan=0.0)
    typed = _numbers(purchase_orders, "qty_received")
    whole = np.where(_status(purchase_orders) == "RECEIVED", qty, 0.0)
    out = np.where(np.isfinite(typed), np.minimum(np.nan_to_num(typed), qty), whole)
    return np.clip(out, 0.0, None)


def to_come_units(purchase_orders: pd.DataFrame) -> np.ndarray:
    """Units still on order per PO line: the rest of open and partly received lines."""
    qty = np.nan_to_num(_numbers(purchase_orders, "qty"), nan=0.0)
    status = _status(purchase_orders)
    counted = np.isin(status, OPEN_PO_STATUSES) | (status == "RECEIVED")
    return np.where(counted, np.clip(qty - received_units(purchase_orders), 0.0, None), 0.0)


def expected_dates(purchase_orders: pd.DataFrame, skus: pd.Index) -> np.ndarray:
    """Per SKU: the earliest ``Expected by`` of its PO lines with units to come (NaT none)."""
    out = np.full(len(skus), np.datetime64("NaT"), dtype="datetime64[D]")
    po = purchase_orders
    if po.empty or "expected_by" not in po.columns:
        return out
    codes = skus.get_indexer(_column(po, "sku", None))
    expected = pd.to_datetime(po["expected_by"], errors="coerce")
    if isinstance(expected.dtype, pd.DatetimeTZDtype):
        expected = expected.dt.tz_localize(None)
    days = expected.to_numpy().astype("datetime64[D]")
    keep = (codes >= 0) & (to_come_units(po) > _EPS) & ~np.isnat(days)
    if keep.any():
        frame = pd.DataFrame({"code": codes[keep], "day": days[keep]})
        first = frame.groupby("code")["day"].min()
        out[first.index.to_numpy()] = first.to_numpy().astype("datetime64[D]")
    return out


# ---------------------------------------------------------------- kits


@dataclass(frozen=True)
class Kits:
    """Usable kits: kit SKU → [(component SKU, units per kit)], nested kits flattened."""

    components: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def expand(self, skus: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, ...]:
        """Demand rows: (index of the line, SKU that gives the units, units, units per
        kit). A line of a usable kit gives one row per component; any other line one
        row of its own SKU (units per kit 1)."""
        is_kit = pd.Series(skus, dtype=object).isin(list(self.components)).to_numpy()
        plain = np.flatnonzero(~is_kit)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
            (plain, skus[plain], units[plain], np.ones(len(plain)))
        ]
        for i in np.flatnonzero(is_kit):
            comps = self.components[skus[i]]
            per = np.array([q for _, q in comps], dtype=float)
            parts.append(
                (
                    np.full(len(comps), i),
                    np.array([c for c, _ in comps], dtype=object),
                    units[i] * per,
                    per,
                )
            )
        line, sku, qty, per = (np.concatenate(x) for x in zip(*parts, strict=True))
        return line.astype(np.int64), sku.astype(object), qty.astype(float), per


def read_kits(kits: pd.DataFrame, stock_skus: pd.Index, tab_title: str = "Kits") -> Kits:
    """The usable kits of the Kits tab, and a problem per unusable one."""
    if kits is None or kits.empty:
        return Kits()
    rows: dict[str, list[tuple[str, float, int]]] = {}
    for kit, comp, qty, row in zip(
        kits["kit_sku"], kits["component_sku"], _numbers(kits, "qty"),
        _column(kits, "_row", 0), strict=True,
    ):  # fmt: skip
        if isinstance(kit, str) and isinstance(comp, str):
            rows.setdefault(kit, []).append((comp, qty, int(row)))
    problems: list[Problem] = []
    usable: dict[str, list[tuple[str, float]]] = {}

    def bad(kit: str, row: int, column: str, value: str, problem: str, fix: str) -> None:
        problems.append(Problem(tab_title, row, column, kit, value, problem, fix))

    def flatten(kit: str, path: tuple[str, ...]) -> list[tuple[str, float]] | None:
        out: list[tuple[str, float]] = []
        for comp, qty, row in rows[kit]:
            if comp in path or comp == kit:
                bad(path[0], row, "Component SKU", comp,
                    f"kit {path[0]} contains itself (through {' → '.join([*path, comp])})",
                    "remove the row that puts the kit inside itself")  # fmt: skip
                return None
            if not (math.isfinite(qty) and qty > 0):
                bad(path[0], row, "Qty", fmt(qty) if math.isfinite(qty) else "",
                    f"component {comp} of kit {kit} has no positive Qty",
                    "type how many of the component go into one kit")  # fmt: skip
                return None
            if comp in rows:
                inner = flatten(comp, (*path, comp))
                if inner is None:
                    return None
                out += [(c, q * qty) for c, q in inner]
            elif comp not in stock_skus:
                bad(path[0], row, "Component SKU", comp,
                    f"component {comp} of kit {kit} is not on the Stock tab",
                    "add the component to the Stock tab or correct the SKU")  # fmt: skip
                return None
            else:
                out.append((comp, qty))
        return out

    for kit in rows:
        flat = flatten(kit, (kit,))
        if flat is not None:
            merged: dict[str, float] = {}
            for comp, qty in flat:
                merged[comp] = merged.get(comp, 0.0) + qty
            usable[kit] = list(merged.items())
    return Kits(usable, problems)


def kit_order_lines(orders: pd.DataFrame, kits: Kits) -> pd.DataFrame:
    """The order lines with each kit line's component lines added after them (same
    order, date and status; Qty × units per kit; no unit price): demand for
    components. The kit lines stay, so the kit's own row shows its sales."""
    if orders.empty or not kits.components:
        return orders
    sub = orders[orders["sku"].isin(list(kits.components))]
    if sub.empty:
        return orders
    pieces = []
    for kit, comps in kits.components.items():
        lines = sub[sub["sku"] == kit]
        for comp, per in comps:
            part = lines.copy()
            part["sku"] = comp
            part["qty"] = pd.to_numeric(part["qty"], errors="coerce") * per
            if "qty_shipped" in part.columns:
                part["qty_shipped"] = pd.to_numeric(part["qty_shipped"], errors="coerce") * per
            if "unit_price" in part.columns:
                part["unit_price"] = np.nan
            pieces.append(part)
    return pd.concat([orders, *pieces], ignore_index=True) if pieces else orders


# ---------------------------------------------------------------- allocation


@dataclass
class Allocation:
    """Per order line (aligned with the frame given) and per SKU (aligned with ``skus``)."""

    outstanding: np.ndarray  # units still to ship per line
    short: np.ndarray  # units (kits: whole kits) the line is short; 0 = covered
    backorder: np.ndarray  # bool: outstanding and not covered whole
    expected: np.ndarray  # datetime64[D]: when the missing units are expected (NaT unknown)
    committed: np.ndarray  # per SKU: outstanding units on its lines and its kits' lines
    available: np.ndarray  # per SKU: On hand − Committed (kits: whole kits components allow)

    def backorder_text(self, i: int) -> str:
        """``BACKORDER 3 SHORT, PO EXPECTED 2026-12-01`` (or ``NO PO``)."""
        when = self.expected[i]
        due = "NO PO" if np.isnat(when) else f"PO EXPECTED {when.astype(object).isoformat()}"
        return f"BACKORDER {fmt(float(self.short[i]))} SHORT, {due}"


def allocate(
    orders: pd.DataFrame,
    skus: pd.Index,
    on_hand: np.ndarray,
    purchase_orders: pd.DataFrame | None = None,
    kits: Kits | None = None,
) -> Allocation:
    """Committed, Available and the allocation of every line (module docstring)."""
    kits = kits or Kits()
    n_lines, n = len(orders), len(skus)
    on_hand = np.asarray(on_hand, dtype=float)
    outstanding = outstanding_units(orders) if n_lines else np.zeros(0)
    sku_col = _column(orders, "sku", None).to_numpy(dtype=object)
    line, comp, units, per = kits.expand(sku_col, outstanding)
    codes = skus.get_indexer(comp) if len(comp) else np.zeros(0, dtype=np.int64)
    known = codes >= 0
    committed = np.bincount(codes[known], weights=units[known], minlength=n)
    # a kit's own row: its outstanding kit units
    is_kit_sku = skus.isin(list(kits.components))
    if is_kit_sku.any() and n_lines:
        kit_codes = skus.get_indexer(sku_col)
        mine = (kit_codes >= 0) & is_kit_sku[np.maximum(kit_codes, 0)]
        committed = committed + np.bincount(kit_codes[mine], weights=outstanding[mine], minlength=n)
    available = on_hand - committed

    # allocation: one cumulative sum per SKU in (Order date, row) order
    stock = np.clip(on_hand, 0.0, None)
    judged = known & (units > _EPS)
    judged[judged] &= np.isfinite(on_hand[codes[judged]])
    short_rows = np.zeros(len(units))
    if judged.any():
        dates = pd.to_datetime(_column(orders, "order_date"), utc=True, errors="coerce")
        moment = dates.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        moment = np.where(dates.isna().to_numpy(), np.iinfo(np.int64).max, moment)
        rows = _column(orders, "_row", 0).to_numpy(dtype=np.int64, na_value=0)
        idx = np.flatnonzero(judged)
        c, li = codes[idx], line[idx]
        order = np.lexsort((rows[li], moment[li], c))
        c_sorted = c[order]
        taken = np.cumsum(units[idx][order])
        starts = np.flatnonzero(np.r_[True, c_sorted[1:] != c_sorted[:-1]])
        before = np.repeat(
            taken[starts] - units[idx][order][starts], np.diff(np.r_[starts, len(c_sorted)])
        )
        through = taken - before
        over = np.clip(through - stock[c_sorted], 0.0, None)
        short_rows[idx[order]] = np.minimum(over, units[idx][order])
    # per line: the most (kit) units any of its rows is short
    short_line = np.zeros(n_lines)
    if len(units):
        whole = np.ceil(short_rows / per - _EPS)
        np.maximum.at(short_line, line, whole)
    backorder = (short_line > 0) & (outstanding > _EPS)

    # when the missing units are expected: kits take their latest short component
    expected = np.full(n_lines, np.datetime64("NaT"), dtype="datetime64[D]")
    if backorder.any():
        po = purchase_orders if purchase_orders is not None else pd.DataFrame()
        per_sku = expected_dates(po, skus)
        rows_short = np.flatnonzero((short_rows > _EPS) & known)
        day = per_sku[codes[rows_short]].astype("datetime64[D]").astype(np.int64)
        nat = np.isnat(per_sku[codes[rows_short]])
        latest = np.full(n_lines, np.iinfo(np.int64).min)
        unknown = np.zeros(n_lines, dtype=bool)
        np.maximum.at(latest, line[rows_short], np.where(nat, np.iinfo(np.int64).min, day))
        unknown[line[rows_short[nat]]] = True
        ok = backorder & ~unknown & (latest > np.iinfo(np.int64).min)
        expected[ok] = latest[ok].astype("datetime64[D]")

    # a kit's Available: the whole kits its components' Available allow
    available = kit_levels(kits, skus, available)
    return Allocation(outstanding, short_line, backorder, expected, committed, available)


def kit_levels(kits: Kits, skus: pd.Index, levels: np.ndarray) -> np.ndarray:
    """``levels`` per SKU with each kit's replaced by the whole kits its components'
    levels allow (On hand → kits on the shelf; Available → kits that can be sold)."""
    out = np.asarray(levels, dtype=float).copy()
    for kit, comps in kits.components.items():
        at = skus.get_indexer([kit])[0]
        if at < 0:
            continue
        allowed = []
        for comp_sku, qty in comps:
            ci = skus.get_indexer([comp_sku])[0]
            have = levels[ci] if ci >= 0 and math.isfinite(levels[ci]) else 0.0
            allowed.append(math.floor(max(have, 0.0) / qty + _EPS))
        out[at] = float(min(allowed)) if allowed else 0.0
    return out


def line_statuses(
    base: np.ndarray, open_: np.ndarray, part: np.ndarray, allocation: Allocation
) -> np.ndarray:
    """The Ops status per line with allocation's words put first: ``PART SHIPPED n OF
    m`` replaces what shipping said of a line shipped in part; ``BACKORDER …`` goes
    before what the line would say otherwise (``LATE 2 BUSINESS DAYS``…)."""
    out = np.asarray(base, dtype=object).copy()
    for i in np.flatnonzero((part != "") | allocation.backorder):
        words = [str(part[i])] if part[i] else []
        if allocation.backorder[i]:
            words.append(allocation.backorder_text(i))
        if open_[i] and not part[i] and out[i]:
            words.append(str(out[i]))
        out[i] = "; ".join(words)
    return out


# ---------------------------------------------------------------- computed On hand


@dataclass
class OnHand:
    """Per SKU (aligned with the ``skus`` given)."""

    value: np.ndarray  # On hand to use: computed where a stock take is typed, else as typed
    computed: np.ndarray  # bool: value computed from a stock take
    why: list[str]  # the arithmetic (or why On hand stays as typed); "" when typed mode


def _moves(
    skus: pd.Index, sku: pd.Series, units: np.ndarray, moment: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = skus.get_indexer(sku.to_numpy(dtype=object))
    stamp = pd.to_datetime(moment, utc=True, errors="coerce")
    ns = stamp.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    keep = (codes >= 0) & (units > _EPS)
    ns = np.where(stamp.isna().to_numpy(), np.iinfo(np.int64).min, ns)
    return codes[keep], np.asarray(units, dtype=float)[keep], ns[keep]


def computed_on_hand(
    stock: pd.DataFrame,
    orders: pd.DataFrame,
    purchase_orders: pd.DataFrame,
    returns: pd.DataFrame,
    *,
    resaleable: Callable[[str | None], bool],
    kits: Kits | None = None,
) -> OnHand:
    """On hand from the last stock take and the movements since (module docstring)."""
    skus = pd.Index(stock["sku"].astype(str))
    n = len(skus)
    typed = _numbers(stock, "on_hand")
    counted = _numbers(stock, "counted")
    counted_at = pd.to_datetime(_column(stock, "counted_at"), utc=True, errors="coerce")
    base_ns = counted_at.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    has_take = np.isfinite(counted) & counted_at.notna().to_numpy()

    kits = kits or Kits()
    lines = kit_order_lines(orders, kits) if len(orders) else orders
    moves = {
        "received": _moves(
            skus, _column(purchase_orders, "sku", None), received_units(purchase_orders),
            _column(purchase_orders, "received_at"),
        ),
        "shipped": _moves(
            skus, _column(lines, "sku", None), shipped_units(lines), _column(lines, "shipped_at")
        ),
    }  # fmt: skip
    if len(returns):
        restock = np.array(
            [
                s == "RECEIVED" and resaleable(c if isinstance(c, str) else None)
                for s, c in zip(_status(returns), _column(returns, "condition", None), strict=True)
            ],
            dtype=bool,
        )
        qty = np.where(restock, np.nan_to_num(_numbers(returns, "qty")), 0.0)
        moves["restocked"] = _moves(
            skus, _column(returns, "sku", None), qty, _column(returns, "requested_at")
        )
    else:
        moves["restocked"] = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, np.int64))

    sums: dict[str, np.ndarray] = {}
    undated: dict[str, np.ndarray] = {}
    for name, (codes, units, ns) in moves.items():
        no_date = ns == np.iinfo(np.int64).min
        after = ~no_date & (ns > base_ns[codes])
        sums[name] = np.bincount(codes[after], weights=units[after], minlength=n)
        undated[name] = np.bincount(codes[no_date], weights=units[no_date], minlength=n)
    value = np.where(
        has_take, counted + sums["received"] - sums["shipped"] + sums["restocked"], typed
    )
    why: list[str] = []
    for i in range(n):
        if not has_take[i]:
            missing = "Counted" if not np.isfinite(counted[i]) else "Counted at"
            why.append(f"On hand as typed: no stock take ({missing} blank)")
            continue
        when = counted_at.iloc[i].tz_convert(None).strftime("%Y-%m-%d %H:%M")
        text = (
            f"On hand {fmt(value[i])} = counted {fmt(counted[i])} at {when}"
            f" + {fmt(sums['received'][i])} received − {fmt(sums['shipped'][i])} shipped"
            f" + {fmt(sums['restocked'][i])} restocked since"
        )
        left_out = [
            f"{fmt(undated[name][i])} {name} without a date"
            for name in ("received", "shipped", "restocked")
            if undated[name][i] > _EPS
        ]
        if left_out:
            text += f" (not counted: {', '.join(left_out)}; type the date to count them)"
        why.append(text)
    return OnHand(value, has_take, why)


def stock_levels(
    stock: pd.DataFrame,
    orders: pd.DataFrame,
    purchase_orders: pd.DataFrame,
    returns: pd.DataFrame,
    *,
    mode: str,
    resaleable: Callable[[str | None], bool],
    kits: Kits | None = None,
) -> OnHand:
    """On hand per Stock row as the configured mode has it (``typed`` or ``computed``)."""
    if mode == "computed":
        return computed_on_hand(
            stock, orders, purchase_orders, returns, resaleable=resaleable, kits=kits
        )
    typed = _numbers(stock, "on_hand")
    return OnHand(typed, np.zeros(len(typed), dtype=bool), [""] * len(typed))


def kit_why(kit: str, kits: Kits, skus: pd.Index, available: np.ndarray) -> str:
    """``Why`` of a kit's Stock row: what each component allows."""
    parts = []
    for comp, qty in kits.components.get(kit, []):
        at = skus.get_indexer([comp])[0]
        have = available[at] if at >= 0 else float("nan")
        parts.append(f"{comp} {fmt(have)} available ÷ {fmt(qty)}")
    return (
        f"kit: available {fmt(available[skus.get_indexer([kit])[0]])} = the fewest of "
        f"({'; '.join(parts)}); never reordered, its components are"
    )


def backorder_summary(orders: pd.DataFrame, allocation: Allocation) -> Mapping[str, float]:
    """SKU → units short over its backordered lines (for findings and the summary)."""
    if not allocation.backorder.any():
        return {}
    sub = pd.DataFrame(
        {
            "sku": orders["sku"].to_numpy(dtype=object)[allocation.backorder],
            "short": allocation.short[allocation.backorder],
        }
    )
    return {str(k): float(v) for k, v in sub.groupby("sku")["short"].sum().items()}
