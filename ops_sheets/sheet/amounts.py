"""Money and quantities as shops and platforms write them.

``12,50``, ``1.234,50``, ``12,50 €``, ``GBP 12.50``, ``$30.00``, ``US $12.34``,
``(4.20)``: :func:`parse_amount` reads each with the shop's decimal separator
(``[numbers] decimal``), ignores a currency symbol or ISO code before or after the
number, and reports the currency when the text names one unambiguously, so the
caller can say when it is not the shop's. ``$``, ``¥``, ``kr`` are written by
several currencies and name none.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from ops_sheets.sheet.cells import Cell
from ops_sheets.sheet.tables import NUMBER_LIMIT, CellError

#: Symbols that belong to one currency only.
_SYMBOLS = {
    "£": "GBP",
    "€": "EUR",
    "₹": "INR",
    "₩": "KRW",
    "₺": "TRY",
    "₽": "RUB",
    "₪": "ILS",
    "₫": "VND",
    "₴": "UAH",
    "₦": "NGN",
    "₱": "PHP",
    "฿": "THB",
    "zł": "PLN",
    "kč": "CZK",
    "ft": "HUF",
    "lei": "RON",
}
#: Written by several currencies: ignored, they name none.
_AMBIGUOUS = {"$", "¥", "kr", "kr.", "fr", "fr.", "r", "r$"}
#: "US $", "AU$", "C $" (eBay's sites write the country before the dollar sign).
_DOLLARS = {
    "us": "USD",
    "au": "AUD",
    "a": "AUD",
    "ca": "CAD",
    "c": "CAD",
    "nz": "NZD",
    "hk": "HKD",
    "s": "SGD",
    "sg": "SGD",
    "mx": "MXN",
}
_MINUS = "-−–"  # hyphen-minus, minus sign, en dash (spreadsheets paste all three)
_GROUP_MARKS = " \u00a0\u202f\u2009'’"  # spaces and apostrophes between digit groups


@dataclass(frozen=True)
class Amount:
    value: float
    #: the ISO code the text named ("EUR" for "12,50 €"), or None
    currency: str | None = None


def _currency(token: str) -> str | None:
    """The currency a symbol or code names; None when it names none (``$``)."""
    word = token.strip().casefold()
    if word in _SYMBOLS:
        return _SYMBOLS[word]
    if word in _AMBIGUOUS:
        return None
    if re.fullmatch(r"[a-z]{3}", word):
        return word.upper()
    if word.endswith("$") and word[:-1].strip() in _DOLLARS:
        return _DOLLARS[word[:-1].strip()]
    raise CellError("not a number", "type a number such as 12.50, or leave it blank")


def _number(core: str, decimal: str) -> float:
    group = "," if decimal == "." else "."
    d, g = re.escape(decimal), re.escape(group)
    if re.fullmatch(rf"\d+({d}\d*)?|{d}\d+", core):
        return float(core.replace(decimal, "."))
    if re.fullmatch(rf"\d{{1,3}}({g}\d{{3}})+({d}\d*)?", core):
        return float(core.replace(group, "").replace(decimal, "."))
    other = re.fullmatch(rf"\d+{g}\d+|\d{{1,3}}({d}\d{{3}})+{g}\d+", core)
    if other and decimal == ".":
        raise CellError(
            "a decimal comma, while the shop's numbers use a point",
            'set [numbers] decimal = "," in the config if the shop writes 12,50',
        )
    if other:
        raise CellError(
            "a decimal point, while the shop's numbers use a comma",
            'set [numbers] decimal = "." in the config if the shop writes 12.50',
        )
    raise CellError("not a number", "type a number such as 12.50, or leave it blank")


def parse_amount(value: Cell, *, decimal: str = ".") -> Amount | None:
    """A number from a cell, with the currency it names; None when blank.

    Raises :class:`~ops_sheets.sheet.tables.CellError` for text that is not one number,
    for a decimal separator other than the shop's, and for values beyond
    ±:data:`~ops_sheets.sheet.tables.NUMBER_LIMIT`.
    """
    if decimal not in (".", ","):
        raise ValueError(f'decimal must be "." or ",", not {decimal!r}')
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError("a TRUE/FALSE value where a number belongs", "type a number such as 12")
    if isinstance(value, (int, float)):
        return Amount(_within_limit(float(value)))
    if isinstance(value, (datetime, date, time)):
        raise CellError("a date where a number belongs", "type a number such as 12")
    text = str(value).strip()
    if not text:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):  # accountants' negative
        negative, text = True, text[1:-1].strip()
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits or not all(text[i].isascii() for i in digits):
        raise CellError("not a number", "type a number such as 12.50, or leave it blank")
    first, last = digits[0], digits[-1]
    while first > 0 and text[first - 1] in ".,":  # ".5" / ",5"
        first -= 1
    prefix, core, suffix = text[:first], text[first : last + 1], text[last + 1 :]
    signs = [ch for ch in prefix if ch in _MINUS + "+"]
    if len(signs) > 1:
        raise CellError("not a number", "type a number such as -12.50, or leave it blank")
    if signs and signs[0] != "+":
        negative = not negative
    prefix = "".join(ch for ch in prefix if ch not in _MINUS + "+")
    codes = {code for token in (prefix, suffix) if token.strip() for code in [_currency(token)]}
    codes.discard(None)
    if len(codes) > 1:
        raise CellError(
            "two different currencies in one value", "keep one amount in one currency per cell"
        )
    core = re.sub(rf"(?<=\d)[{_GROUP_MARKS}](?=\d)", "", core)
    number = _within_limit(_number(core, decimal))
    return Amount(-number if negative else number, codes.pop() if codes else None)


def _within_limit(number: float) -> float:
    if not math.isfinite(number) or abs(number) > NUMBER_LIMIT:
        raise CellError(
            f"a number beyond ±{NUMBER_LIMIT:,.0f}",
            "check the value for a typo: the real amount, such as 12",
        )
    return number
