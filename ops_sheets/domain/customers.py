"""Customers kept informed: shipping confirmations, delay notices, review requests (issue 18).

Pure: the Orders frame (with the allocation and ship-by the orders job uses), the
Forwarders, Stock, Returns and Complaints frames and ``now`` in, a plan of
emails out. The ``customers`` job (jobs/customers.py) sends them through the
ledger, at most once per key.

The rules (DESIGN.md wave 2, contract where it says so):

* **Notify**: an order any of whose lines says ``no`` in ``Notify`` gets no
  customer mail at all, ever (an opt-out is never overridden).
* **Shipping confirmation** (key ``shipped:<order>:<tracking>``): the lines of an
  order that have shipped units (SHIPPED, DELIVERED, or PART SHIPPED through
  ``Qty shipped``) are grouped by ``Tracking``; one email per order and tracking
  number lists the items shipped under it (and what is still to follow), the
  courier and a tracking link made from the forwarder's ``Tracking URL``
  (``{tracking}`` replaced by the number, URL-encoded). Only shipments of the
  last ``recent_days`` (by ``Shipped at``; a SHIPPED line without one counts)
  that have not arrived yet (not DELIVERED, no ``Delivered at``) are mailed, so
  turning the job on does not mail the shop's history. A shipped line without a
  tracking number gets no confirmation (the summary says so).
* **Delay notice** (key ``delayed:<order>:<cause>:<new date>``): an order with
  an open line that is late (its ship-by date has ended) or on BACKORDER. The
  new date is honest: for a late line, the ship-by date the rules give an order
  placed now (the next business day they allow); for a backordered line, the
  ship-by date counted from the expected PO date (``Expected by`` of the open PO
  line, see :mod:`.allocation`), or "unknown" when no PO is expected or the PO
  is itself overdue (its date has passed: there is no honest date to give). The
  order's date is the latest of its lines' (lines ON HOLD, or whose ``Payment``
  is not PAID, wait on the shop or the customer and are left out); the cause is
  ``backorder`` when any line is backordered, else ``late``. A second notice
  goes only when the new date is later than the one last promised (or a date is
  now known where it was not): a date that holds or improves sends nothing.
* **Review request** (key ``review:<order>``, off while ``review_request_days``
  is 0): ``review_request_days`` after the last ``Delivered at`` of an order all
  of whose lines are delivered; never for an order with a return (any Returns
  row) or an open complaint (Status not RESOLVED or CLOSED).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.domain.allocation import Allocation, fmt, outstanding_units, shipped_units
from ops_sheets.domain.fulfilment import Rules, ship_by_dates

#: state: order ID → {"cause", "date" (ISO or None), "at"}: the last date promised
PROMISED_NAMESPACE = "customers.promised"
OPT_OUT_WORDS = frozenset({"no", "n", "false", "0", "off", "never", "opt out", "opt-out"})
CLOSED_STATUSES = ("SHIPPED", "DELIVERED", "CANCELLED")
COMPLAINT_DONE = ("RESOLVED", "CLOSED")


@dataclass(frozen=True)
class CustomerRules:
    shipping_confirmation: bool
    order_delayed: bool
    review_request_days: int
    recent_days: int
    shop_name: str
    review_url: str = ""


@dataclass(frozen=True)
class CustomerEmail:
    kind: str
    key: str
    order_id: str
    to: str
    context: dict[str, Any]
    #: the Orders row whose Email cell it goes to (for a Problems row if it is bad)
    row: int
    reference: str


@dataclass
class CustomersPlan:
    emails: list[CustomerEmail] = field(default_factory=list)
    #: order ID → what to remember as promised once the delay notice is queued
    promised: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: orders that would have had mail but say Notify = no
    opted_out: list[str] = field(default_factory=list)
    #: orders shipped without a tracking number (no confirmation)
    no_tracking: list[str] = field(default_factory=list)
    #: (order, why) of review requests not sent
    reviews_skipped: list[tuple[str, str]] = field(default_factory=list)


def opted_out(value: object) -> bool:
    """``Notify`` says no (blank, yes and anything else: mail as usual)."""
    return isinstance(value, str) and value.strip().casefold() in OPT_OUT_WORDS


def tracking_link(template: str | None, tracking: str) -> str:
    """The forwarder's ``Tracking URL`` with ``{tracking}`` replaced ("" without one)."""
    if not template or "{tracking}" not in template:
        return ""
    link = template.strip().replace("{tracking}", quote(tracking.strip(), safe=""))
    return link if link.startswith(("https://", "http://")) else ""


def _text(v: object) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):  # type: ignore[arg-type]
        return ""
    return str(v).strip()


class _Cells:
    """``f.at[i, name]`` of a frame with a RangeIndex, read from its column as a list
    (made once, on first use): the same values, without pandas' look-up per cell."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._lists: dict[str, list[object]] = {}

    def __getitem__(self, at: tuple[int, str]) -> object:
        i, name = at
        values = self._lists.get(name)
        if values is None:
            values = self._lists[name] = self._frame[name].tolist()
        return values[i]


def _moment(v: object, tz: ZoneInfo) -> datetime | None:
    if v is None or (not isinstance(v, (str, datetime)) and pd.isna(v)):  # type: ignore[arg-type]
        return None
    if isinstance(v, str):
        return None
    ts = pd.Timestamp(v)  # type: ignore[arg-type]
    if pd.isna(ts):
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    return ts.to_pydatetime().astimezone(tz)


def next_ship_date(now: datetime, rules: Rules) -> date:
    """The ship-by date the rules give an order placed ``now``."""
    days = ship_by_dates(pd.Series([pd.Timestamp(now)]), rules)
    return days[0].astype("datetime64[D]").astype(date)


def ship_date_after(expected: date, now: datetime, rules: Rules) -> date:
    """The ship-by date counted from stock arriving on ``expected`` (not before now's)."""
    arrives = datetime.combine(max(expected, now.astimezone(rules.tz).date()), time(0), rules.tz)
    earliest = next_ship_date(now, rules)
    return max(next_ship_date(arrives, rules), earliest)


def plan_customers(
    orders: pd.DataFrame,
    *,
    ship_by: np.ndarray,
    allocation: Allocation | None,
    forwarders: pd.DataFrame,
    products: Mapping[str, str],
    returns: pd.DataFrame | None,
    complaints: pd.DataFrame | None,
    promised: Mapping[str, Mapping[str, Any]],
    rules: CustomerRules,
    order_rules: Rules,
    now: datetime,
) -> CustomersPlan:
    """Every customer email due now (see the module docstring).

    ``orders``: the Orders frame of usable rows; ``ship_by`` (``datetime64[D]``) and
    ``allocation`` are aligned with it (``allocation`` None: backorders unknown).
    ``returns`` / ``complaints`` None: unknown (the tab could not be read), so no
    review request is sent. ``promised``: the state's :data:`PROMISED_NAMESPACE`.
    """
    plan = CustomersPlan()
    if orders.empty:
        return plan
    tz = order_rules.tz
    f = orders.reset_index(drop=True)
    shipped = shipped_units(f)
    outstanding = outstanding_units(f)
    links = (
        {
            _text(r.get("forwarder")).casefold(): _text(r.get("tracking_url"))
            for r in forwarders.to_dict("records")
        }
        if "tracking_url" in forwarders.columns
        else {}
    )
    today = now.astimezone(tz).date()
    cell = _Cells(f)
    status = f["status"].to_numpy(dtype=object)
    # a line held for payment (``HOLD: UNPAID``) waits on the customer, not on us
    payment = (
        f["payment"].to_numpy(dtype=object)
        if "payment" in f.columns
        else np.full(len(f), None, dtype=object)
    )
    notify = f["notify"].to_numpy(dtype=object) if "notify" in f.columns else None
    # the orders' lines by Order ID, as f.groupby gives them, without a frame per order
    for order_id, lines in f["order_id"].groupby(f["order_id"], sort=True):
        idx = lines.index.to_numpy()
        order = str(order_id)
        email_rows = [i for i in idx if _text(cell[i, "email"])] if "email" in f.columns else []
        first = int(email_rows[0] if email_rows else idx[0])
        to = _text(cell[first, "email"]) if "email" in f.columns else ""
        row = int(cell[first, "_row"])
        name = (
            next((_text(cell[i, "customer"]) for i in idx if _text(cell[i, "customer"])), "")
            if "customer" in f.columns
            else ""
        )
        base = {
            "shop_name": rules.shop_name,
            "customer_name": name or "customer",
            "order_id": order,
        }
        out: list[CustomerEmail] = []

        def item(i: int, qty: float) -> dict[str, Any]:
            sku = _text(cell[i, "sku"])
            return {"sku": sku, "product": products.get(sku) or sku, "qty": fmt(qty)}

        # ------------------------------------------------ shipping confirmations
        if rules.shipping_confirmation:
            since = now - timedelta(days=rules.recent_days)
            groups: dict[str, list[int]] = {}
            for i in idx:
                if shipped[i] <= 0:
                    continue
                at = _moment(cell[i, "shipped_at"], tz) if "shipped_at" in f.columns else None
                arrived = _text(cell[i, "status"]) == "DELIVERED" or (
                    "delivered_at" in f.columns and _moment(cell[i, "delivered_at"], tz)
                )
                if arrived or (at is not None and not since <= at <= now):
                    continue  # "on its way" about a parcel already there, or old news
                tracking = _text(cell[i, "tracking"]) if "tracking" in f.columns else ""
                if not tracking:
                    plan.no_tracking.append(order)
                    continue
                groups.setdefault(tracking, []).append(int(i))
            for tracking, members in groups.items():
                courier = (
                    next(
                        (
                            _text(cell[i, "forwarder"])
                            for i in members
                            if _text(cell[i, "forwarder"])
                        ),
                        "",
                    )
                    if "forwarder" in f.columns
                    else ""
                )
                moments = (
                    [
                        m
                        for m in (_moment(cell[i, "shipped_at"], tz) for i in members)
                        if m is not None
                    ]
                    if "shipped_at" in f.columns
                    else []
                )
                to_follow = [item(int(i), outstanding[i]) for i in idx if outstanding[i] > 0]
                out.append(
                    CustomerEmail(
                        "shipping_confirmation",
                        f"shipped:{order}:{tracking}",
                        order,
                        to,
                        {
                            **base,
                            "courier": courier,
                            "tracking": tracking,
                            "tracking_url": tracking_link(links.get(courier.casefold()), tracking),
                            "shipped_at": max(moments) if moments else None,
                            "items": [item(i, shipped[i]) for i in members],
                            "to_follow": to_follow,
                        },
                        row,
                        f"{order} {tracking}",
                    )
                )

        # ------------------------------------------------ delay notices
        if rules.order_delayed:
            notice = _delay(
                status, payment, idx, ship_by, allocation, outstanding, today, now, order_rules
            )
            if notice is not None:
                cause, new_date, delayed = notice
                before = promised.get(order) or {}
                before_date = before.get("date")
                slipped = (
                    not before
                    or (
                        before_date is not None
                        and new_date is not None
                        and new_date.isoformat() > before_date
                    )
                    or (before_date is None and new_date is not None)
                    or (new_date is None and before.get("cause") != cause)
                )
                if slipped:
                    when = new_date.isoformat() if new_date else "unknown"
                    out.append(
                        CustomerEmail(
                            "order_delayed",
                            f"delayed:{order}:{cause}:{when}",
                            order,
                            to,
                            {
                                **base,
                                "cause": cause,
                                "new_date": new_date,
                                "previous_date": (
                                    date.fromisoformat(before_date) if before_date else None
                                ),
                                "again": bool(before),
                                "items": [item(i, outstanding[i]) for i in delayed],
                            },
                            row,
                            f"{order} {cause} {when}",
                        )
                    )
                    plan.promised[order] = {
                        "cause": cause,
                        "date": new_date.isoformat() if new_date else None,
                        "at": now.isoformat(),
                    }

        # ------------------------------------------------ review requests
        if rules.review_request_days > 0:
            review = _review(f, cell, idx, rules, now, tz)
            if review is not None:
                why = _review_blocked(order, returns, complaints)
                if why:
                    plan.reviews_skipped.append((order, why))
                else:
                    out.append(
                        CustomerEmail(
                            "review_request",
                            f"review:{order}",
                            order,
                            to,
                            {
                                **base,
                                "delivered_at": review,
                                "review_url": rules.review_url,
                                "items": [item(int(i), shipped[i]) for i in idx if shipped[i] > 0],
                            },
                            row,
                            order,
                        )
                    )

        if not out:
            continue
        if notify is not None and any(opted_out(v) for v in notify[idx]):
            plan.opted_out.append(order)
            for e in out:  # nothing is remembered as promised for an opted-out order
                plan.promised.pop(e.order_id, None)
            continue
        plan.emails += out
    plan.no_tracking = sorted(set(plan.no_tracking))
    return plan


def _delay(
    status: np.ndarray,
    payment: np.ndarray,
    idx: np.ndarray,
    ship_by: np.ndarray,
    allocation: Allocation | None,
    outstanding: np.ndarray,
    today: date,
    now: datetime,
    rules: Rules,
) -> tuple[str, date | None, list[int]] | None:
    """(cause, new date or None = unknown, delayed lines) of an order, or None;
    ``status`` and ``payment``: the Orders columns (payment None where absent)."""
    late_lines: list[int] = []
    back_lines: list[int] = []
    back_dates: list[date | None] = []
    for i in idx:
        if status[i] in CLOSED_STATUSES or status[i] == "ON HOLD" or outstanding[i] <= 0:
            continue
        if isinstance(payment[i], str) and payment[i] not in ("", "PAID"):
            continue
        if allocation is not None and bool(allocation.backorder[i]):
            back_lines.append(int(i))
            when = allocation.expected[i]
            expected = None if np.isnat(when) else when.astype("datetime64[D]").astype(date)
            # a PO already past its Expected by date is late itself: no date to promise
            back_dates.append(expected if expected is not None and expected >= today else None)
            continue
        due = ship_by[i]
        if not np.isnat(due) and due.astype("datetime64[D]").astype(date) < today:
            late_lines.append(int(i))
    if back_lines:
        if any(d is None for d in back_dates):
            return "backorder", None, back_lines + late_lines
        new = max(ship_date_after(d, now, rules) for d in back_dates if d is not None)
        if late_lines:
            new = max(new, next_ship_date(now, rules))
        return "backorder", new, back_lines + late_lines
    if late_lines:
        return "late", next_ship_date(now, rules), late_lines
    return None


def _review(
    f: pd.DataFrame,
    cell: _Cells,
    idx: np.ndarray,
    rules: CustomerRules,
    now: datetime,
    tz: ZoneInfo,
) -> datetime | None:
    """When the order was delivered, if its review request is due now."""
    if "delivered_at" not in f.columns:
        return None
    moments: list[datetime] = []
    for i in idx:
        if _text(cell[i, "status"]) == "CANCELLED":
            continue
        at = _moment(cell[i, "delivered_at"], tz)
        if at is None:
            return None  # not all delivered
        moments.append(at)
    if not moments:
        return None
    delivered = max(moments)
    due = delivered + timedelta(days=rules.review_request_days)
    if due <= now < due + timedelta(days=rules.recent_days):
        return delivered
    return None


def _review_blocked(
    order: str, returns: pd.DataFrame | None, complaints: pd.DataFrame | None
) -> str:
    """Why an order gets no review request ("" = none)."""
    if returns is None:
        return "the Returns tab could not be read"
    if complaints is None:
        return "the Complaints tab could not be read"
    if "order_id" in returns.columns and (returns["order_id"].astype(str) == order).any():
        return "it has a return"
    if "order_id" in complaints.columns and len(complaints):
        mine = complaints[complaints["order_id"].astype(str) == order]
        status = mine["status"] if "status" in mine.columns else pd.Series(dtype=object)
        if (~status.isin(COMPLAINT_DONE)).any():
            return "it has an open complaint"
    return ""


def summary_counts(emails: Sequence[CustomerEmail]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in emails:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out
