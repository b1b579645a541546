"""Business days, public holidays, pickup days, and local calendar dates.

Pure helpers shared by the orders job (ship-by deadlines, pickup days) and the
monitor job (late lines). Deadlines are *local calendar dates* in the business
time zone: an order placed at 23:30 on the night the clocks change is still on
that local date, so everything here works on the wall-clock view of a moment
(``local_wall``) and never on UTC day boundaries.

Business-day arithmetic is vectorised with numpy's ``busday_*`` functions and a
``numpy.busdaycalendar`` (weekmask plus holidays), so a million order lines cost
a few array operations, not a Python loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Every English spelling a person is likely to type, mapped to Monday=0.
_DAY_WORDS: dict[str, int] = {}
for _i, _names in enumerate(
    (
        ("mon", "monday", "mo"),
        ("tue", "tues", "tuesday", "tu"),
        ("wed", "weds", "wednesday", "we"),
        ("thu", "thur", "thurs", "thursday", "th"),
        ("fri", "friday", "fr"),
        ("sat", "saturday", "sa"),
        ("sun", "sunday", "su"),
    )
):
    for _n in _names:
        _DAY_WORDS[_n] = _i

_EVERY_DAY = {"daily", "everyday", "every day", "all", "all days", "mon-sun"}
_WEEKDAYS = {"weekdays", "workdays", "working days", "business days"}
_WEEKENDS = {"weekend", "weekends"}
# Range separators: hyphen, en dash, em dash, "to", "through"/"thru".
_RANGE_RE = re.compile(r"^\s*(\w+)\.?\s*(?:-|–|—|to|through|thru)\s*(\w+)\.?\s*$")


class DaysError(ValueError):
    """A day list that does not parse; ``problem`` and ``fix`` are phrased for a person."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def parse_days(text: str | None) -> str:
    """English day names or ranges → a numpy weekmask such as ``"1111100"``.

    ``Mon-Fri``, ``Mon, Wed, Fri``, ``Monday to Friday``, ``Fri-Mon`` (a range
    wraps round the weekend), ``Mon-Wed, Fri``, ``weekdays``, ``daily``.
    Separators are commas, semicolons, ``/``, ``&``, ``and`` or plain spaces.
    Raises :class:`DaysError` for anything else, including an empty list.
    """
    fix = 'type English day names or ranges, e.g. "Mon-Fri" or "Mon, Wed, Fri"'
    raw = "" if text is None else str(text)
    norm = raw.strip().casefold()
    if not norm:
        raise DaysError("no days given", fix)
    if norm in _EVERY_DAY:
        return "1111111"
    if norm in _WEEKDAYS:
        return "1111100"
    if norm in _WEEKENDS:
        return "0000011"
    mask = [False] * 7
    # Commas, semicolons, slashes, ampersands and the word "and" split items;
    # spaces split items too unless they sit inside a range ("Mon to Fri").
    items = [p for p in re.split(r"\s*(?:[,;/&+]|\band\b)\s*", norm) if p.strip()]
    for item in items:
        for part in _split_spaces(item):
            m = _RANGE_RE.match(part)
            if m:
                a, b = _day(m.group(1), raw, fix), _day(m.group(2), raw, fix)
                i = a
                while True:
                    mask[i] = True
                    if i == b:
                        break
                    i = (i + 1) % 7
            else:
                mask[_day(part.strip(" ."), raw, fix)] = True
    if not any(mask):
        raise DaysError("no days given", fix)
    return "".join("1" if m else "0" for m in mask)


def _split_spaces(item: str) -> list[str]:
    """``"mon wed fri"`` → three items; ``"mon to fri"`` / ``"mon - fri"`` stay one."""
    if _RANGE_RE.match(item):
        return [item]
    return [w for w in item.split() if w]


def _day(word: str, raw: str, fix: str) -> int:
    key = word.strip(" .").casefold()
    if key not in _DAY_WORDS:
        raise DaysError(f"{word!r} is not a day name (in {raw.strip()!r})", fix)
    return _DAY_WORDS[key]


def describe_weekmask(weekmask: str) -> str:
    """``"1111100"`` → ``"Mon-Fri"``; ``"1010100"`` → ``"Mon, Wed, Fri"``."""
    days = [i for i, c in enumerate(weekmask) if c == "1"]
    if not days:
        return "no days"
    runs: list[tuple[int, int]] = []
    for d in days:
        if runs and runs[-1][1] == d - 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    parts = [
        DAY_NAMES[a]
        if a == b
        else f"{DAY_NAMES[a]}-{DAY_NAMES[b]}"
        if b > a + 1
        else f"{DAY_NAMES[a]}, {DAY_NAMES[b]}"
        for a, b in runs
    ]
    return ", ".join(parts)


def parse_hhmm(text: str) -> time:
    """``"14:00"`` → ``time(14, 0)``; raises ValueError with a readable message."""
    m = re.fullmatch(r"\s*(\d{1,2})[:.](\d{2})\s*", str(text))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{text!r} is not a 24-hour time such as 14:00")
    return time(int(m.group(1)), int(m.group(2)))


# ---------------------------------------------------------------- holidays


def public_holidays(country: str, subdivision: str, years: Iterable[int]) -> list[date]:
    """Public holidays from the ``holidays`` package; ValueError names what is wrong."""
    import holidays as holidays_pkg  # imported lazily: only configs that name a country need it

    years = sorted(set(years))
    try:
        found = holidays_pkg.country_holidays(
            country.strip().upper(), subdiv=subdivision.strip() or None, years=years
        )
    except NotImplementedError:
        raise ValueError(
            f'holidays_country "{country}" is not a country the holidays package knows; '
            'use a two-letter ISO code such as "GB", "DE" or "US"'
        ) from None
    except (KeyError, ValueError) as exc:  # unknown subdivision
        raise ValueError(
            f'holidays_subdivision "{subdivision}" is not a region of {country}: {exc}'
        ) from None
    return sorted(found.keys())


def regional_holidays(country: str, year: int) -> dict[str, list[str]]:
    """Region → names of the ``year``'s public holidays that region keeps and the
    country as a whole does not (GB: ENG → Easter Monday, Late Summer Bank Holiday).

    Empty when the country has no regions or every region keeps the same days: then
    ``holidays_country`` alone is the whole story.
    """
    import holidays as holidays_pkg

    code = country.strip().upper()
    national = set(holidays_pkg.country_holidays(code, years=[year]))
    out: dict[str, list[str]] = {}
    for region in holidays_pkg.list_supported_countries().get(code, []):
        regional = holidays_pkg.country_holidays(code, subdiv=region, years=[year])
        extra = sorted(d for d in regional if d not in national)
        if extra:
            out[region] = list(dict.fromkeys(regional[d] for d in extra))
    return out


def parse_holiday_list(values: Sequence[str]) -> list[date]:
    out: list[date] = []
    for v in values:
        try:
            out.append(date.fromisoformat(str(v).strip()))
        except ValueError:
            raise ValueError(f'holidays: "{v}" is not a date; write it as YYYY-MM-DD') from None
    return out


# ---------------------------------------------------------------- calendar


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days: a weekmask (Mon..Sun) minus holidays."""

    weekmask: str = "1111100"
    holidays: tuple[date, ...] = field(default_factory=tuple)

    @cached_property
    def numpy(self) -> np.busdaycalendar:
        return np.busdaycalendar(
            weekmask=self.weekmask,
            holidays=np.array(sorted(self.holidays), dtype="datetime64[D]"),
        )

    def with_weekmask(self, weekmask: str) -> BusinessCalendar:
        """Same holidays, other weekdays (a forwarder's pickup days)."""
        return BusinessCalendar(weekmask, self.holidays)

    def is_business_day(self, day: date) -> bool:
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self.numpy))

    def next_on_or_after(self, day: date) -> date:
        return _to_date(
            np.busday_offset(np.datetime64(day, "D"), 0, roll="forward", busdaycal=self.numpy)
        )

    def next_after(self, day: date) -> date:
        return self.next_on_or_after(day + timedelta(days=1))

    def add(self, day: date, n: int) -> date:
        """``n`` business days after ``day`` (rolled forward to a business day first)."""
        return _to_date(
            np.busday_offset(np.datetime64(day, "D"), n, roll="forward", busdaycal=self.numpy)
        )

    def count(self, start: Any, end: Any) -> Any:
        """Business days in ``[start, end)``, element-wise; NaT gives 0 (mask it yourself)."""
        s = np.asarray(start, dtype="datetime64[D]")
        e = np.asarray(end, dtype="datetime64[D]")
        bad = np.isnat(s) | np.isnat(e)
        s = np.where(bad, np.datetime64(0, "D"), s)
        e = np.where(bad, np.datetime64(0, "D"), e)
        return np.where(bad, 0, np.busday_count(s, e, busdaycal=self.numpy))


def _to_date(d: np.datetime64) -> date:
    return d.astype("datetime64[D]").astype(date)


def business_calendar(
    business_days: str,
    holidays: Sequence[str] = (),
    country: str = "",
    subdivision: str = "",
    years: Iterable[int] = (),
) -> BusinessCalendar:
    """The shop's calendar from its settings; ValueError says which setting is wrong.

    ``years`` are the calendar years whose public holidays are loaded (those of
    the order dates and of `now`, plus the next year for deadlines that roll over).
    """
    try:
        weekmask = parse_days(business_days)
    except DaysError as err:
        raise ValueError(f'business_days "{business_days}": {err.problem}; {err.fix}') from None
    days = set(parse_holiday_list(holidays))
    if country.strip():
        days.update(public_holidays(country, subdivision, years))
    return BusinessCalendar(weekmask, tuple(sorted(days)))


# ---------------------------------------------------------------- local time


def local_wall(values: pd.Series, tz: ZoneInfo) -> np.ndarray:
    """Aware timestamps → naive wall-clock times in ``tz`` (``datetime64[s]``, NaT kept).

    The wall-clock view is what "the order's date" and "the order time" mean to
    the people in the shop, across DST changes.
    """
    s = values
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    return s.dt.tz_convert(tz).dt.tz_localize(None).to_numpy(dtype="datetime64[s]")


def local_days_and_seconds(values: pd.Series, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local calendar date (``datetime64[D]``) and seconds since local midnight (wall clock)."""
    wall = local_wall(values, tz)
    days = wall.astype("datetime64[D]")
    secs = (wall - days.astype("datetime64[s]")).astype("int64")
    return days, secs


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The moment ``day`` ends in ``tz`` (local midnight that starts the next day)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def at_local(day: date, t: time, tz: ZoneInfo) -> datetime:
    """``t`` on ``day`` in ``tz`` (a wall time in a DST gap moves forward with the clocks)."""
    return datetime.combine(day, t, tzinfo=tz)


# ---------------------------------------------------------------- the sheet's locale

#: Locales whose dates are written month first (03/04/2026 is March 4): CLDR's
#: short date pattern starts with M for these (the US and places that follow it).
MONTH_FIRST_LOCALES = frozenset(
    {"en_US", "en_PH", "fil_PH", "es_US", "en_PR", "en_AS", "en_GU", "en_MP", "en_UM"}
    | {"en_VI", "en_MH", "en_FM", "en_PW"}
)
#: Languages whose dates are written year first (2026/04/03): day_first does not
#: decide anything there, so it is never contradicted.
YEAR_FIRST_LANGUAGES = frozenset({"ja", "zh", "ko", "hu", "lt", "sv", "mn", "eu", "fa"})


def locale_day_first(locale: str) -> bool | None:
    """Whether a spreadsheet in this locale reads 03/04/2026 as 3 April (True), as
    March 4 (False), or neither is implied (None: year first, or no locale)."""
    if not locale:
        return None
    normal = locale.replace("-", "_")
    if normal in MONTH_FIRST_LOCALES:
        return False
    if normal.split("_")[0].lower() in YEAR_FIRST_LANGUAGES:
        return None
    return True


def day_first_disagreement(day_first: bool, locale: str) -> str | None:
    """Why ``day_first`` contradicts the spreadsheet's locale, or None.

    Google parses a date typed into a cell by the spreadsheet's locale: in en_US,
    a UK ``02/11/2026`` becomes 11 February before the service sees it, with no
    sign that anything went wrong.
    """
    implied = locale_day_first(locale)
    if implied is None or implied == day_first:
        return None
    typed = "03/04/2026 as 3 April" if day_first else "03/04/2026 as March 4"
    sheet = "March 4" if day_first else "3 April"
    return (
        f"day_first = {str(day_first).lower()} reads {typed}, but the spreadsheet's locale "
        f"is {locale}, where Google reads a typed 03/04/2026 as {sheet}"
    )
