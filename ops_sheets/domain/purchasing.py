"""Purchase orders: numbering, one PO per supplier, minimum order value, sending, reminders.

Pure: takes the decision frame of :mod:`ops_sheets.domain.inventory`, the typed Purchase
orders frame, supplier facts and ``now``; returns plans. The job applies them.
The ledger is seen only through a function ``ledger_state(po_number)`` that
answers None (never queued), "unsent" (queued, not delivered yet: its content
may still change), "busy" (another run is sending it), "sent", or "review"
(delivery unknown or refused: a person decides).

PO numbers and who owns the ``PO number`` column
------------------------------------------------
``PO number`` is a team column of a tab whose rows the service appends and whose
Status the team moves on. The service writes it in two cases only, both on rows
it appended itself: when it appends a line, and when an APPROVED line must go
out under a new number because its PO was already emailed (see below), which it
does with ``set_team_cells`` before the email is queued, so the sheet always
shows the number the supplier will see.

* Numbers are ``PO-<yyyymmdd>-<CODE>``, then ``-2``, ``-3``… for further POs
  to the same supplier that day. ``CODE`` is the first four ASCII letters or
  digits of the supplier's name, upper-cased (accents dropped: "Café Nord" →
  CAFE); when two suppliers on the Suppliers tab share those four, each gets
  two more characters from a hash of its full name (ACME3F), so two suppliers
  can never share a number; a name without letters or digits gets "S" + hash.
* A number is *sealed* once an email may have left under it: the ledger knows
  the key ``po:<number>``, the state recorded it as queued, a line carrying it
  is SENT, CONFIRMED or RECEIVED, or this run sends it. The email key is the
  PO number, so a sealed number never gets new lines: that would be a
  different body under a used key.
* ``approval = "sheet"``: new lines are appended as DRAFT to the first number
  of today for that supplier that is not sealed and holds only DRAFT or
  CANCELLED lines (so a second run the same day joins the morning's PO rather
  than opening another). The team sets APPROVED (or edits Qty, or CANCELLED);
  the next run groups APPROVED lines by PO number and emails each group.
  Lines approved after their PO was emailed move, per supplier, to a fresh
  number of the day of sending, and go out as a new PO.
* ``approval = "auto"``: new lines are appended as APPROVED under a fresh
  number and emailed in the same run.
* A line becomes SENT only when the ledger says the email was delivered (the
  runner's after-send write). If that write was lost, the next run finds the
  ledger's "sent" and the state's record of which lines (SKU, Qty) went out,
  and marks exactly those SENT without emailing again; an APPROVED line whose
  Qty differs from what was sent is a problem for a person, never a second PO.

Idempotency
-----------
One order per SKU per day. Lines created today are the day's order: the
decision leaves them out of On order until tomorrow (see
:mod:`ops_sheets.domain.inventory`), so a re-run the same day computes the same need
and shows the same REORDER, and the guard here turns that need into "already
placed" rather than a second line. A line CANCELLED today is respected: no new
line for that SKU until tomorrow. A SKU with a DRAFT or APPROVED line from an
earlier day waiting for the team gets no new line either (its Why says so).
Emails are keyed by PO number and the ledger sends each key once; reminders by
PO number and reminder number.

Minimum order value
-------------------
Per supplier, the value of this run's lines (plus the DRAFT/APPROVED lines of
the PO they join) is compared with the supplier's Min order value. Below it,
nothing is appended and each SKU's ``Why`` says by how much the order is short,
unless ``top_up_to_min_order_value``: then the supplier's other selling SKUs
are pulled forward, closest to their reorder point first (fewest days of demand
above it), each ordered up to its S, until the minimum is met; if even all of
them do not reach it, the order is held all the same. SKUs without sales or
without a Unit cost are never pulled forward. The minimum is checked when lines
are proposed; what the team approves is sent as approved.

Reminders
---------
SENT or CONFIRMED lines past their Expected by make their PO overdue. Each
overdue PO gets reminder 1 on the first run after its date, then one more every
``reminder_every_days``; reminder n has the key ``po-reminder:<PO>:<n>``.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ops_sheets.domain.allocation import to_come_units
from ops_sheets.domain.inventory import day_offsets, fmt, order_quantity

DRAFT, APPROVED, SENT, CONFIRMED, RECEIVED, CANCELLED = (
    "DRAFT",
    "APPROVED",
    "SENT",
    "CONFIRMED",
    "RECEIVED",
    "CANCELLED",
)
#: Statuses that mean the line went to the supplier.
SENT_LIKE = (SENT, CONFIRMED, RECEIVED)
#: Lines waiting for the team's decision.
WAITING = (DRAFT, APPROVED)

LedgerState = Callable[[str], str | None]

PO_RE = re.compile(r"^PO-(\d{8})-([A-Z0-9]+)(?:-(\d+))?$")


# ---------------------------------------------------------------- numbering


def _ascii_alnum(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", folded).upper()


def _hash(name: str, n: int) -> str:
    return hashlib.sha1(name.strip().casefold().encode()).hexdigest()[:n].upper()  # noqa: S324


def supplier_code(name: str) -> str:
    """First four ASCII letters or digits, upper-cased: 'Acme Ceramics Ltd' → 'ACME'."""
    code = _ascii_alnum(name)[:4]
    return code or "S" + _hash(name, 5)


def supplier_codes(names: Iterable[str]) -> dict[str, str]:
    """Codes for every supplier; names whose four characters clash get two more from a hash."""
    names = sorted({str(n) for n in names if n is not None and str(n).strip()})
    base = {n: supplier_code(n) for n in names}
    clash: dict[str, int] = {}
    for code in base.values():
        clash[code] = clash.get(code, 0) + 1
    return {n: (c + _hash(n, 2) if clash[c] > 1 else c) for n, c in base.items()}


def po_number(day: date, code: str, n: int = 1) -> str:
    base = f"PO-{day:%Y%m%d}-{code}"
    return base if n <= 1 else f"{base}-{n}"


def po_date(number: str) -> date | None:
    """The date in a PO number made by the service, else None."""
    m = PO_RE.match(str(number))
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        return None


class PoNumbers:
    """Hands out PO numbers for one day, never one that is sealed or in use elsewhere."""

    def __init__(
        self,
        today: date,
        lines: pd.DataFrame,
        *,
        ledger_state: LedgerState | None = None,
        recorded: Iterable[str] = (),
    ) -> None:
        self.today = today
        self.ledger_state: LedgerState = ledger_state or (lambda _: None)
        self.recorded = set(recorded)
        #: lines of today's numbers (the only ones new lines may join): number → (SKU, status)
        self.lines: dict[str, list[tuple[str, str]]] = {}
        self.sent_like: set[str] = set()
        self.taken: set[str] = set(self.recorded)
        if not lines.empty:
            numbers = lines["po_number"].dropna().astype(str)
            self.taken |= set(numbers.unique())
            status = lines.loc[numbers.index, "status"]
            self.sent_like = set(numbers[status.isin(SENT_LIKE)].unique())
            todays = numbers.str.startswith(po_number(today, ""))
            for number, sku, st in zip(
                numbers[todays], lines.loc[numbers.index[todays], "sku"], status[todays],
                strict=True,
            ):  # fmt: skip
                self.lines.setdefault(number, []).append((str(sku), str(st)))
        self.sending: set[str] = set()

    def sealed(self, number: str) -> bool:
        return (
            number in self.sent_like
            or number in self.sending
            or number in self.recorded
            or self.ledger_state(number) is not None
        )

    def seal(self, number: str) -> None:
        self.sending.add(number)

    def fresh(self, code: str) -> str:
        """The first number of the day that nobody uses."""
        n = 1
        while True:
            number = po_number(self.today, code, n)
            if number not in self.taken and self.ledger_state(number) is None:
                self.taken.add(number)
                return number
            n += 1

    def joinable(self, code: str, skus: Iterable[str]) -> str:
        """The first number of the day that new DRAFT lines may join (or a fresh one)."""
        skus = set(skus)
        n = 1
        while True:
            number = po_number(self.today, code, n)
            n += 1
            if number not in self.taken:
                if self.ledger_state(number) is None:
                    self.taken.add(number)
                    return number
                continue
            existing = self.lines.get(number, [])
            if self.sealed(number):
                continue
            if any(status not in (DRAFT, CANCELLED) for _, status in existing):
                continue
            if any(sku in skus for sku, _ in existing):
                continue
            return number


# ---------------------------------------------------------------- facts


@dataclass(frozen=True)
class Supplier:
    name: str
    email: str = ""
    contact: str = ""
    min_order_value: float = math.nan
    row: int | None = None


def suppliers_by_name(frame: pd.DataFrame) -> dict[str, Supplier]:
    """Usable Suppliers rows by name (duplicates and blanks are already problems)."""
    out: dict[str, Supplier] = {}
    if frame.empty:
        return out
    ok = frame["supplier"].notna()
    if "_key_ok" in frame.columns:
        ok &= frame["_key_ok"].astype(bool)
    for r in _records(frame[ok]):
        name = str(r["supplier"])
        mov = r.get("min_order_value", math.nan)
        out[name] = Supplier(
            name=name,
            email=r["email"] if isinstance(r.get("email"), str) else "",
            contact=r["contact"] if isinstance(r.get("contact"), str) else "",
            min_order_value=float(mov) if mov is not None and not pd.isna(mov) else math.nan,
            row=int(r["_row"]) if "_row" in r else None,
        )
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts (itertuples would rename ``_row``)."""
    return frame.to_dict("records")


def _float(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _supplier_of(r: Mapping[str, Any], sku_supplier: Mapping[str, str]) -> str:
    """A line's Supplier, else the SKU's supplier on the Stock tab."""
    sup = r.get("supplier")
    return sup if isinstance(sup, str) and sup else sku_supplier.get(str(r["sku"]), "")


def _local_dates(series: pd.Series, tz: Any) -> list[date | None]:
    s = pd.Series(series)
    if s.empty:
        return []
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert(tz)
    return [None if pd.isna(v) else pd.Timestamp(v).date() for v in s]


@dataclass
class PoLine:
    po_number: str
    supplier: str
    sku: str
    qty: float
    unit_cost: float
    expected_by: date | None
    status: str = DRAFT
    row: int | None = None
    old_po_number: str = ""  # set when the line moves to a new PO number


@dataclass(frozen=True)
class Issue:
    """A problem for the Problems tab, pointing at a Stock or Purchase orders cell."""

    tab: str  # "stock" | "purchase_orders"
    row: int | None
    column: str  # column key
    key: str
    value: str
    problem: str
    fix: str


# ---------------------------------------------------------------- new lines


@dataclass(frozen=True)
class Hold:
    supplier: str
    value: float
    minimum: float
    skus: tuple[str, ...]

    @property
    def short(self) -> float:
        return self.minimum - self.value


@dataclass
class LinePlan:
    lines: list[PoLine] = field(default_factory=list)
    placed: dict[str, float] = field(default_factory=dict)  # SKU → qty ordered now
    pulled: dict[str, float] = field(default_factory=dict)  # SKU → qty, by top-up
    notes: dict[str, str] = field(default_factory=dict)  # SKU → why not / what happened
    issues: list[Issue] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    not_ordered: dict[str, str] = field(default_factory=dict)  # SKU → reason


def _money(x: float, currency: str) -> str:
    return f"{x:,.2f} {currency}".strip()


@dataclass(frozen=True)
class ExistingLine:
    po_number: str
    status: str
    qty: float


def existing_line_facts(
    lines: pd.DataFrame, now: datetime
) -> tuple[dict[str, list[ExistingLine]], dict[str, ExistingLine]]:
    """(SKU → its lines created today, SKU → a DRAFT/APPROVED line from an earlier day)."""
    today: dict[str, list[ExistingLine]] = {}
    waiting: dict[str, ExistingLine] = {}
    if lines.empty:
        return today, waiting
    is_today = day_offsets(lines["created_at"], now.date(), now.tzinfo) == 0
    is_waiting = lines["status"].isin(WAITING).to_numpy(dtype=bool)
    sel = lines[is_today | is_waiting]  # a small part of a long history
    for r, day in zip(_records(sel), is_today[is_today | is_waiting], strict=True):
        sku = r["sku"]
        if not isinstance(sku, str) or not sku:
            continue
        line = ExistingLine(str(r["po_number"]), str(r["status"]), _float(r["qty"]))
        if day:
            today.setdefault(sku, []).append(line)
        elif line.status in WAITING:
            waiting.setdefault(sku, line)
    return today, waiting


def _where(number: str, status: str) -> str:
    """How a placed line is described in Why (the same words on every run of the day)."""
    return {
        DRAFT: f"on {number} (DRAFT, waiting for approval)",
        APPROVED: f"on {number} (APPROVED, to be emailed)",
        SENT: f"on {number} (SENT)",
        CONFIRMED: f"on {number} (CONFIRMED)",
    }.get(status, f"on {number} ({status})")


def plan_new_lines(
    decision: pd.DataFrame,
    lines: pd.DataFrame,
    suppliers: Mapping[str, Supplier],
    numbers: PoNumbers,
    now: datetime,
    *,
    approval: str = "sheet",
    top_up: bool = False,
    max_order_days: float = 120.0,
    currency: str = "",
) -> LinePlan:
    """PO lines to append now, per supplier, after the guards and the minimum order value."""
    plan = LinePlan()
    today = now.date()
    codes = supplier_codes(suppliers)
    created_today, waiting = existing_line_facts(lines, now)
    f = decision
    needs = f["needs_order"].to_numpy(dtype=bool)
    blocked = f["blocked"].to_numpy(dtype=object) != ""
    want = needs & ~blocked
    wanted = set(f["sku"][needs].astype(str))
    for i in np.flatnonzero(needs & blocked):
        sku, reason = str(f["sku"].iat[i]), str(f["blocked"].iat[i])
        if sku in created_today:
            continue  # ordered today after all (by a person): see below
        plan.not_ordered[sku] = f"blocked: {reason}"
        plan.issues.append(
            Issue("stock", int(f["row"].iat[i]), "max_stock", sku, "",
                  f"an order of {fmt(float(f['order_qty'].iat[i]))} was not placed: {reason}",
                  "check the demand behind it; a typed Max stock is ordered up to as typed")
        )  # fmt: skip

    by_supplier: dict[str, list[int]] = {}
    for i in np.flatnonzero(want):
        sku = str(f["sku"].iat[i])
        if sku in created_today:
            continue  # today's order is placed already (below)
        if sku in waiting:
            w = waiting[sku]
            plan.notes[sku] = f"{w.po_number} ({w.status}) waits for the team: approve or cancel it"
            plan.not_ordered[sku] = plan.notes[sku]
            continue
        name = f["supplier"].iat[i]
        row = int(f["row"].iat[i])
        if not isinstance(name, str) or not name:
            plan.issues.append(
                Issue("stock", row, "supplier", sku, "", "needs an order but has no Supplier",
                      "type the supplier's name (as on the Suppliers tab)")
            )  # fmt: skip
            plan.notes[sku] = "cannot order: no Supplier"
            plan.not_ordered[sku] = plan.notes[sku]
            continue
        sup = suppliers.get(name)
        if sup is None:  # the cross-tab checks already report the unknown supplier
            plan.notes[sku] = f"cannot order: {name} is not on the Suppliers tab"
            plan.not_ordered[sku] = plan.notes[sku]
            continue
        if not sup.email:
            plan.issues.append(
                Issue("stock", row, "supplier", sku, name,
                      f"needs an order but supplier {name!r} has no Email",
                      "fill in the supplier's Email on the Suppliers tab")
            )  # fmt: skip
            plan.notes[sku] = f"cannot order: {name} has no Email"
            plan.not_ordered[sku] = plan.notes[sku]
            continue
        by_supplier.setdefault(name, []).append(i)

    # Lines created today are the day's order: they count as on order (see
    # inventory: position), and a re-run adds nothing to them, only says where they are.
    for sku, placed in created_today.items():
        open_ = [ln for ln in placed if ln.status not in (CANCELLED, RECEIVED)]
        if open_:
            plan.notes[sku] = "; ".join(_where(ln.po_number, ln.status) for ln in open_)
        else:
            plan.notes[sku] = f"ordered today on {placed[0].po_number}, {placed[0].status}"
            if sku in wanted:
                plan.not_ordered[sku] = plan.notes[sku]

    waiting_value = _waiting_values(lines)
    lead = f["lead_time"].to_numpy(dtype=float)
    for name in sorted(by_supplier):
        idx = by_supplier[name]
        sup = suppliers[name]
        code = codes.get(name) or supplier_code(name)
        chosen = {int(i): float(f["order_qty"].iat[i]) for i in idx}
        skus = [str(f["sku"].iat[i]) for i in chosen]
        number = numbers.fresh(code) if approval == "auto" else numbers.joinable(code, skus)
        value = _value(f, chosen) + waiting_value.get(number, 0.0)
        pulled: dict[int, float] = {}
        if math.isfinite(sup.min_order_value) and value < sup.min_order_value - 1e-9 and top_up:
            busy = set(created_today) | set(waiting)
            for j, q in _top_up_candidates(f, name, busy, max_order_days):
                if value >= sup.min_order_value - 1e-9:
                    break
                pulled[j] = q
                value += q * float(f["unit_cost"].iat[j])
        if math.isfinite(sup.min_order_value) and value < sup.min_order_value - 1e-9:
            held = [str(f["sku"].iat[i]) for i in chosen]
            plan.holds.append(Hold(name, value, sup.min_order_value, tuple(held)))
            note = (
                f"held: {name} order {_money(value, currency)} is "
                f"{_money(sup.min_order_value - value, currency)} below its minimum order "
                f"value {_money(sup.min_order_value, currency)}"
            )
            if top_up:
                note += " even with every SKU that could be pulled forward"
            for sku in held:
                plan.notes[sku] = note
                plan.not_ordered[sku] = note
            continue
        if approval == "auto":
            numbers.seal(number)
        status = APPROVED if approval == "auto" else DRAFT
        for i, q in [*chosen.items(), *pulled.items()]:
            sku = str(f["sku"].iat[i])
            plan.lines.append(
                PoLine(
                    po_number=number,
                    supplier=name,
                    sku=sku,
                    qty=q,
                    unit_cost=float(f["unit_cost"].iat[i]),
                    expected_by=today + timedelta(days=math.ceil(lead[i] - 1e-9)),
                    status=status,
                )
            )
            plan.placed[sku] = q
            plan.notes[sku] = _where(number, status)
            if i in pulled:
                plan.pulled[sku] = q
                plan.notes[sku] += (
                    f" to reach {name}'s minimum order value "
                    f"{_money(sup.min_order_value, currency)}"
                )
    return plan


def _value(f: pd.DataFrame, chosen: Mapping[int, float]) -> float:
    cost = f["unit_cost"].to_numpy(dtype=float)
    return float(sum(q * np.nan_to_num(cost[i]) for i, q in chosen.items()))


def _waiting_values(lines: pd.DataFrame) -> dict[str, float]:
    """PO number → value of its DRAFT and APPROVED lines."""
    if lines.empty:
        return {}
    mine = lines[lines["status"].isin(WAITING) & lines["po_number"].notna()]
    value = mine["qty"].fillna(0) * mine["unit_cost"].fillna(0)
    return {str(k): float(v) for k, v in value.groupby(mine["po_number"].astype(str)).sum().items()}


def _top_up_candidates(
    f: pd.DataFrame, supplier: str, busy: set[str], max_order_days: float
) -> list[tuple[int, float]]:
    """(row index, qty) of the supplier's SKUs to pull forward, closest to s first."""
    d = f["daily_demand"].to_numpy(dtype=float)
    pos = f["position"].to_numpy(dtype=float)
    s = f["reorder_point"].to_numpy(dtype=float)
    big_s = f["order_up_to"].to_numpy(dtype=float)
    cost = f["unit_cost"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        ok = (
            (f["supplier"].to_numpy(dtype=object) == supplier)
            & f["active"].to_numpy(dtype=bool)
            & ~f["needs_order"].to_numpy(dtype=bool)
            & np.isfinite(pos)
            & (d > 0)
            & (big_s - pos > 1e-9)
            & (cost > 0)
            & ~f["sku"].isin(busy).to_numpy(dtype=bool)
        )
    idx = np.flatnonzero(ok)
    if not len(idx):
        return []
    q = order_quantity(
        big_s[idx] - pos[idx],
        f["min_order_qty"].to_numpy(dtype=float)[idx],
        f["pack_size"].to_numpy(dtype=float)[idx],
    )
    allowed = f["max_typed"].to_numpy(dtype=bool)[idx] | (q <= max_order_days * d[idx] + 1e-9)
    days_above = (pos[idx] - s[idx]) / d[idx]
    order = np.lexsort((f["sku"].to_numpy(dtype=object)[idx].astype(str), days_above))
    return [(int(idx[k]), float(q[k])) for k in order if allowed[k]]


# ---------------------------------------------------------------- sending


@dataclass
class PoSend:
    """One purchase-order email: the lines, as they are to be written and sent."""

    po_number: str
    supplier: str
    lines: list[PoLine]
    requested_by: date

    @property
    def key(self) -> str:
        return email_key(self.po_number)


def email_key(number: str) -> str:
    return f"po:{number}"


@dataclass
class SendPlan:
    sends: list[PoSend] = field(default_factory=list)
    mark_sent: list[tuple[str, str]] = field(default_factory=list)  # (PO number, SKU)
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def renumbered(self) -> list[PoLine]:
        return [ln for s in self.sends for ln in s.lines if ln.old_po_number]


def _requested(
    lines: list[PoLine], today: date, lead_days: Mapping[str, float], default_lead: float
) -> date:
    """The delivery date asked for: each line's Expected by, but never sooner than its
    lead time from today (lines approved days after they were proposed)."""
    out = today
    for ln in lines:
        lead = lead_days.get(ln.sku, default_lead)
        lead = lead if math.isfinite(lead) else default_lead
        earliest = today + timedelta(days=math.ceil(lead - 1e-9))
        want = max(ln.expected_by or earliest, earliest)
        ln.expected_by = want
        out = max(out, want)
    return out


def plan_sends(
    lines: pd.DataFrame,
    now: datetime,
    numbers: PoNumbers,
    suppliers: Mapping[str, Supplier],
    *,
    ledger_state: LedgerState,
    records: Mapping[str, Mapping[str, float]],
    lead_days: Mapping[str, float],
    sku_supplier: Mapping[str, str],
    extra: Iterable[PoLine] = (),
    default_lead_days: float = 14.0,
) -> SendPlan:
    """Emails for APPROVED lines (and ``extra`` lines appended APPROVED in this run)."""
    plan = SendPlan()
    today = now.date()
    codes = supplier_codes(suppliers)
    approved: list[PoLine] = []
    if not lines.empty:
        ok = lines["status"].eq(APPROVED).fillna(False) & lines["po_number"].notna()
        if "_key_ok" in lines.columns:
            ok &= lines["_key_ok"].astype(bool)
        sel = lines[ok]
        expected = _local_dates(sel["expected_by"], now.tzinfo)
        for r, exp in zip(_records(sel), expected, strict=True):
            sup = _supplier_of(r, sku_supplier)
            approved.append(
                PoLine(
                    po_number=str(r["po_number"]),
                    supplier=sup or "",
                    sku=str(r["sku"]),
                    qty=_float(r["qty"]),
                    unit_cost=_float(r["unit_cost"]),
                    expected_by=exp,
                    status=APPROVED,
                    row=int(r["_row"]),
                )
            )
    approved += list(extra)

    groups: dict[str, list[PoLine]] = {}
    for ln in approved:
        groups.setdefault(ln.po_number, []).append(ln)

    move: dict[str, list[PoLine]] = {}  # supplier → lines for a new number
    for number in sorted(groups):
        group = groups[number]
        names = {ln.supplier for ln in group}
        if len(names) != 1 or "" in names:
            for ln in group:
                plan.issues.append(
                    Issue("purchase_orders", ln.row, "supplier", f"{number} / {ln.sku}",
                          ln.supplier,
                          f"{number} is APPROVED but its lines name "
                          + ("no supplier" if "" in names else f"{len(names)} suppliers"),
                          "give every line of a PO the same Supplier; the PO is not sent")
                )  # fmt: skip
            continue
        (name,) = names
        sup = suppliers.get(name)
        if sup is None or not sup.email:
            why = "is not on the Suppliers tab" if sup is None else "has no Email"
            for ln in group:
                plan.issues.append(
                    Issue("purchase_orders", ln.row, "supplier", f"{number} / {ln.sku}", name,
                          f"{number} is APPROVED but supplier {name!r} {why}; not sent",
                          "add the supplier's Email on the Suppliers tab")
                )  # fmt: skip
            continue
        bad = [ln for ln in group if not (math.isfinite(ln.qty) and ln.qty > 0)]
        if bad:
            for ln in bad:
                plan.issues.append(
                    Issue("purchase_orders", ln.row, "qty", f"{number} / {ln.sku}",
                          "" if not math.isfinite(ln.qty) else fmt(ln.qty),
                          f"APPROVED line without a positive Qty: {number} is not sent",
                          "type the quantity to order, or set Status to CANCELLED")
                )  # fmt: skip
            continue

        state = ledger_state(number)
        if state == "busy":
            plan.notes.append(f"{number}: another run is sending it")
            continue
        if state is None and number in numbers.sent_like:
            # went out some other way (the team sent it): these lines need their own PO
            move.setdefault(name, []).extend(group)
            continue
        if state in (None, "unsent"):
            numbers.seal(number)
            plan.sends.append(
                PoSend(number, name, group, _requested(group, today, lead_days, default_lead_days))
            )
            continue
        record = records.get(number)
        for ln in group:
            label = f"{number} / {ln.sku}"
            if record is None:
                plan.issues.append(
                    Issue("purchase_orders", ln.row, "status", label, APPROVED,
                          f"{number} was already emailed and the service has no record of "
                          "its lines, so this line is not sent",
                          "if the line was in that email set Status to SENT; otherwise give "
                          "it a new PO number")
                )  # fmt: skip
            elif ln.sku in record:
                if abs(float(record[ln.sku]) - ln.qty) < 1e-9:
                    if state == "sent":
                        plan.mark_sent.append((number, ln.sku))
                    else:
                        plan.notes.append(f"{label}: the email awaits review")
                else:
                    plan.issues.append(
                        Issue("purchase_orders", ln.row, "qty", label, fmt(ln.qty),
                              f"Qty changed after {number} was emailed with "
                              f"{fmt(float(record[ln.sku]))}; not sent again",
                              "tell the supplier about the change yourself, then set "
                              "Status to SENT")
                    )  # fmt: skip
            else:
                move.setdefault(name, []).append(ln)

    for name in sorted(move):
        code = codes.get(name) or supplier_code(name)
        number = numbers.fresh(code)
        numbers.seal(number)
        moved = []
        for ln in move[name]:
            moved.append(
                PoLine(number, name, ln.sku, ln.qty, ln.unit_cost, ln.expected_by, APPROVED,
                       ln.row, old_po_number=ln.po_number)
            )  # fmt: skip
        plan.sends.append(
            PoSend(number, name, moved, _requested(moved, today, lead_days, default_lead_days))
        )
    return plan


# ---------------------------------------------------------------- reminders


@dataclass
class Reminder:
    po_number: str
    supplier: str
    lines: list[PoLine]
    order_date: date | None
    expected_by: date
    days_overdue: int
    number: int  # 1 for the first reminder
    due: bool  # an email goes out in this run

    @property
    def key(self) -> str:
        return f"po-reminder:{self.po_number}:{self.number}"

    @property
    def value(self) -> float:
        return float(sum(ln.qty * np.nan_to_num(ln.unit_cost) for ln in self.lines))


def plan_reminders(
    lines: pd.DataFrame,
    now: datetime,
    every_days: float,
    records: Mapping[str, Mapping[str, Any]],
    sku_supplier: Mapping[str, str],
) -> list[Reminder]:
    """Overdue POs (SENT or CONFIRMED lines past Expected by) and which are due a reminder.

    A line partly received (``Qty received``, issue 16) is overdue only for the
    units still to come, and a line RECEIVED short is overdue for its rest: what
    arrived is never chased.

    ``records`` is PO number → {"n": last reminder number, "on": ISO date queued}.
    A run on the day a reminder was queued queues the same key again (the ledger
    sends it once), so a crash between recording and sending loses nothing.
    """
    if lines.empty:
        return []
    today = now.date()
    owed = lines["status"].isin((SENT, CONFIRMED))
    if "qty_received" in lines.columns:
        owed |= lines["status"].eq(RECEIVED) & lines["qty_received"].notna()
    sel = lines[owed.fillna(False) & lines["po_number"].notna()]
    qty = pd.to_numeric(sel["qty"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    rest = to_come_units(sel)
    # units that arrived are not overdue; a line with nothing to come is not either
    fully_received = (rest <= 0) & (qty > 0)
    sel = sel.assign(qty=np.where(np.isfinite(qty), rest, qty))[~fully_received]
    if sel.empty:
        return []
    expected = _local_dates(sel["expected_by"], now.tzinfo)
    created = _local_dates(sel["created_at"], now.tzinfo)
    by_po: dict[str, list[tuple[PoLine, date | None]]] = {}
    for r, exp, made in zip(_records(sel), expected, created, strict=True):
        if exp is None or exp >= today:
            continue
        sup = _supplier_of(r, sku_supplier)
        ln = PoLine(
            str(r["po_number"]), sup, str(r["sku"]), _float(r["qty"]), _float(r["unit_cost"]),
            exp, str(r["status"]), int(r["_row"]),
        )  # fmt: skip
        by_po.setdefault(ln.po_number, []).append((ln, made))
    out: list[Reminder] = []
    for number in sorted(by_po):
        pairs = by_po[number]
        po_lines = [ln for ln, _ in pairs]
        first_due = min(ln.expected_by for ln in po_lines if ln.expected_by)
        made = [m for _, m in pairs if m is not None]
        order_date = min(made) if made else po_date(number)
        rec = records.get(number)
        if rec is None:
            n, due = 1, True
        else:
            last_n, last_on = int(rec.get("n", 0)), date.fromisoformat(str(rec.get("on")))
            if last_on == today:
                n, due = last_n, True
            elif (today - last_on).days >= every_days - 1e-9:
                n, due = last_n + 1, True
            else:
                n, due = last_n, False
        supplier = next((ln.supplier for ln in po_lines if ln.supplier), "")
        out.append(
            Reminder(
                number, supplier, po_lines, order_date, first_due,
                (today - first_due).days, n, due,
            )
        )  # fmt: skip
    return out


# ---------------------------------------------------------------- email context


def _line_context(ln: PoLine, products: Mapping[str, str]) -> dict[str, Any]:
    cost = ln.unit_cost if math.isfinite(ln.unit_cost) else None
    qty = int(ln.qty) if float(ln.qty).is_integer() else ln.qty
    return {
        "sku": ln.sku,
        "product": products.get(ln.sku) or ln.sku,
        "qty": qty,
        "unit_cost": cost,
        "line_value": round(ln.qty * cost, 2) if cost is not None else None,
    }


def purchase_order_context(
    send: PoSend,
    supplier: Supplier,
    products: Mapping[str, str],
    *,
    order_date: date,
    shop_name: str,
    currency: str,
    delivery_address: str,
) -> dict[str, Any]:
    """The ``purchase_order`` template's context (templates/README.md, mail/samples.py):
    shop_name, po_number, order_date, supplier{name, contact}, lines[{sku, product,
    qty, unit_cost, line_value}], total, currency, expected_by (the requested
    delivery date), delivery_address, notes, attachment_name."""
    lines = [_line_context(ln, products) for ln in send.lines]
    return {
        "shop_name": shop_name,
        "po_number": send.po_number,
        "order_date": order_date,
        "supplier": {"name": supplier.name, "contact": supplier.contact},
        "lines": lines,
        "total": round(sum(ln["line_value"] or 0.0 for ln in lines), 2),
        "currency": currency,
        "expected_by": send.requested_by,
        "delivery_address": delivery_address,
        "notes": "",
        "attachment_name": f"{send.po_number}.csv",
    }


def purchase_order_csv_rows(context: Mapping[str, Any]) -> list[list[Any]]:
    """Rows of the CSV attached to a purchase order (header first)."""
    rows: list[list[Any]] = [
        ["PO number", "SKU", "Product", "Qty", "Unit cost", "Line value", "Currency",
         "Requested delivery"]
    ]  # fmt: skip
    for ln in context["lines"]:
        rows.append(
            [context["po_number"], ln["sku"], ln["product"], ln["qty"], ln["unit_cost"],
             ln["line_value"], context["currency"], context["expected_by"].isoformat()]
        )  # fmt: skip
    return rows


def reminder_context(
    reminder: Reminder,
    supplier: Supplier,
    products: Mapping[str, str],
    *,
    shop_name: str,
    currency: str,
) -> dict[str, Any]:
    """The ``po_reminder`` template's context: shop_name, po_number, order_date,
    expected_by, days_overdue, reminder_number, supplier{name, contact},
    lines[{sku, product, qty, unit_cost, line_value}], total, currency."""
    lines = [_line_context(ln, products) for ln in reminder.lines]
    return {
        "shop_name": shop_name,
        "po_number": reminder.po_number,
        "order_date": reminder.order_date or reminder.expected_by,
        "expected_by": reminder.expected_by,
        "days_overdue": reminder.days_overdue,
        "reminder_number": reminder.number,
        "supplier": {"name": supplier.name, "contact": supplier.contact},
        "lines": lines,
        "total": round(sum(ln["line_value"] or 0.0 for ln in lines), 2),
        "currency": currency,
    }
