"""Returns: RMA numbers, checks, the return window, acknowledgements, restock hints, rates.

Pure domain logic: parsed tables, settings and ``now`` in, plans out. Nothing here
reads or writes the sheet, the state database or the mailer; ``jobs/returns.py``
does that with what these functions return.

The rules (issue 7, DESIGN.md "Precise rules"):

* **RMA numbers** are ``RMA-<yyyy>-<nnnn>``: the year of assignment, a sequence
  that restarts at 0001 each year and is never reused, always above the highest
  number of that year already in the sheet (the team may have typed some).
  A row with a blank ``Return ID`` has no key yet, so it is found at write time
  by ``Return ID`` (blank) + ``Order ID`` + ``SKU`` (+ ``Requested at`` when the
  parsed table carries the cell's raw text, see :data:`RAW_REQUESTED_AT`); rows
  that this key cannot tell apart are skipped with a problem and get no number.
  :func:`assign_rmas` reuses a number that an earlier run took for the same row
  but could not write, so a row never gets two numbers.
* **Checks** (Problems tab and the row's ``Problems`` column): order not found,
  SKU not on that order, Qty above what was ordered minus earlier returns of the
  line, refund above the line's value, Qty blank or not a whole number. An
  unknown Status is reported by the table parser.
* **Return window**: counted from ``Delivered at``, else ``Shipped at`` +
  ``assumed_transit_days``, else ``Order date``; the day of the request is day
  *n* (the start day and the day after both count as day 1).
* **Ops status**: ``IN WINDOW (day n of 30)`` / ``OUTSIDE WINDOW by n days —
  decision needed`` while REQUESTED (``— approved`` once APPROVED);
  ``RESTOCK +n — update On hand`` once RECEIVED in a resaleable condition, until
  the team sets REFUNDED; ``DONE (refunded)`` / ``DONE (rejected)``.
* **Acknowledgement**: once per RMA while REQUESTED or APPROVED, if
  ``notify_customer``. It waits while the row has problems (other than the refund
  amount: the customer's items and quantities must be right) and, for a request
  outside the window, until the team approves it.
* **Rates**: returned ÷ shipped units per SKU and per supplier over
  ``rate_window_days``; returns count by ``Requested at`` (REJECTED ones do not
  count, nor rows without a date), shipments by ``Shipped at`` (cancelled lines
  do not count). SKUs above ``alert_return_rate`` with at least
  ``min_units_shipped`` units shipped become "possible faulty product" findings.

State kept by the job (namespaces of :class:`ops_sheets.store.state.State`):

* sequence ``rma-<yyyy>``: the last RMA number issued that year;
* ``returns.rma``: :func:`identity` of a row → ``{"rma", "order_id", "sku",
  "requested_at", "assigned_at"}``, every number ever assigned, so that a number
  whose write was skipped is reused for the same row next run;
* findings (:mod:`ops_sheets.domain.findings`, source ``returns``): the current
  :func:`faulty_findings`; monitor tells new, worse and resolved ones apart;
* ``returns.rates``: ``latest`` → the last rates (:meth:`ReturnRates.as_state`),
  for the weekly summary's watch list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from ops_sheets.domain.findings import Finding
from ops_sheets.sheet.tables import Problem, Table

if TYPE_CHECKING:
    from ops_sheets.config import Settings

#: A frame column with the raw text of each ``Requested at`` cell (``key_text`` of
#: the cell as read). When the table parser provides it, blank Return IDs are
#: found at write time by Requested at too; without it only by Order ID + SKU.
RAW_REQUESTED_AT = "_raw_requested_at"

RMA_RE = re.compile(r"^\s*RMA-(\d{4})-(\d+)\s*$", re.IGNORECASE)
OPEN_STATUSES = ("REQUESTED", "APPROVED")
RMA_NAMESPACE = "returns.rma"
RATES_NAMESPACE = "returns.rates"

_TOLERANCE = 0.005  # half a penny: refunds typed with rounding are not "above"


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class ReturnRules:
    window_days: int = 30
    transit_days: int = 3
    notify_customer: bool = True
    next_steps: str = ""
    resaleable: frozenset[str] = frozenset({"new", "unopened", "as new", "good"})
    rate_window_days: int = 90
    alert_rate: float = 0.10
    min_units_shipped: int = 20
    send_within_days: int = 14
    shop_name: str = "Our shop"
    return_address: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> ReturnRules:
        s = settings.jobs.returns
        address = s.return_address or settings.jobs.stock.delivery_address or settings.shop_name
        return cls(
            window_days=s.return_window_days,
            transit_days=s.assumed_transit_days,
            notify_customer=s.notify_customer,
            next_steps=s.next_steps,
            resaleable=frozenset(_norm(c) for c in s.resaleable_conditions),
            rate_window_days=s.rate_window_days,
            alert_rate=s.alert_return_rate,
            min_units_shipped=s.min_units_shipped,
            send_within_days=s.send_within_days,
            shop_name=settings.shop_name,
            return_address=address,
        )

    def is_resaleable(self, condition: str | None) -> bool:
        return condition is not None and _norm(condition) in self.resaleable


def _norm(text: object) -> str:
    """Comparison form of free text: case, spaces, `_` and `-` do not matter."""
    return re.sub(r"[\s_\-]+", " ", str(text)).strip().casefold()


def _blank(value: object) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str | None:
    return None if _blank(value) else str(value)


def _rows_text(rows: Sequence[int]) -> str:
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _num(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"


def percent(rate: float) -> str:
    """0.1429 → "14.3%": one decimal, so 10.04 % is visibly above a 10 % limit."""
    return f"{rate * 100:.1f}%"


# ---------------------------------------------------------------- RMA numbers


def format_rma(year: int, number: int) -> str:
    return f"RMA-{year}-{number:04d}"


def parse_rma(text: object) -> tuple[int, int] | None:
    """``RMA-2026-0042`` → (2026, 42); anything else → None."""
    m = RMA_RE.match(str(text)) if not _blank(text) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def highest_rma(ids: Iterable[object], year: int) -> int:
    """The highest sequence number of ``year`` among ``ids`` (0 when there is none)."""
    numbers = [p[1] for p in map(parse_rma, ids) if p is not None and p[0] == year]
    return max(numbers, default=0)


def identity(order_id: str, sku: str, requested_at: object) -> str:
    """What makes a return request the same row across runs: order line and moment."""
    when = "" if _blank(requested_at) else pd.Timestamp(requested_at).strftime("%Y-%m-%dT%H:%M")
    return f"{order_id}|{sku}|{when}"


@dataclass(frozen=True)
class Assignment:
    identity: str
    rma: str
    reused: bool  # taken by an earlier run whose write did not land


def assign_rmas(
    rows: Sequence[ReturnRow],
    sheet_ids: Iterable[object],
    remembered: Mapping[str, Mapping[str, Any]],
    take: Callable[[], str],
) -> dict[str, Assignment]:
    """An RMA number for each row that needs one, by identity.

    ``remembered`` is every assignment of earlier runs (identity → ``{"rma",
    "order_id", "sku", ...}``). One whose number is not in the sheet never landed
    (the write was skipped or failed) and is reused: first for the row with the
    same identity, else for the only row of the same order line when that line
    has exactly one such number (someone corrected Requested at meanwhile).
    ``take`` issues a new number; numbers already in the sheet are never issued.
    """
    in_sheet = {str(i).strip().upper() for i in sheet_ids if not _blank(i)}
    out: dict[str, Assignment] = {}
    used: set[str] = set()
    unlanded = {
        ident: str(v["rma"])
        for ident, v in remembered.items()
        if v.get("rma") and str(v["rma"]).upper() not in in_sheet
    }
    waiting = [r for r in rows if r.identity is not None]
    for r in waiting:
        rma = unlanded.get(r.identity or "")
        if rma and rma not in used:
            out[r.identity or ""] = Assignment(r.identity or "", rma, reused=True)
            used.add(rma)
    # second chance: the same order line, when it is unambiguous on both sides
    left_rows: dict[tuple[str, str], list[ReturnRow]] = {}
    for r in waiting:
        if r.identity not in out:
            left_rows.setdefault((r.order_id or "", r.sku or ""), []).append(r)
    left_numbers: dict[tuple[str, str], list[str]] = {}
    for ident, rma in unlanded.items():
        if rma in used:
            continue
        v = remembered[ident]
        left_numbers.setdefault((str(v.get("order_id", "")), str(v.get("sku", ""))), []).append(rma)
    for line, line_rows in left_rows.items():
        numbers = left_numbers.get(line, [])
        if len(line_rows) == 1 and len(numbers) == 1:
            ident = line_rows[0].identity or ""
            out[ident] = Assignment(ident, numbers[0], reused=True)
            used.add(numbers[0])
    for r in waiting:
        if r.identity in out:
            continue
        rma = take()
        while rma.upper() in in_sheet or rma in used:  # a sequence behind the sheet
            rma = take()
        out[r.identity or ""] = Assignment(r.identity or "", rma, reused=False)
        used.add(rma)
    return out


# ---------------------------------------------------------------- the window


@dataclass(frozen=True)
class Window:
    start: date
    basis: str  # "delivered", "shipped + 3 days", "order date"
    requested_on: date
    length: int

    @property
    def day(self) -> int:
        return max((self.requested_on - self.start).days, 1)

    @property
    def ends(self) -> date:
        return self.start + timedelta(days=self.length)

    @property
    def inside(self) -> bool:
        return self.day <= self.length

    @property
    def days_over(self) -> int:
        return max(self.day - self.length, 0)


def return_window(
    delivered_at: object,
    shipped_at: object,
    order_date: object,
    requested_on: date,
    rules: ReturnRules,
) -> Window | None:
    if not _blank(delivered_at):
        start, basis = pd.Timestamp(delivered_at).date(), "delivered"
    elif not _blank(shipped_at):
        start = pd.Timestamp(shipped_at).date() + timedelta(days=rules.transit_days)
        basis = f"shipped + {_plural(rules.transit_days, 'day')}"
    elif not _blank(order_date):
        start, basis = pd.Timestamp(order_date).date(), "order date"
    else:
        return None
    return Window(start, basis, requested_on, rules.window_days)


# ---------------------------------------------------------------- orders


@dataclass(frozen=True)
class OrderLine:
    qty: float  # units ordered on lines not cancelled
    value: float | None  # qty × unit price; None when a price is missing
    delivered_at: Any
    shipped_at: Any
    order_date: Any


@dataclass(frozen=True)
class OrderInfo:
    order_id: str
    customer: str | None
    email: str | None
    row: int  # the row to point at about the Email
    skus: tuple[str, ...]
    delivered_at: Any
    shipped_at: Any
    order_date: Any


def order_index(
    orders: pd.DataFrame,
) -> tuple[dict[tuple[str, str], OrderLine], dict[str, OrderInfo]]:
    """Order lines by (order ID, SKU) and orders by ID, aggregated in a few passes."""
    if orders.empty:
        return {}, {}
    f = orders[orders["order_id"].notna()]
    live = f["status"] != "CANCELLED"
    qty = f["qty"].where(live, 0.0).fillna(0.0)
    value = (f["qty"].fillna(0.0) * f["unit_price"]).where(live, 0.0)
    known = f["unit_price"].notna() | ~live
    lines_frame = (
        f.assign(_qty=qty, _value=value.fillna(0.0), _known=known)[f["sku"].notna()]
        .groupby(["order_id", "sku"], sort=False)
        .agg(
            qty=("_qty", "sum"),
            value=("_value", "sum"),
            known=("_known", "all"),
            delivered_at=("delivered_at", "max"),
            shipped_at=("shipped_at", "max"),
            order_date=("order_date", "min"),
        )
    )
    lines = {
        (str(o), str(s)): OrderLine(
            float(r.qty),
            float(r.value) if r.known else None,
            r.delivered_at,
            r.shipped_at,
            r.order_date,
        )
        for (o, s), r in zip(lines_frame.index, lines_frame.itertuples(index=False), strict=True)
    }
    g = f.groupby("order_id", sort=False)
    agg = g.agg(
        customer=("customer", "first"),
        email=("email", "first"),
        row=("_row", "first"),
        delivered_at=("delivered_at", "max"),
        shipped_at=("shipped_at", "max"),
        order_date=("order_date", "min"),
    )
    email_rows = f[f["email"].notna()].groupby("order_id", sort=False)["_row"].first()
    skus = f[f["sku"].notna()].groupby("order_id", sort=False)["sku"].agg(tuple)
    infos = {
        str(o): OrderInfo(
            str(o),
            _text(r.customer),
            _text(r.email),
            int(email_rows.get(o, r.row)),
            tuple(skus.get(o, ())),
            r.delivered_at,
            r.shipped_at,
            r.order_date,
        )
        for o, r in zip(agg.index, agg.itertuples(index=False), strict=True)
    }
    return lines, infos


# ---------------------------------------------------------------- the plan


@dataclass
class ReturnRow:
    """One Returns row: what it is, what is wrong with it, what the service says."""

    row: int
    return_id: str | None
    order_id: str | None
    sku: str | None
    product: str
    units: int  # Qty, or 1 when blank
    requested_at: Any
    reason: str | None
    condition: str | None
    status: str | None
    key_ok: bool  # a Return ID that is unique (or blank)
    raw_requested_at: str | None = None
    window: Window | None = None
    order: OrderInfo | None = None
    problems: list[Problem] = field(default_factory=list)  # every problem of the row
    ops_status: str = ""
    restock_units: int = 0
    current_ops_status: str | None = None
    current_problems: str | None = None
    ambiguous: bool = False
    ack_due: bool = False  # an acknowledgement should go out (once it has an RMA)

    @property
    def needs_rma(self) -> bool:
        """A blank Return ID the service may fill: it has an order line and is unambiguous."""
        return (
            self.return_id is None
            and self.order_id is not None
            and self.sku is not None
            and not self.ambiguous
        )

    @property
    def identity(self) -> str | None:
        if self.order_id is None or self.sku is None:
            return None
        return identity(self.order_id, self.sku, self.requested_at)

    @property
    def problem_text(self) -> str:
        """The row's ``Problems`` cell: each distinct problem once, in order."""
        return "; ".join(dict.fromkeys(p.problem for p in self.problems))

    def write_key(self, columns: Sequence[str]) -> dict[str, str]:
        """The key that finds this row at write time, on ``columns`` (see :func:`key_columns`)."""
        values = {
            "return_id": self.return_id or "",
            "order_id": self.order_id or "",
            "sku": self.sku or "",
            "requested_at": self.raw_requested_at or "",
        }
        return {c: values[c] for c in columns}

    @property
    def changed(self) -> bool:
        return (self.current_ops_status or "") != self.ops_status or (
            self.current_problems or ""
        ) != self.problem_text


@dataclass
class ReturnsPlan:
    rows: list[ReturnRow]
    problems: list[Problem]  # this module's own findings for the Problems tab
    key_columns: tuple[str, ...]

    @property
    def needing_rma(self) -> list[ReturnRow]:
        return [r for r in self.rows if r.needs_rma]


def key_columns(returns: Table) -> tuple[str, ...]:
    """The columns every Returns write is located by.

    Return ID alone cannot find a row whose Return ID is blank; Order ID + SKU
    (+ the raw Requested at when the parser provides it) can. Every Returns write
    uses the same columns so the planner indexes the tab once.
    """
    base = ("return_id", "order_id", "sku")
    if RAW_REQUESTED_AT in returns.frame.columns and "requested_at" in returns.headers:
        return (*base, "requested_at")
    return base


def plan_returns(
    returns: Table,
    orders: Table,
    stock: Table,
    rules: ReturnRules,
    now: datetime,
    *,
    row_problems: Sequence[Problem] = (),
) -> ReturnsPlan:
    """Check every Returns row, place it in its window, and say what the team should do.

    ``row_problems`` are problems found elsewhere (the parser, cross-tab checks)
    that belong in the rows' ``Problems`` cells too; they are not repeated in
    :attr:`ReturnsPlan.problems`.
    """
    f = returns.frame
    columns = key_columns(returns)
    if f.empty:
        return ReturnsPlan([], [], columns)
    # only the orders returns name: a year of orders is 100k lines, returns a few thousand
    asked = orders.frame["order_id"].isin(set(f["order_id"].dropna()))
    lines, infos = order_index(orders.frame[asked])
    products = _products(stock.frame)
    earlier = _earlier_units(f)
    by_row: dict[int, list[Problem]] = {}
    for p in row_problems:
        if p.tab == returns.title and p.row is not None:
            by_row.setdefault(p.row, []).append(p)
    raw = f[RAW_REQUESTED_AT] if RAW_REQUESTED_AT in f.columns else None

    rows: list[ReturnRow] = []
    own: list[Problem] = []
    for idx, rec in zip(f.index, f.to_dict("records"), strict=True):
        r = _row(rec, products, raw.at[idx] if raw is not None else None)
        line = lines.get((r.order_id, r.sku)) if r.order_id and r.sku else None
        r.order = infos.get(r.order_id) if r.order_id else None
        found = _check_qty(returns, rec, r)
        found += _check_line(returns, orders, rec, r, line, earlier.get(idx, (0.0, ())))
        own += found
        r.problems = [*by_row.get(r.row, []), *found]

        requested_on = (
            pd.Timestamp(r.requested_at).date() if not _blank(r.requested_at) else now.date()
        )
        source = line or r.order
        if source is not None:
            r.window = return_window(
                source.delivered_at, source.shipped_at, source.order_date, requested_on, rules
            )
        r.ops_status, r.restock_units = ops_status(r, rules)
        rows.append(r)

    own += _ambiguous(returns, rows, columns)
    for r in rows:
        own += _acknowledgement_due(r, rules, orders, returns.header("refund_amount"))
    return ReturnsPlan(rows, own, columns)


def _row(rec: Mapping[str, Any], products: Mapping[str, str], raw: object) -> ReturnRow:
    qty = rec["qty"]
    # a blank Qty counts as one unit (and is reported); 0.5 of a mug is still a mug
    units = 1 if _blank(qty) else max(math.ceil(float(qty) - 1e-9), 0)
    sku = _text(rec["sku"])
    return ReturnRow(
        row=int(rec["_row"]),
        return_id=_text(rec["return_id"]),
        order_id=_text(rec["order_id"]),
        sku=sku,
        product=products.get(sku or "", "") or (sku or ""),
        units=units,
        requested_at=None if _blank(rec["requested_at"]) else rec["requested_at"],
        reason=_text(rec["reason"]),
        condition=_text(rec["condition"]),
        status=_text(rec["status"]),
        key_ok=bool(rec["_key_ok"]),
        raw_requested_at=None if _blank(raw) else str(raw),
        current_ops_status=_text(rec["ops_status"]),
        current_problems=_text(rec["problems"]),
    )


def _products(stock: pd.DataFrame) -> dict[str, str]:
    if stock.empty:
        return {}
    f = stock[stock["sku"].notna() & stock["product"].notna()].drop_duplicates("sku")
    return dict(zip(f["sku"].astype(str), f["product"].astype(str), strict=True))


def _earlier_units(f: pd.DataFrame) -> dict[Any, tuple[float, tuple[int, ...]]]:
    """Per row: units of the same order line returned before it (by Requested at, then row)."""
    live = f[f["order_id"].notna() & f["sku"].notna() & (f["status"] != "REJECTED")]
    if live.empty:
        return {}
    units = live["qty"].fillna(1.0).clip(lower=0)
    ordered = live.assign(_units=units).sort_values(
        ["order_id", "sku", "requested_at", "_row"], na_position="last"
    )
    out: dict[Any, tuple[float, tuple[int, ...]]] = {}
    for _, group in ordered.groupby(["order_id", "sku"], sort=False):
        total, seen = 0.0, []
        for idx, u, row in zip(group.index, group["_units"], group["_row"], strict=True):
            out[idx] = (total, tuple(seen))
            total += float(u)
            seen.append(int(row))
    return out


def _check_qty(returns: Table, rec: Mapping[str, Any], r: ReturnRow) -> list[Problem]:
    qty = rec["qty"]
    if _blank(qty):
        if r.status is None and r.order_id is None:
            return []
        return [
            _problem(
                returns,
                r,
                "qty",
                "",
                "Qty is blank; counted as 1 unit",
                "type the number of units returned",
            )
        ]
    if float(qty) <= 0 or not float(qty).is_integer():
        return [
            _problem(
                returns,
                r,
                "qty",
                _num(float(qty)),
                "Qty is not a positive whole number",
                "type the number of units returned, e.g. 1",
            )
        ]
    return []


def _line_skipped(orders: Table, order_id: str, sku: str) -> bool:
    """The order line is on the sheet but skipped for its duplicated key."""
    f = orders.all_rows
    if f.empty:
        return False
    skipped = f[~f["_key_ok"].astype(bool)]
    same = (skipped["order_id"].astype(str) == order_id) & (skipped["sku"].astype(str) == sku)
    return bool(same.any())


def _check_line(
    returns: Table,
    orders: Table,
    rec: Mapping[str, Any],
    r: ReturnRow,
    line: OrderLine | None,
    before: tuple[float, tuple[int, ...]],
) -> list[Problem]:
    """The row against its order: order known, SKU on it, Qty and refund within the line."""
    if not orders.exists:
        return []  # "tab not found" says it once; not once per return
    if line is None and r.order_id and r.sku and _line_skipped(orders, r.order_id, r.sku):
        label = f"{orders.header('order_id')} + {orders.header('sku')}"
        return [
            _problem(
                returns,
                r,
                "order_id",
                r.order_id,
                f"order line {r.order_id} / {r.sku} is skipped on the {orders.title} tab "
                f"(its {label} is on more than one row), so this return cannot be checked",
                f"make the line's {label} unique on the {orders.title} tab",
            )
        ]
    if r.order_id and r.order is None:
        return [
            _problem(
                returns,
                r,
                "order_id",
                r.order_id,
                f"order {r.order_id} is not on the {orders.title} tab",
                "correct the Order ID (it must match the Orders tab exactly)",
            )
        ]
    if r.order is not None and r.sku and line is None:
        has = ", ".join(r.order.skus) or "no SKUs"
        return [
            _problem(
                returns,
                r,
                "sku",
                r.sku,
                f"SKU {r.sku} is not on order {r.order_id} (it has {has})",
                "correct the SKU or the Order ID",
            )
        ]
    if line is None:
        return []
    out: list[Problem] = []
    returned, rows = before
    if r.status != "REJECTED" and not _blank(rec["qty"]) and r.units > line.qty - returned + 1e-9:
        already = f", {_num(returned)} already returned ({_rows_text(rows)})" if returned else ""
        out.append(
            _problem(
                returns,
                r,
                "qty",
                _num(float(rec["qty"])),
                f"Qty {r.units} is more than can be returned: {_num(line.qty)} ordered{already}",
                "check Qty against the order: returns of a line cannot exceed what was ordered",
            )
        )
    refund = rec["refund_amount"]
    if line.value is not None and not _blank(refund) and float(refund) > line.value + _TOLERANCE:
        out.append(
            _problem(
                returns,
                r,
                "refund_amount",
                f"{float(refund):.2f}",
                f"Refund amount {float(refund):.2f} is above the line's value {line.value:.2f}",
                "check the refund: it cannot exceed what the customer paid for the line",
            )
        )
    return out


def _problem(
    returns: Table, r: ReturnRow, column: str, value: str, problem: str, fix: str
) -> Problem:
    return Problem(returns.title, r.row, returns.header(column), row_label(r), value, problem, fix)


def row_label(r: ReturnRow) -> str:
    """The Problems tab's Key for a Returns row: its Return ID, or its order line."""
    return r.return_id or f"{r.order_id or '?'} / {r.sku or '?'} (no Return ID)"


def _ambiguous(returns: Table, rows: Sequence[ReturnRow], columns: Sequence[str]) -> list[Problem]:
    """Blank Return IDs whose write key matches more than one row: none gets a number."""
    groups: dict[tuple[str, ...], list[ReturnRow]] = {}
    for r in rows:
        if r.return_id is None and r.order_id is not None and r.sku is not None:
            groups.setdefault(tuple(r.write_key(columns).values()), []).append(r)
    out: list[Problem] = []
    by_date = "requested_at" in columns
    for group in groups.values():
        if len(group) < 2:
            continue
        rows_text = ", ".join(str(r.row) for r in group)
        same = "Order ID, SKU and Requested at" if by_date else "Order ID and SKU"
        for r in group:
            r.ambiguous = True
            p = _problem(
                returns,
                r,
                "return_id",
                "",
                f"rows {rows_text} have the same {same} and no Return ID, so the service "
                "cannot tell them apart; none of them gets an RMA number",
                "type a Return ID on all but one of them"
                + ("" if by_date else ", or tell them apart by Requested at")
                + ", or delete a duplicate row",
            )
            r.problems.append(p)
            out.append(p)
    return out


def ops_status(r: ReturnRow, rules: ReturnRules) -> tuple[str, int]:
    """The row's ``Ops status`` and the units to put back on the shelf (0 if none)."""
    if r.status == "REJECTED":
        return "DONE (rejected)", 0
    if r.status == "REFUNDED":
        return "DONE (refunded)", 0
    if r.status == "RECEIVED":
        if r.condition is None:
            return "RECEIVED — fill in Condition to see whether it can be restocked", 0
        if rules.is_resaleable(r.condition):
            return f"RESTOCK +{r.units} — update On hand", r.units
        return f"RECEIVED — {r.condition}: not resaleable, refund or write off", 0
    if r.window is None:
        return "WINDOW UNKNOWN — order not found", 0
    w = r.window
    if w.inside:
        return f"IN WINDOW (day {w.day} of {w.length})", 0
    verdict = "approved" if r.status == "APPROVED" else "decision needed"
    return f"OUTSIDE WINDOW by {_plural(w.days_over, 'day')} — {verdict}", 0


def _acknowledgement_due(
    r: ReturnRow, rules: ReturnRules, orders: Table, refund_header: str
) -> list[Problem]:
    """Decide ``ack_due``; a missing customer email is a problem on the Orders tab."""
    r.ack_due = False
    if not rules.notify_customer or r.status not in OPEN_STATUSES or r.ambiguous:
        return []
    if r.return_id is not None and not r.key_ok:
        return []  # a duplicated Return ID: which return is this number?
    # a refund problem does not change what the customer is told; anything else might
    blocking = [p for p in r.problems if p.column != refund_header]
    if blocking or r.order is None or r.window is None:
        return []
    if r.status == "REQUESTED" and not r.window.inside:
        return []  # outside the window: the team decides first
    if r.order.email is None:
        return [
            Problem(
                orders.title,
                r.order.row,
                orders.header("email"),
                r.order_id or "",
                "",
                f"Email is blank, so the customer cannot be told about the return of "
                f"{r.sku} ({r.return_id or 'new request'})",
                "type the customer's email address; the acknowledgement goes on the next run",
            )
        ]
    r.ack_due = True
    return []


# ---------------------------------------------------------------- acknowledgement


@dataclass(frozen=True)
class Acknowledgement:
    """A ``return_acknowledgement`` email, without the mailer's types."""

    key: str
    rma: str
    to: str
    context: dict[str, Any]
    origin_tab: str
    origin_row: int
    origin_column: str
    origin_key: str


def acknowledgement_key(rma: str) -> str:
    """One idempotency key per RMA: the acknowledgement is sent at most once."""
    return f"rma:{rma}"


def acknowledgement(
    r: ReturnRow, rma: str, rules: ReturnRules, today: date, orders: Table
) -> Acknowledgement:
    """The ``return_acknowledgement`` context (templates/README.md) for a row with an RMA."""
    assert r.order is not None and r.order.email is not None, "only rows with ack_due"
    return_by = today + timedelta(days=rules.send_within_days)
    if r.window is not None:
        return_by = max(r.window.ends, return_by)
    context: dict[str, Any] = {
        "shop_name": rules.shop_name,
        "customer_name": r.order.customer or "customer",
        "rma": rma,
        "order_id": r.order_id,
        "items": [
            {"sku": r.sku, "product": r.product or r.sku, "qty": r.units, "reason": r.reason or ""}
        ],
        "return_by": return_by,
        "next_steps": rules.next_steps,
        "return_address": rules.return_address,
    }
    return Acknowledgement(
        key=acknowledgement_key(rma),
        rma=rma,
        to=r.order.email,
        context=context,
        origin_tab=orders.title,
        origin_row=r.order.row,
        origin_column=orders.header("email"),
        origin_key=r.order_id or "",
    )


# ---------------------------------------------------------------- rates


@dataclass(frozen=True)
class Rate:
    """Return rate of one SKU or supplier over the window."""

    name: str  # the SKU, or the supplier
    shipped_units: float
    returned_units: float
    top_reasons: tuple[tuple[str, float], ...]
    product: str = ""
    supplier: str = ""

    @property
    def rate(self) -> float | None:
        return self.returned_units / self.shipped_units if self.shipped_units > 0 else None

    def describe(self) -> str:
        rate = self.rate
        shown = percent(rate) if rate is not None else "n/a"
        return f"{shown} ({_num(self.returned_units)} of {_num(self.shipped_units)} units)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "product": self.product,
            "supplier": self.supplier,
            "shipped_units": self.shipped_units,
            "returned_units": self.returned_units,
            "rate": self.rate,
            "top_reasons": [[reason, units] for reason, units in self.top_reasons],
        }


@dataclass(frozen=True)
class ReturnRates:
    since: datetime
    until: datetime
    window_days: int
    skus: tuple[Rate, ...]  # highest rate first
    suppliers: tuple[Rate, ...]
    alerts: tuple[Rate, ...]  # SKUs over the alert rate with enough units shipped

    def as_state(self) -> dict[str, Any]:
        return {
            "as_of": self.until.isoformat(),
            "since": self.since.isoformat(),
            "window_days": self.window_days,
            "skus": [r.as_dict() for r in self.skus],
            "suppliers": [r.as_dict() for r in self.suppliers],
            "alerts": [r.name for r in self.alerts],
        }


def return_rates(
    returns: pd.DataFrame,
    orders: pd.DataFrame,
    stock: pd.DataFrame,
    rules: ReturnRules,
    now: datetime,
    *,
    top: int = 3,
) -> ReturnRates:
    """Returned ÷ shipped units per SKU and per supplier over ``rate_window_days``."""
    until = pd.Timestamp(now)
    since = until - pd.Timedelta(days=rules.rate_window_days)
    if orders.empty:
        shipped = pd.Series(dtype="float64")
    else:
        s = orders[
            orders["sku"].notna()
            & orders["shipped_at"].notna()
            & (orders["shipped_at"] > since)
            & (orders["shipped_at"] <= until)
            & (orders["status"] != "CANCELLED")
        ]
        shipped = s["qty"].clip(lower=0).fillna(0.0).groupby(s["sku"]).sum()
    if returns.empty:
        back = returns.iloc[0:0].assign(_units=pd.Series(dtype="float64"), _reason="")
    else:
        back = returns[
            returns["sku"].notna()
            & returns["requested_at"].notna()
            & (returns["requested_at"] > since)
            & (returns["requested_at"] <= until)
            & (returns["status"] != "REJECTED")
        ]
        back = back.assign(
            _units=back["qty"].fillna(1.0).clip(lower=0),
            _reason=back["reason"].map(lambda v: "(no reason)" if _blank(v) else _norm(v)),
        )
    returned = back.groupby("sku")["_units"].sum() if not back.empty else pd.Series(dtype="float64")

    supplier_of: dict[str, str] = {}
    product_of: dict[str, str] = {}
    if not stock.empty:
        st = stock[stock["sku"].notna()].drop_duplicates("sku")
        supplier_of = {
            str(k): str(v) for k, v in zip(st["sku"], st["supplier"], strict=True) if not _blank(v)
        }
        product_of = {
            str(k): str(v) for k, v in zip(st["sku"], st["product"], strict=True) if not _blank(v)
        }
    no_supplier = "(no supplier)"
    back = back.assign(_supplier=back["sku"].map(lambda s: supplier_of.get(str(s), no_supplier)))

    def reasons(frame: pd.DataFrame) -> dict[str, tuple[tuple[str, float], ...]]:
        if frame.empty:
            return {}
        totals = frame.groupby(["_key", "_reason"])["_units"].sum().reset_index()
        totals = totals.sort_values(["_key", "_units", "_reason"], ascending=[True, False, True])
        return {
            str(k): tuple(
                (str(r), float(u)) for r, u in zip(g["_reason"], g["_units"], strict=True)
            )[:top]
            for k, g in totals.groupby("_key", sort=False)
        }

    sku_reasons = reasons(back.assign(_key=back["sku"]))
    names = sorted(set(map(str, shipped.index)) | set(map(str, returned.index)))
    skus = [
        Rate(
            name=sku,
            shipped_units=float(shipped.get(sku, 0.0)),
            returned_units=float(returned.get(sku, 0.0)),
            top_reasons=sku_reasons.get(sku, ()),
            product=product_of.get(sku, ""),
            supplier=supplier_of.get(sku, no_supplier),
        )
        for sku in names
    ]
    sup_reasons = reasons(back.assign(_key=back["_supplier"]))
    by_supplier: dict[str, list[float]] = {}
    for r in skus:
        acc = by_supplier.setdefault(r.supplier, [0.0, 0.0])
        acc[0] += r.shipped_units
        acc[1] += r.returned_units
    suppliers = [
        Rate(name, s, b, sup_reasons.get(name, ()), supplier=name)
        for name, (s, b) in sorted(by_supplier.items())
    ]

    def order(rates: Iterable[Rate]) -> tuple[Rate, ...]:
        return tuple(sorted(rates, key=lambda r: (-(r.rate or 0.0), -r.returned_units, r.name)))

    alerts = [
        r
        for r in skus
        if r.rate is not None
        and r.rate > rules.alert_rate
        and r.shipped_units >= rules.min_units_shipped
    ]
    return ReturnRates(
        since.to_pydatetime(),
        until.to_pydatetime(),
        rules.rate_window_days,
        order(skus),
        order(suppliers),
        order(alerts),
    )


def faulty_findings(rates: ReturnRates, rules: ReturnRules) -> list[Finding]:
    """ "Possible faulty product" findings for ``monitor`` (keys ``returns:faulty:<sku>``).

    ``metric`` is the return rate in whole percent, so monitor re-alerts only
    when the rounded rate grows, not on every small change.
    """
    suppliers = {s.name: s for s in rates.suppliers}
    out: list[Finding] = []
    for r in rates.alerts:
        rate = r.rate or 0.0
        reasons = ", ".join(f"{reason} ({_num(units)})" for reason, units in r.top_reasons)
        supplier = suppliers.get(r.supplier)
        supplier_text = (
            f" Supplier {r.supplier}: {supplier.describe()} returned overall."
            if supplier is not None and r.supplier != "(no supplier)"
            else ""
        )
        label = f"{r.name} {r.product}".strip() if r.product and r.product != r.name else r.name
        who = r.supplier if r.supplier != "(no supplier)" else "the supplier"
        out.append(
            Finding(
                key=f"returns:faulty:{r.name}",
                source="returns",
                severity="critical" if rate >= 2 * rules.alert_rate else "warning",
                title=f"Possible faulty product: {label}, {percent(rate)} returned "
                f"in {rates.window_days} days",
                detail=f"{_num(r.returned_units)} of {_num(r.shipped_units)} units shipped in "
                f"the last {rates.window_days} days were returned (alert above "
                f"{percent(rules.alert_rate)}); top reasons: {reasons or 'none given'}."
                + supplier_text,
                action=f"Inspect the returned units and the stock on the shelf, and raise it "
                f"with {who}; consider pausing sales of {r.name} until it is understood.",
                metric=float(round(rate * 100)),
            )
        )
    return out
