"""Cell contents: how written values are stored and how stored values are rendered.

Google keeps, per cell, a typed value (string, number or boolean), an optional
formula and a number format.  Dates are numbers (days since 1899-12-30) with a
date format; that is why ``2020-01-01`` entered as USER_ENTERED reads back as
``43831`` under UNFORMATTED_VALUE and as ``2020-01-01`` when formatted.

Only the en_US input conventions are understood (``.`` decimal point, ``,``
thousands separator, ``m/d/yyyy`` dates); the recordings use nothing else.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Cell",
    "Scalar",
    "cell_from_python",
    "cell_from_raw",
    "cell_from_user_entered",
    "format_general",
    "format_number",
    "from_serial",
    "json_number",
    "to_serial",
]

Scalar = str | int | float | bool | None

# Serial numbers count wall-clock days in the spreadsheet's time zone, so the
# epoch is deliberately naive.
EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001

DATE_KINDS = frozenset({"DATE", "TIME", "DATE_TIME"})


@dataclass
class Cell:
    """One cell.  ``value`` is the literal value; for formulas it is unused and
    the result is computed when the cell is read."""

    value: Scalar = None
    formula: str | None = None
    # Number format as Google would store it: kind is NUMBER, PERCENT, CURRENCY,
    # DATE, TIME or DATE_TIME; pattern is the spreadsheet pattern string.
    kind: str | None = None
    pattern: str | None = None
    fmt: dict[str, Any] | None = None  # userEnteredFormat, kept only to echo back
    validation: dict[str, Any] | None = None  # dataValidation rule
    note: str | None = None

    @property
    def has_value(self) -> bool:
        """A cell "has data" for trimming and table detection only through a
        value or a formula; formatting alone does not count."""
        return self.formula is not None or self.value is not None

    def set_content(self, other: Cell) -> None:
        """Take value, formula and number format from a parsed input cell.

        Formatting, validation and an existing number format stay, as in Google:
        typing 5 into a date-formatted cell shows a date.  Input that implies a
        format (``2020-01-01``, ``12%``) replaces the number format.
        """
        self.value = other.value
        self.formula = other.formula
        if other.kind is not None:
            self.kind, self.pattern = other.kind, other.pattern

    def is_blank(self) -> bool:
        """Nothing left worth keeping (clearing values keeps formats, as Google does)."""
        return (
            not self.has_value
            and self.kind is None
            and self.fmt is None
            and self.validation is None
            and not self.note
        )


# ---------------------------------------------------------------- dates


def to_serial(value: dt.date | dt.datetime | dt.time) -> float:
    """Days since 1899-12-30, the spreadsheet epoch (Lotus bug included)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        delta = value - EPOCH
        return delta.days + delta.seconds / 86400 + delta.microseconds / 86400e6
    if isinstance(value, dt.date):
        return float((value - EPOCH.date()).days)
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    raise TypeError(value)


def from_serial(serial: float) -> dt.datetime:
    # Round to the millisecond first so 0.1 days does not render as 02:23:59.
    ms = round(serial * 86400000)
    return EPOCH + dt.timedelta(milliseconds=ms)


# ---------------------------------------------------------------- input parsing

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_PERCENT = re.compile(r"(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))\s*%")
_CURRENCY = re.compile(r"(?P<sign>[+-]?)\$\s*(?P<num>\d{1,3}(?:,\d{3})*(?:\.\d*)?|\d+(?:\.\d*)?)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SLASH_YMD = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?")


def _decimals(num_text: str) -> int:
    return len(num_text.split(".", 1)[1]) if "." in num_text else 0


def _fixed_pattern(base: str, decimals: int) -> str:
    return base + ("." + "0" * decimals if decimals else "")


def _parse_time(text: str) -> tuple[float, str] | None:
    m = _TIME.fullmatch(text)
    if not m:
        return None
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    ampm = m[4]
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    pattern = "h:mm" + (":ss" if m[3] else "") + (" AM/PM" if ampm else "")
    return (hour * 3600 + minute * 60 + second) / 86400, pattern


def _parse_date(text: str) -> tuple[float, str, str] | None:
    """Return (serial, kind, pattern) for the date forms en_US users type."""
    date_part, _, time_part = text.partition(" ")
    for regex, order, pattern in (
        (_ISO_DATE, "ymd", "yyyy-mm-dd"),
        (_SLASH_YMD, "ymd", "yyyy/mm/dd"),
        (_US_DATE, "mdy", "m/d/yyyy"),
    ):
        m = regex.fullmatch(date_part)
        if not m:
            continue
        a, b, c = (int(x) for x in m.groups())
        year, month, day = (a, b, c) if order == "ymd" else (c, a, b)
        try:
            serial = to_serial(dt.date(year, month, day))
        except ValueError:
            return None
        time_part = time_part.strip()
        if not time_part:
            return serial, "DATE", pattern
        parsed_time = _parse_time(time_part)
        if parsed_time is None:
            return None
        fraction, time_pattern = parsed_time
        if ":ss" not in time_pattern:
            time_pattern = time_pattern.replace("h:mm", "h:mm:ss")
        return serial + fraction, "DATE_TIME", f"{pattern} {time_pattern}"
    return None


def cell_from_raw(value: Any) -> Cell:
    """RAW input: strings stay strings, even ``=SUM(1)`` or ``0012``."""
    if value == "":
        return Cell()
    if isinstance(value, bool) or value is None:
        return Cell(value=value)
    if isinstance(value, (int, float)):
        return Cell(value=value)
    if isinstance(value, str):
        return Cell(value=value)
    # JSON only carries the types above; anything else arrives as text.
    return Cell(value=str(value))


def cell_from_user_entered(value: Any) -> Cell:
    """USER_ENTERED input: parse text as if typed into the Sheets UI."""
    if not isinstance(value, str):
        return cell_from_raw(value)
    if value == "":
        return Cell()
    if value.startswith("'"):  # a leading apostrophe forces text and is not stored
        return Cell(value=value[1:]) if len(value) > 1 else Cell()
    if value.startswith("=") and len(value) > 1:
        return Cell(formula=value)
    text = value.strip()
    upper = text.upper()
    if upper in ("TRUE", "FALSE"):
        return Cell(value=upper == "TRUE")
    if _NUMBER.fullmatch(text):
        return Cell(value=_to_number(text))
    if _GROUPED.fullmatch(text):
        number = text.replace(",", "")
        return Cell(
            value=_to_number(number),
            kind="NUMBER",
            pattern=_fixed_pattern("#,##0", _decimals(number)),
        )
    m = _PERCENT.fullmatch(text)
    if m:
        num = m["num"]
        return Cell(
            value=_to_number(num) / 100,
            kind="PERCENT",
            pattern=_fixed_pattern("0", _decimals(num)) + "%",
        )
    m = _CURRENCY.fullmatch(text)
    if m:
        number = _to_number(m["num"].replace(",", ""))
        if m["sign"] == "-":
            number = -number
        return Cell(value=number, kind="CURRENCY", pattern='"$"#,##0.00')
    parsed_date = _parse_date(text)
    if parsed_date:
        serial, kind, pattern = parsed_date
        return Cell(value=_tidy(serial), kind=kind, pattern=pattern)
    parsed_time = _parse_time(text)
    if parsed_time:
        fraction, pattern = parsed_time
        return Cell(value=fraction, kind="TIME", pattern=pattern)
    return Cell(value=value)


def cell_from_python(value: Any, *, user_entered: bool = False) -> Cell:
    """Value given by a test through the Python API.

    ``datetime``/``date``/``time`` objects become serial numbers with a date
    format, which is what a person typing a date into the sheet produces.
    """
    if isinstance(value, dt.datetime):
        return Cell(value=to_serial(value), kind="DATE_TIME", pattern="yyyy-mm-dd hh:mm:ss")
    if isinstance(value, dt.date):
        return Cell(value=_tidy(to_serial(value)), kind="DATE", pattern="yyyy-mm-dd")
    if isinstance(value, dt.time):
        return Cell(value=to_serial(value), kind="TIME", pattern="h:mm:ss")
    if user_entered:
        return cell_from_user_entered(value)
    return cell_from_raw(value)


def _to_number(text: str) -> int | float:
    number = float(text)
    return _tidy(number)


def _tidy(number: float) -> int | float:
    """Whole numbers become ints so JSON prints ``2`` and not ``2.0`` (Google's
    JSON shows doubles without a trailing ``.0``)."""
    if math.isfinite(number) and number == int(number) and abs(number) < 2**53:
        return int(number)
    return number


def json_number(number: int | float) -> int | float:
    return _tidy(float(number)) if isinstance(number, float) else number


# ---------------------------------------------------------------- rendering


def format_general(number: float) -> str:
    """Google's default ("automatic") number display: up to 10 decimals, no
    trailing zeros, scientific notation for very large or tiny magnitudes."""
    if isinstance(number, bool):
        return "TRUE" if number else "FALSE"
    if number == 0:
        return "0"
    magnitude = abs(number)
    if magnitude >= 1e15 or magnitude < 1e-10:
        mantissa, exponent = f"{number:.2E}".split("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}E{sign}{int(exponent.lstrip('+-')):02d}"
    if number == int(number):
        return str(int(number))
    text = f"{number:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_DATE_TOKEN = re.compile(r"yyyy|yy|mmmm|mmm|mm|m|dd|d|hh|h|ss|s|AM/PM|am/pm|\"[^\"]*\"|.", re.S)


def _format_datetime(serial: float, pattern: str) -> str:
    moment = from_serial(serial)
    tokens = _DATE_TOKEN.findall(pattern)
    out: list[str] = []
    has_ampm = any(t.upper() == "AM/PM" for t in tokens)
    for i, tok in enumerate(tokens):
        prev = next((t for t in reversed(tokens[:i]) if t.strip(" :-/.,")), "")
        nxt = next((t for t in tokens[i + 1 :] if t.strip(" :-/.,")), "")
        minute_context = prev.startswith("h") or nxt.startswith("s")
        hour = moment.hour % 12 or 12 if has_ampm else moment.hour
        if tok == "yyyy":
            out.append(f"{moment.year:04d}")
        elif tok == "yy":
            out.append(f"{moment.year % 100:02d}")
        elif tok == "mmmm":
            out.append(moment.strftime("%B"))
        elif tok == "mmm":
            out.append(moment.strftime("%b"))
        elif tok in ("mm", "m"):
            value = moment.minute if minute_context else moment.month
            out.append(f"{value:02d}" if tok == "mm" else str(value))
        elif tok == "dd":
            out.append(f"{moment.day:02d}")
        elif tok == "d":
            out.append(str(moment.day))
        elif tok == "hh":
            out.append(f"{hour:02d}")
        elif tok == "h":
            out.append(str(hour))
        elif tok == "ss":
            out.append(f"{moment.second:02d}")
        elif tok == "s":
            out.append(str(moment.second))
        elif tok.upper() == "AM/PM":
            out.append("AM" if moment.hour < 12 else "PM")
        elif tok.startswith('"'):
            out.append(tok[1:-1])
        else:
            out.append(tok)
    return "".join(out)


def _format_with_pattern(number: float, pattern: str) -> str:
    """Enough of the number-pattern language for the formats input parsing
    creates: ``#,##0.00``, ``0%``, ``"$"#,##0.00``."""
    prefix = ""
    literal = re.match(r'"([^"]*)"', pattern)
    if literal:
        prefix = literal[1]
        pattern = pattern[literal.end() :]
    percent = pattern.endswith("%")
    if percent:
        number *= 100
        pattern = pattern[:-1]
    decimals = _decimals(pattern)
    grouped = "," in pattern
    text = f"{abs(number):{',' if grouped else ''}.{decimals}f}"
    sign = "-" if number < 0 and float(text.replace(",", "")) != 0 else ""
    return f"{sign}{prefix}{text}{'%' if percent else ''}"


def format_number(number: float, kind: str | None, pattern: str | None) -> str:
    if kind in DATE_KINDS and pattern:
        return _format_datetime(number, pattern)
    if pattern:
        return _format_with_pattern(number, pattern)
    return format_general(number)
