"""What went wrong: small pure checks that turn tables and facts into findings, and
the rule that decides what the manager's alert says (and whether there is one).

Every check takes plain data (frames, the orders assessment, the reorder decision,
job runs, ledger rows) and returns :class:`ops_sheets.domain.findings.Finding` values,
each with a severity, a one-line explanation with the numbers, what to do next
and a stable key. ``jobs/monitor.py`` runs them, adds what other jobs published
(:func:`ops_sheets.domain.findings.current`) and hands the lot to :func:`plan_alert`.

Keys (a job that publishes a finding with the same key replaces monitor's own,
since it knows more, e.g. the reminder it just sent):

===========================  =========================================================
``anomaly:<measure>:<day>``  orders or revenue of the last complete day far from the
                             same weekday's usual level (an event: reported once)
``quiet-orders``             no orders for ``quiet_hours`` of business hours
``late-lines``               more late open lines than ``late_alert_count``
``best-seller:<sku>``        a class A SKU out of stock
``best-sellers-low``         class A SKUs at or below their reorder point (one finding)
``po-overdue:<PO number>``   a PO past its Expected by (SENT or CONFIRMED lines)
``held:<supplier>``          a PO held below the supplier's minimum (published by
                             ``stock``: only its reorder run knows the holds)
``stuck-shipments``          parcels in transit for longer than ``transit_alert_days``
``returns:faulty:<sku>``     a possible faulty product (the returns job's rule)
``job-failed:<job>``         a job's last run failed
``job-late:<job>``           a job has not completed a run for two of its schedule slots
``email:<ledger key>``       a message whose delivery is unknown or was refused
``email-changed:<key>``      a message that changed after it was sent (an event)
``new-problems:<hash>``      problems in the sheet not seen by the previous run (event)
``tab-unreadable:<tab>``     a team tab missing or without a required column: what
                             depends on it is on hold
===========================  =========================================================

**Re-alerting** (:func:`plan_alert`). The state remembers, per key, when the
finding was last in an alert, how bad it was then and under which alert key. A
finding is in the next alert when it is *new*, *worse* (its metric grew or its
severity rose), or still open ``realert_hours`` after it was last reported (a
*reminder*). A finding that went away is listed once as *resolved*; events
(anomalies, new problems, changed messages) are never "resolved", they simply
happened. A finding that depends on a tab this run could not read is unknown,
not gone: it stays open, as it was (:mod:`ops_sheets.domain.findings`). A report whose
alert never reached the ledger (rejected before sending, or a crash between the
job and the send) does not count as made. Nothing to say, no email. The alert's
key hashes everything its body shows, so a different body never reuses a key.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.domain.calendar import at_local
from ops_sheets.domain.findings import SEVERITY_ORDER, Finding, depends_on_unreadable
from ops_sheets.domain.fulfilment import IN_TRANSIT, LATE, Assessment
from ops_sheets.domain.inventory import fmt
from ops_sheets.domain.purchasing import Reminder
from ops_sheets.sheet.tables import TEAM_TABS, Problem, Table

#: ``manager_alert`` template words for the finding severities.
TEMPLATE_SEVERITY = {"critical": "high", "warning": "medium", "info": "low"}
#: Keys of findings that are events: reported once, never "resolved".
EVENT_PREFIXES = ("anomaly:", "new-problems:", "email-changed:")
#: Remembered events are forgotten after this long (the memory must not grow forever).
EVENT_MEMORY = timedelta(days=10)
#: Constant of the robust z-score: 0.6745 × (x − median) / MAD (Iglewicz & Hoaglin).
MAD_SCALE = 0.6745
#: When MAD is 0 (more than half the history equal), the mean absolute deviation
#: times this stands in for σ: √(π/2), their ratio for normally spread data.
MEAN_AD_SCALE = 1.253314

SOURCE = "monitor"


def is_event(key: str) -> bool:
    return key.startswith(EVENT_PREFIXES)


def _finding(
    key: str, severity: str, title: str, detail: str, action: str, metric: float = 0.0
) -> Finding:
    return Finding(key, SOURCE, severity, title, detail, action, float(metric))  # type: ignore[arg-type]


def _day(d: date) -> str:
    return f"{d:%a %d %b}"


def _when(moment: datetime) -> str:
    return f"{moment:%a %d %b %H:%M}"


def _plural(n: float, word: str, plural: str | None = None) -> str:
    return f"{fmt(n)} {word if n == 1 else (plural or word + 's')}"


# ---------------------------------------------------------------- anomalies


def robust_z(value: float, history: Sequence[float]) -> float:
    """How far ``value`` is from the history's median, in robust standard deviations.

    Median and MAD (median absolute deviation) ignore a single odd day, which a
    mean and standard deviation would not. With MAD 0 the mean absolute deviation
    stands in; with no spread at all any difference is infinitely unusual.
    """
    h = np.asarray(history, dtype=float)
    med = float(np.median(h))
    dev = np.abs(h - med)
    mad = float(np.median(dev))
    if mad > 0:
        return MAD_SCALE * (value - med) / mad
    mean_ad = float(dev.mean())
    if mean_ad > 0:
        return (value - med) / (MEAN_AD_SCALE * mean_ad)
    return 0.0 if value == med else math.copysign(math.inf, value - med)


@dataclass(frozen=True)
class Measure:
    key: str  # the Daily KPIs key: orders, revenue
    name: str  # for people: "Orders"
    count: bool  # a count (Poisson noise floor applies) or an amount


ANOMALY_MEASURES = (Measure("orders", "Orders", True), Measure("revenue", "Revenue", False))


def anomaly_findings(
    flow: pd.DataFrame,
    day: date,
    *,
    threshold: float,
    first_day: date | None,
    weeks: int = 8,
    min_weeks: int = 4,
    currency: str = "",
) -> list[Finding]:
    """Orders and revenue of ``day`` against the same weekday of the ``weeks`` before.

    ``flow`` has one row per local day (:func:`ops_sheets.domain.kpis.daily_flow`), at
    least ``day`` and the weeks before it. Days before ``first_day`` (the shop's
    first order in the sheet) are not history: a shop that did not exist yet did
    not have a quiet Tuesday. Fewer than ``min_weeks`` such days: no judgement.
    A count also has to differ by more than Poisson noise (2√median, at least 2
    orders), so that a shop selling three orders on Sundays is not alerted for five.
    """
    if day not in flow.index:
        return []
    past = [day - timedelta(weeks=w) for w in range(1, weeks + 1)]
    past = [d for d in past if d in flow.index and (first_day is None or d >= first_day)]
    if len(past) < min_weeks:
        return []
    out: list[Finding] = []
    for m in ANOMALY_MEASURES:
        value = float(flow.at[day, m.key])
        history = [float(flow.at[d, m.key]) for d in past]
        z = robust_z(value, history)
        med = float(np.median(history))
        if abs(z) < threshold:
            continue
        if m.count and abs(value - med) < max(2.0, 2.0 * math.sqrt(med)):
            continue
        shown = (lambda x: fmt(x)) if m.count else (lambda x: f"{x:,.2f} {currency}".strip())
        low = value < med
        severity = "warning" if low else "info"
        if low and m.count and value == 0:
            severity = "critical"
        direction = "well below" if low else "well above"
        weekday = f"{day:%A}s"
        z_text = "∞" if math.isinf(z) else f"{z:+.1f}"
        out.append(
            _finding(
                f"anomaly:{m.key}:{day.isoformat()}",
                severity,
                f"{m.name} on {_day(day)} {direction} usual: {shown(value)} vs {shown(med)}",
                f"{weekday} of the last {len(past)} weeks: "
                f"{', '.join(shown(x) for x in reversed(history))}; median {shown(med)}, "
                f"robust z {z_text} (alert beyond ±{threshold:g}).",
                (
                    "Check that the shop front, checkout and payments work and that every "
                    "order reached the Orders tab; look for a stock-out of a best seller."
                    if low
                    else "Make sure stock of the best sellers covers the extra demand; "
                    "find out what drove it (a promotion, a mention) and whether it lasts."
                ),
                abs(z) if math.isfinite(z) else 1e9,
            )
        )
    return out


# ---------------------------------------------------------------- quiet spell


@dataclass(frozen=True)
class BusinessHours:
    start: time
    end: time
    weekmask: str = "1111111"  # Mon..Sun

    @classmethod
    def parse(cls, hours: str, weekmask: str = "1111111") -> BusinessHours:
        """``"09:00-17:00"``; ValueError names what is wrong."""
        from ops_sheets.domain.calendar import parse_hhmm

        parts = [p.strip() for p in str(hours).replace("–", "-").split("-")]
        if len(parts) != 2:
            raise ValueError(f'business_hours "{hours}": write it as 09:00-17:00')
        try:
            start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
        except ValueError as exc:
            raise ValueError(f'business_hours "{hours}": {exc}') from None
        if end <= start:
            raise ValueError(f'business_hours "{hours}": the end must be after the start')
        return cls(start, end, weekmask)

    def hours_between(self, a: datetime, b: datetime, tz: ZoneInfo) -> float:
        """Business hours in [a, b] (at most the 14 days before ``b``)."""
        a = max(a, b - timedelta(days=14))
        total = 0.0
        day = a.astimezone(tz).date()
        last = b.astimezone(tz).date()
        while day <= last:
            if self.weekmask[day.weekday()] == "1":
                lo = max(at_local(day, self.start, tz), a)
                hi = min(at_local(day, self.end, tz), b)
                if hi > lo:
                    total += (hi - lo).total_seconds() / 3600.0
            day += timedelta(days=1)
        return total


def quiet_finding(
    order_dates: pd.Series,
    order_ids: pd.Series,
    now: datetime,
    tz: ZoneInfo,
    hours: BusinessHours,
    quiet_hours: float,
) -> Finding | None:
    """No order for ``quiet_hours`` of business hours (none at all in the sheet: no judgement).

    The metric counts whole quiet spells, so the alert is repeated as "worse"
    after twice the quiet time, not at every run.
    """
    if quiet_hours <= 0:
        return None
    placed = order_dates[order_dates.notna() & (order_dates <= pd.Timestamp(now))]
    if placed.empty:
        return None
    i = placed.idxmax()
    last = placed.loc[i].to_pydatetime().astimezone(tz)
    quiet = hours.hours_between(last, now, tz)
    if quiet < quiet_hours:
        return None
    order = order_ids.loc[i] if i in order_ids.index else None
    which = f"order {order} " if isinstance(order, str) and order else ""
    return _finding(
        "quiet-orders",
        "warning",
        f"No new orders for {quiet:.1f} business hours",
        f"The last {which}was placed {_when(last)}; business hours "
        f"{hours.start:%H:%M}–{hours.end:%H:%M} (alert after {quiet_hours:g} quiet hours).",
        "Check that the shop front, checkout and payment provider work, and that new orders "
        "are being copied to the Orders tab.",
        math.floor(quiet / quiet_hours),
    )


# ---------------------------------------------------------------- orders


def late_lines_finding(
    orders: pd.DataFrame, assessment: Assessment, alert_count: int, examples: int = 3
) -> Finding | None:
    """More late open lines than ``alert_count``: one finding with the oldest named."""
    late = np.flatnonzero(assessment.code == LATE)
    if len(late) <= alert_count:
        return None
    oldest = late[np.argsort(assessment.ship_by[late], kind="stable")][:examples]
    named = ", ".join(
        f"{orders['order_id'].iat[i]} / {orders['sku'].iat[i]} due "
        f"{_day(assessment.ship_by[i].astype(date))}"
        for i in oldest
    )
    orders_n = pd.Series(orders["order_id"].to_numpy(dtype=object)[late]).nunique()
    severity = "critical" if len(late) > 3 * max(alert_count, 1) else "warning"
    return _finding(
        "late-lines",
        severity,
        f"{_plural(len(late), 'order line')} late ({_plural(orders_n, 'order')})",
        f"Past their ship-by date and not shipped (alert above {alert_count}); oldest: {named}.",
        "Ship them first today, or set Status ON HOLD with the reason; the Ops status column "
        "of the Orders tab shows each line.",
        len(late),
    )


def stuck_finding(
    orders: pd.DataFrame, assessment: Assessment, examples: int = 3
) -> Finding | None:
    """Parcels shipped but not delivered for longer than ``transit_alert_days``."""
    stuck = np.flatnonzero(assessment.code == IN_TRANSIT)
    if len(stuck) == 0:
        return None
    frame = pd.DataFrame(
        {
            "order": orders["order_id"].to_numpy(dtype=object)[stuck],
            "days": assessment.days[stuck],
            "forwarder": orders["forwarder"].to_numpy(dtype=object)[stuck],
            "tracking": orders["tracking"].to_numpy(dtype=object)[stuck],
        }
    )
    per_order = frame.groupby("order", dropna=True).agg(
        days=("days", "max"), forwarder=("forwarder", "first"), tracking=("tracking", "first")
    )
    per_order = per_order.sort_values(["days"], ascending=False)
    named = "; ".join(
        f"{order} ({_plural(int(r.days), 'day')}"
        + (f", {r.forwarder}" if isinstance(r.forwarder, str) and r.forwarder else "")
        + (f" {r.tracking}" if isinstance(r.tracking, str) and r.tracking else "")
        + ")"
        for order, r in per_order.head(examples).iterrows()
    )
    n = len(per_order)
    return _finding(
        "stuck-shipments",
        "warning",
        f"{_plural(n, 'shipment')} stuck in transit",
        f"Shipped but not delivered for longer than expected: {named}.",
        "Ask the forwarder to trace them (tracking numbers above); set Delivered at once they "
        "arrive, or send a replacement.",
        n,
    )


# ---------------------------------------------------------------- stock


def best_seller_findings(decision: pd.DataFrame, examples: int = 5) -> list[Finding]:
    """Class A SKUs out of stock (one critical finding each), and class A SKUs at or
    below their reorder point (one finding for all of them, most urgent named first:
    fewest days of cover).

    ``decision`` is :func:`ops_sheets.domain.inventory.decide`'s frame. The low finding
    is a warning while some of those SKUs have nothing on order, else info (the
    orders are placed, only their arrival is awaited); its metric is how many.
    """
    if decision.empty:
        return []
    f = decision
    on_hand = f["on_hand"].to_numpy(dtype=float)
    rop = f["reorder_point"].to_numpy(dtype=float)
    on_order = f["on_order"].to_numpy(dtype=float)
    demand = f["daily_demand"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        best = (
            f["active"].to_numpy(dtype=bool)
            & (f["abc"].to_numpy(dtype=object) == "A")
            & np.isfinite(on_hand)
        )
        out_of_stock = best & (on_hand <= 0)
        low = best & ~out_of_stock & (on_hand <= rop + 1e-9)

    def label(i: int) -> str:
        product = f["product"].iat[i]
        sku = str(f["sku"].iat[i])
        return f"{sku} {product}" if isinstance(product, str) and product else sku

    out: list[Finding] = []
    for i in np.flatnonzero(out_of_stock):
        ordered = on_order[i] > 0
        out.append(
            _finding(
                f"best-seller:{f['sku'].iat[i]}",
                "critical",
                f"Best seller out of stock: {label(i)}",
                f"On hand {fmt(on_hand[i])} (reorder point {fmt(rop[i])}), "
                f"{fmt(on_order[i])} on order; it sells about {fmt(demand[i])} a day, "
                "which are being missed.",
                "Chase the supplier for the open purchase order and ask for a part delivery."
                if ordered
                else "Order it now (approve its DRAFT line on the Purchase orders tab) and ask "
                "the supplier for the fastest delivery.",
            )
        )
    idx = np.flatnonzero(low)
    if len(idx):
        with np.errstate(invalid="ignore", divide="ignore"):
            cover = np.where(demand[idx] > 0, on_hand[idx] / demand[idx], np.inf)
        idx = idx[np.argsort(cover, kind="stable")]
        uncovered = int((on_order[idx] <= 0).sum())
        named = "; ".join(
            f"{label(i)}: {fmt(on_hand[i])} on hand, reorder point {fmt(rop[i])}, "
            f"{fmt(on_order[i])} on order"
            for i in idx[:examples]
        )
        more = f" (and {len(idx) - examples} more)" if len(idx) > examples else ""
        waiting = (
            f"{_plural(uncovered, 'has', 'have')} nothing on order yet"
            if uncovered
            else "all have stock on order"
        )
        out.append(
            _finding(
                "best-sellers-low",
                "warning" if uncovered else "info",
                f"{_plural(len(idx), 'best seller')} at or below the reorder point",
                f"{named}{more}; {waiting}.",
                "Approve their DRAFT lines on the Purchase orders tab so the orders go out; "
                "chase suppliers whose orders are late.",
                len(idx),
            )
        )
    return out


def overdue_po_findings(reminders: Sequence[Reminder], currency: str = "") -> list[Finding]:
    """POs with SENT or CONFIRMED lines past Expected by (:func:`purchasing.plan_reminders`)."""
    out = []
    for r in reminders:
        value = f"{r.value:,.2f} {currency}".strip()
        out.append(
            _finding(
                f"po-overdue:{r.po_number}",
                "critical" if r.days_overdue >= 14 else "warning",
                f"Purchase order {r.po_number} ({r.supplier or 'no supplier'}) "
                f"{_plural(r.days_overdue, 'day')} overdue",
                f"Expected by {_day(r.expected_by)}; {_plural(len(r.lines), 'line')} worth {value} "
                "not received.",
                "Call the supplier for a delivery date and put it in Expected by; set Status "
                "RECEIVED (and Received at) for what has arrived.",
                r.days_overdue,
            )
        )
    return out


# ---------------------------------------------------------------- from other shapes


def from_shape(
    key: str, shape: Mapping[str, Any], source: str = SOURCE, metric: float = 0.0
) -> Finding:
    """A finding from the ``manager_alert`` template's shape (severity high/medium/low,
    title, detail, action), as the mail and returns modules produce them."""
    words = {v: k for k, v in TEMPLATE_SEVERITY.items()}
    severity = words.get(str(shape.get("severity", "")), "warning")
    return Finding(
        key,
        source,
        severity,  # type: ignore[arg-type]
        str(shape.get("title", key)),
        str(shape.get("detail", "")),
        str(shape.get("action", "")),
        float(metric),
    )


def faulty_product_findings(
    faulty: Iterable[Finding] | Mapping[str, Mapping[str, Any]],
) -> list[Finding]:
    """Possible faulty products, by the returns module's rule and wording
    (:func:`ops_sheets.domain.returns.faulty_findings`, keys ``returns:faulty:<sku>``, the
    same the returns job publishes, so the two never both show). Also takes the
    older shape, a mapping of key → template-shaped dict with a ``rate``."""
    if isinstance(faulty, Mapping):
        return [
            from_shape(key, f, source="returns", metric=round(100 * float(f.get("rate", 0.0))))
            for key, f in sorted(faulty.items())
            if not f.get("resolved")
        ]
    return [f for f in faulty if isinstance(f, Finding)]


def mail_findings(items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Finding]:
    """Messages awaiting review or changed after sending, from
    :func:`ops_sheets.mail.delivery_findings`, each with the key given."""
    return [from_shape(key, shape) for key, shape in items]


# ---------------------------------------------------------------- jobs


def job_findings(
    runs: Mapping[str, Sequence[Any]],
    schedules: Mapping[str, Any],
    now: datetime,
    *,
    grace: Mapping[str, timedelta] | None = None,
    started: datetime | None = None,
) -> list[Finding]:
    """Jobs whose last run failed, and jobs that have not completed a run for two of
    their schedule slots (their interval, twice).

    ``runs``: job → :class:`ops_sheets.store.state.JobRun` list, newest first. ``schedules``:
    job → :class:`ops_sheets.service.scheduler.Schedule` (jobs without one are run by hand
    and never late). Times are the runs' business ``now``. A job that never
    completed is measured from ``started`` (the first run of any job: when the
    service began), so a fresh install is not alarmed. ``grace``: per job, how long
    a run may take (its timeout) before a missed slot counts.
    """
    grace = grace or {}
    out: list[Finding] = []
    for job in sorted(set(runs) | set(schedules)):
        history = list(runs.get(job, ()))
        finished = [r for r in history if r.result != "running"]
        if finished and finished[0].result in ("failed", "interrupted"):
            last = finished[0]
            failures = 0
            for r in finished:
                if r.result not in ("failed", "interrupted"):
                    break
                failures += 1
            at = _business(last)
            what = "was interrupted" if last.result == "interrupted" else "failed"
            out.append(
                _finding(
                    f"job-failed:{job}",
                    "critical",
                    f"Job {job} {what}" + (f" ({failures} runs in a row)" if failures > 1 else ""),
                    f"Last run {_when(at) if at else '?'}: {last.error or 'no error recorded'}",
                    f"Read the error, fix its cause (config, sheet access, data) and run "
                    f"`ops-sheets run {job}`; `ops-sheets status` shows the history.",
                )
            )
        schedule = schedules.get(job)
        if schedule is None:
            continue
        done = [r for r in history if r.result in ("ok", "problems")]
        since = _business(done[0]) if done else started
        if since is None:
            continue
        first = schedule.next_after(since)
        second = schedule.next_after(first)
        if now > second + grace.get(job, timedelta(0)):
            tz = now.tzinfo
            out.append(
                _finding(
                    f"job-late:{job}",
                    "warning",
                    f"Job {job} has not completed a run since {_when(since.astimezone(tz))}",
                    f'It runs "{schedule.text}"; the runs due {_when(first.astimezone(tz))} and '
                    f"{_when(second.astimezone(tz))} did not complete.",
                    "Check that `ops-sheets serve` is running (`ops-sheets status`) and the "
                    "service's log for why this job does not finish.",
                )
            )
    return out


def _business(run: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(run.business_now)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- sheet problems


def problem_fingerprint(p: Problem) -> str:
    """A problem's identity without its row number (rows move when people sort)."""
    raw = json.dumps([p.tab, p.column, p.key, p.value, p.problem], ensure_ascii=False)
    return hashlib.sha1(raw.encode()).hexdigest()[:16]  # noqa: S324 - an identity, not security


def new_problem_findings(
    problems: Sequence[Problem], seen: Iterable[str] | None, examples: int = 3
) -> tuple[list[Finding], list[str]]:
    """Problems the previous run did not see (all of them on the first run), as one
    finding; and the fingerprints to remember for the next run."""
    prints = [problem_fingerprint(p) for p in problems]
    known = set(seen or ())
    new = [(fp, p) for fp, p in zip(prints, problems, strict=True) if fp not in known]
    remember = sorted(set(prints))
    if not new:
        return [], remember
    ids = sorted({fp for fp, _ in new})
    digest = hashlib.sha1("".join(ids).encode()).hexdigest()[:10]  # noqa: S324
    named = "; ".join(
        f"{p.tab}{f' row {p.row}' if p.row else ''}"
        f"{f' {p.column}' if p.column else ''}: {p.problem}"
        for _, p in new[:examples]
    )
    more = f" (and {len(new) - examples} more)" if len(new) > examples else ""
    return [
        _finding(
            f"new-problems:{digest}",
            "info",
            f"{_plural(len(new), 'new problem')} in the sheet",
            f"{named}{more}.",
            "Open the Problems tab: each row says what is wrong and how to fix it.",
            len(new),
        )
    ], remember


# ---------------------------------------------------------------- tabs


def unreadable_tab_findings(tables: Mapping[str, Table]) -> list[Finding]:
    """A team tab that is missing or lacks a required column: everything computed
    from it is on hold, which the manager must hear (its figures look stale)."""
    out: list[Finding] = []
    for key in TEAM_TABS:
        table = tables.get(key)
        if table is None or table.available:
            continue
        if not table.exists:
            why = f"The tab {table.title!r} was not found" + (
                f"; {table.similar!r} looks like it (renamed?)" if table.similar else ""
            )
        else:
            why = f"A required column of {table.title!r} is missing"
        out.append(
            _finding(
                f"tab-unreadable:{key}",
                "critical",
                f"{table.title} tab cannot be read",
                f"{why}. Figures, alerts and emails that depend on it are on hold; "
                "the last ones stay as they were.",
                "Open the Problems tab: its row for this tab says how to fix it "
                "(rename the tab back, or map it in the config).",
                1,
            )
        )
    return out


# ---------------------------------------------------------------- merging


def merge(own: Iterable[Finding], published: Iterable[Finding]) -> list[Finding]:
    """Monitor's findings and the jobs' published ones; a published finding replaces
    monitor's own of the same key. Most severe first."""
    by_key = {f.key: f for f in own}
    by_key.update({f.key: f for f in published})
    return sorted(
        by_key.values(), key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.source, f.key)
    )


# ---------------------------------------------------------------- re-alerting


@dataclass(frozen=True)
class AlertItem:
    finding: Finding
    status: str  # new | worse | reminder | resolved
    note: str  # for people: "new", "worse: was 6", "still open since Mon 23 Nov 09:00"


@dataclass
class AlertPlan:
    items: list[AlertItem]
    key: str  # the email's idempotency key ("" when there is nothing to send)
    still_open: int  # open findings already reported and not repeated now
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def send(self) -> bool:
        return bool(self.items)


def plan_alert(
    current: Sequence[Finding],
    memory: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    realert_hours: float,
    delivered: Callable[[str], bool] = lambda _key: True,
    unavailable: Collection[str] = (),
) -> AlertPlan:
    """What the alert says now, and what to remember (see the module docstring).

    ``memory`` is what the previous run returned as ``AlertPlan.memory``;
    ``delivered(alert_key)`` says whether that alert reached the ledger;
    ``unavailable`` the team tabs this run could not read: a reported finding
    that depends on one of them and is not in ``current`` is unknown, so it is
    neither "resolved" nor forgotten.
    """
    reported = {
        k: dict(v)
        for k, v in memory.items()
        if isinstance(v, Mapping) and delivered(str(v.get("alert", "")))
    }
    items: list[AlertItem] = []
    still_open = 0
    for f in current:
        old = reported.get(f.key)
        if old is None:
            items.append(AlertItem(f, "new", "new"))
            continue
        worse_metric = f.metric > float(old.get("metric", 0.0)) + 1e-9
        worse_severity = SEVERITY_ORDER.get(f.severity, 9) < SEVERITY_ORDER.get(
            str(old.get("severity")), 9
        )
        last = _parse(old.get("reported_at")) or now
        if worse_metric or worse_severity:
            was = f"was {fmt(float(old.get('metric', 0.0)))}" if worse_metric else "more severe"
            items.append(AlertItem(f, "worse", f"worse ({was})"))
        elif not is_event(f.key) and now - last >= timedelta(hours=realert_hours):
            first = _parse(old.get("first_seen")) or last
            items.append(AlertItem(f, "reminder", f"still open since {_when(first)}"))
        else:
            still_open += 1
    open_keys = {f.key for f in current}
    unknown = {
        key
        for key, old in reported.items()
        if key not in open_keys and not is_event(key) and depends_on_unreadable(old, unavailable)
    }
    still_open += len(unknown)
    for key, old in sorted(reported.items()):
        if key in open_keys or is_event(key) or key in unknown:
            continue
        gone = Finding(
            key,
            str(old.get("source", SOURCE)),
            str(old.get("severity", "info")),  # type: ignore[arg-type]
            str(old.get("title", key)),
            "",
            "",
            float(old.get("metric", 0.0)),
        )
        items.append(AlertItem(gone, "resolved", "resolved"))
    items.sort(
        key=lambda i: (
            i.status == "resolved",
            SEVERITY_ORDER.get(i.finding.severity, 9),
            i.finding.source,
            i.finding.key,
        )
    )
    key = alert_key(items, now) if items else ""

    # what the next run should know
    stamp = now.isoformat()
    remembered: dict[str, dict[str, Any]] = {}
    in_alert = {i.finding.key: i for i in items}
    for f in current:
        old = reported.get(f.key)
        item = in_alert.get(f.key)
        if item is not None:
            remembered[f.key] = {
                "source": f.source,
                "severity": f.severity,
                "title": f.title,
                "metric": f.metric,
                "reported_at": stamp,
                "first_seen": (old or {}).get("first_seen", stamp),
                "alert": key,
                "tabs": list(f.tabs),
            }
        elif old is not None:
            remembered[f.key] = {**old, "tabs": list(f.tabs)}
    for k in unknown:  # could not be judged: remembered as it was
        remembered[k] = reported[k]
    for k, old in reported.items():
        # events stay remembered for a while after they stop being current, so an
        # anomaly of yesterday computed again (e.g. after a restart) is not news
        last = _parse(old.get("reported_at"))
        if k not in remembered and is_event(k) and last and now - last < EVENT_MEMORY:
            remembered[k] = old
    return AlertPlan(items, key, still_open, remembered)


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def alert_key(items: Sequence[AlertItem], now: datetime) -> str:
    """``alert:<date>:<hash>`` of everything the body shows (and its time), so that a
    different body never reuses a key while a re-run of the same moment does."""
    body = [
        [i.finding.key, i.status, i.finding.severity, i.finding.metric, i.finding.title,
         i.finding.detail, i.finding.action, i.note]
        for i in items
    ]  # fmt: skip
    raw = json.dumps([now.isoformat(), body], ensure_ascii=False, sort_keys=True)
    return f"alert:{now.date().isoformat()}:{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def alert_context(plan: AlertPlan, shop_name: str, now: datetime) -> dict[str, Any]:
    """The ``manager_alert`` template's context (templates/README.md)."""
    findings = [
        {
            "severity": TEMPLATE_SEVERITY.get(i.finding.severity, "low"),
            "title": i.finding.title,
            "detail": i.finding.detail,
            "action": "" if i.status == "resolved" else i.finding.action,
            "resolved": i.status == "resolved",
            "note": i.note,
        }
        for i in plan.items
    ]
    open_ = [f for f in findings if not f["resolved"]]
    counts = {s: sum(1 for f in open_ if f["severity"] == s) for s in ("high", "medium", "low")}
    counts["resolved"] = len(findings) - len(open_)
    return {
        "shop_name": shop_name,
        "generated_at": now,
        "findings": findings,
        "counts": counts,
        "still_open": plan.still_open,
    }
