"""How the service's columns look: widths, number formats, header style, status colours.

The team lives in the spreadsheet, so the sheet is the product's face (issue 17).
A backend applies these looks when it creates a column or a tab (or finds one
without them), never on every run: on Google that keeps the steady state at the
same few requests, on xlsx it keeps the in-place writer's promise that a run
changes only what it must.

Everything here is data a backend turns into its own format: Excel number format
codes (which Google's ``numberFormat.pattern`` also reads), widths in Excel's
character units, colours as RGB hex.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ops_sheets.sheet.cells import normalise_header

if TYPE_CHECKING:  # tables imports the workbook backends, which import this module
    from ops_sheets.sheet.tables import TabSpec

#: the note on a service column's header cell
HEADER_NOTE = "filled by ops-sheets; typing here is overwritten"
#: a service header: white bold text on slate blue, unlike any team header
HEADER_FILL = "3E5C76"
HEADER_TEXT = "FFFFFF"

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
#: KPI percentages are stored as 0-100 numbers (91.84), so the sign is literal text
PERCENT_FORMAT = '0.0"%"'

#: status words and their colours, tested in this order (the first match wins);
#: (how the cell text is matched, the word, fill, text colour)
RED = ("FFC7CE", "9C0006")
AMBER = ("FFEB9C", "9C5700")
GREEN = ("C6EFCE", "006100")
STATUS_RULES: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("contains", "OUT OF STOCK", RED),
    ("contains", "BACKORDER", RED),
    ("contains", "OVERDUE", RED),  # RESPONSE OVERDUE, RESOLUTION OVERDUE, OVERDUE n DAYS
    ("contains", "LATE", RED),
    ("contains", "AT RISK", AMBER),
    ("begins", "LOW", AMBER),  # begins: FOLLOW or BELOW must not turn amber
    ("begins", "REORDER", AMBER),
    ("contains", "HOLD:", RED),  # HOLD: UNPAID, HOLD: ADDRESS (packing day)
    # a product page's Result (Listings): what loses sales or misleads is red
    ("contains", "NONE AVAILABLE", RED),
    ("contains", "PAGE GONE", RED),
    ("contains", "SERVER ERROR", RED),
    ("contains", "UNREACHABLE", RED),
    ("contains", "BELOW COST", RED),
    ("contains", "DIFFERS", AMBER),
    ("contains", "REDIRECTED", AMBER),
    ("contains", "NO PRODUCT DATA", AMBER),
    ("contains", "MISSING DETAILS", AMBER),
    ("equals", "OK", GREEN),  # equals: BOOKED holds "OK" too
)

_CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "INR": "₹", "CHF": "CHF "}
#: KPI columns that hold money (and their weekly "change", which is money too)
_MONEY = {"revenue", "averageordervalue", "inventoryvalue", "pageprice", "sheetprice"}
#: service columns whose words carry a status: they get the colours
_STATUS = {"stockstatus", "opsstatus", "result"}
#: small numbers that rank the row (Today's Priority): centred under their header,
#: not pressed against the words of the next column
_CENTRED = {"priority"}
#: long free text: wide, wrapped so nothing is cut at the next column
_WIDE = {
    "why": 90.0,
    "problem": 60.0,
    "problems": 40.0,
    "howtofix": 60.0,
    "whattodo": 110.0,
    "subject": 44.0,
    "details": 48.0,
    "value": 22.0,
    "reference": 22.0,
    "to": 28.0,
    "result": 30.0,  # IN STOCK BUT NONE AVAILABLE
    "action": 20.0,
    "url": 40.0,
}
#: text columns of service tabs that hold names or lists (a KPI "Orders" is a number)
_WIDE_TEXT = {"product": 30.0, "orders": 26.0}


@dataclass(frozen=True)
class ColumnLook:
    """How one column should look. ``service``: the header is the service's (fill
    and note); a team column only ever gets ``choices`` (its dropdown)."""

    width: float = 0.0  # Excel character units; 0: leave the width alone
    number_format: str | None = None  # an Excel format code; None: leave it alone
    #: Google's numberFormat.type for ``number_format`` (DATE, DATE_TIME, NUMBER, CURRENCY)
    number_type: str | None = None
    statuses: bool = False  # coloured by STATUS_RULES (and centred)
    #: centred: a short code or rank, clear of the text beside it
    centred: bool = False
    wrap: bool = False
    service: bool = True
    choices: tuple[str, ...] = ()  # a dropdown of these words (team Status columns)

    @property
    def pixels(self) -> int:
        """The width in screen pixels, as Google takes it (about 7 per character)."""
        return round(self.width * 7 + 5)


def currency_format(currency: str) -> str:
    """An Excel/Sheets format for amounts in ``currency`` (ISO code), e.g. £#,##0.00."""
    symbol = _CURRENCY_SYMBOLS.get(currency.upper(), f"{currency.upper()} ")
    return f'"{symbol}"#,##0.00;-"{symbol}"#,##0.00'


def service_look(header: str, kind: str, currency: str) -> ColumnLook:
    """The look of a service column from its header and kind (see tables.Column)."""
    norm = normalise_header(header)
    base = norm.removesuffix("change")
    width = max(10.0, min(len(header) * 1.1 + 2, 30.0))
    # long text only: a date column named like one ("To" of the Weekly summary, the
    # Activity log's "To" is an address) keeps a date's width
    if norm in _WIDE and kind not in ("date", "datetime"):
        width = max(width, _WIDE[norm])
    if kind == "text" and norm in _WIDE_TEXT:
        width = max(width, _WIDE_TEXT[norm])
    if kind == "datetime" or norm in {"time", "checkedat", "foundat"}:
        return ColumnLook(max(width, 17.0), DATETIME_FORMAT, "DATE_TIME")
    if kind == "date":
        return ColumnLook(max(width, 12.0), DATE_FORMAT, "DATE")
    if base in _MONEY:
        return ColumnLook(max(width, 13.0), currency_format(currency), "CURRENCY")
    if header.strip().endswith("%") or base.endswith("%"):
        return ColumnLook(width, PERCENT_FORMAT, "NUMBER")
    if norm in _STATUS:
        return ColumnLook(max(width, 24.0), statuses=True)
    if norm in _CENTRED and kind == "int":
        return ColumnLook(width, centred=True)
    # long text is not wrapped: rows written later keep one line's height in
    # LibreOffice, and wrapped lines would then print over the next row
    return ColumnLook(width)


def looks_for(
    spec: TabSpec, headers: Mapping[str, str], currency: str, *, whole_tab: bool = False
) -> dict[str, ColumnLook]:
    """Header (as the sheet spells it) -> look, for the columns of one tab.

    ``headers``: column key -> header in this sheet. Service columns get their full
    look; a team column with a fixed list of words gets its dropdown only.
    """
    out: dict[str, ColumnLook] = {}
    for column in spec.columns:
        header = headers.get(column.key, column.header)
        if column.owner == "service" or whole_tab:
            out[header] = service_look(header, column.kind, currency)
        elif column.kind == "enum" and column.choices:
            out[header] = ColumnLook(service=False, choices=column.choices)
    return out
