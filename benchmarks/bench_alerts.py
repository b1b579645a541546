"""How often the monitor's anomaly alerts are right: issue 20's table, old rule vs new.

Run: ``python -m benchmarks.bench_alerts`` (``--calibrate`` re-runs the simulation
behind the constants baked into ``ops_sheets.domain.monitoring``, DAY_SCALE and
DECLINE_LEVEL, and prints them; about 15 s).

Synthetic shops, fixed seeds: 120 days of Poisson order counts with a weekly profile
(busier at weekends), 20 to 50 orders a day on average, lognormal order values (mean
45, σ 0.6 on the log scale). 30 clean series, each day from day 28 on judged (2,760
days). Planted in copies of each series: a day with no orders, a day with three times
the usual rate (both on a random day from day 28), and a 20-day slide to 0.4× (the
rate falling by 3% of the usual a day from a random day between 45 and 99). A day is
*flagged* when any orders or revenue finding is raised for it; the slide is *caught*
when a finding about low orders or revenue (a low day or a decline) comes on one of
its first 10 days (day 1: the first day below usual); the same ten days of the clean
series show how many such "catches" are noise. The goal table ends with what any
check flagging 1% of clean days could expect to catch of the same slides even if it
knew the day each one starts (:func:`best_possible`): the ceiling of the slide goal.
The "4 weeks" column judges every clean day as if the shop's first order were 4 weeks
before (the decline check with its least reference, 4 weeks before its 14 days).
A second table repeats the plants on shops of 5 to 100 orders a day. Then the
quiet-spell check, every hour 10:00–17:00 of days 56–119, for a shop with 1.5 orders
a day and one with 40 (orders at random times in 09:00–17:00), and when each rule
notices an outage starting at 10:00.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from statistics import NormalDist
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.config import settings_from_dict
from ops_sheets.domain import monitoring as mon

DAYS = 120
FIRST_JUDGED = 28
SERIES = 30
PROFILE = np.array([0.95, 0.9, 0.85, 0.9, 1.0, 1.25, 1.15])  # Mon..Sun
VALUE_MEAN, VALUE_SIGMA = 45.0, 0.6
START = date(2026, 7, 27)  # a Monday
DEFAULTS = settings_from_dict({}).jobs.monitor
THRESHOLD, QUIET_HOURS = DEFAULTS.anomaly_threshold, DEFAULTS.quiet_hours  # as shipped
LONDON = ZoneInfo("Europe/London")


def revenue_of(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """The sum of ``counts`` lognormal order values per cell."""
    mu = math.log(VALUE_MEAN) - VALUE_SIGMA**2 / 2
    flat = counts.ravel().astype(int)
    values = rng.lognormal(mu, VALUE_SIGMA, int(flat.sum()))
    sums = np.bincount(np.repeat(np.arange(flat.size), flat), weights=values, minlength=flat.size)
    return sums.reshape(counts.shape)


def rates(level: np.ndarray, days: int) -> np.ndarray:
    """Expected orders per day: ``level`` (one per series) × the weekday profile."""
    return np.asarray(level, dtype=float)[..., None] * PROFILE[np.arange(days) % 7]


def shop(rng: np.random.Generator, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    orders = rng.poisson(rate).astype(float)
    return orders, revenue_of(rng, orders)


def frame(orders: np.ndarray, revenue: np.ndarray) -> pd.DataFrame:
    index = pd.Index([START + timedelta(days=i) for i in range(len(orders))], name="date")
    return pd.DataFrame({"orders": orders, "revenue": revenue}, index=index)


# ---------------------------------------------------------------- the rule before issue 20


def old_flags(flow: pd.DataFrame, day: date, first_day: date | None) -> dict[str, bool]:
    """The same weekday of 8 weeks, robust z (median/MAD) beyond 3.5, a Poisson guard."""
    past = [day - timedelta(weeks=w) for w in range(1, 9)]
    past = [d for d in past if d in flow.index and (first_day is None or d >= first_day)]
    out = {"orders": False, "revenue": False, "low": False}
    if len(past) < 4:
        return out
    for key in ("orders", "revenue"):
        value = float(flow.at[day, key])
        h = np.array([float(flow.at[d, key]) for d in past])
        med = float(np.median(h))
        dev = np.abs(h - med)
        mad = float(np.median(dev))
        if mad > 0:
            z = 0.6745 * (value - med) / mad
        elif dev.mean() > 0:
            z = (value - med) / (1.253314 * dev.mean())
        else:
            z = 0.0 if value == med else math.copysign(math.inf, value - med)
        if abs(z) < 3.5 or (key == "orders" and abs(value - med) < max(2, 2 * math.sqrt(med))):
            continue
        out[key] = True
        out["low"] |= value < med
    return out


def new_flags(
    flow: pd.DataFrame, day: date, first_day: date | None, decline_first: date | None = None
) -> dict[str, bool]:
    found = mon.anomaly_findings(flow, day, threshold=THRESHOLD, first_day=first_day)
    found += mon.decline_findings(
        flow, day, first_day=first_day if decline_first is None else decline_first
    )
    keys = {f.key.split(":")[0] + ":" + f.key.split(":")[1] for f in found}
    low = any(f.key.startswith("decline:") or "below" in f.title for f in found)
    return {
        "orders": "anomaly:orders" in keys,
        "revenue": "anomaly:revenue" in keys,
        "flagged": bool(found),
        "low": low,
    }


# ---------------------------------------------------------------- the benchmark


Series = list[tuple[np.ndarray, np.ndarray]]
DAY_LIST = [START + timedelta(days=i) for i in range(DAYS)]


def plant_days(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The day of each series' planted drop, spike and the first day of its slide."""
    rng = np.random.default_rng(seed)
    drop_day = rng.integers(FIRST_JUDGED, DAYS, n)
    spike_day = rng.integers(FIRST_JUDGED, DAYS, n)
    return drop_day, spike_day, rng.integers(45, DAYS - 20, n)


def slide_factor(days: int) -> np.ndarray:
    """The planted slide's share of the usual rate on its days 1, 2, … (0.97, 0.94, …, 0.4)."""
    return 1 - 0.6 * np.minimum(np.arange(1, days + 1), 20) / 20


def best_possible(rate: np.ndarray, seed: int, false_alarms: float, draws: int = 100_000) -> float:
    """How many of the planted slides (of :func:`planted` with ``seed``) *any* check
    flagging ``false_alarms`` of clean days could expect to catch within 10 days: one
    that knows the day the slide starts and the shop's true rate on each day, and on
    each of days 1–10 runs the most powerful test of "clean" against "this slide"
    (Neyman–Pearson: orders weighted by −log of the slide's factor, low is a slide),
    each at that rate of clean days flagged. No real check knows either; none can do
    better on each day, so when this falls short of 30, so must every check."""
    _, _, slide_start = plant_days(seed, len(rate))
    rng = np.random.default_rng(seed + 300)
    weight = -np.log(slide_factor(10))
    expected = 0.0
    for i, s in enumerate(slide_start):
        usual = rate[i, int(s) : int(s) + 10]
        clean = np.cumsum(rng.poisson(usual, (draws, 10)) * weight, axis=1)
        slid = np.cumsum(rng.poisson(usual * slide_factor(10), (draws, 10)) * weight, axis=1)
        bar = np.quantile(clean, false_alarms, axis=0)  # flag at or below, day by day
        expected += float((slid < bar).any(axis=1).mean())
    return expected


def planted(
    clean: Series, rate: np.ndarray, flags: Callable[..., dict[str, bool]], seed: int
) -> tuple[dict[str, int], list[int]]:
    """Copies of each clean series with a day of no orders, a day at 3× the rate, a
    20-day slide to 0.4×: how many each measure caught (and how many of the same ten
    days without the slide were flagged low), and the slides' first flags (1 = the
    first day below usual)."""
    drop_day, spike_day, slide_start = plant_days(seed, len(clean))
    caught = {k: 0 for k in ("drop_o", "drop_r", "spike_o", "spike_r", "slide", "noise")}
    first: list[int] = []
    for i, (orders, revenue) in enumerate(clean):
        d = int(drop_day[i])
        o, r = orders.copy(), revenue.copy()
        o[d] = r[d] = 0
        f = flags(frame(o, r), DAY_LIST[d], DAY_LIST[0])
        caught["drop_o"] += f["orders"]
        caught["drop_r"] += f["revenue"]
        d = int(spike_day[i])
        o, r = orders.copy(), revenue.copy()
        spike = np.random.default_rng(seed + 100 + i)
        o[d] = spike.poisson(3 * rate[i, d])
        r[d] = revenue_of(spike, o[d : d + 1])[0]
        f = flags(frame(o, r), DAY_LIST[d], DAY_LIST[0])
        caught["spike_o"] += f["orders"]
        caught["spike_r"] += f["revenue"]
        s = int(slide_start[i])
        factor = np.ones(DAYS)
        factor[s:] = slide_factor(DAYS - s)
        o, r = shop(np.random.default_rng(seed + 200 + i), rate[i] * factor)
        o[:s], r[:s] = orders[:s], revenue[:s]
        flow = frame(o, r)
        hits = [k + 1 for k in range(20) if flags(flow, DAY_LIST[s + k], DAY_LIST[0])["low"]]
        caught["slide"] += bool(hits) and hits[0] <= 10
        first += hits[:1]
        # the same ten days without the slide: a "catch" there is a false alarm
        unslid = frame(orders, revenue)
        caught["noise"] += any(
            flags(unslid, DAY_LIST[s + k], DAY_LIST[0])["low"] for k in range(10)
        )
    return caught, first


def table() -> None:
    rng = np.random.default_rng(20)
    level = 20 + 30 * rng.random(SERIES) / PROFILE.mean()
    rate = rates(level, DAYS)
    clean = [shop(rng, rate[i]) for i in range(SERIES)]
    judged = range(FIRST_JUDGED, DAYS)
    days = DAY_LIST

    def clean_rate(judge: Callable[..., bool], four_weeks: bool) -> float:
        flagged = 0
        for orders, revenue in clean:
            flow = frame(orders, revenue)
            for i in judged:
                first = days[i] - timedelta(weeks=4) if four_weeks else days[0]
                flagged += judge(flow, days[i], first, four_weeks)
        return flagged / (SERIES * len(judged))

    def old_clean(flow: pd.DataFrame, day: date, first: date, _four: bool) -> bool:
        f = old_flags(flow, day, first)
        return f["orders"] or f["revenue"]

    def new_clean(flow: pd.DataFrame, day: date, first: date, four: bool) -> bool:
        decline_first = day - timedelta(days=mon.DECLINE_DAYS - 1, weeks=4) if four else None
        return new_flags(flow, day, first, decline_first)["flagged"]

    results = {
        name: planted(clean, rate, f, 1) for name, f in (("old", old_flags), ("new", new_flags))
    }
    old_rate, old_4w = clean_rate(old_clean, False), clean_rate(old_clean, True)
    new_rate, new_4w = clean_rate(new_clean, False), clean_rate(new_clean, True)

    def share(n: int) -> str:
        return f"{n}/{SERIES}"

    print(
        f"{SERIES} clean series × {len(judged)} judged days = {SERIES * len(judged):,} days; "
        f"{level.min() * PROFILE.mean():.0f}–{level.max() * PROFILE.mean():.0f} orders a day"
    )
    print("| detector | drop to 0 (orders / revenue) | 3× spike (orders / revenue) "
          "| 20-day slide to 0.4×: caught in 10 days (median first day; same days unslid) "
          "| clean days flagged | with 4 weeks of history |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, rate_all, rate_4w, label in (
        ("old", old_rate, old_4w, "before (same weekday, 8 weeks, robust z > 3.5)"),
        ("new", new_rate, new_4w, "issue 20 (root scale, pooled spread, slide scan)"),
    ):
        caught, first = results[name]
        median = f"day {int(np.median(first))}" if first else "never"
        print(
            f"| {label} | {share(caught['drop_o'])} / {share(caught['drop_r'])} "
            f"| {share(caught['spike_o'])} / {share(caught['spike_r'])} "
            f"| {share(caught['slide'])} ({median}; {share(caught['noise'])}) "
            f"| {100 * rate_all:.2f}% | {100 * rate_4w:.2f}% |"
        )
    caught = results["new"][0]
    goals = [
        ("false alarms ≤ 1% of clean days", f"{100 * new_rate:.2f}%", new_rate <= 0.01),
        ("… with only 4 weeks of history ≤ 1%", f"{100 * new_4w:.2f}%", new_4w <= 0.01),
        (
            "every drop to 0 caught (orders and revenue)",
            f"{caught['drop_o']}+{caught['drop_r']}/{2 * SERIES}",
            caught["drop_o"] + caught["drop_r"] == 2 * SERIES,
        ),
        (
            "every 3× spike caught (orders and revenue)",
            f"{caught['spike_o']}+{caught['spike_r']}/{2 * SERIES}",
            caught["spike_o"] + caught["spike_r"] == 2 * SERIES,
        ),
        (
            "20-day slide flagged within 10 days",
            share(caught["slide"]),
            caught["slide"] == SERIES,
        ),
    ]
    print("\n| goal | measured (new) | |\n|---|---|---|")
    for goal, measured, ok in goals:
        print(f"| {goal} | {measured} | {'pass' if ok else 'FAIL'} |")
    bound = best_possible(rate, 1, 0.01)
    print(
        f"| … the most any check flagging 1% of clean days can expect (it would know each "
        f"slide's start and the true rate; see best_possible) | {bound:.1f}/{SERIES} "
        f"| {'the goal is out of reach' if bound < SERIES - 0.5 else 'reachable'} |"
    )


def by_size() -> None:
    """What the new checks catch as the shop grows (the same plants, 30 series a size)."""
    print("\n| orders a day | drop to 0 (orders / revenue) | 3× spike (orders / revenue) "
          "| slide caught in 10 days (median first day) "
          "| ceiling at 1% (best_possible) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for per_day in (5, 10, 25, 50, 100):
        rng = np.random.default_rng(per_day)
        rate = rates(np.full(SERIES, per_day / PROFILE.mean()), DAYS)
        clean = [shop(rng, rate[i]) for i in range(SERIES)]
        caught, first = planted(clean, rate, new_flags, per_day)
        median = f"day {int(np.median(first))}" if first else "never"
        print(
            f"| {per_day} | {caught['drop_o']}/{SERIES} / {caught['drop_r']}/{SERIES} "
            f"| {caught['spike_o']}/{SERIES} / {caught['spike_r']}/{SERIES} "
            f"| {caught['slide']}/{SERIES} ({median}) "
            f"| {best_possible(rate, per_day, 0.01):.1f}/{SERIES} |"
        )


# ---------------------------------------------------------------- quiet spells


def order_times(rng: np.random.Generator, per_day: float) -> pd.Series:
    """A Poisson process of orders within 09:00–17:00 every day, for DAYS days."""
    stamps = []
    for i in range(DAYS):
        n = rng.poisson(per_day)
        minutes = np.sort(rng.uniform(0, 8 * 60, n))
        base = datetime.combine(START + timedelta(days=i), time(9), LONDON)
        stamps += [base + timedelta(minutes=float(m)) for m in minutes]
    return pd.Series(pd.DatetimeIndex(stamps, tz=LONDON) if stamps else [], dtype=object)


def old_quiet(seen: pd.Series, now: datetime, hours: mon.BusinessHours) -> bool:
    """The rule before issue 20: 4 business hours without an order."""
    if seen.empty:
        return False
    return hours.hours_between(seen.max().to_pydatetime(), now, LONDON) >= 4


def quiet() -> None:
    hours = mon.BusinessHours(time(9), time(17))
    print(
        "\n| shop | runs alerted, old rule (4 h) | new rule | days alerted old / new "
        "| new: quiet hours before an alert | outage from 10:00: alerted at, old / new |"
    )
    print("|---|---|---|---|---|---|")
    for per_day in (1.5, 40.0):
        times = order_times(np.random.default_rng(int(per_day * 10)), per_day)
        times = pd.Series(pd.to_datetime(times, utc=True).dt.tz_convert(LONDON))
        ids = pd.Series([f"SO-{i}" for i in range(len(times))], dtype=object)
        runs = old = new = 0
        days_old: set[date] = set()
        days_new: set[date] = set()
        for i in range(56, DAYS):
            for h in range(10, 18):
                now = datetime.combine(START + timedelta(days=i), time(h), LONDON)
                seen = times[times <= pd.Timestamp(now)]
                runs += 1
                if old_quiet(seen, now, hours):
                    old += 1
                    days_old.add(now.date())
                if mon.quiet_finding(seen, ids, now, LONDON, hours, QUIET_HOURS) is not None:
                    new += 1
                    days_new.add(now.date())
        # the quiet time the new rule needs: expected orders reach ln(1000)
        need = -math.log(mon.QUIET_PROBABILITY) / (per_day / hours.day_hours)
        if per_day < mon.QUIET_MIN_DAILY:
            need = max(need, hours.day_hours)
        # an outage from 10:00 on day 100: when does each rule alert (hourly runs)?
        outage = datetime.combine(START + timedelta(days=100), time(10), LONDON)
        before = times[times < pd.Timestamp(outage)]
        at_old = at_new = "later"
        for step in range(1, 8 * 14):
            now = outage + timedelta(hours=step)
            if hours.hours_between(now, now, LONDON) == 0 and not (9 <= now.hour <= 17):
                continue
            if at_old == "later" and old_quiet(before, now, hours):
                at_old = f"{now:%a %H:%M}"
            if at_new == "later" and mon.quiet_finding(
                before, ids, now, LONDON, hours, QUIET_HOURS
            ):
                at_new = f"{now:%a %H:%M}"
            if "later" not in (at_old, at_new):
                break
        print(
            f"| {per_day:g} orders a day | {old}/{runs} | {new}/{runs} "
            f"| {len(days_old)} / {len(days_new)} of {DAYS - 56} | {need:.1f} h "
            f"| {at_old} / {at_new} (outage {outage:%a %H:%M}) |"
        )


# ---------------------------------------------------------------- calibration


def batched(
    rng: np.random.Generator, rate: np.ndarray, samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` clean series at ``rate``, drawn 2,000 at a time (memory)."""
    parts = [shop(rng, np.broadcast_to(rate, (2000, len(rate)))) for _ in range(samples // 2000)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def calibrate(samples: int = 20_000) -> tuple[dict[str, dict[int, float]], ...]:
    """DAY_SCALE and DECLINE_LEVEL per measure and weeks of history: the raw scores of
    clean simulated shops of 3, 10 and 30 orders a day (the scores hardly change above),
    the largest over those levels."""
    p_day = 0.002  # per measure and clean day
    p_decline = {"orders": 0.005, "revenue": 0.002}
    z0 = NormalDist().inv_cdf(1 - p_day / 2)
    rng = np.random.default_rng(2020)
    scale: dict[str, dict[int, float]] = {"orders": {}, "revenue": {}}
    level: dict[str, dict[int, float]] = {"orders": {}, "revenue": {}}
    for weeks in range(mon.MIN_WEEKS, mon.MAX_WEEKS + 1):
        for per_day in (3.0, 10.0, 30.0):
            offset = rng.integers(0, 7)
            days = 7 * weeks + 1
            o, r = batched(rng, per_day * PROFILE[(np.arange(days) + offset) % 7], samples)
            raw = np.abs(mon.day_scores(o, r))
            days = 7 * weeks + mon.DECLINE_DAYS
            o, r = batched(rng, per_day * PROFILE[(np.arange(days) + offset) % 7], samples)
            slide, _ = mon.decline_scores(o, r)
            for j, key in enumerate(("orders", "revenue")):
                z = raw[:, j][np.isfinite(raw[:, j])] * mon.DAY_SCALE[key][weeks]
                s = float(np.quantile(z, 1 - p_day)) / z0
                scale[key][weeks] = max(scale[key].get(weeks, 0.0), math.ceil(s * 100) / 100)
                h = float(np.quantile(slide[:, j], 1 - p_decline[key]))
                level[key][weeks] = max(level[key].get(weeks, 0.0), math.ceil(h * 10) / 10)
    print(f"DAY_SCALE = {scale}")
    print(f"DECLINE_LEVEL = {level}")
    return scale, level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args([] if __name__ != "__main__" else None)
    if args.calibrate:
        calibrate()
        return
    table()
    by_size()
    quiet()


if __name__ == "__main__":
    main()
