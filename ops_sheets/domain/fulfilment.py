"""Orders: ship-by deadlines, the Ops status of every line, pickup requests.

Pure functions of the typed Orders and Forwarders frames, the settings and
`now`; no I/O. ``jobs/orders.py`` feeds them and turns their results into cell
writes, emails and state.

Rules (the ship-by and late rules are the DESIGN.md contract):

* **Ship by.** The start day is the order's local date when that is a business
  day and the order time is at or before ``order_cutoff``, else the next
  business day; ``Ship by`` is ``ship_within_business_days`` business days after
  the start day. Business days are ``business_days`` minus the ``holidays`` list
  and the public holidays of ``holidays_country``. Dates are local calendar
  dates in the configured zone, so DST changes do not move a deadline.
* **Late.** Not shipped and the ship-by date has ended in the configured zone.
  ``LATE n BUSINESS DAYS`` counts the business days from the ship-by date up to
  today (the deadline day itself included, today excluded): 1 on the first
  business day after the deadline.
* **At risk.** Not shipped, not late, not booked on a pickup, and the *last
  on-time pickup* is at most ``at_risk_hours`` away. The last on-time pickup is
  the line's forwarder's last pickup day on or before the ship-by date, at its
  ``Pickup cutoff``: a parcel that misses it cannot leave by the ship-by date,
  so that (not midnight) is when the risk is real. Without a usable forwarder
  it is the end of the ship-by date. A line whose last on-time pickup has
  already passed is ``AT RISK LAST PICKUP MISSED``.
* **Shipped.** ``Shipped at`` (or Status SHIPPED/DELIVERED) means the parcel
  left. ``SHIPPED ON TIME`` when its local date is on or before ship-by, else
  ``SHIPPED n DAYS LATE`` (business days, counted as for LATE). Not delivered
  (no ``Delivered at`` and Status not DELIVERED) more than
  ``transit_alert_days`` after shipping: ``IN TRANSIT n DAYS`` (calendar days).
* **Pickups.** READY lines of a usable forwarder that are in no request yet are
  grouped into parcels (one per order ID) and into one request per forwarder
  for the pickup day: today if it is one of the forwarder's ``Pickup days``
  (and not a holiday) and now is before its ``Pickup cutoff``, else the next
  pickup day. A second request for the same forwarder and day is an
  *additional* request. Lines whose address is incomplete, whose Qty is not a
  positive whole number, or whose order's lines disagree on customer or
  address are not booked (they are on the Problems tab already).

Precedence of the Ops status: CANCELLED, ON HOLD, shipped (IN TRANSIT, SHIPPED
…), LATE (with the pickup booking appended when there is one), the pickup
booking, AT RISK, blank.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.domain.calendar import (
    BusinessCalendar,
    DaysError,
    at_local,
    business_calendar,
    end_of_day,
    local_days_and_seconds,
    parse_days,
    parse_hhmm,
)
from ops_sheets.domain.findings import Finding
from ops_sheets.sheet.tables import Problem, Table

if TYPE_CHECKING:
    from ops_sheets.config import OrdersSettings, Settings

# Ops status codes (small ints so a million lines cost one int8 array).
BLANK, CANCELLED, ON_HOLD, LATE, BOOKED, AT_RISK, AT_RISK_MISSED = 0, 1, 2, 3, 4, 5, 6
SHIPPED_ON_TIME, SHIPPED_LATE, IN_TRANSIT, PICKUP_TOO_LATE = 7, 8, 9, 10
#: Codes that mean "will miss its deadline unless someone acts".
AT_RISK_CODES = (AT_RISK, AT_RISK_MISSED, PICKUP_TOO_LATE)

SHIPPED_STATUSES = ("SHIPPED", "DELIVERED")
ADDRESS_FIELDS = ("address", "city", "postcode", "country")
PARTY_FIELDS = ("customer", *ADDRESS_FIELDS)

_DAY = np.timedelta64(1, "D")


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rules:
    """The orders settings, parsed once."""

    calendar: BusinessCalendar
    order_cutoff: time
    ship_within: int
    at_risk_hours: float
    transit_alert_days: float
    tz: ZoneInfo

    @property
    def cutoff_seconds(self) -> int:
        return self.order_cutoff.hour * 3600 + self.order_cutoff.minute * 60


def _reports_delivery(settings: Settings, team_delivery: bool) -> bool:
    """False when the Orders tab is a platform's export that says nothing of delivery
    (``[tabs.orders] preset``): no line is then judged stuck in transit, since nothing
    in the tab could ever say it arrived. ``team_delivery``: the team keeps a
    ``Delivered at`` column on the synced tab, which then says it."""
    from ops_sheets.sheet.presets import presets_for

    tab = settings.tabs.get("orders")
    if tab is None or not tab.preset or team_delivery:
        return True
    return all(p.reports_delivery for p in presets_for(tab.preset))


def rules_from_settings(
    settings: Settings, years: Iterable[int], *, team_delivery: bool = False
) -> Rules:
    """Parse ``[jobs.orders]``; ValueError says which key is wrong and how to fix it.

    ``team_delivery``: the Orders tab has a ``Delivered at`` column (on a preset tab,
    the team's own), so a shipment can be judged stuck (see :func:`_reports_delivery`).
    """
    s: OrdersSettings = settings.jobs.orders
    try:
        cutoff = parse_hhmm(s.order_cutoff)
    except ValueError as exc:
        raise ValueError(f"order_cutoff: {exc}") from None
    if s.ship_within_business_days < 0:
        raise ValueError("ship_within_business_days: must be 0 or more")
    cal = business_calendar(
        s.business_days, s.holidays, s.holidays_country, s.holidays_subdivision, years
    )
    return Rules(
        calendar=cal,
        order_cutoff=cutoff,
        ship_within=s.ship_within_business_days,
        at_risk_hours=s.at_risk_hours,
        transit_alert_days=(
            s.transit_alert_days if _reports_delivery(settings, team_delivery) else math.inf
        ),
        tz=settings.tz,
    )


def years_needed(order_dates: pd.Series, now: datetime) -> list[int]:
    """Calendar years whose public holidays matter: the orders' and now's, plus one.

    Capped to ten years back from `now`: a typo such as 1926 must not make the
    holidays package build a century of calendars (such a line is long late anyway).
    """
    first = last = now.year
    valid = order_dates.dropna()
    if not valid.empty:
        first = min(first, int(valid.min().year))
        last = max(last, int(valid.max().year))
    first = max(first, now.year - 10)
    return list(range(first, last + 2))


# ---------------------------------------------------------------- deadlines


def ship_by_dates(order_dates: pd.Series, rules: Rules) -> np.ndarray:
    """``Ship by`` per line as ``datetime64[D]`` (NaT where the order date is blank)."""
    days, secs = local_days_and_seconds(order_dates, rules.tz)
    after_cutoff = secs > rules.cutoff_seconds
    # A non-business day rolls forward anyway, so "next business day after the
    # order's date" and "roll the order's date forward" coincide there.
    start_from = days + after_cutoff.astype("timedelta64[D]")
    cal = rules.calendar.numpy
    start = np.busday_offset(start_from, 0, roll="forward", busdaycal=cal)
    return np.busday_offset(start, rules.ship_within, roll="forward", busdaycal=cal)


# ---------------------------------------------------------------- forwarders


@dataclass(frozen=True)
class Forwarder:
    """One row of the Forwarders tab, parsed."""

    name: str
    email: str | None
    cutoff: time | None
    weekmask: str | None  # None: Pickup days did not parse (a problem says why)
    account: str
    contact: str
    row: int | None
    code: str

    @property
    def usable(self) -> bool:
        """Can parcels be booked with this forwarder? (Email and pickup days known.)"""
        return self.weekmask is not None and bool(self.email)

    def pickup_calendar(self, shop: BusinessCalendar) -> BusinessCalendar:
        """Its pickup days minus the shop's holidays (nobody hands over parcels then)."""
        return shop.with_weekmask(self.weekmask or "0000000")

    def pickup_date(self, now: datetime, shop: BusinessCalendar) -> date:
        """Today if it picks up today and the cutoff has not passed, else its next pickup day."""
        cal = self.pickup_calendar(shop)
        today = now.date()
        if cal.is_business_day(today) and (self.cutoff is None or now.time() < self.cutoff):
            return today
        return cal.next_after(today)


def forwarder_codes(names: Iterable[str]) -> dict[str, str]:
    """Short codes for references: the first four letters or digits, upper case.

    Like supplier codes in PO numbers. Names that share a code get a short,
    stable suffix derived from the whole name.
    """
    names = list(names)
    base = {n: (re.sub(r"[^A-Za-z0-9]", "", n).upper()[:4] or "FWD") for n in names}
    counts: dict[str, int] = {}
    for code in base.values():
        counts[code] = counts.get(code, 0) + 1
    out: dict[str, str] = {}
    for n, code in base.items():
        if counts[code] > 1:
            code = f"{code}{hashlib.sha256(n.encode()).hexdigest()[:3].upper()}"
        out[n] = code
    return out


def read_forwarders(
    table: Table, *, default_days: str = "1111100"
) -> tuple[dict[str, Forwarder], list[Problem]]:
    """Forwarders by name, and the problems of their Pickup days cells.

    A blank ``Pickup days`` means the shop's business days. Rows whose name is a
    duplicate (already a problem) are left out, so their parcels are not booked.
    """
    problems: list[Problem] = []
    out: dict[str, Forwarder] = {}
    if not table.exists or table.frame.empty:
        return out, problems
    f = table.frame[table.frame["_key_ok"] & table.frame["forwarder"].notna()]
    contact_col = next((c for c in f.columns if _norm(c) == "contact"), None)
    codes = forwarder_codes(f["forwarder"].astype(str))
    for rec in f.to_dict("records"):
        name = str(rec["forwarder"])
        raw_days = rec.get("pickup_days")
        weekmask: str | None
        if raw_days is None or (isinstance(raw_days, float) and np.isnan(raw_days)):
            weekmask = default_days
        else:
            try:
                weekmask = parse_days(str(raw_days))
            except DaysError as err:
                weekmask = None
                problems.append(
                    Problem(
                        table.title,
                        int(rec["_row"]),
                        table.header("pickup_days"),
                        name,
                        str(raw_days),
                        f"Pickup days: {err.problem}; no pickups are booked "
                        f"with {name} until this is fixed",
                        err.fix,
                    )
                )
        cutoff = rec.get("pickup_cutoff")
        out[name] = Forwarder(
            name=name,
            email=_text(rec.get("email")),
            cutoff=cutoff if isinstance(cutoff, time) else None,
            weekmask=weekmask,
            account=_text(rec.get("account")) or "",
            contact=_text(rec.get(contact_col)) or "" if contact_col else "",
            row=int(rec["_row"]),
            code=codes[name],
        )
    return out, problems


def _norm(header: Any) -> str:
    return re.sub(r"[\s_\-.]+", "", str(header)).casefold()


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------- bookings

#: What became of a pickup request, from the ledger's state of its email:
REQUESTED = "requested"  # sent: the parcels are booked
PENDING = "pending"  # not sent yet, will be (planned, retrying, being sent)
UNCONFIRMED = "unconfirmed"  # outcome unknown: waits for the manager's review
FAILED = "failed"  # refused for good: waits for review, or a corrected Email
SUPERSEDED = "superseded"  # failed, and the forwarder's Email changed since: rebook
VOID = "void"  # never reached the ledger (rejected before sending, or a crash)

#: Deliveries whose lines may not be booked again automatically.
HOLDING = (REQUESTED, PENDING, UNCONFIRMED, FAILED)


def delivery_from_ledger(state: str | None) -> str:
    """Map a ledger state (``ops_sheets.store.ledger``) to what it means for a booking."""
    if state is None:
        return VOID
    return {
        "sent": REQUESTED,
        "unknown": UNCONFIRMED,
        "failed-permanent": FAILED,
    }.get(state, PENDING)  # planned, claimed, sending, failed (temporary): still going


@dataclass(frozen=True)
class Booking:
    """A pickup request made by an earlier run, with what became of it."""

    reference: str
    email_key: str
    forwarder: str
    pickup_date: date
    sequence: int
    lines: tuple[tuple[str, str], ...]  # (Order ID, SKU)
    delivery: str = PENDING
    recipients: tuple[str, ...] = ()
    detail: str = ""  # the ledger's last error, for the manager

    @property
    def holds(self) -> bool:
        return self.delivery in HOLDING

    def status_text(self) -> str:
        when = self.pickup_date.isoformat()
        label = {
            REQUESTED: "PICKUP REQUESTED",
            PENDING: "PICKUP REQUEST PENDING",
            UNCONFIRMED: "PICKUP REQUEST UNCONFIRMED",
            FAILED: "PICKUP REQUEST FAILED",
        }.get(self.delivery, "PICKUP REQUESTED")
        return f"{label} {when} {self.reference}"


def settle_bookings(
    bookings: Sequence[Booking], forwarders: Mapping[str, Forwarder]
) -> list[Booking]:
    """Release the lines of a refused request once the forwarder's Email was corrected.

    A request refused for good (``failed``) keeps its parcels until a person
    acts: ``ops-sheets review`` (resend to the same address, or mark as sent),
    or a corrected Email on the Forwarders tab, which makes it ``superseded`` so
    that its parcels go into a new request to the new address.
    """
    out: list[Booking] = []
    for b in bookings:
        fwd = forwarders.get(b.forwarder)
        if b.delivery == FAILED and fwd is not None and fwd.email and b.recipients:
            sent_to = {_address(r) for r in b.recipients}
            if _address(fwd.email) not in sent_to:
                b = replace(b, delivery=SUPERSEDED)
        out.append(b)
    return out


def _address(text: str) -> str:
    """The bare address of ``Name <a@b.example>`` or ``a@b.example``, case-folded."""
    return parseaddr(text)[1].strip().casefold() or text.strip().casefold()


def booking_index(frame: pd.DataFrame, bookings: Sequence[Booking]) -> np.ndarray:
    """Per line, the index in ``bookings`` of the request holding it, else -1.

    Later bookings win (a line released by a superseded request and booked again).
    Only bookings that hold their lines count.
    """
    out = np.full(len(frame), -1, dtype=np.int32)
    holding = [(i, b) for i, b in enumerate(bookings) if b.holds]
    if not holding or frame.empty:
        return out
    where: dict[tuple[str, str], int] = {}
    for i, b in holding:
        for key in b.lines:
            where[(str(key[0]), str(key[1]))] = i
    index = pd.MultiIndex.from_tuples(list(where), names=["order_id", "sku"])
    lines = pd.MultiIndex.from_arrays(
        [frame["order_id"].astype(object), frame["sku"].astype(object)]
    )
    pos = index.get_indexer(lines)
    values = np.fromiter(where.values(), dtype=np.int32, count=len(where))
    hit = pos >= 0
    out[hit] = values[pos[hit]]
    return out


# ---------------------------------------------------------------- statuses


@dataclass
class Assessment:
    """Per line (aligned with the frame's rows): deadline, status code and text."""

    ship_by: np.ndarray  # datetime64[D]
    code: np.ndarray  # int8, one of the codes above
    days: np.ndarray  # int32: business days late, or days in transit
    hours_left: np.ndarray  # float64: to the last on-time pickup (AT RISK)
    booking: np.ndarray  # int32 index into the bookings, -1 none
    ops_status: np.ndarray  # object: the text for the Ops status column ("" = blank)
    shipped: np.ndarray  # bool: the parcel left
    open_: np.ndarray  # bool: still to ship (not shipped, cancelled or on hold)

    def mask(self, *codes: int) -> np.ndarray:
        return np.isin(self.code, codes)


def assess(
    frame: pd.DataFrame,
    rules: Rules,
    now: datetime,
    forwarders: Mapping[str, Forwarder] | None = None,
    bookings: Sequence[Booking] = (),
    booking_idx: np.ndarray | None = None,
) -> Assessment:
    """Ship-by date and Ops status of every line, vectorised."""
    forwarders = forwarders or {}
    n = len(frame)
    now_local = now.astimezone(rules.tz)
    today = np.datetime64(now_local.date(), "D")
    ship_by = ship_by_dates(frame["order_date"], rules)
    has_ship_by = ~np.isnat(ship_by)

    status = frame["status"].to_numpy(dtype=object)
    cancelled = status == "CANCELLED"
    on_hold = status == "ON HOLD"
    shipped_at = frame["shipped_at"]
    has_shipped_at = shipped_at.notna().to_numpy()
    shipped = (np.isin(status, SHIPPED_STATUSES) | has_shipped_at) & ~cancelled & ~on_hold
    delivered = frame["delivered_at"].notna().to_numpy() | (status == "DELIVERED")
    open_ = ~cancelled & ~on_hold & ~shipped

    code = np.zeros(n, dtype=np.int8)
    days = np.zeros(n, dtype=np.int32)
    hours_left = np.full(n, np.nan)
    cal = rules.calendar

    # shipped: in transit for too long, else on time or n days late
    ship_day, _ = local_days_and_seconds(shipped_at, rules.tz)
    age_days = ((pd.Timestamp(now) - shipped_at) / pd.Timedelta(days=1)).to_numpy(
        dtype=float, na_value=np.nan
    )
    stuck = shipped & has_shipped_at & ~delivered & (age_days > rules.transit_alert_days)
    code[stuck] = IN_TRANSIT
    # Shown as calendar days since the shipping date, as a person counts them.
    days[stuck] = (today - ship_day[stuck]).astype(np.int32)
    judged = shipped & has_shipped_at & has_ship_by & ~stuck
    on_time = judged & (ship_day <= ship_by)
    code[on_time] = SHIPPED_ON_TIME
    shipped_late = judged & ~on_time
    code[shipped_late] = SHIPPED_LATE
    days[shipped_late] = cal.count(ship_by[shipped_late], ship_day[shipped_late])

    # open lines: late, booked, at risk
    late = open_ & has_ship_by & (ship_by < today)
    code[late] = LATE
    days[late] = cal.count(ship_by[late], np.full(int(late.sum()), today))
    if booking_idx is None:
        booking_idx = booking_index(frame, bookings)
    booking_idx = np.where(open_, booking_idx, -1).astype(np.int32)
    booked = booking_idx >= 0
    code[booked & ~late] = BOOKED
    if booked.any():
        # booked for a pickup after the ship-by date: the courier comes too late
        pickup_days = np.array(
            [b.pickup_date for b in bookings] or [date.min], dtype="datetime64[D]"
        )
        too_late = booked & ~late & (pickup_days[np.maximum(booking_idx, 0)] > ship_by)
        code[too_late] = PICKUP_TOO_LATE

    candidates = open_ & has_ship_by & ~late & ~booked
    if candidates.any():
        due = _last_pickup_moments(frame, ship_by, candidates, rules, forwarders)
        hours_left[candidates] = (due - now.timestamp()) / 3600.0
        risky = candidates & (hours_left <= rules.at_risk_hours)
        missed = risky & (hours_left <= 0)
        code[risky & ~missed] = AT_RISK
        code[missed] = AT_RISK_MISSED
        days[risky & ~missed] = np.floor(hours_left[risky & ~missed]).astype(np.int32)

    code[cancelled] = CANCELLED
    code[on_hold] = ON_HOLD
    texts = _texts(code, days, booking_idx, bookings)
    return Assessment(ship_by, code, days, hours_left, booking_idx, texts, shipped, open_)


def _last_pickup_moments(
    frame: pd.DataFrame,
    ship_by: np.ndarray,
    mask: np.ndarray,
    rules: Rules,
    forwarders: Mapping[str, Forwarder],
) -> np.ndarray:
    """Epoch seconds of each masked line's last on-time pickup (see module docstring).

    Computed once per distinct (forwarder, ship-by date), which is a few hundred
    pairs however many lines there are.
    """
    usable = [name for name, f in forwarders.items() if f.weekmask is not None]
    fcode = pd.Index(usable, dtype=object).get_indexer(
        frame["forwarder"].to_numpy(dtype=object)[mask]
    )
    day = ship_by[mask].astype("int64")
    combo = (fcode.astype(np.int64) + 1) * 10_000_000 + day
    uniq, inverse = np.unique(combo, return_inverse=True)
    moments = np.empty(len(uniq))
    for i, c in enumerate(uniq):
        fi, d = divmod(int(c), 10_000_000)
        ship_day = date(1970, 1, 1) + timedelta(days=d)
        if fi == 0:
            moments[i] = end_of_day(ship_day, rules.tz).timestamp()
            continue
        fwd = forwarders[usable[fi - 1]]
        pcal = fwd.pickup_calendar(rules.calendar).numpy
        last = np.busday_offset(np.datetime64(ship_day, "D"), 0, roll="backward", busdaycal=pcal)
        last_day = last.astype(date)
        moment = (
            at_local(last_day, fwd.cutoff, rules.tz)
            if fwd.cutoff is not None
            else end_of_day(last_day, rules.tz)
        )
        moments[i] = moment.timestamp()
    return moments[inverse]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}S"


def status_text(code: int, days: int, booking: Booking | None = None) -> str:
    """The Ops status of one line (the vectorised path uses this per distinct value)."""
    match code:
        case 1:
            return "CANCELLED"
        case 2:
            return "ON HOLD"
        case 3:
            text = f"LATE {_plural(days, 'BUSINESS DAY')}"
            return f"{text}; {booking.status_text()}" if booking is not None else text
        case 4:
            return booking.status_text() if booking is not None else ""
        case 5:
            return (
                "AT RISK UNDER 1 HOUR LEFT" if days < 1 else f"AT RISK {_plural(days, 'HOUR')} LEFT"
            )
        case 6:
            return "AT RISK LAST PICKUP MISSED"
        case 7:
            return "SHIPPED ON TIME"
        case 8:
            return f"SHIPPED {_plural(days, 'DAY')} LATE"
        case 9:
            return f"IN TRANSIT {_plural(days, 'DAY')}"
        case 10:
            text = "AT RISK PICKUP AFTER SHIP BY"
            return f"{text}; {booking.status_text()}" if booking is not None else text
    return ""


def _texts(
    code: np.ndarray, days: np.ndarray, booking: np.ndarray, bookings: Sequence[Booking]
) -> np.ndarray:
    """Status texts, built once per distinct (code, days, booking) and then gathered."""
    if len(code) == 0:
        return np.empty(0, dtype=object)
    shown = np.isin(code, (LATE, BOOKED, PICKUP_TOO_LATE))
    shown_booking = np.where(shown, booking, -1).astype(np.int64)
    d = np.clip(days, 0, (1 << 24) - 1).astype(np.int64)
    combo = (code.astype(np.int64) << 48) | (d << 24) | (shown_booking + 1)
    uniq, inverse = np.unique(combo, return_inverse=True)
    texts = np.empty(len(uniq), dtype=object)
    for i, c in enumerate(uniq):
        c = int(c)
        b = (c & ((1 << 24) - 1)) - 1
        texts[i] = status_text(
            c >> 48, (c >> 24) & ((1 << 24) - 1), bookings[b] if b >= 0 else None
        )
    return texts[inverse]


# ---------------------------------------------------------------- pickups


@dataclass(frozen=True)
class Parcel:
    """The READY lines of one order going with one forwarder."""

    order_id: str
    customer: str
    address: str
    city: str
    postcode: str
    country: str
    lines: int
    units: int
    skus: tuple[str, ...]
    first_row: int


@dataclass
class PickupRequest:
    forwarder: Forwarder
    pickup_date: date
    sequence: int
    additional: bool
    parcels: list[Parcel]
    lines: list[tuple[str, str]]  # (Order ID, SKU), what the state remembers

    @property
    def reference(self) -> str:
        """``PU-<yyyymmdd>-<code>``, then ``-2``, ``-3``… for more requests that day."""
        base = f"PU-{self.pickup_date:%Y%m%d}-{self.forwarder.code}"
        return base if self.sequence == 1 else f"{base}-{self.sequence}"

    @property
    def email_key(self) -> str:
        """One key per forwarder, pickup day and sequence: never reused for another body."""
        return f"pickup:{self.reference}"

    @property
    def total_units(self) -> int:
        return sum(p.units for p in self.parcels)

    def booking(self, delivery: str = PENDING) -> Booking:
        return Booking(
            reference=self.reference,
            email_key=self.email_key,
            forwarder=self.forwarder.name,
            pickup_date=self.pickup_date,
            sequence=self.sequence,
            lines=tuple(self.lines),
            delivery=delivery,
            recipients=(self.forwarder.email or "",),
        )


@dataclass
class PickupPlan:
    requests: list[PickupRequest] = field(default_factory=list)
    #: READY lines not booked because of their forwarder: name -> (forwarder, line count)
    blocked: dict[str, int] = field(default_factory=dict)
    #: per line (frame order): True when a request of this plan books it
    booked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: per line: the pickup day of the request that books it (NaT if none)
    pickup_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="datetime64[D]"))

    def status_after_send(self, a: Assessment, i: int, request: PickupRequest) -> str:
        """Line ``i``'s Ops status once ``request`` was sent (written after sending)."""
        booking = request.booking(REQUESTED)
        if a.code[i] == LATE:
            return status_text(LATE, int(a.days[i]), booking)
        if not np.isnat(a.ship_by[i]) and request.pickup_date > a.ship_by[i].astype(date):
            return status_text(PICKUP_TOO_LATE, 0, booking)
        return status_text(BOOKED, 0, booking)


def bookable(
    frame: pd.DataFrame,
    forwarders: Mapping[str, Forwarder],
    held: np.ndarray,
    *,
    address_checked: bool = False,
) -> np.ndarray:
    """READY lines that a new request may book (see module docstring).

    ``address_checked``: the caller holds lines whose address fails its country's
    rules (:mod:`.packing`, ``held``), so a postcode left blank where the country
    has none (HK) does not stop the booking.
    """
    fields = ["address", "country"] if address_checked else list(ADDRESS_FIELDS)
    usable = [name for name, f in forwarders.items() if f.usable]
    qty = frame["qty"].to_numpy(dtype=float, na_value=np.nan)
    ok = (
        (frame["status"].to_numpy(dtype=object) == "READY")
        & frame["_key_ok"].to_numpy(dtype=bool)
        & frame["order_id"].notna().to_numpy()
        & frame["sku"].notna().to_numpy()
        & frame["shipped_at"].isna().to_numpy()
        & frame["forwarder"].isin(usable).to_numpy()
        & (qty > 0)
        & (np.mod(qty, 1) == 0)
        & frame[fields].notna().all(axis=1).to_numpy()
        & ~held
    )
    if ok.any():
        ok &= ~frame["order_id"].isin(disagreeing_orders(frame, ok)).to_numpy()
    return ok


def disagreeing_orders(frame: pd.DataFrame, among: np.ndarray | None = None) -> set[str]:
    """Order IDs whose lines name different customers or addresses (vectorised).

    ``among`` limits the check to orders that have a line in the mask (all lines
    of those orders take part).
    """
    f = frame[frame["order_id"].notna()]
    if among is not None:
        ids = frame.loc[among, "order_id"].unique()
        f = f[f["order_id"].isin(ids)]
    if f.empty:
        return set()
    cols = {c: f[c].astype("string").str.strip().str.casefold() for c in PARTY_FIELDS if c in f}
    norm = pd.DataFrame({"order_id": f["order_id"].astype(object), **cols})
    counts = norm.groupby("order_id", sort=False).nunique(dropna=True)
    return set(counts.index[(counts > 1).any(axis=1)])


def plan_pickups(
    frame: pd.DataFrame,
    rules: Rules,
    now: datetime,
    forwarders: Mapping[str, Forwarder],
    bookings: Sequence[Booking] = (),
    booking_idx: np.ndarray | None = None,
    *,
    backorder: np.ndarray | None = None,
    on_hold: np.ndarray | None = None,
) -> PickupPlan:
    """New pickup requests for READY lines that no request holds yet.

    ``backorder``: lines stock cannot cover (:mod:`ops_sheets.domain.allocation`);
    no pickup is booked for them (DESIGN.md wave 2, contract). ``on_hold``: lines
    on ``HOLD: UNPAID`` or ``HOLD: ADDRESS`` (:mod:`ops_sheets.domain.packing`),
    never booked either; giving it means the addresses were checked per country.

    ``bookings`` are the requests of earlier runs (after :func:`settle_bookings`):
    their lines are held, and they decide the sequence number and whether a new
    request is *additional* for its forwarder and day.
    """
    plan = PickupPlan(
        booked=np.zeros(len(frame), dtype=bool),
        pickup_day=np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[D]"),
    )
    if frame.empty:
        return plan
    if booking_idx is None:
        booking_idx = booking_index(frame, bookings)
    held = booking_idx >= 0
    ok = bookable(frame, forwarders, held, address_checked=on_hold is not None)
    if backorder is not None:
        ok &= ~backorder
    if on_hold is not None:
        ok &= ~on_hold
    ready = (frame["status"].to_numpy(dtype=object) == "READY") & ~held
    ready &= frame["shipped_at"].isna().to_numpy()
    unusable = [n for n, f in forwarders.items() if not f.usable]
    if unusable:
        counts = frame.loc[ready & frame["forwarder"].isin(unusable).to_numpy(), "forwarder"]
        plan.blocked = {str(k): int(v) for k, v in counts.value_counts().items()}
    if not ok.any():
        return plan
    plan.booked = ok
    now_local = now.astimezone(rules.tz)
    cols = ["forwarder", "order_id", "sku", "qty", "customer", *ADDRESS_FIELDS, "_row"]
    sub = frame.loc[ok, cols]
    for name, lines in sub.groupby("forwarder", sort=True):
        fwd = forwarders[str(name)]
        day = fwd.pickup_date(now_local, rules.calendar)
        same_day = [b for b in bookings if b.forwarder == fwd.name and b.pickup_date == day]
        used = [b.sequence for b in same_day if b.delivery != VOID]
        sequence = max(used, default=0) + 1
        additional = any(b.delivery in (*HOLDING, SUPERSEDED) for b in same_day)
        plan.pickup_day[frame.index.get_indexer(lines.index)] = np.datetime64(day, "D")
        plan.requests.append(
            PickupRequest(
                forwarder=fwd,
                pickup_date=day,
                sequence=sequence,
                additional=additional,
                parcels=_parcels(lines),
                lines=list(
                    zip(lines["order_id"].astype(str), lines["sku"].astype(str), strict=True)
                ),
            )
        )
    return plan


def _parcels(lines: pd.DataFrame) -> list[Parcel]:
    """One parcel per order ID, in the order the orders first appear on the sheet."""
    grouped = lines.groupby("order_id", sort=False)
    first = grouped.first()
    agg = grouped.agg(
        lines=("sku", "size"), units=("qty", "sum"), first_row=("_row", "min"), skus=("sku", tuple)
    ).join(first[["customer", *ADDRESS_FIELDS]])
    agg = agg.sort_values("first_row", kind="stable")
    return [
        Parcel(
            order_id=str(order_id),
            customer=_text(r["customer"]) or "",
            address=_text(r["address"]) or "",
            city=_text(r["city"]) or "",
            postcode=_text(r["postcode"]) or "",
            country=_text(r["country"]) or "",
            lines=int(r["lines"]),
            units=int(r["units"]),
            skus=tuple(str(s) for s in r["skus"]),
            first_row=int(r["first_row"]),
        )
        for order_id, r in agg.iterrows()
    ]


def pickup_context(
    request: PickupRequest, *, shop_name: str, collection_address: str
) -> dict[str, Any]:
    """The ``pickup_request`` template's context (templates/README.md, mail/samples.py)."""
    fwd = request.forwarder
    return {
        "shop_name": shop_name,
        "forwarder": {"name": fwd.name, "contact": fwd.contact},
        "account": fwd.account or "(none on file)",
        "pickup_date": request.pickup_date,
        "cutoff": f"{fwd.cutoff:%H:%M}" if fwd.cutoff is not None else "",
        "collection_address": collection_address,
        "parcels": [
            {
                "order_id": p.order_id,
                "city": p.city,
                "postcode": p.postcode,
                "country": p.country,
                "lines": p.lines,
                "units": p.units,
            }
            for p in request.parcels
        ],
        "total_parcels": len(request.parcels),
        "total_units": request.total_units,
        "additional": request.additional,
    }


MANIFEST_HEADER = (
    "Reference",
    "Pickup date",
    "Parcel",
    "Order ID",
    "Customer",
    "Address",
    "City",
    "Postcode",
    "Country",
    "Lines",
    "Units",
    "SKUs",
)


def manifest_rows(request: PickupRequest) -> list[list[Any]]:
    """The CSV manifest: one row per parcel, with the full delivery address."""
    rows: list[list[Any]] = [list(MANIFEST_HEADER)]
    for i, p in enumerate(request.parcels, start=1):
        rows.append(
            [
                request.reference,
                request.pickup_date.isoformat(),
                i,
                p.order_id,
                p.customer,
                p.address,
                p.city,
                p.postcode,
                p.country,
                p.lines,
                p.units,
                " ".join(p.skus),
            ]
        )
    return rows


# ---------------------------------------------------------------- for the monitor


def with_plan(a: Assessment, plan: PickupPlan) -> Assessment:
    """The assessment as it stands once this run's requests go out.

    Lines booked by the plan are no longer AT RISK (a courier is coming), unless
    the pickup is after their ship-by date; late lines stay late. Used for the
    counts and the monitor's findings, while the sheet shows a booking only once
    the ledger says the request was sent.
    """
    if not plan.booked.any():
        return a
    code = a.code.copy()
    coming = plan.booked & np.isin(code, (AT_RISK, AT_RISK_MISSED, BLANK))
    too_late = coming & (plan.pickup_day > a.ship_by)
    code[coming] = BOOKED
    code[too_late] = PICKUP_TOO_LATE
    return replace(a, code=code)


def pickup_findings(
    frame: pd.DataFrame,
    a: Assessment,
    bookings: Sequence[Booking],
    plan: PickupPlan,
    forwarders: Mapping[str, Forwarder],
    now: datetime,
    rules: Rules,
) -> list[Finding]:
    """What only the orders job knows and the manager must hear, for ``monitor``.

    ``monitor`` finds late lines (``late-lines``), parcels stuck in transit
    (``stuck-shipments``) and requests awaiting review (``email:<key>``) itself,
    from the same rules and the ledger; this adds the pickup side:

    * ``pickup-overdue:<reference>`` – sent, its pickup day is over, and lines
      of it are still not shipped (collected but not marked, or not collected);
    * ``pickup-pending:<reference>`` – not sent yet: the mail server refused it
      for now and it is being retried, or its pickup cutoff has passed;
    * ``pickup-blocked:<forwarder>`` – READY lines that cannot be booked because
      the forwarder has no Email or unreadable Pickup days.

    ``metric`` is the number of order lines concerned (more = worse).
    """
    now_local = now.astimezone(rules.tz)
    today = now_local.date()
    out: list[Finding] = []
    order_ids = frame["order_id"].to_numpy(dtype=object)
    waiting: dict[int, list[int]] = {}
    for i in np.flatnonzero(a.open_ & (a.booking >= 0)):
        waiting.setdefault(int(a.booking[i]), []).append(int(i))
    for bi, b in enumerate(bookings):
        lines = waiting.get(bi, [])
        orders = sorted({str(order_ids[i]) for i in lines})
        named = ", ".join(orders[:5]) + (f" and {len(orders) - 5} more" if len(orders) > 5 else "")
        day = f"{b.pickup_date:%a %d %b}"
        if b.delivery == REQUESTED and b.pickup_date < today and lines:
            out.append(
                _finding(
                    f"pickup-overdue:{b.reference}",
                    "warning",
                    f"Pickup {b.reference} ({b.forwarder}, {day}): "
                    f"{_count(len(orders), 'order')} not shipped",
                    f"Requested for {day}; still not marked shipped: {named}.",
                    f"If {b.forwarder} collected them, set Status SHIPPED and Shipped at; if "
                    f"not, ask {b.forwarder} for a new collection (the service never books a "
                    "parcel twice).",
                    len(lines),
                )
            )
        elif b.delivery == PENDING and lines:
            fwd = forwarders.get(b.forwarder)
            cutoff = fwd.cutoff if fwd is not None and fwd.cutoff is not None else time(23, 59)
            missed = (b.pickup_date, cutoff) <= (today, now_local.time().replace(tzinfo=None))
            if b.detail or missed:
                why = f"the mail server answered: {b.detail}" if b.detail else "not sent yet"
                out.append(
                    _finding(
                        f"pickup-pending:{b.reference}",
                        "critical" if missed else "warning",
                        f"Pickup request {b.reference} to {b.forwarder} not sent"
                        + (" before its cutoff" if missed else " yet"),
                        f"For {day}, {_count(len(orders), 'order')} ({named}); {why}.",
                        f"Phone {b.forwarder} to book the collection; check the mail "
                        "settings with `ops-sheets status` (the request is retried).",
                        len(lines),
                    )
                )
    for name, count in sorted(plan.blocked.items()):
        fwd = forwarders.get(name)
        what = (
            "has no Email"
            if fwd is None or fwd.weekmask is not None
            else ("has Pickup days the service cannot read")
        )
        out.append(
            _finding(
                f"pickup-blocked:{name}",
                "warning",
                f"{_count(count, 'READY order line')} for {name} cannot be booked",
                f"{name} {what} on the Forwarders tab, so no pickup request can be sent.",
                "Fix the Forwarders tab (the Problems tab points at the cell); the next run "
                "books the parcels.",
                count,
            )
        )
    return out


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _finding(
    key: str, severity: str, title: str, detail: str, action: str, metric: float
) -> Finding:
    return Finding(key, "orders", severity, title, detail, action, float(metric))  # type: ignore[arg-type]
