"""Packing day: holds, probable double orders, the pick list and packing slips.

Pure rules (DESIGN.md "Packing day", contract): frames, the assessment of
:mod:`.fulfilment` and ``now`` in; per-line masks, findings, rows and slip
contents out. ``jobs/orders.py`` writes them.

* **Holds.** An open line (not shipped, cancelled or ON HOLD) is ``HOLD:
  UNPAID`` when its order's ``Payment`` is anything but PAID or blank (PENDING,
  PARTIALLY PAID, REFUNDED, VOIDED), or when a Payment cell of the order cannot
  be read (a typo must not ship as "blank = PAID"); it is ``HOLD: ADDRESS`` when
  an address of its order fails its country's rules (:mod:`.postal`). A parcel is
  one order, so one held line holds the order's open lines. A held line is never
  booked for pickup, is left off the pick list and gets no packing slip; READY on
  it is a Problems row (the job adds it).
* **Probable double orders.** Orders with the same customer email (any case)
  and the same SKUs and quantities, placed within two hours of each other, and
  neither shipped nor cancelled: one finding per group for the Today tab and the
  manager, never a hold (a customer may well want two).
* **Pick list.** One row per SKU to pick for the open lines, neither held nor
  backordered, whose Ship by is on or before their forwarder's next pickup day
  (a line without a usable forwarder: the earliest next pickup of any): Location
  and Product from the Stock tab, Qty, the order IDs, the earliest Ship by;
  sorted by Location (as people read bins: A-2 before A-10; blank last), then SKU.
* **Packing slips.** One per order with a line on the pick list: the shop, the
  order, the items going (SKU, product, qty), what is to follow (backordered),
  the delivery address and a box for a note. :func:`slip_digest` is what decides
  whether a slip is written again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from ops_sheets.domain.findings import Finding
from ops_sheets.domain.postal import Issue, line_issues
from ops_sheets.domain.postal import country as read_country

HOLD_UNPAID = "HOLD: UNPAID"
HOLD_ADDRESS = "HOLD: ADDRESS"
#: Payment words that let an order ship (blank = PAID, DESIGN.md)
PAID = ("PAID",)
DOUBLE_WINDOW = timedelta(hours=2)
PICK_LIST_HEADERS = ("Location", "SKU", "Product", "Qty", "Orders", "Ship by")


# ---------------------------------------------------------------- holds


@dataclass
class Holds:
    """Per line (frame order)."""

    unpaid: np.ndarray  # bool
    address: np.ndarray  # bool
    #: why, per line position, for the Problems column ("payment PENDING")
    why: dict[int, list[str]] = field(default_factory=dict)
    #: per held order, the cell to fix: one of its lines (position) and what is wrong
    #: there (see :func:`order_holds`)
    unpaid_cell: dict[object, tuple[int, str, bool]] = field(default_factory=dict)
    address_cell: dict[object, tuple[int, Issue]] = field(default_factory=dict)

    @property
    def held(self) -> np.ndarray:
        return self.unpaid | self.address

    def words(self, i: int) -> str:
        out = []
        if self.unpaid[i]:
            out.append(HOLD_UNPAID)
        if self.address[i]:
            out.append(HOLD_ADDRESS)
        return "; ".join(out)


def holds(
    frame: pd.DataFrame,
    open_: np.ndarray,
    *,
    unreadable_payment: np.ndarray | None = None,
    state_column: bool = False,
    check_address: bool = True,
) -> Holds:
    """Which open lines are held, and why (see the module docstring).

    ``unreadable_payment``: lines whose Payment cell could not be read (its own
    Problems row says why).
    """
    n = len(frame)
    open_ = np.asarray(open_, dtype=bool)
    order_ids = frame["order_id"].to_numpy(dtype=object) if n else np.empty(0, dtype=object)
    why: dict[int, list[str]] = {}
    if "payment" in frame.columns:
        pay = frame["payment"].to_numpy(dtype=object)
        word = np.array([_word(v) for v in pay], dtype=object)
    else:
        word = np.full(n, "", dtype=object)
    line_unpaid = (word != "") & ~np.isin(word, PAID)
    bad = (
        np.zeros(n, dtype=bool)
        if unreadable_payment is None
        else np.asarray(unreadable_payment, dtype=bool)
    )
    unpaid_orders = _orders_with(order_ids, line_unpaid | bad)
    unpaid = open_ & _member(order_ids, unpaid_orders)
    reason = {}
    unpaid_cell: dict[object, tuple[int, str, bool]] = {}
    for i in np.flatnonzero(line_unpaid | bad):
        reason.setdefault(
            order_ids[i], "Payment cannot be read" if bad[i] else f"Payment {word[i]}"
        )
        before = unpaid_cell.get(order_ids[i])
        if before is None or (open_[i] and not open_[before[0]]):  # an open line's cell first
            unpaid_cell[order_ids[i]] = (int(i), str(word[i]), bool(bad[i]))
    for i in np.flatnonzero(unpaid):
        why.setdefault(int(i), []).append(
            f"{HOLD_UNPAID}: {reason.get(order_ids[i], 'unpaid')}, not packed or booked until PAID"
        )
    found = line_issues(frame, open_, state_column=state_column) if check_address else {}
    bad_address = np.zeros(n, dtype=bool)
    bad_address[list(found)] = True
    address_orders = _orders_with(order_ids, bad_address)
    address = open_ & _member(order_ids, address_orders)
    first_issue = {}
    address_cell: dict[object, tuple[int, Issue]] = {}
    for pos in sorted(found):
        first_issue.setdefault(order_ids[pos], found[pos][0].problem)
        address_cell.setdefault(order_ids[pos], (int(pos), found[pos][0]))
    for i in np.flatnonzero(address):
        text = first_issue.get(order_ids[i], "")
        why.setdefault(int(i), []).append(
            f"{HOLD_ADDRESS}: not booked for pickup until the address is corrected"
            + ("" if bad_address[i] else f" (another line of the order: {text})")
        )
    held_orders = _orders_with(order_ids, unpaid | address)
    return Holds(
        unpaid,
        address,
        why,
        {o: c for o, c in unpaid_cell.items() if o in held_orders},
        {o: c for o, c in address_cell.items() if o in held_orders},
    )


@dataclass(frozen=True)
class OrderHold:
    """One held order as a Problems row: the cell to fix and what to do."""

    order_id: object
    position: int  # the line (frame position) whose cell is to fix
    column: str  # Orders column key: payment, postcode, country, state...
    value: str
    problem: str
    fix: str


def order_holds(frame: pd.DataFrame, h: Holds) -> list[OrderHold]:
    """One row per held order and hold (DESIGN.md "Packing day": the reason and
    what to fix, on the Problems tab), pointing at the cell to correct: the
    Payment cell of an unpaid order, the first wrong address cell (the Postcode of
    ``SW1A 1AAA``) of an order held for its address. In order of the sheet."""
    out: list[OrderHold] = []
    for order, (pos, word, unreadable) in h.unpaid_cell.items():
        if unreadable:
            problem = f"order {order} on {HOLD_UNPAID}: its Payment cannot be read"
            fix = "type the payment status (PAID once the money is in; see this cell's own row)"
        else:
            problem = f"order {order} on {HOLD_UNPAID}: Payment {word}, not packed or booked"
            fix = "set Payment to PAID once the money has come in, or cancel the order"
        out.append(OrderHold(order, pos, "payment", word, problem, fix))
    for order, (pos, issue) in h.address_cell.items():
        problem = (
            f"order {order} on {HOLD_ADDRESS}: {issue.problem}; not booked for pickup "
            "until the address is corrected"
        )
        out.append(OrderHold(order, pos, issue.column, issue.value or "", problem, issue.fix))
    return sorted(out, key=lambda o: (o.position, o.column != "payment"))


def held_orders(frame: pd.DataFrame, *, state_column: bool = False) -> dict[str, str]:
    """Order ID -> its hold words, for orders with an open line on hold, from the
    Orders frame alone (the Today tab: an unpaid order is no order to ship)."""
    if frame.empty or not {"order_id", "status"} <= set(frame.columns):
        return {}
    status = frame["status"].to_numpy(dtype=object)
    open_ = np.isin(status, ("NEW", "PACKED", "READY"))
    if "shipped_at" in frame.columns:
        open_ &= frame["shipped_at"].isna().to_numpy()
    if not open_.any():
        return {}
    # a frame without the address cannot judge it
    judged = {"address", "city", "postcode", "country"} <= set(frame.columns)
    h = holds(frame, open_, state_column=state_column, check_address=judged)
    order_ids = frame["order_id"].to_numpy(dtype=object)
    return {str(order_ids[i]): h.words(int(i)) for i in np.flatnonzero(h.held)}


def _word(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip().upper()


def _orders_with(order_ids: np.ndarray, mask: np.ndarray) -> set[object]:
    return {o for o in order_ids[mask] if o is not None and not _blank(o)}


def _member(values: np.ndarray, among: set[object]) -> np.ndarray:
    """``values`` in ``among``, by hash (IDs of mixed types cannot be sorted)."""
    if not among:
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values, dtype=object).isin(among).to_numpy(dtype=bool)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


def with_holds(status: np.ndarray, h: Holds) -> np.ndarray:
    """The Ops status with the hold words first: ``HOLD: UNPAID; LATE 1 BUSINESS DAY``."""
    out = np.asarray(status, dtype=object).copy()
    for i in np.flatnonzero(h.held):
        words = h.words(int(i))
        out[i] = f"{words}; {out[i]}" if out[i] else words
    return out


# ---------------------------------------------------------------- double orders


def double_orders(frame: pd.DataFrame) -> list[Finding]:
    """Probable double orders (see the module docstring), one finding per group."""
    need = {"order_id", "email", "sku", "qty", "order_date", "status"}
    if frame.empty or not need <= set(frame.columns):
        return []
    f = frame[frame["order_id"].notna() & frame["email"].notna() & frame["sku"].notna()]
    if f.empty:
        return []
    status = f["status"].astype(object)
    shipped = status.isin(("SHIPPED", "DELIVERED")) | f["shipped_at"].notna()
    shipped_orders = set(f.loc[shipped, "order_id"])
    live = f[(status != "CANCELLED") & ~f["order_id"].isin(shipped_orders)]
    if live.empty:
        return []
    email = live["email"].astype(str).str.strip().str.casefold()
    orders_per_email = live.groupby(email)["order_id"].transform("nunique")
    multi = (orders_per_email > 1).to_numpy()
    live, email = live[multi], email[multi]
    if live.empty:
        return []
    orders: dict[object, dict[str, object]] = {}
    for order_id, lines in live.groupby("order_id", sort=False):
        items = lines.groupby("sku")["qty"].sum()
        orders[order_id] = {
            "email": email.loc[lines.index[0]],
            "items": tuple(sorted((str(k), float(v)) for k, v in items.items())),
            "at": lines["order_date"].min(),
        }
    groups: dict[tuple[object, ...], list[object]] = {}
    for order_id, o in orders.items():
        if pd.isna(o["at"]):
            continue
        groups.setdefault((o["email"], o["items"]), []).append(order_id)
    out: list[Finding] = []
    for (mail, items), ids in groups.items():
        if len(ids) < 2:
            continue
        ids.sort(key=lambda x: (orders[x]["at"], str(x)))
        cluster = [ids[0]]
        for prev, cur in itertools.pairwise(ids):
            if orders[cur]["at"] - orders[prev]["at"] <= DOUBLE_WINDOW:
                cluster.append(cur)
                continue
            out += _double_finding(cluster, orders, str(mail), items)
            cluster = [cur]
        out += _double_finding(cluster, orders, str(mail), items)
    return out


def _double_finding(
    ids: list[object], orders: Mapping[object, Mapping[str, object]], mail: str, items: tuple
) -> list[Finding]:
    if len(ids) < 2:
        return []
    names = [str(i) for i in ids]
    first, last = orders[ids[0]]["at"], orders[ids[-1]]["at"]
    minutes = round((last - first).total_seconds() / 60)  # type: ignore[operator]
    what = ", ".join(f"{_qty(q)} × {sku}" for sku, q in items)
    joined = (
        " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 2 else " and ".join(names)
    )
    return [
        Finding(
            f"double-order:{' + '.join(names)}",
            "orders",
            "warning",
            f"Probable double order: {joined}",
            f"Same customer ({mail}), same items ({what}), placed {minutes} minute(s) apart.",
            "Ask the customer before either ships; cancel the duplicate (Status CANCELLED), "
            "or ship both if both are wanted.",
            float(len(names)),
            ("orders",),
        )
    ]


def _qty(q: float) -> str:
    return str(int(q)) if float(q).is_integer() else f"{q:g}"


# ---------------------------------------------------------------- pick list


def due_for_pickup(
    frame: pd.DataFrame,
    ship_by: np.ndarray,
    open_: np.ndarray,
    excluded: np.ndarray,
    next_pickup: Mapping[str, date],
    today: date,
) -> np.ndarray:
    """Open lines not ``excluded`` (held, backordered) whose Ship by is on or before
    their forwarder's next pickup day (see the module docstring)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    fallback = min(next_pickup.values(), default=today)
    fwd = frame["forwarder"].to_numpy(dtype=object)
    day = np.array(
        [next_pickup.get(f, fallback) if isinstance(f, str) else fallback for f in fwd],
        dtype="datetime64[D]",
    )
    qty = frame["qty"].to_numpy(dtype=float, na_value=np.nan)
    return (
        np.asarray(open_, dtype=bool)
        & ~np.asarray(excluded, dtype=bool)
        & ~np.isnat(ship_by)
        & (ship_by <= day)
        & frame["sku"].notna().to_numpy()
        & frame["order_id"].notna().to_numpy()
        & (qty > 0)
    )


def natural_key(text: str) -> tuple[object, ...]:
    """Bins as people read them: ``A-2`` before ``A-10``; blank last."""
    if not text:
        return ((2, ""),)
    parts = re.split(r"(\d+)", text.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def pick_list(
    frame: pd.DataFrame, due: np.ndarray, ship_by: np.ndarray, stock: pd.DataFrame
) -> list[dict[str, object]]:
    """The Pick list rows (keys are :data:`PICK_LIST_HEADERS`)."""
    if not due.any():
        return []
    lines = pd.DataFrame(
        {
            "sku": frame["sku"].to_numpy(dtype=object)[due],
            "qty": frame["qty"].to_numpy(dtype=float, na_value=np.nan)[due],
            "order_id": frame["order_id"].to_numpy(dtype=object)[due],
            "ship_by": ship_by[due],
        }
    )
    where: dict[str, tuple[str, str]] = {}
    if not stock.empty and "sku" in stock.columns:
        loc = stock["location"] if "location" in stock.columns else pd.Series("", index=stock.index)
        prod = stock["product"] if "product" in stock.columns else pd.Series("", index=stock.index)
        for sku, lo, pr in zip(stock["sku"], loc, prod, strict=True):
            if isinstance(sku, str):
                where.setdefault(sku, (_cell_text(lo), _cell_text(pr)))
    rows = []
    for sku, g in lines.groupby("sku", sort=False):
        location, product = where.get(str(sku), ("", ""))
        ids = list(
            dict.fromkeys(str(o) for o in g.sort_values("ship_by", kind="stable")["order_id"])
        )
        rows.append(
            {
                "Location": location,
                "SKU": str(sku),
                "Product": product,
                "Qty": float(g["qty"].sum()),
                "Orders": ", ".join(ids),
                "Ship by": pd.Timestamp(g["ship_by"].min()).date(),
            }
        )
    rows.sort(key=lambda r: (natural_key(str(r["Location"])), str(r["SKU"]).casefold()))
    for r in rows:
        q = float(r["Qty"])  # type: ignore[arg-type]
        r["Qty"] = int(q) if q.is_integer() else q
    return rows


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ---------------------------------------------------------------- packing slips


@dataclass(frozen=True)
class SlipItem:
    sku: str
    product: str
    qty: float


@dataclass(frozen=True)
class Slip:
    """What one packing slip shows (all text: the PDF is drawn from this alone)."""

    shop_name: str
    order_id: str
    order_date: str
    ship_by: str
    customer: str
    address_lines: tuple[str, ...]
    items: tuple[SlipItem, ...]
    to_follow: tuple[SlipItem, ...] = ()
    forwarder: str = ""

    def digest(self) -> str:
        return slip_digest(self)


#: Bump when the slip's drawing changes, so every slip is drawn again once.
SLIP_LAYOUT_VERSION = 1


def slip_digest(slip: Slip) -> str:
    """A hash of what the slip shows: the slip is rewritten only when it changes."""
    data = json.dumps(
        {"v": SLIP_LAYOUT_VERSION, **asdict(slip)}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def slips(
    frame: pd.DataFrame,
    due: np.ndarray,
    open_: np.ndarray,
    held: np.ndarray,
    backorder: np.ndarray,
    ship_by: np.ndarray,
    stock: pd.DataFrame,
    *,
    shop_name: str,
    tz: object,
) -> list[Slip]:
    """One slip per order with a line due (order of first appearance on the sheet)."""
    if not due.any():
        return []
    order_ids = frame["order_id"].to_numpy(dtype=object)
    wanted = list(dict.fromkeys(order_ids[due]))
    products: dict[str, str] = {}
    if not stock.empty and "product" in stock.columns:
        for sku, pr in zip(stock["sku"], stock["product"], strict=True):
            if isinstance(sku, str):
                products.setdefault(sku, _cell_text(pr))
    going = np.asarray(open_, bool) & ~np.asarray(held, bool) & ~np.asarray(backorder, bool)
    later = np.asarray(open_, bool) & ~np.asarray(held, bool) & np.asarray(backorder, bool)
    positions: dict[object, list[int]] = {}
    for i in np.flatnonzero(_member(order_ids, set(wanted))):
        positions.setdefault(order_ids[i], []).append(int(i))
    out: list[Slip] = []
    for order_id in wanted:
        rows = positions[order_id]
        first = frame.iloc[rows[0]]
        items = tuple(_item(frame, i, products) for i in rows if going[i])
        follow = tuple(_item(frame, i, products) for i in rows if later[i])
        when = first["order_date"]
        due_day = min(
            (ship_by[i] for i in rows if going[i] and not np.isnat(ship_by[i])), default=None
        )
        out.append(
            Slip(
                shop_name=shop_name,
                order_id=str(order_id),
                order_date=_local_day(when, tz),
                ship_by="" if due_day is None else due_day.astype(date).isoformat(),
                customer=_cell_text(first.get("customer")),
                address_lines=address_lines(first),
                items=items,
                to_follow=follow,
                forwarder=_cell_text(first.get("forwarder")),
            )
        )
    return out


def packable_orders(frame: pd.DataFrame, open_: np.ndarray, held: np.ndarray) -> set[str]:
    """Order IDs with a line that may still be packed (open and not held): a slip
    of any other order is stale (cancelled, shipped, held or gone)."""
    keep = np.asarray(open_, dtype=bool) & ~np.asarray(held, dtype=bool)
    return {str(o) for o in frame["order_id"].to_numpy(dtype=object)[keep] if not _blank(o)}


def _item(frame: pd.DataFrame, i: int, products: Mapping[str, str]) -> SlipItem:
    sku = _cell_text(frame["sku"].iloc[i])
    qty = float(frame["qty"].iloc[i])
    return SlipItem(sku, products.get(sku, ""), int(qty) if qty.is_integer() else qty)


def _local_day(value: object, tz: object) -> str:
    if isinstance(value, datetime | pd.Timestamp) and not pd.isna(value):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None and tz is not None:
            stamp = stamp.tz_convert(tz)  # type: ignore[arg-type]
        return stamp.date().isoformat()
    return ""


def address_lines(row: Mapping[str, object]) -> tuple[str, ...]:
    """The delivery address as printed: street, city, state and postcode, country."""
    street = _cell_text(row.get("address"))
    city = _cell_text(row.get("city"))
    state = _cell_text(row.get("state"))
    postcode = _cell_text(row.get("postcode"))
    typed_country = _cell_text(row.get("country"))
    known = read_country(typed_country) if typed_country else None
    country = known.name.upper() if known is not None and known.code else typed_country.upper()
    town = " ".join(p for p in (city, state, postcode) if p)
    lines = [*street.splitlines(), town, country]
    return tuple(line.strip() for line in lines if line.strip())


def file_names(order_ids: Sequence[str]) -> dict[str, str]:
    """``<Order ID>.pdf`` made safe as a file name on every system: characters other
    than letters, digits, ``-`` ``_`` ``.`` become ``_``; no leading dot, no
    reserved Windows name, at most 80 characters; IDs that would share a name
    get a short hash of the ID appended (``#1001`` and ``1001``)."""
    base: dict[str, str] = {}
    for oid in order_ids:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", oid).strip("._") or "order"
        if name.split(".")[0].upper() in _RESERVED:
            name = f"_{name}"
        base[oid] = name[:80]
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    out: dict[str, str] = {}
    for oid, name in base.items():
        if counts[name.casefold()] > 1:  # case too: Windows and macOS ignore it
            name = f"{name}-{hashlib.sha256(oid.encode()).hexdigest()[:6]}"
        out[oid] = f"{name}.pdf"
    return out


_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}  # fmt: skip
