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
``decline:<measure>``        orders or revenue sliding below usual over the last two
                             weeks (a trend scan of small shortfalls)
``quiet-orders``             no orders for a spell that is improbable at the shop's
                             own rate for those business hours
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

**Anomalies are calibrated, not guessed** (issue 20). A median absolute deviation
of 4–8 same-weekday values is a very noisy spread (|z| > 3.5 on about one clean day
in ten), so the checks work on the scale where the noise is known: the square root.
A day's orders are a Poisson count, and 2√(x + 3/8) has a spread of about 1 at any
level; a day's revenue is a sum of order values, and 2√revenue has a spread of about
√(mean order value × (1 + CV²)). On that scale each weekday's usual level is the
median of its last 4–8 weeks, and one spread is pooled over every day of those
weeks (28–56 residuals), never below the Poisson floor (1 for orders, √(mean order
value) for revenue). The day check's score is (root(day) − usual) / (spread ×
√(1 + 1/weeks)), divided by DAY_SCALE. The slow-decline check scans the last 14 days
for the start of a steady slide: from each possible start (5 days ago or earlier), each
day's shortfall against the 4–8 weeks before the 14 days is weighted by the days since
that start (a slide deepens: its later days say most) and the sum is divided by the
weights' length, so a clean stretch of any length scores like a standard normal
value; the best start is the score, flagged above DECLINE_LEVEL. At the same rate of
clean days flagged it catches a few more slides than a CUSUM of the shortfalls (about
5 in 100 more at 30 orders a day, simulated); the finding dates the slide from the
day its shortfalls start to add up. DAY_SCALE and DECLINE_LEVEL come from simulation,
per measure and weeks of history (``python -m benchmarks.bench_alerts --calibrate``):
clean shops of 3, 10 and 30 orders a day with a weekly profile and lognormal order values, 20,000
series each; DAY_SCALE makes a clean day's score beyond ±3.09 as rare as for a
standard normal value (0.2%), DECLINE_LEVEL is the score a clean day exceeds 0.5% of
the time for orders and 0.2% for revenue (which mostly repeats what orders say);
the largest over the levels is kept. The benchmark measures the result on
independent series: clean days flagged, planted drops, spikes and slides caught.
A quiet spell is judged by the chance of no order in it at the shop's usual rate
for those weekday hours (Poisson: e^−expected), not by a fixed number of hours.

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

#: Weeks of history the checks compare with (fewer than MIN_WEEKS: no judgement).
MIN_WEEKS, MAX_WEEKS = 4, 8
#: Calibrated scale of the day score per measure and weeks of history
#: (``python -m benchmarks.bench_alerts --calibrate``): divided by it, a clean day's
#: score is beyond ±3.09 as rarely as a standard normal value (0.2%).
DAY_SCALE = {
    "orders": {4: 1.05, 5: 1.08, 6: 1.05, 7: 1.11, 8: 1.03},
    "revenue": {4: 1.27, 5: 1.28, 6: 1.25, 7: 1.29, 8: 1.24},
}
#: Once a day is flagged for one measure, the other one, moved the same way, needs
#: only this score to be reported with it (no more days are flagged for it: a closed
#: test, so the clean-day rate stays the one calibrated).
CONFIRM = 2.0
#: The slow-decline check (:func:`decline_scores`): the last DECLINE_DAYS complete days
#: against the weeks before them, each day's shortfall at most DECLINE_CAP (a single
#: bad day is the day check's business), slides of at least DECLINE_MIN_DAYS scanned,
#: alert above DECLINE_LEVEL, calibrated like DAY_SCALE (exceeded on 0.5% of clean days
#: for orders, 0.2% for revenue).
DECLINE_DAYS, DECLINE_MIN_DAYS, DECLINE_CAP = 14, 5, 2.5
DECLINE_LEVEL = {
    "orders": {4: 3.0, 5: 3.1, 6: 3.0, 7: 3.1, 8: 3.0},
    "revenue": {4: 4.0, 5: 4.0, 6: 3.8, 7: 3.9, 8: 3.8},
}
#: A quiet spell is alerted when no order in it had a chance below this at the
#: shop's usual rate; below QUIET_MIN_DAILY orders a day, only after a whole
#: business day. The rate is learnt from the last QUIET_WEEKS weeks.
QUIET_PROBABILITY = 0.001
QUIET_MIN_DAILY = 2.0
QUIET_WEEKS = 8


@dataclass(frozen=True)
class Measure:
    key: str  # the Daily KPIs key: orders, revenue
    name: str  # for people: "Orders"
    count: bool  # a count (Poisson) or an amount (a sum of order values)


ANOMALY_MEASURES = (Measure("orders", "Orders", True), Measure("revenue", "Revenue", False))


def root(values: np.ndarray | float, count: bool) -> np.ndarray:
    """The variance-stabilising square root: 2√(x + 3/8) (Anscombe) for a Poisson count
    has spread ≈ 1 at any level; 2√x for a sum of order values has spread ≈ √(mean
    order value × (1 + CV²)), again the same at any level."""
    x = np.maximum(np.asarray(values, dtype=float), 0.0)
    return 2.0 * np.sqrt(x + 0.375) if count else 2.0 * np.sqrt(x)


def unroot(g: np.ndarray | float, count: bool) -> np.ndarray:
    """The value whose :func:`root` is ``g`` (0 at the least)."""
    x = (np.maximum(np.asarray(g, dtype=float), 0.0) / 2.0) ** 2
    return np.maximum(x - 0.375, 0.0) if count else x


def baseline(
    past: np.ndarray, count: bool, floor: float | np.ndarray = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Usual root per day of the week and one spread for all of them.

    ``past`` holds whole weeks of daily values, oldest first (last axis 7 × weeks;
    leading axes are a batch, as the calibration uses them). The usual level of each
    day of the week is the median of its roots (one Black Friday does not move it);
    the spread is the scaled median absolute residual of all the weeks' days pooled
    (28 to 56 numbers, not 4 to 8) and at least ``floor``: 1 for a count (Poisson
    noise), √(mean order value) for revenue, since real days are never calmer.
    """
    weeks = past.shape[-1] // 7
    g = root(past, count).reshape(*past.shape[:-1], weeks, 7)
    usual = np.median(g, axis=-2)
    resid = np.abs(g - usual[..., None, :]).reshape(*past.shape[:-1], weeks * 7)
    spread = 1.4826 * np.median(resid, axis=-1)
    return usual, np.maximum(spread, floor)


def revenue_floor(orders: np.ndarray, revenue: np.ndarray) -> float | np.ndarray:
    """√(mean order value): the least spread of 2√revenue (a compound Poisson sum)."""
    n = orders.sum(axis=-1)
    return np.sqrt(np.where(n > 0, revenue.sum(axis=-1) / np.maximum(n, 1), 0.0))


def day_scores(orders: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """Calibrated scores (orders, revenue) of the last day of 7 × weeks + 1 days.

    (root(day) − usual root of its weekday) / (spread × √(1 + 1/weeks)) / DAY_SCALE:
    the √ adds the usual level's own uncertainty; DAY_SCALE, calibrated, what that
    approximation misses (medians, an estimated spread, skewed order values). On a
    clean day the score behaves like a standard normal value. A spread of 0 (no
    orders at all, ever) makes any change infinitely unusual and no change 0.
    """
    weeks = (orders.shape[-1] - 1) // 7
    out = []
    for m, values in zip(ANOMALY_MEASURES, (orders, revenue), strict=True):
        floor = 1.0 if m.count else revenue_floor(orders[..., :-1], revenue[..., :-1])
        usual, spread = baseline(values[..., :-1], m.count, floor)
        diff = root(values[..., -1], m.count) - usual[..., 0]
        scale = spread * math.sqrt(1 + 1 / weeks) * DAY_SCALE[m.key][weeks]
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(diff == 0, 0.0, diff / scale))
    return np.stack(out, axis=-1)


def _history_weeks(flow: pd.DataFrame, start: date, first_day: date | None) -> int:
    """Whole weeks of ``flow`` before ``start`` (at most MAX_WEEKS), not before ``first_day``."""
    weeks = 0
    while weeks < MAX_WEEKS:
        d = start - timedelta(weeks=weeks + 1)
        if d not in flow.index or (first_day is not None and d < first_day):
            break
        weeks += 1
    return weeks


def _values(flow: pd.DataFrame, key: str, start: date, days: int) -> np.ndarray:
    return flow.loc[[start + timedelta(days=i) for i in range(days)], key].to_numpy(dtype=float)


def _money(currency: str) -> Callable[[float], str]:
    return lambda x: f"{x:,.2f} {currency}".strip()


def _rarity(z: float) -> str:
    """How rarely a standard normal value is this far out (two-sided), in words."""
    p = math.erfc(abs(z) / math.sqrt(2))
    return "less than 1 day in a million" if p < 1e-6 else f"about 1 day in {round(1 / p):,}"


def anomaly_findings(
    flow: pd.DataFrame,
    day: date,
    *,
    threshold: float,
    first_day: date | None,
    currency: str = "",
) -> list[Finding]:
    """Orders and revenue of ``day`` against the usual level of its weekday.

    ``flow`` has one row per local day (:func:`ops_sheets.domain.kpis.daily_flow`):
    ``day`` and the MIN_WEEKS to MAX_WEEKS whole weeks before it. Days before
    ``first_day`` (the shop's first order in the sheet) are not history: a shop that
    did not exist yet did not have a quiet Tuesday. The score is :func:`day_scores`;
    ``threshold`` is in its calibrated units (3: a clean day that far off is about 1 in
    370 per measure; the other measure of a flagged day needs only CONFIRM).
    """
    if day not in flow.index:
        return []
    weeks = _history_weeks(flow, day, first_day)
    if weeks < MIN_WEEKS:
        return []
    start = day - timedelta(weeks=weeks)
    orders = _values(flow, "orders", start, 7 * weeks + 1)
    revenue = _values(flow, "revenue", start, 7 * weeks + 1)
    scores = [float(z) for z in day_scores(orders, revenue)]
    out: list[Finding] = []
    for j, (m, values, z) in enumerate(
        zip(ANOMALY_MEASURES, (orders, revenue), scores, strict=True)
    ):
        other = scores[1 - j]
        bar, also = threshold, ""
        if abs(z) < threshold <= abs(other) and z * other > 0:  # the day is flagged already
            bar = min(threshold, CONFIRM)
            o = ANOMALY_MEASURES[1 - j]
            also = f" on a day {o.name.lower()} {'are' if o.count else 'is'} unusual too"
        if abs(z) < bar:
            continue
        history = values[:-1][::7]
        value = float(values[-1])
        med = float(np.median(history))
        shown = fmt if m.count else _money(currency)
        floor = 1.0 if m.count else float(revenue_floor(orders[:-1], revenue[:-1]))
        usual, spread = baseline(values[:-1], m.count, floor)
        reach = bar * float(spread) * math.sqrt(1 + 1 / weeks) * DAY_SCALE[m.key][weeks]
        lo, hi = (float(unroot(usual[0] + s * reach, m.count)) for s in (-1, 1))
        if m.count:
            lo, hi = math.floor(lo), math.ceil(hi)
        low = z < 0
        severity = "warning" if low else "info"
        if low and m.count and value == 0:
            severity = "critical"
        z_text = ("−∞" if z < 0 else "+∞") if math.isinf(z) else f"{z:+.1f}".replace("-", "−")
        why = (
            "fewer than this shop's day-to-day noise explains: something may be stopping sales"
            if low
            else "more than this shop's day-to-day noise explains: stock of the best sellers "
            "may run out sooner than planned"
        )
        out.append(
            _finding(
                f"anomaly:{m.key}:{day.isoformat()}",
                severity,
                f"{m.name} on {_day(day)} {'well below' if low else 'well above'} usual: "
                f"{shown(value)} vs {shown(med)}",
                f"Expected {shown(med)} (the median of the {day:%A}s of the last {weeks} weeks: "
                f"{', '.join(shown(x) for x in history)}); a normal {day:%A} lies "
                f"between {shown(lo)} and {shown(hi)}. Seen {shown(value)}, score {z_text} "
                f"({_rarity(z)} on a normal day; alert beyond ±{bar:g}{also}): {why}.",
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


def decline_scores(orders: np.ndarray, revenue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slide score of the last DECLINE_DAYS of the series and the day the slide
    began (index in the last DECLINE_DAYS), per measure (orders, revenue).

    The series is whole weeks of reference followed by DECLINE_DAYS days; each day's
    shortfall is (usual root of its weekday − its root) / (spread × √(1 + 1/weeks))
    (:func:`baseline` of the reference), at most DECLINE_CAP. For a slide that began
    on day b, day d's shortfall is weighted by d − b + 1 (a steady slide is deeper
    every day: the matched filter of a ramp) and the score is Σ w·shortfall / ‖w‖; the
    score is the best b among those at least DECLINE_MIN_DAYS before the end. The day
    returned is the one from which the shortfalls add up most: when it began.
    A day 10% short is noise; ten days each 10–30% short add up.
    """
    ref = orders.shape[-1] - DECLINE_DAYS
    weeks = ref // 7
    scores, starts = [], []
    for values, count in ((orders, True), (revenue, False)):
        floor = 1.0 if count else revenue_floor(orders[..., :ref], revenue[..., :ref])
        usual, spread = baseline(values[..., :ref], count, floor)
        scale = np.asarray(spread)[..., None] * math.sqrt(1 + 1 / weeks)
        cols = np.arange(DECLINE_DAYS) % 7
        with np.errstate(divide="ignore", invalid="ignore"):
            short = (usual[..., cols] - root(values[..., ref:], count)) / scale
        short = np.minimum(np.nan_to_num(short, nan=0.0), DECLINE_CAP)
        by_start = []
        for b in range(DECLINE_DAYS - DECLINE_MIN_DAYS + 1):
            w = np.arange(1, DECLINE_DAYS - b + 1, dtype=float)
            by_start.append((short[..., b:] * w).sum(axis=-1) / math.sqrt(float(w @ w)))
        scores.append(np.stack(by_start, axis=-1).max(axis=-1))
        # the day it began: where the shortfalls from then on add up most (the ramp's
        # best start would date a sudden drop days too early)
        from_each_day = np.cumsum(short[..., ::-1], axis=-1)[..., ::-1]
        starts.append(from_each_day.argmax(axis=-1))
    return np.stack(scores, axis=-1), np.stack(starts, axis=-1)


def decline_findings(
    flow: pd.DataFrame, day: date, *, first_day: date | None, currency: str = ""
) -> list[Finding]:
    """Orders or revenue sliding below usual over the last DECLINE_DAYS up to ``day``.

    A same-weekday check cannot see a slow decline (each day is only a little short);
    the trend scan of :func:`decline_scores` adds the shortfalls up and is flagged
    beyond DECLINE_LEVEL. Needs MIN_WEEKS whole weeks before the DECLINE_DAYS.
    """
    window = day - timedelta(days=DECLINE_DAYS - 1)
    if day not in flow.index:
        return []
    weeks = _history_weeks(flow, window, first_day)
    if weeks < MIN_WEEKS:
        return []
    start = window - timedelta(weeks=weeks)
    orders = _values(flow, "orders", start, 7 * weeks + DECLINE_DAYS)
    revenue = _values(flow, "revenue", start, 7 * weeks + DECLINE_DAYS)
    score, began = decline_scores(orders, revenue)
    out: list[Finding] = []
    for m, values, s, b in zip(ANOMALY_MEASURES, (orders, revenue), score, began, strict=True):
        level = DECLINE_LEVEL[m.key][weeks]
        if s <= level:
            continue
        ref = values[: 7 * weeks]
        floor = 1.0 if m.count else float(revenue_floor(orders[: 7 * weeks], revenue[: 7 * weeks]))
        usual, _ = baseline(ref, m.count, floor)
        days = range(int(b), DECLINE_DAYS)
        expected = float(sum(unroot(usual[i % 7], m.count) for i in days))
        seen = float(values[7 * weeks + int(b) :].sum())
        since = window + timedelta(days=int(b))
        shown = (lambda x: fmt(round(x))) if m.count else _money(currency)
        pct = 100.0 * (seen / expected - 1.0) if expected > 0 else -100.0
        out.append(
            _finding(
                f"decline:{m.key}",
                "warning",
                f"{m.name} sliding below usual since {_day(since)}: "
                f"{shown(seen)} vs {shown(expected)} expected ({pct:+.0f}%)",
                f"Expected {shown(expected)} over the {_plural(len(days), 'day')} since "
                f"{_day(since)} (each weekday's usual level over the {weeks} weeks before "
                f"{_day(window)}); seen {shown(seen)}. Day by day the gap can pass for noise; "
                f"added up it cannot (slide score {float(s):.1f}, alert above {level:g}): "
                "a slow slide costs more than a bad day and rarely fixes itself.",
                "Look for what changed around that day: a best seller out of stock or "
                "delisted, a price change, ads paused, a drop in search ranking, a checkout "
                "problem on some devices.",
                math.floor(float(s) / level),
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

    @property
    def day_hours(self) -> float:
        """Business hours in one open day."""
        return (
            datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        ).seconds / 3600

    def open_fraction(self, hour: int) -> float:
        """How much of clock hour ``hour`` (0–23) is inside business hours."""
        start = self.start.hour + self.start.minute / 60
        end = self.end.hour + self.end.minute / 60
        return max(0.0, min(end, hour + 1) - max(start, hour))

    def daily_orders(self, rates: np.ndarray) -> float:
        """Orders in an open day's business hours at ``rates`` (the open days' average)."""
        per_day = rates @ np.array([self.open_fraction(h) for h in range(24)])
        open_days = [d for d in range(7) if self.weekmask[d] == "1"]
        return float(per_day[open_days].mean()) if open_days else 0.0

    def expected_orders(self, rates: np.ndarray, a: datetime, b: datetime, tz: ZoneInfo) -> float:
        """Orders expected in the business hours of [a, b] at ``rates`` (weekday × clock hour,
        :func:`usual_rates`; at most the 14 days before ``b``)."""
        a = max(a, b - timedelta(days=14))
        total = 0.0
        day = a.astimezone(tz).date()
        while day <= b.astimezone(tz).date():
            if self.weekmask[day.weekday()] == "1":
                for h in range(self.start.hour, min(self.end.hour + 1, 24)):
                    lo = max(at_local(day, time(h), tz), at_local(day, self.start, tz), a)
                    top = at_local(day, self.end, tz)
                    if h + 1 < 24:
                        top = min(top, at_local(day, time(h + 1), tz))
                    hi = min(top, b)
                    if hi > lo:
                        total += rates[day.weekday(), h] * (hi - lo).total_seconds() / 3600.0
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
    """No order for a spell of business hours that is improbable at the shop's own rate.

    The usual rate of each weekday and clock hour comes from the orders of the
    QUIET_WEEKS weeks before ``now`` (:func:`usual_rates`); a spell is alerted when no
    order in it had a probability below QUIET_PROBABILITY (Poisson: e^−expected) and
    it is at least ``quiet_hours`` long. A shop taking fewer than QUIET_MIN_DAILY
    orders in a day's business hours is never alerted before a whole business day
    has passed (at 1.5 orders a day, a quiet morning is normal). Fewer than 7 days
    since the first order, or none at all: no judgement. The metric counts how many
    times over the spell is improbable, so a longer one is "worse", not each run.
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
    # one row per order line: an order of three lines is one order
    ids = order_ids.reindex(placed.index)
    usual = usual_rates(placed[ids.isna() | ~ids.duplicated()], now, tz, hours)
    if usual is None:
        return None
    rates, weeks = usual
    expected = hours.expected_orders(rates, last, now, tz)
    daily = hours.daily_orders(rates)
    chance = math.exp(-expected)
    day_hours = hours.day_hours
    if chance >= QUIET_PROBABILITY or (daily < QUIET_MIN_DAILY and quiet < day_hours):
        return None
    order = order_ids.loc[i] if i in order_ids.index else None
    which = f"order {order} " if isinstance(order, str) and order else ""
    odds = "less than 1 in a million" if chance < 1e-6 else f"about 1 in {round(1 / chance):,}"
    return _finding(
        "quiet-orders",
        "warning",
        f"No new orders for {quiet:.1f} business hours",
        f"The last {which}was placed {_when(last)}. Expected about {expected:.1f} orders in "
        f"those business hours ({hours.start:%H:%M}–{hours.end:%H:%M}) at this shop's usual "
        f"rate for them over the last {_plural(weeks, 'week')}; seen none. A gap this long "
        f"happens by chance {odds} (alert below 1 in {round(1 / QUIET_PROBABILITY):,}): "
        "something may be stopping orders.",
        "Check that the shop front, checkout and payment provider work, and that new orders "
        "are being copied to the Orders tab.",
        math.floor(expected / -math.log(QUIET_PROBABILITY)),
    )


def usual_rates(
    placed: pd.Series, now: datetime, tz: ZoneInfo, hours: BusinessHours
) -> tuple[np.ndarray, int] | None:
    """Orders per hour for each weekday (rows, Monday first) and clock hour, over the
    whole days of the QUIET_WEEKS weeks before ``now`` (fewer if the first order is
    later; fewer than 7 days: None), and the weeks used.

    Each weekday-hour is shrunk towards the average business hour by one week's worth
    (a single busy Monday 10:00 in a quiet shop does not make Mondays at 10 busy).
    """
    local = pd.DatetimeIndex(placed).tz_convert(tz)
    today = now.astimezone(tz).date()
    first = max(local.min().date(), today - timedelta(weeks=QUIET_WEEKS))
    days = pd.date_range(first, today - timedelta(days=1), freq="D")
    if len(days) < 7:
        return None
    keep = (local.date >= first) & (local.date < today)
    counts = np.zeros((7, 24))
    np.add.at(counts, (local.day_of_week[keep], local.hour[keep]), 1.0)
    n_days = np.bincount(days.day_of_week, minlength=7).astype(float)
    open_hours = np.array([hours.open_fraction(h) for h in range(24)])
    open_days = np.array([hours.weekmask[d] == "1" for d in range(7)], dtype=float)
    exposure = np.outer(n_days * open_days, open_hours)
    average = (counts * (exposure > 0)).sum() / max(exposure.sum(), 1e-9)
    rates = (counts + average * np.outer(open_days, open_hours)) / (n_days[:, None] + 1.0)
    return rates, max(1, round(len(days) / 7))


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
