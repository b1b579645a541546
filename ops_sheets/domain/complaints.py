"""Complaints: numbers, response and resolution deadlines, Ops status, findings (issue 18).

Pure: the Complaints (and Orders) frames and ``now`` in, a plan out. The
``complaints`` job (jobs/complaints.py) writes it back and sends the mail.

The rules (DESIGN.md wave 2, contract where it says so):

* **Complaint ID**: a blank one gets ``CMP-<yyyy>-<nnnn>``, the year of
  assignment, the sequence restarting at 0001 each year, never reused (the
  rules of RMA numbers; the job takes numbers from the state's ``cmp-<yyyy>``
  sequence, above the highest on the sheet).
* **Respond by**: ``first_response_hours`` *business hours* after ``Received
  at``. Business hours are the hours of the shop's business days (the calendar
  ship-by uses: ``[jobs.orders] business_days``, ``holidays``,
  ``holidays_country``), within ``[jobs.complaints] business_hours`` when set
  (blank: the whole business day). Hours are real elapsed hours: the night the
  clocks go back has 25 of them, the night they go forward 23.
* **Resolve by**: ``resolve_days`` business days after the day received (a
  complaint received on a non-business day starts on the next one).
* **Ops status**, first that applies:
  ``RESOLVED IN n DAYS`` (Status RESOLVED or CLOSED, or Resolved at typed;
  business days from receipt to resolution, 0 when resolved the day it came
  in), ``RESPOND WITHIN n H`` /
  ``RESPONSE OVERDUE n H`` (no First response at yet; business hours left or
  over, rounded up), ``RESOLVE BY MON 30 NOV`` / ``RESOLUTION OVERDUE n DAYS``
  (answered, not resolved; business days past the date, at least 1).
* **Findings** for ``monitor``: every overdue complaint (one finding each,
  critical: the manager's alert escalates them), a repeat complainer
  (``repeat_count`` complaints from one email address within ``window_days``)
  and a SKU with ``sku_count`` or more complaints in the window. The SKU one
  carries the key of the returns job's "possible faulty product" finding
  (``returns:faulty:<sku>``), so :func:`ops_sheets.domain.findings.current`
  joins the two into one finding, not two.
* **KPIs** (:func:`complaint_kpis`): complaints opened, median business hours
  to the first response, % answered within the SLA.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd

from ops_sheets.domain.calendar import BusinessCalendar, at_local, business_calendar, end_of_day
from ops_sheets.domain.findings import Finding
from ops_sheets.domain.today import Todo

if TYPE_CHECKING:
    from ops_sheets.config import Settings

CMP_NAMESPACE = "complaints.cmp"
CMP_RE = re.compile(r"^\s*CMP-(\d{4})-(\d{4,})\s*$", re.IGNORECASE)
RAW_RECEIVED_AT = "_raw_received_at"
DONE_STATUSES = ("RESOLVED", "CLOSED")
#: the tabs every finding is computed from
TABS = ("complaints",)
#: how recent a complaint must be for its acknowledgement (no mail about old history)
ACK_WITHIN_DAYS = 7


# ---------------------------------------------------------------- business hours


@dataclass(frozen=True)
class WorkingHours:
    """The hours the response clock runs: business days, within ``start``-``end``."""

    calendar: BusinessCalendar
    tz: ZoneInfo
    start: time | None = None  # None: the whole business day
    end: time | None = None

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The business hours of ``day`` as UTC moments (empty on a non-business day)."""
        if self.start is None or self.end is None:
            lo, hi = at_local(day, time(0), self.tz), end_of_day(day, self.tz)
        else:
            lo, hi = at_local(day, self.start, self.tz), at_local(day, self.end, self.tz)
        return lo.astimezone(UTC), hi.astimezone(UTC)

    def add(self, moment: datetime, hours: float) -> datetime:
        """The moment ``hours`` business hours after ``moment`` (in the business time zone)."""
        left = timedelta(hours=hours)
        at = moment.astimezone(UTC)
        day = moment.astimezone(self.tz).date()
        for _ in range(3700):  # ten years of days: a calendar with no business day ends it
            if self.calendar.is_business_day(day):
                lo, hi = self.window(day)
                lo = max(lo, at)
                if hi > lo:
                    if hi - lo >= left:
                        return (lo + left).astimezone(self.tz)
                    left -= hi - lo
            day += timedelta(days=1)
        raise ValueError("no business hours in the next ten years: check business_days")

    def between(self, a: datetime, b: datetime) -> float:
        """Business hours in ``[a, b]``; negative when ``b`` is before ``a``."""
        if b < a:
            return -self.between(b, a)
        a_utc, b_utc = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta(0)
        day = a.astimezone(self.tz).date()
        last = b.astimezone(self.tz).date()
        while day <= last:
            if self.calendar.is_business_day(day):
                lo, hi = self.window(day)
                lo, hi = max(lo, a_utc), min(hi, b_utc)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600


@dataclass(frozen=True)
class ComplaintRules:
    hours: WorkingHours
    first_response_hours: float
    resolve_days: int
    repeat_count: int
    sku_count: int
    window_days: int
    notify: bool
    shop_name: str

    @property
    def calendar(self) -> BusinessCalendar:
        return self.hours.calendar

    @classmethod
    def from_settings(cls, settings: Settings, years: Iterable[int]) -> ComplaintRules:
        """The shop's calendar (``[jobs.orders]``, as ship-by) and ``[jobs.complaints]``."""
        o, c = settings.jobs.orders, settings.jobs.complaints
        cal = business_calendar(
            o.business_days, o.holidays, o.holidays_country, o.holidays_subdivision, years
        )
        start = end = None
        if c.business_hours.strip():
            from ops_sheets.domain.monitoring import BusinessHours

            parsed = BusinessHours.parse(c.business_hours)
            start, end = parsed.start, parsed.end
        return cls(
            WorkingHours(cal, settings.tz, start, end),
            c.first_response_hours,
            c.resolve_days,
            c.repeat_count,
            c.sku_count,
            c.window_days,
            c.notify_customer,
            settings.shop_name,
        )


def years_for(frame: pd.DataFrame, now: datetime) -> list[int]:
    """Calendar years whose holidays matter: the complaints' and now's, plus one."""
    first = last = now.year
    if "received_at" in frame.columns:
        when = pd.to_datetime(frame["received_at"], errors="coerce", utc=True).dropna()
        if not when.empty:
            first = max(min(first, int(when.min().year)), now.year - 10)
            last = max(last, int(when.max().year))
    return list(range(first, last + 2))


# ---------------------------------------------------------------- numbers


def format_cmp(year: int, number: int) -> str:
    return f"CMP-{year}-{number:04d}"


def highest_cmp(ids: Iterable[object], year: int) -> int:
    """The highest sequence number of ``year`` among ``ids`` (0 when there is none)."""
    best = 0
    for i in ids:
        m = CMP_RE.match(str(i)) if isinstance(i, str) else None
        if m and int(m.group(1)) == year:
            best = max(best, int(m.group(2)))
    return best


def identity(received_at: datetime | None, email: str | None, customer: str | None) -> str:
    """What makes a complaint row the same across runs while it has no number."""
    when = "" if received_at is None else received_at.strftime("%Y-%m-%dT%H:%M")
    return f"{when}|{(email or '').casefold()}|{(customer or '').casefold()}"


# ---------------------------------------------------------------- rows


@dataclass
class ComplaintRow:
    row: int
    complaint_id: str | None
    received_at: datetime | None
    raw_received_at: str
    customer: str | None
    email: str | None
    order_id: str | None
    sku: str | None
    category: str | None
    description: str | None
    owner: str | None
    status: str | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    key_ok: bool
    respond_by: datetime | None = None
    resolve_by: date | None = None
    ops_status: str = ""
    response_overdue_hours: float = 0.0
    resolution_overdue_days: int = 0
    problems: list[str] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return (self.status or "") in DONE_STATUSES or self.resolved_at is not None

    @property
    def open(self) -> bool:
        return not self.done

    @property
    def identity(self) -> str:
        return identity(self.received_at, self.email, self.customer)

    @property
    def reference(self) -> str:
        return self.complaint_id or f"row {self.row}"

    def values(self) -> dict[str, Any]:
        """The service columns as they should be."""
        return {
            "respond_by": self.respond_by,
            "resolve_by": self.resolve_by,
            "ops_status": self.ops_status or None,
            "problems": "; ".join(dict.fromkeys(self.problems)) or None,
        }

    def changed_values(self) -> dict[str, Any]:
        """The service columns whose value differs from the sheet's."""
        out = {}
        for k, v in self.values().items():
            if not _same(self.current.get(k), v):
                out[k] = v
        return out

    def write_key(self, columns: Sequence[str]) -> dict[str, str]:
        values = {
            "complaint_id": self.complaint_id or "",
            "received_at": self.raw_received_at,
            "email": self.email or "",
        }
        return {c: values[c] for c in columns}


def _same(a: Any, b: Any) -> bool:
    if _blank(a) and _blank(b):
        return True
    if _blank(a) or _blank(b):
        return False
    if isinstance(b, datetime):
        try:
            return (
                pd.Timestamp(a).to_pydatetime().replace(second=0, microsecond=0)
                == b.replace(second=0, microsecond=0)
                or abs(pd.Timestamp(a).timestamp() - b.timestamp()) < 60
            )
        except (TypeError, ValueError):
            return False
    if isinstance(b, date):
        try:
            return pd.Timestamp(a).date() == b
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _text(v: Any) -> str | None:
    return None if _blank(v) else str(v).strip()


def _moment(v: Any, tz: ZoneInfo) -> datetime | None:
    if _blank(v):
        return None
    ts = pd.Timestamp(v)
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    return ts.to_pydatetime().astimezone(tz)


def read_rows(frame: pd.DataFrame, tz: ZoneInfo) -> list[ComplaintRow]:
    """The Complaints frame (``Table.frame``) as rows."""
    out = []
    raw = frame[RAW_RECEIVED_AT] if RAW_RECEIVED_AT in frame.columns else None
    for idx, rec in zip(frame.index, frame.to_dict("records"), strict=True):
        received = _moment(rec.get("received_at"), tz)
        raw_text = raw.at[idx] if raw is not None else None
        out.append(
            ComplaintRow(
                row=int(rec["_row"]),
                complaint_id=_text(rec.get("complaint_id")),
                received_at=received,
                raw_received_at="" if _blank(raw_text) else str(raw_text),
                customer=_text(rec.get("customer")),
                email=_text(rec.get("email")),
                order_id=_text(rec.get("order_id")),
                sku=_text(rec.get("sku")),
                category=_text(rec.get("category")),
                description=_text(rec.get("description")),
                owner=_text(rec.get("owner")),
                status=_text(rec.get("status")),
                first_response_at=_moment(rec.get("first_response_at"), tz),
                resolved_at=_moment(rec.get("resolved_at"), tz),
                key_ok=bool(rec.get("_key_ok", True)),
                current={
                    k: rec.get(k) for k in ("respond_by", "resolve_by", "ops_status", "problems")
                },
            )
        )
    return out


# ---------------------------------------------------------------- the plan


def _day_label(d: date) -> str:
    """``MON 30 NOV``."""
    return d.strftime("%a %d %b").upper()


def resolve_by(received: datetime, rules: ComplaintRules, tz: ZoneInfo) -> date:
    day = received.astimezone(tz).date()
    return rules.calendar.add(day, rules.resolve_days)


def judge(r: ComplaintRow, rules: ComplaintRules, now: datetime) -> None:
    """Fill ``r``'s deadlines, Ops status and row problems."""
    tz = rules.hours.tz
    if r.received_at is None:
        r.ops_status = ""
        r.problems.append("Received at is blank: no deadlines; type when the complaint came in")
        return
    if r.received_at > now:
        r.problems.append("Received at is after now: check the date")
    r.respond_by = rules.hours.add(r.received_at, rules.first_response_hours)
    r.resolve_by = resolve_by(r.received_at, rules, tz)
    if r.first_response_at is not None and r.first_response_at < r.received_at:
        r.problems.append("First response at is before Received at: check the dates")
    if r.resolved_at is not None and r.resolved_at < r.received_at:
        r.problems.append("Resolved at is before Received at: check the dates")
    if r.done:
        if r.resolved_at is None:
            r.ops_status = "RESOLVED"
            r.problems.append("Status is done but Resolved at is blank: type when it was resolved")
            return
        start = r.received_at.astimezone(tz).date()
        days = int(rules.calendar.count(start, r.resolved_at.astimezone(tz).date()))
        # 0: within the business day it came in; the contract's words even then
        days = max(days, 0)
        r.ops_status = f"RESOLVED IN {days} DAY{'' if days == 1 else 'S'}"
        return
    if r.first_response_at is None:
        left = rules.hours.between(now, r.respond_by)
        if left > 0:
            r.ops_status = f"RESPOND WITHIN {max(1, math.ceil(left - 1e-9))} H"
        else:
            over = max(1, math.ceil(-left - 1e-9))
            r.response_overdue_hours = float(over)
            r.ops_status = f"RESPONSE OVERDUE {over} H"
        return
    today = now.astimezone(tz).date()
    if today <= r.resolve_by:
        r.ops_status = f"RESOLVE BY {_day_label(r.resolve_by)}"
        return
    # business days in (resolve_by, today]; a weekend after a Friday deadline is still 1
    after = r.resolve_by + timedelta(days=1)
    over_days = max(1, int(rules.calendar.count(after, today + timedelta(days=1))))
    r.resolution_overdue_days = over_days
    r.ops_status = f"RESOLUTION OVERDUE {over_days} DAY{'' if over_days == 1 else 'S'}"


@dataclass
class ComplaintsPlan:
    rows: list[ComplaintRow]
    findings: list[Finding]
    todos: list[Todo]

    @property
    def needing_id(self) -> list[ComplaintRow]:
        return [r for r in self.rows if r.complaint_id is None and r.received_at is not None]


def plan_complaints(
    frame: pd.DataFrame,
    rules: ComplaintRules,
    now: datetime,
    *,
    products: Mapping[str, str] | None = None,
    row_problems: Mapping[int, list[str]] | None = None,
) -> ComplaintsPlan:
    """Every Complaints row judged, plus findings and to-dos.

    ``products``: SKU → product name (Stock), for the titles. ``row_problems``:
    problems the parser found, by row, for the rows' Problems cells.
    """
    rows = read_rows(frame, rules.hours.tz)
    for r in rows:
        r.problems += (row_problems or {}).get(r.row, [])
        judge(r, rules, now)
    findings = overdue_findings(rows) + repeat_findings(rows, rules, now)
    findings += sku_findings(rows, rules, now, products or {})
    return ComplaintsPlan(rows, findings, complaint_todos(rows, now))


def overdue_findings(rows: Sequence[ComplaintRow]) -> list[Finding]:
    """One critical finding per overdue complaint: the manager's alert escalates them."""
    out = []
    for r in rows:
        if not r.open or not (r.response_overdue_hours or r.resolution_overdue_days):
            continue
        who = r.customer or r.email or "a customer"
        about = f" about order {r.order_id}" if r.order_id else ""
        owner = f" (owner: {r.owner})" if r.owner else " (no owner)"
        if r.response_overdue_hours:
            what = f"no first response, {int(r.response_overdue_hours)} business hour(s) overdue"
            metric = r.response_overdue_hours
            action = "Reply to the customer now and type the time in First response at."
        else:
            what = f"not resolved, {r.resolution_overdue_days} business day(s) overdue"
            metric = 100.0 + r.resolution_overdue_days * 10
            action = "Resolve it or tell the customer when it will be; type Resolved at when done."
        out.append(
            Finding(
                key=f"complaints:overdue:{r.reference}",
                source="complaints",
                severity="critical",
                title=f"Complaint {r.reference} overdue: {r.ops_status}",
                detail=f"{r.category or 'Complaint'} from {who}{about}{owner}: {what}.",
                action=action,
                metric=metric,
                tabs=TABS,
            )
        )
    return out


def _recent(
    rows: Sequence[ComplaintRow], rules: ComplaintRules, now: datetime
) -> list[ComplaintRow]:
    since = now - timedelta(days=rules.window_days)
    return [r for r in rows if r.received_at is not None and since <= r.received_at <= now]


def repeat_findings(
    rows: Sequence[ComplaintRow], rules: ComplaintRules, now: datetime
) -> list[Finding]:
    """A customer with ``repeat_count`` or more complaints in the window (by email)."""
    by_customer: dict[str, list[ComplaintRow]] = {}
    for r in _recent(rows, rules, now):
        who = (r.email or r.customer or "").casefold()
        if who:
            by_customer.setdefault(who, []).append(r)
    out = []
    for who, group in sorted(by_customer.items()):
        if len(group) < rules.repeat_count:
            continue
        name = next((r.customer for r in group if r.customer), None) or group[0].email or who
        refs = ", ".join(r.reference for r in group[:6])
        out.append(
            Finding(
                key=f"complaints:repeat:{who}",
                source="complaints",
                severity="warning",
                title=f"Repeat complainer: {name}, {len(group)} complaints in "
                f"{rules.window_days} days",
                detail=f"Complaints {refs}.",
                action="Have one person look at the customer's history and call them.",
                metric=float(len(group)),
                tabs=TABS,
            )
        )
    return out


def product_key(sku: str) -> str:
    """The returns job's "possible faulty product" key: the two findings join into one."""
    return f"returns:faulty:{sku}"


def sku_findings(
    rows: Sequence[ComplaintRow],
    rules: ComplaintRules,
    now: datetime,
    products: Mapping[str, str],
) -> list[Finding]:
    """A SKU with ``sku_count`` or more complaints in the window."""
    by_sku: dict[str, list[ComplaintRow]] = {}
    for r in _recent(rows, rules, now):
        if r.sku:
            by_sku.setdefault(r.sku, []).append(r)
    out = []
    for sku, group in sorted(by_sku.items()):
        if len(group) < rules.sku_count:
            continue
        product = products.get(sku, "")
        label = f"{sku} {product}".strip() if product and product != sku else sku
        kinds: dict[str, int] = {}
        for r in group:
            kinds[r.category or "OTHER"] = kinds.get(r.category or "OTHER", 0) + 1
        why = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        out.append(
            Finding(
                key=product_key(sku),
                source="complaints",
                severity="warning",
                title=f"Possible faulty product: {label}, {len(group)} complaints in "
                f"{rules.window_days} days",
                detail=f"{len(group)} complaints about {sku} in the last {rules.window_days} "
                f"days ({why}): {', '.join(r.reference for r in group[:6])}.",
                action=f"Read the complaints about {sku} together and check the stock on "
                "the shelf.",
                metric=float(len(group)),
                tabs=TABS,
            )
        )
    return out


def complaint_todos(rows: Sequence[ComplaintRow], now: datetime) -> list[Todo]:
    """Today's to-dos: answer or resolve what is due today. Overdue ones are findings
    (critical), which the Today tab lists already (:func:`.today.from_findings`)."""
    today = now.date()
    out = []
    for r in rows:
        if not r.open or r.received_at is None or r.respond_by is None:
            continue
        who = r.customer or r.email or "the customer"
        if r.first_response_at is None:
            due = r.respond_by.date()
            if due > today:
                continue
            late = r.response_overdue_hours > 0
            if late:
                continue
            out.append(
                Todo(
                    1 if late else 2,
                    "Complaints",
                    f"{'Overdue: reply' if late else 'Reply'} to {who} about complaint "
                    f"{r.reference} by {r.respond_by:%H:%M} ({r.ops_status})",
                    r.reference,
                    due,
                )
            )
        elif r.resolve_by is not None and r.resolve_by <= today:
            late = r.resolution_overdue_days > 0
            if late:
                continue
            out.append(
                Todo(
                    1 if late else 2,
                    "Complaints",
                    f"{'Overdue: resolve' if late else 'Resolve'} complaint {r.reference} "
                    f"from {who} ({r.ops_status})",
                    r.reference,
                    r.resolve_by,
                )
            )
    return out


# ---------------------------------------------------------------- acknowledgement


def acknowledgement_key(complaint_id: str) -> str:
    return f"complaint:{complaint_id}"


def ack_due(r: ComplaintRow, now: datetime) -> bool:
    """A complaint not answered yet, with an address, whose response deadline is
    still ahead: the acknowledgement promises a reply by it, so one that has passed
    gets no automatic promise (it is escalated to the manager instead)."""
    return (
        r.open
        and r.first_response_at is None
        and r.received_at is not None
        and r.respond_by is not None
        and r.received_at <= now < r.respond_by
        and now - r.received_at <= timedelta(days=ACK_WITHIN_DAYS)
        and bool(r.email)
    )


def acknowledgement_context(
    r: ComplaintRow, complaint_id: str, rules: ComplaintRules
) -> dict[str, Any]:
    """The ``complaint_acknowledgement`` template's context (templates/README.md)."""
    return {
        "shop_name": rules.shop_name,
        "customer_name": r.customer or "customer",
        "complaint_id": complaint_id,
        "order_id": r.order_id or "",
        "sku": r.sku or "",
        "category": (r.category or "").capitalize(),
        "description": r.description or "",
        "received_at": r.received_at,
        "respond_by": r.respond_by,
        "resolve_by": r.resolve_by,
    }


# ---------------------------------------------------------------- KPIs


@dataclass(frozen=True)
class ComplaintKpis:
    opened: int
    median_hours_to_response: float | None
    answered_within_sla_pct: float | None

    def as_row(self) -> dict[str, Any]:
        return {
            "complaints_opened": self.opened,
            "median_hours_to_first_response": self.median_hours_to_response,
            "answered_within_sla_pct": self.answered_within_sla_pct,
        }


def complaint_kpis(
    frame: pd.DataFrame, rules: ComplaintRules, start: datetime, end: datetime
) -> ComplaintKpis:
    """Complaints received in ``[start, end)``: how many, the median business hours to
    the first response (of those answered), and the % answered within the SLA (of
    those answered or already past their deadline at ``end``)."""
    rows = [
        r
        for r in read_rows(frame, rules.hours.tz)
        if r.received_at is not None and start <= r.received_at < end
    ]
    hours: list[float] = []
    judged = within = 0
    for r in rows:
        assert r.received_at is not None
        deadline = rules.hours.add(r.received_at, rules.first_response_hours)
        if r.first_response_at is not None and r.first_response_at >= r.received_at:
            hours.append(rules.hours.between(r.received_at, r.first_response_at))
            judged += 1
            within += r.first_response_at <= deadline
        elif deadline <= end:
            judged += 1
    median = round(float(pd.Series(hours).median()), 1) if hours else None
    pct = round(100.0 * within / judged, 1) if judged else None
    return ComplaintKpis(len(rows), median, pct)
